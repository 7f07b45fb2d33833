"""What a write use case returns: the response body and the LSN its commit reached."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    body: dict[str, Any]
    commit_lsn: int
