"""The CRM's completion callback accepts only requests signed with the shared webhook secret,
recent ones (tests/unit/test_webhook_signatures.py covers tampering and replays later on)."""

import uuid

import httpx
import orjson
import pytest

from preflight.clients.crm import CrmClient
from preflight.expect import expect_problem
from reference_services.platform.webhook_signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_headers,
)

PATH = "/callbacks/mes-orders"
BODY = orjson.dumps(
    {"id": str(uuid.uuid4()), "type": "order.completed", "data": {"order_id": str(uuid.uuid4())}}
)


def post(crm: CrmClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return crm.http.post(PATH, content=body, headers={"Content-Type": "application/json"} | headers)


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("unsigned", {}),
        ("forged", signed_headers("not-the-crm-secret", "wh-1", BODY)),
        ("without a timestamp", {SIGNATURE_HEADER: "v1=" + "0" * 64}),
        ("timestamp not a number", {TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "v1=00"}),
    ],
)
def test_callbacks_that_are_not_signed_with_the_shared_secret_are_refused(
    crm: CrmClient, case: str, headers: dict[str, str]
) -> None:
    response = post(crm, BODY, headers)

    body = expect_problem(response, 401, "invalid-signature")
    assert body["detail"], case
