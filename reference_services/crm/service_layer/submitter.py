"""The background submitter: sends due sales orders to the MES and settles them on its answer.

Each pass claims the due orders (FOR UPDATE SKIP LOCKED, so several CRM processes share the work
without sending one order twice at once), sends them concurrently, and settles each in its own
transaction: accepted, rejected, or due again after a backoff. A claim is a lease: an order whose
submitter died is due again when the lease runs out, and resent with the same Idempotency-Key.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from opentelemetry import propagate, trace

from reference_services.crm.domain.model import (
    Accepted,
    Rejected,
    RetryLater,
    SalesOrder,
    SubmissionOutcome,
)
from reference_services.crm.service_layer.unit_of_work import TransactionFactory
from reference_services.platform.backoff import Backoff

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MIN_IDLE_S = 0.01


def utc_now() -> datetime:
    return datetime.now(UTC)


class Gateway(Protocol):
    async def submit(self, order: SalesOrder) -> SubmissionOutcome: ...


class Submitter:
    def __init__(
        self,
        transaction: TransactionFactory,
        gateway: Gateway,
        *,
        backoff: Backoff,
        batch_size: int = 50,
        lease_s: float = 15.0,
        scan_interval_s: float = 1.0,
        clock: Clock = utc_now,
        on_settled: Callable[[SubmissionOutcome], None] | None = None,
    ) -> None:
        self.transaction = transaction
        self.gateway = gateway
        self.backoff = backoff
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.scan_interval_s = scan_interval_s
        self.clock = clock
        self.on_settled = on_settled
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        """A new sales order is committed: look for due orders now, not at the next scan."""
        self.wakeup.set()

    async def submit_due(self) -> int:
        """One pass: send every claimed order once and settle it. Returns how many were sent."""
        now = self.clock()
        async with self.transaction() as tx:
            claimed = await tx.sales_orders.claim_due(
                now, now + timedelta(seconds=self.lease_s), self.batch_size
            )
        await asyncio.gather(*(self._submit(order) for order in claimed))
        return len(claimed)

    async def _submit(self, order: SalesOrder) -> None:
        parent = propagate.extract({"traceparent": order.trace_context or ""})
        with trace.get_tracer(__name__).start_as_current_span(
            "submit sales order", context=parent, attributes={"sales_order.ref": order.order_ref}
        ):
            await self._submit_and_settle(order)

    async def _submit_and_settle(self, order: SalesOrder) -> None:
        outcome = await self.gateway.submit(order)
        async with self.transaction() as tx:
            current = await tx.sales_orders.get_for_update(order.id)
            if current is None or not current.settle(outcome, self.backoff, self.clock()):
                return
            await tx.sales_orders.save(current)
        if self.on_settled is not None:
            self.on_settled(outcome)
        if isinstance(outcome, RetryLater):
            log.warning(
                "sales order %s not submitted (attempt %d), retrying at %s: %s",
                current.order_ref,
                current.submit_attempts,
                current.next_attempt_at.isoformat() if current.next_attempt_at else "-",
                outcome.reason,
            )
        elif isinstance(outcome, Rejected):
            log.info("sales order %s rejected: %s", current.order_ref, outcome.reason)
        elif isinstance(outcome, Accepted):
            log.debug("sales order %s accepted as %s", current.order_ref, outcome.mes_order_id)

    async def _idle_for(self) -> float:
        """How long until the next order is due, at most one scan interval."""
        async with self.transaction() as tx:
            due = await tx.sales_orders.next_due_at()
        if due is None:
            return self.scan_interval_s
        return min(max((due - self.clock()).total_seconds(), MIN_IDLE_S), self.scan_interval_s)

    async def run(self) -> None:
        """Submit until cancelled: on every wake-up, when an order falls due, and every scan
        interval in any case (orders left over from before a restart, or from other CRM
        processes that stopped)."""
        while True:
            self.wakeup.clear()
            try:
                if await self.submit_due() >= self.batch_size:
                    continue
                idle = await self._idle_for()
            except Exception:
                log.exception("submitter pass failed")
                idle = self.scan_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), idle)
