"""The CRM's background workers against a real HTTP server standing in for the gateway, over an
in-memory store of sales orders: the submitter's retries and verdicts, the progress poller's feed
reading."""

import asyncio
import dataclasses
import json
import random
import socket
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from preflight.waits import wait_until_async
from reference_services.crm.adapters.mes_gateway import FeedUnavailable, MesGateway
from reference_services.crm.domain.model import (
    Customer,
    MesStatus,
    SalesOrder,
    SalesOrderStatus,
    new_sales_order,
)
from reference_services.crm.service_layer.progress import ProgressPoller
from reference_services.crm.service_layer.submitter import Submitter
from reference_services.platform.backoff import Backoff

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PROBLEMS = "https://preflight.dev/problems/"
TOKEN = "service-token"


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class StandInGateway(ThreadingHTTPServer):
    """Answers requests from a script, in order (the last answer repeats), recording each."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up waiting
            super().handle_error(request, client_address)

    def next_answer(self, received: Received) -> Answer:
        with self.lock:
            self.received.append(received)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(BaseHTTPRequestHandler):
    server: StandInGateway

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        answer = self.server.next_answer(
            Received(
                self.command,
                url.path,
                parse_qs(url.query),
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
        )
        if answer.hold is not None:
            answer.hold.wait(timeout=10)
        payload = json.dumps(answer.body).encode() if answer.body is not None else b""
        self.send_response(answer.status)
        media = "application/problem+json" if answer.status >= 400 else "application/json"
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[StandInGateway]:
    server = StandInGateway()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeSalesOrders:
    """The store's contract in memory: handed-out orders are copies, saved ones replace rows."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, SalesOrder] = {}
        self.saves = 0
        self.watermark: datetime | None = None

    def put(self, order: SalesOrder) -> None:
        self.rows[order.id] = dataclasses.replace(order)

    def __getitem__(self, order_id: uuid.UUID) -> SalesOrder:
        return self.rows[order_id]

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[SalesOrder]:
        due = [
            order
            for order in self.rows.values()
            if order.status is SalesOrderStatus.SUBMITTED
            and order.next_attempt_at is not None
            and order.next_attempt_at <= now
        ]
        due = sorted(due, key=lambda order: order.next_attempt_at or now)[:limit]
        for order in due:
            order.submit_attempts += 1
            order.next_attempt_at = lease_until
        return [dataclasses.replace(order) for order in due]

    async def get_for_update(self, order_id: uuid.UUID) -> SalesOrder | None:
        found = self.rows.get(order_id)
        return dataclasses.replace(found) if found else None

    async def by_numbers_for_update(self, numbers: Sequence[int]) -> list[SalesOrder]:
        return [dataclasses.replace(o) for o in self.rows.values() if o.number in set(numbers)]

    async def save(self, order: SalesOrder) -> None:
        self.saves += 1
        self.rows[order.id] = dataclasses.replace(order)

    async def next_due_at(self) -> datetime | None:
        due = [
            o.next_attempt_at
            for o in self.rows.values()
            if o.status is SalesOrderStatus.SUBMITTED and o.next_attempt_at
        ]
        return min(due, default=None)

    async def oldest_awaiting_progress(self) -> datetime | None:
        return min((o.created_at for o in self.rows.values() if o.awaits_progress), default=None)

    async def feed_watermark(self) -> datetime | None:
        return self.watermark

    async def advance_watermark(self, watermark: datetime) -> None:
        self.watermark = max(self.watermark or watermark, watermark)


class FakeTransaction:
    def __init__(self, store: FakeSalesOrders) -> None:
        self.sales_orders = store

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


def a_sales_order(number: int = 7, now: datetime = START) -> SalesOrder:
    customer = Customer(uuid.uuid4(), "Acme", "buy@acme.example", "P1", [])
    return new_sales_order(
        number=number,
        customer=customer,
        sku="SKU-1",
        quantity=5,
        due_date=date(2026, 12, 24),
        priority=2,
        now=now,
    )


def mes_order(order: SalesOrder, status: str = "planned", version: int = 1, **over: Any) -> Any:
    return {
        "id": str(order.mes_order_id or uuid.UUID(int=order.number)),
        "order_ref": order.order_ref,
        "customer_ref": str(order.customer_id),
        "plant": order.plant,
        "status": status,
        "version": version,
        "updated_at": START.isoformat(),
        **over,
    }


@dataclass
class Harness:
    store: FakeSalesOrders
    clock: Clock
    http: httpx.AsyncClient

    def submitter(self, **options: Any) -> Submitter:
        settings: dict[str, Any] = {
            "backoff": Backoff(0.2, 30.0, random.Random(3)),
            "lease_s": 15.0,
            "clock": self.clock,
        }
        settings.update(options)
        return Submitter(
            lambda: FakeTransaction(self.store), MesGateway(self.http, TOKEN), **settings
        )

    def poller(self, **options: Any) -> ProgressPoller:
        return ProgressPoller(
            lambda: FakeTransaction(self.store),
            MesGateway(self.http, TOKEN),
            overlap_s=5.0,
            clock=self.clock,
            **options,
        )


def run(test: Any, base_url: str, timeout: float = 2.0) -> None:
    async def with_client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
            await test(Harness(FakeSalesOrders(), Clock(), http))

    asyncio.run(with_client())


def test_an_order_the_gateway_fails_twice_is_accepted_on_the_third_attempt(
    gateway: StandInGateway,
) -> None:
    order = a_sales_order()
    mes_id = str(uuid.uuid4())
    unavailable = Answer(503, {"type": PROBLEMS + "upstream-unavailable", "title": "Unavailable"})
    gateway.answer(
        unavailable,
        unavailable,
        Answer(201, {"id": mes_id, "status": "planned", "version": 1}),
    )

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        submitter = h.submitter()
        assert await submitter.submit_due() == 1
        assert await submitter.submit_due() == 0, "resent before its backoff ran out"
        for _ in range(2):
            h.clock.advance(30)
            assert await submitter.submit_due() == 1
        h.clock.advance(60)
        assert await submitter.submit_due() == 0, "an accepted order was sent again"

        settled = h.store[order.id]
        assert (settled.status, settled.submit_attempts) == (SalesOrderStatus.ACCEPTED, 3)
        assert (str(settled.mes_order_id), settled.mes_status) == (mes_id, MesStatus.PLANNED)
        assert settled.version == 2, "accepted more than once"

    run(scenario, gateway.url)

    assert len(gateway.received) == 3
    assert {(r.method, r.path) for r in gateway.received} == {("POST", "/api/v1/orders")}
    assert {r.headers["idempotency-key"] for r in gateway.received} == {str(order.id)}
    assert {r.headers["authorization"] for r in gateway.received} == {f"Bearer {TOKEN}"}
    assert all(r.body == gateway.received[0].body for r in gateway.received)
    assert gateway.received[0].body == {
        "order_ref": "SO-000007",
        "customer_ref": str(order.customer_id),
        "sku": "SKU-1",
        "quantity": 5,
        "due_date": "2026-12-24",
        "plant": "P1",
        "priority": 2,
    }


def test_retries_back_off_exponentially_and_remember_the_last_error(
    gateway: StandInGateway,
) -> None:
    order = a_sales_order()
    gateway.answer(Answer(502))

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        submitter = h.submitter(backoff=Backoff(0.2, 30.0, random.Random(5)))
        waits = []
        for _ in range(10):
            await submitter.submit_due()
            pending = h.store[order.id]
            assert pending.next_attempt_at is not None
            waits.append((pending.next_attempt_at - h.clock.now).total_seconds())
            h.clock.now = pending.next_attempt_at
        assert h.store[order.id].last_submit_error == "HTTP 502"
        assert h.store[order.id].submit_attempts == 10
        for attempt, wait in enumerate(waits, start=1):
            ceiling = min(30.0, 0.2 * 2 ** (attempt - 1))
            assert ceiling / 2 <= wait <= ceiling

    run(scenario, gateway.url)
    assert len(gateway.received) == 10


def test_an_unknown_sku_is_rejected_with_the_reason_and_never_resent(
    gateway: StandInGateway,
) -> None:
    order = a_sales_order()
    gateway.answer(
        Answer(
            422,
            {
                "type": PROBLEMS + "unknown-sku",
                "title": "Unknown SKU",
                "status": 422,
                "detail": "plant P1 has no product SKU-1",
            },
        )
    )

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        submitter = h.submitter()
        await submitter.submit_due()
        h.clock.advance(3600)
        await submitter.submit_due()
        rejected = h.store[order.id]
        assert (rejected.status, rejected.reject_reason, rejected.reject_type) == (
            SalesOrderStatus.REJECTED,
            "plant P1 has no product SKU-1",
            PROBLEMS + "unknown-sku",
        )
        assert rejected.submit_attempts == 1

    run(scenario, gateway.url)
    assert len(gateway.received) == 1


def test_a_request_still_in_flight_and_throttling_are_retried(gateway: StandInGateway) -> None:
    order = a_sales_order()
    gateway.answer(
        Answer(409, {"type": PROBLEMS + "idempotency-in-flight", "title": "In flight"}),
        Answer(429, {"type": PROBLEMS + "rate-limited"}, {"Retry-After": "12"}),
        Answer(201, {"id": str(uuid.uuid4()), "status": "planned", "version": 1}),
    )

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        submitter = h.submitter()
        await submitter.submit_due()
        h.clock.advance(30)
        await submitter.submit_due()
        throttled = h.store[order.id]
        assert throttled.next_attempt_at == h.clock.now + timedelta(seconds=12)
        h.clock.advance(12)
        await submitter.submit_due()
        assert h.store[order.id].status is SalesOrderStatus.ACCEPTED
        assert h.store[order.id].submit_attempts == 3

    run(scenario, gateway.url)


def test_an_unreachable_gateway_leaves_the_order_submitted() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    order = a_sales_order()

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        await h.submitter().submit_due()
        pending = h.store[order.id]
        assert (pending.status, pending.submit_attempts) == (SalesOrderStatus.SUBMITTED, 1)
        assert pending.last_submit_error is not None
        assert "gateway unreachable (ConnectError" in pending.last_submit_error

    run(scenario, f"http://127.0.0.1:{port}")


def test_a_gateway_that_does_not_answer_in_time_is_retried(gateway: StandInGateway) -> None:
    order = a_sales_order()
    release = threading.Event()
    gateway.answer(
        Answer(201, {"id": str(uuid.uuid4()), "status": "planned", "version": 1}, hold=release)
    )

    async def scenario(h: Harness) -> None:
        h.store.put(order)
        await h.submitter().submit_due()
        pending = h.store[order.id]
        assert pending.status is SalesOrderStatus.SUBMITTED
        assert pending.last_submit_error is not None
        assert "no answer from the gateway in time" in pending.last_submit_error

    try:
        run(scenario, gateway.url, timeout=0.2)
    finally:
        release.set()


def test_the_running_submitter_sends_a_new_order_when_woken(gateway: StandInGateway) -> None:
    gateway.answer(
        Answer(503),
        Answer(201, {"id": str(uuid.uuid4()), "status": "planned", "version": 1}),
    )

    async def scenario(h: Harness) -> None:
        submitter = h.submitter(
            clock=lambda: datetime.now(UTC),
            backoff=Backoff(0.01, 0.05),
            scan_interval_s=30.0,
        )
        running = asyncio.create_task(submitter.run())
        try:
            order = a_sales_order(now=datetime.now(UTC))
            h.store.put(order)
            submitter.wake()
            await wait_until_async(
                lambda: _settled(h.store, order.id),
                timeout=5,
                description="the woken submitter to get the order accepted",
            )
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        assert h.store[order.id].submit_attempts == 2

    run(scenario, gateway.url)


async def _settled(store: FakeSalesOrders, order_id: uuid.UUID) -> bool:
    return store[order_id].status is not SalesOrderStatus.SUBMITTED


def test_the_poller_reads_the_feed_from_the_watermark_and_shows_newer_changes(
    gateway: StandInGateway,
) -> None:
    placed = START - timedelta(hours=1)
    released, started, stale = (a_sales_order(n, placed) for n in (1, 2, 3))
    for order, version in ((released, 1), (started, 1), (stale, 4)):
        order.status, order.mes_order_id = SalesOrderStatus.ACCEPTED, uuid.uuid4()
        order.mes_status, order.mes_version = MesStatus.PLANNED, version
    later = (START + timedelta(seconds=3)).isoformat()
    gateway.answer(
        Answer(
            200,
            {
                "items": [
                    mes_order(released, "released", 2),
                    mes_order(stale, "released", 2),
                    mes_order(released, "on_hold", 3, order_ref="PF-other-1"),
                ],
                "next_cursor": "page-2",
            },
        ),
        Answer(
            200,
            {
                "items": [
                    mes_order(started, "in_progress", 3, updated_at=later),
                    mes_order(started, "cancelled", 9, customer_ref="another-crm"),
                ],
                "next_cursor": None,
            },
        ),
    )

    async def scenario(h: Harness) -> None:
        for order in (released, started, stale):
            h.store.put(order)
        h.store.watermark = START - timedelta(minutes=1)
        assert await h.poller().poll_once() == 2
        assert h.store[released.id].mes_status is MesStatus.RELEASED
        assert h.store[started.id].mes_status is MesStatus.IN_PROGRESS
        assert (h.store[stale.id].mes_status, h.store[stale.id].mes_version) == (
            MesStatus.PLANNED,
            4,
        )
        assert h.store.watermark == START + timedelta(seconds=3)

    run(scenario, gateway.url)

    first, second = gateway.received
    assert first.path == second.path == "/api/v1/orders"
    assert first.query == {
        "updated_since": [(START - timedelta(minutes=1, seconds=5)).isoformat()],
        "sort": ["updated_at"],
        "limit": ["200"],
    }
    assert second.query["cursor"] == ["page-2"]
    assert first.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("watermark", [None, START - timedelta(days=1)])
def test_the_poller_reads_nothing_older_than_the_oldest_order_awaiting_progress(
    gateway: StandInGateway, watermark: datetime | None
) -> None:
    gateway.answer(Answer(200, {"items": [], "next_cursor": None}))

    async def scenario(h: Harness) -> None:
        h.store.put(a_sales_order(1, START - timedelta(hours=2)))
        h.store.put(a_sales_order(2, START - timedelta(hours=1)))
        h.store.watermark = watermark
        assert await h.poller().poll_once() == 0
        assert h.store.watermark == watermark

    run(scenario, gateway.url)
    since = START - timedelta(hours=2, seconds=5)
    assert [r.query["updated_since"] for r in gateway.received] == [[since.isoformat()]]


def test_the_poller_does_not_read_the_feed_while_no_order_can_change(
    gateway: StandInGateway,
) -> None:
    gateway.answer(Answer(200, {"items": [], "next_cursor": None}))
    done = a_sales_order()
    done.status, done.mes_status = SalesOrderStatus.ACCEPTED, MesStatus.COMPLETED

    async def scenario(h: Harness) -> None:
        h.store.put(done)
        assert await h.poller().poll_once() == 0

    run(scenario, gateway.url)
    assert gateway.received == []


def test_a_failing_feed_is_reported_and_the_watermark_kept(gateway: StandInGateway) -> None:
    gateway.answer(Answer(429, {"type": PROBLEMS + "rate-limited"}, {"Retry-After": "3"}))

    async def scenario(h: Harness) -> None:
        h.store.put(a_sales_order())
        h.store.watermark = START
        with pytest.raises(FeedUnavailable) as failure:
            await h.poller().poll_once()
        assert failure.value.retry_after_s == 3
        assert h.store.watermark == START

    run(scenario, gateway.url)
