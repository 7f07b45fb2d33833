import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def module_scratch() -> Iterator[Path]:
    """A scratch dir for a module's own stack that the postgres account can enter when the tests
    run as root (pytest's tmp_path sits under a 0700 directory)."""
    scratch = Path(tempfile.mkdtemp(prefix="preflight-harness-"))
    scratch.chmod(0o755)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
