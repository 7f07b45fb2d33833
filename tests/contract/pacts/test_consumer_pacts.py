"""Consumer-driven contracts: each consumer's real client code runs against the Pact mock server
(HTTP) or processes the pact's message (mes.events), and the pact it writes must equal the one
committed in contracts/pacts/ (which the provider verification replays against the real stack).

A consumer change that needs a new contract: `PREFLIGHT_WRITE_PACTS=1 pytest tests/contract/pacts`
rewrites contracts/pacts/, then review the diff like any contract change.
"""

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pact import Pact, match
from prometheus_client import CollectorRegistry, Counter, Histogram

from fixtures.pacts import PLANT, SALES_ORDER, SKU, STATE_ORDER, STATE_PLANT
from reference_services.crm.adapters.mes_gateway import MesGateway
from reference_services.crm.domain.model import Accepted, MesStatus
from reference_services.crm.domain.submission import production_order
from reference_services.gateway.adapters.upstreams import RetryPolicy, Upstream
from reference_services.gateway.domain.breaker import CircuitBreaker
from reference_services.notification.domain.rules import track
from reference_services.platform.events import STREAM_FIELD, decode
from reference_services.reporting.service_layer.projection import project

PACTS = Path(__file__).resolve().parents[3] / "contracts" / "pacts"
WRITE = os.environ.get("PREFLIGHT_WRITE_PACTS") == "1"

ORDER_STATUSES = "^(" + "|".join(s.value for s in MesStatus) + ")$"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$"
ORDER_ID = "5f0e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f"


def timestamp() -> Any:
    """An ISO 8601 timestamp with an offset, fractions of a second or not."""
    return match.regex("2031-01-02T03:04:05.123456+00:00", regex=ISO_TIMESTAMP)


def order_body(status: str = "planned") -> dict[str, Any]:
    """An order as the MES answers it: the fields its consumers read, matched by type."""
    return {
        "id": match.uuid(ORDER_ID),
        "order_ref": match.str(SALES_ORDER.order_ref),
        "customer_ref": match.str(str(SALES_ORDER.customer_id)),
        "plant": match.str(PLANT),
        "sku": match.str(SKU),
        "quantity": match.int(SALES_ORDER.quantity),
        "status": match.regex(status, regex=ORDER_STATUSES),
        "version": match.int(1),
        "updated_at": timestamp(),
    }


def written_pact(pact: Pact, tmp_path: Path) -> dict[str, Any]:
    """Write the pact; compare it with the committed one (or replace that one when asked)."""
    pact.write_file(tmp_path, overwrite=True)
    (written,) = tmp_path.glob(f"{pact.consumer}-{pact.provider}.json")
    committed = PACTS / written.name
    if WRITE:
        PACTS.mkdir(parents=True, exist_ok=True)
        committed.write_text(written.read_text())
    document: dict[str, Any] = json.loads(written.read_text())
    assert committed.exists(), f"{committed} is missing: run with PREFLIGHT_WRITE_PACTS=1"
    assert _without_metadata(json.loads(committed.read_text())) == _without_metadata(document), (
        f"{committed} differs from what the consumer test writes; review the change, then run "
        "`PREFLIGHT_WRITE_PACTS=1 pytest tests/contract/pacts`"
    )
    return document


def _without_metadata(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "metadata"}


def test_crm_submits_sales_orders_and_reads_the_order_feed_through_the_gateway(
    tmp_path: Path,
) -> None:
    pact = Pact("crm", "gateway").with_specification("V4")
    (
        pact.upon_receiving("a sales order submitted as a production order")
        .given(STATE_PLANT)
        .with_request("POST", "/api/v1/orders")
        .with_header("Authorization", match.regex("Bearer token", regex=r"^Bearer \S+$"))
        .with_header("Idempotency-Key", str(SALES_ORDER.id))
        .with_body(production_order(SALES_ORDER), "application/json")
        .will_respond_with(201)
        .with_body(order_body(), "application/json")
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    (
        pact.upon_receiving("the feed of orders changed since a time")
        .given(STATE_ORDER)
        .with_request("GET", "/api/v1/orders")
        .with_header("Authorization", match.regex("Bearer token", regex=r"^Bearer \S+$"))
        .with_query_parameter("updated_since", since.isoformat())
        .with_query_parameter("sort", "updated_at")
        .with_query_parameter("limit", "50")
        .will_respond_with(200)
        .with_body(
            {"items": match.each_like(order_body(), min=1)},
            "application/json",
        )
    )

    async def consume(url: str) -> None:
        async with httpx.AsyncClient(base_url=url) as http:
            gateway = MesGateway(http, "token")
            outcome = await gateway.submit(SALES_ORDER)
            assert isinstance(outcome, Accepted), outcome
            assert outcome.mes_status is MesStatus.PLANNED
            page = await gateway.changed_orders(since, None, 50)
            assert [item.order_ref for item in page.items] == [SALES_ORDER.order_ref]

    with pact.serve() as server:
        asyncio.run(consume(str(server.url)))
    written_pact(pact, tmp_path)


def _upstream(url: str) -> Upstream:
    registry = CollectorRegistry()
    return Upstream(
        "mes",
        url,
        breaker=CircuitBreaker(threshold=5, cooldown_s=1.0),
        retry=RetryPolicy(retries=0),
        duration=Histogram("d", "d", ["upstream", "outcome"], registry=registry),
        retries_total=Counter("r", "r", registry=registry),
    )


def test_gateway_forwards_order_creation_and_reads_to_the_mes(tmp_path: Path) -> None:
    pact = Pact("gateway", "mes").with_specification("V4")
    (
        pact.upon_receiving("a production order created through the gateway")
        .given(STATE_PLANT)
        .with_request("POST", "/orders")
        .with_header("Idempotency-Key", str(SALES_ORDER.id))
        .with_header("X-Plant-Scope", "*")
        .with_body(production_order(SALES_ORDER), "application/json")
        .will_respond_with(201)
        .with_header("Location", match.regex(f"/orders/{ORDER_ID}", regex=r"^/orders/[0-9a-f-]+$"))
        .with_body(order_body(), "application/json")
    )
    (
        pact.upon_receiving("the orders of a plant read through the gateway")
        .given(STATE_ORDER)
        .with_request("GET", "/orders")
        .with_query_parameter("plant", PLANT)
        .with_header("X-Plant-Scope", "*")
        .will_respond_with(200)
        .with_body(
            {"items": match.each_like(order_body(), min=1)},
            "application/json",
        )
    )

    async def consume(url: str) -> None:
        upstream = _upstream(url)
        try:
            created = await upstream.send(
                "POST",
                "/orders",
                b"",
                [
                    (b"content-type", b"application/json"),
                    (b"idempotency-key", str(SALES_ORDER.id).encode()),
                    (b"x-plant-scope", b"*"),
                ],
                json.dumps(production_order(SALES_ORDER)).encode(),
                idempotent=True,
            )
            assert created.status == 201
            listed = await upstream.send(
                "GET",
                "/orders",
                f"plant={PLANT}".encode(),
                [(b"x-plant-scope", b"*")],
                b"",
                idempotent=True,
            )
            assert listed.status == 200
        finally:
            await upstream.aclose()

    with pact.serve() as server:
        asyncio.run(consume(str(server.url)))
    written_pact(pact, tmp_path)


def envelope(event_type: str, status: str, sequence: int) -> dict[str, Any]:
    """An mes.events envelope as the consumers read it (the stream entry's one JSON field)."""
    return {
        "specversion": "1.0",
        "id": match.uuid("0c4d1f6e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"),
        "type": event_type,
        "source": match.str("mes"),
        "time": timestamp(),
        "subject": match.str(f"order/{ORDER_ID}"),
        "sequence": match.int(sequence),
        "data": {
            "order_id": match.uuid(ORDER_ID),
            "order_ref": match.str(SALES_ORDER.order_ref),
            "plant": match.str(PLANT),
            "sku": match.str(SKU),
            "quantity": match.int(SALES_ORDER.quantity),
            "status": status,
            "due_date": match.date("2031-06-30", format="%Y-%m-%d"),
            "created_at": timestamp(),
        },
    }


def fields_of(body: str | bytes | None) -> dict[bytes, bytes]:
    assert body is not None
    return {STREAM_FIELD: body if isinstance(body, bytes) else body.encode()}


def test_reporting_projects_order_events(tmp_path: Path) -> None:
    pact = Pact("reporting", "mes-events").with_specification("V4")
    (
        pact.upon_receiving("an order.created event", "Async")
        .given(STATE_PLANT)
        .with_body(envelope("order.created", "planned", 1), "application/json")
        .with_metadata({"stream": "mes.events"})
    )
    (
        pact.upon_receiving("an order.completed event", "Async")
        .given(STATE_PLANT)
        .with_body(envelope("order.completed", "completed", 4), "application/json")
        .with_metadata({"stream": "mes.events"})
    )

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        event = decode(fields_of(body))
        row = project(None, event)
        assert row.order_id == uuid.UUID(str(event.data["order_id"]))
        assert row.status == event.data["status"]
        if event.type == "order.completed":
            assert row.completed_at == event.time

    pact.verify(handle, "Async")
    written_pact(pact, tmp_path)


def test_notification_tracks_order_events(tmp_path: Path) -> None:
    pact = Pact("notification", "mes-events").with_specification("V4")
    (
        pact.upon_receiving("an order.created event", "Async")
        .given(STATE_PLANT)
        .with_body(envelope("order.created", "planned", 1), "application/json")
        .with_metadata({"stream": "mes.events"})
    )
    (
        pact.upon_receiving("an order.held event", "Async")
        .given(STATE_PLANT)
        .with_body(envelope("order.held", "on_hold", 2), "application/json")
        .with_metadata({"stream": "mes.events"})
    )

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        event = decode(fields_of(body))
        order = track(None, event)
        assert order.status == event.data["status"]
        if event.type == "order.held":
            assert order.held_since == event.time

    pact.verify(handle, "Async")
    written_pact(pact, tmp_path)
