"""One transaction on the primary: the orders it changed and their outbox events commit together."""

from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.mes.adapters.orders_repository import OrderRepository
from reference_services.mes.adapters.tables import outbox
from reference_services.mes.domain.model import ProductionOrder
from reference_services.mes.service_layer import order_metrics
from reference_services.platform import outbox as outbox_rows
from reference_services.platform import unit_of_work as platform_uow
from reference_services.platform.outbox import OutboxEvent


def order_events(order: ProductionOrder) -> list[OutboxEvent]:
    return [
        OutboxEvent(
            event_type=event.name,
            aggregate_type="order",
            aggregate_id=str(order.id),
            occurred_at=event.at,
            payload={
                "order_id": str(order.id),
                "order_ref": order.order_ref,
                "customer_ref": order.customer_ref,
                "plant": order.plant,
                "sku": order.sku,
                "quantity": order.quantity,
                "priority": order.priority,
                "due_date": order.due_date.isoformat(),
                "status": event.status.value,
                "previous_status": event.previous_status.value if event.previous_status else None,
                "version": order.version,
                "created_at": order.created_at.isoformat(),
            }
            | ({} if event.operation_seq is None else {"operation_seq": event.operation_seq}),
        )
        for event in order.events
    ]


class UnitOfWork(platform_uow.UnitOfWork):
    """The orders it changed and their outbox events commit together."""

    def opened(self, conn: AsyncConnection) -> None:
        self.orders = OrderRepository(conn)
        self.committed: list[OutboxEvent] = []

    async def before_commit(self) -> None:
        self.committed = [event for order in self.orders.seen for event in order_events(order)]
        await outbox_rows.append(self.conn, outbox, self.committed)
        for order in self.orders.seen:
            order.events.clear()

    def after_commit(self) -> None:
        order_metrics.record(self.committed)
