"""One transaction on the primary: the orders it changed and their outbox events commit together."""

from types import TracebackType
from typing import Self

from reference_services.mes.adapters.orders_repository import OrderRepository
from reference_services.mes.adapters.tables import outbox
from reference_services.mes.domain.model import ProductionOrder
from reference_services.platform import outbox as outbox_rows
from reference_services.platform.db import Database, Write
from reference_services.platform.outbox import OutboxEvent


def order_events(order: ProductionOrder) -> list[OutboxEvent]:
    return [
        OutboxEvent(
            event_type=event.name,
            aggregate_type="order",
            aggregate_id=str(order.id),
            payload={
                "order_id": str(order.id),
                "order_ref": order.order_ref,
                "plant": order.plant,
                "sku": order.sku,
                "quantity": order.quantity,
                "priority": order.priority,
                "due_date": order.due_date.isoformat(),
                "status": event.status.value,
                "previous_status": event.previous_status.value if event.previous_status else None,
                "version": order.version,
            },
        )
        for event in order.events
    ]


class UnitOfWork:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.commit_lsn = 0

    async def __aenter__(self) -> Self:
        self._transaction = self.db.write()
        self._write: Write = await self._transaction.__aenter__()
        self.conn = self._write.conn
        self.orders = OrderRepository(self.conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            try:
                await self._publish_events()
            except BaseException as publish_error:
                await self._transaction.__aexit__(
                    type(publish_error), publish_error, publish_error.__traceback__
                )
                raise
        await self._transaction.__aexit__(exc_type, exc, tb)
        self.commit_lsn = self._write.commit_lsn

    async def _publish_events(self) -> None:
        events = [event for order in self.orders.seen for event in order_events(order)]
        await outbox_rows.append(self.conn, outbox, events)
        for order in self.orders.seen:
            order.events.clear()
