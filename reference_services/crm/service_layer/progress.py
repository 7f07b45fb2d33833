"""The progress poller: reads the MES's feed of changed production orders through the gateway and
shows each change on its sales order.

Every interval it asks for the orders changed since its watermark (or since the oldest sales order
still awaiting progress was placed, if later) minus an overlap, sorted by updated_at, page by
page; while no sales order can change any more it does not ask at all. A change is applied only
when its MES version is newer than the one the sales order holds, so reading a change twice (the
overlap, a retried page, a second CRM process) is harmless, and an old page can never undo a
newer change. After each page the watermark moves to the newest updated_at seen, in the same
transaction as the changes: a crash or restart resumes where the last committed page ended. The
overlap covers MES transactions that commit a little after the updated_at they stamped, replica
lag on the MES's reads, and small clock differences between the CRM and MES hosts.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from reference_services.crm.adapters.mes_gateway import FeedPage, FeedUnavailable
from reference_services.crm.domain.model import MesProgress, parse_number
from reference_services.crm.service_layer.submitter import Clock, utc_now
from reference_services.crm.service_layer.unit_of_work import TransactionFactory

log = logging.getLogger(__name__)


class OrderFeed(Protocol):
    async def changed_orders(self, since: datetime, cursor: str | None, limit: int) -> FeedPage: ...


class ProgressPoller:
    def __init__(
        self,
        transaction: TransactionFactory,
        feed: OrderFeed,
        *,
        interval_s: float = 0.5,
        overlap_s: float = 5.0,
        page_size: int = 200,
        clock: Clock = utc_now,
        on_applied: Callable[[int], None] | None = None,
    ) -> None:
        self.transaction = transaction
        self.feed = feed
        self.interval_s = interval_s
        self.overlap = timedelta(seconds=overlap_s)
        self.page_size = page_size
        self.clock = clock
        self.on_applied = on_applied
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """Poll now rather than at the end of the interval (a completion callback came in)."""
        self._woken.set()

    async def poll_once(self) -> int:
        """Read the feed from the watermark to its end; returns how many sales orders changed."""
        async with self.transaction() as tx:
            oldest = await tx.sales_orders.oldest_awaiting_progress()
            if oldest is None:
                return 0
            watermark = await tx.sales_orders.feed_watermark()
        # Changes before the watermark are applied; changes of the orders still awaiting one
        # came after they were placed. Whichever is later bounds what is left to read.
        since = max(watermark or oldest, oldest) - self.overlap
        applied, cursor = 0, None
        while True:
            page = await self.feed.changed_orders(since, cursor, self.page_size)
            applied += await self._apply(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if applied and self.on_applied is not None:
            self.on_applied(applied)
        return applied

    async def _apply(self, items: Sequence[MesProgress]) -> int:
        if not items:
            return 0
        # An order_ref is unique per plant only: several MES orders may name one number.
        by_number: dict[int, list[MesProgress]] = {}
        for item in items:
            number = parse_number(item.order_ref)
            if number is not None:
                by_number.setdefault(number, []).append(item)
        now, changed = self.clock(), 0
        async with self.transaction() as tx:
            if by_number:
                for order in await tx.sales_orders.by_numbers_for_update(list(by_number)):
                    seen = sorted(by_number[order.number], key=lambda item: item.version)
                    if [item for item in seen if order.observe(item, now)]:
                        await tx.sales_orders.save(order)
                        changed += 1
            await tx.sales_orders.advance_watermark(max(item.updated_at for item in items))
        return changed

    async def run(self) -> None:
        """Poll every interval until cancelled; a failed poll is retried at the next interval
        (or when the gateway's Retry-After says)."""
        while True:
            wait = self.interval_s
            try:
                await self.poll_once()
            except FeedUnavailable as exc:
                log.warning("MES order feed unavailable: %s", exc)
                wait = max(wait, exc.retry_after_s or 0.0)
            except Exception:
                log.exception("progress poll failed")
            self._woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), wait)
