"""Write (or check) contracts/openapi/<service>.yaml from the services' FastAPI apps.

python -m reference_services.openapi_export          # rewrite the checked-in specs
python -m reference_services.openapi_export --check  # exit 1 when a spec drifted
"""

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

import yaml

from reference_services.catalog import spec, with_api

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts" / "openapi"


def app_spec(service: str) -> dict[str, Any]:
    """The OpenAPI document the service's app serves (the app the catalog starts)."""
    module_name, _, factory = spec(service).app.partition(":")
    module = importlib.import_module(module_name)
    document: dict[str, Any] = getattr(module, factory)().openapi()
    return document


def render(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def spec_path(service: str) -> Path:
    return CONTRACTS / f"{service}.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    drifted = []
    for service in with_api():
        text = render(app_spec(service.name))
        path = spec_path(service.name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                drifted.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if drifted:
        print("drifted from the apps: " + ", ".join(drifted), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
