"""The checked-in OpenAPI documents are valid and match what the apps serve."""

import pytest
import yaml
from openapi_spec_validator import validate

from reference_services.catalog import with_api
from reference_services.openapi_export import app_spec, render, spec_path

NAMES = [service.name for service in with_api()]


@pytest.mark.parametrize("service", NAMES)
def test_checked_in_spec_is_valid_openapi(service: str) -> None:
    validate(yaml.safe_load(spec_path(service).read_text()))


@pytest.mark.parametrize("service", NAMES)
def test_app_schema_has_not_drifted_from_the_checked_in_spec(service: str) -> None:
    checked_in = spec_path(service).read_text()
    assert render(app_spec(service)) == checked_in, (
        f"{spec_path(service)} differs from the app; review the change, then run "
        "`python -m reference_services.openapi_export`"
    )


def test_every_error_response_is_documented_as_problem_json() -> None:
    spec = app_spec("mes")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4") and status != "422":
                    assert "application/problem+json" in response["content"], (method, path, status)
