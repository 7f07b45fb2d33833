"""One transaction on the primary, and the narrow interface the background workers need of it
(so that they can run against a fake in unit tests)."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.crm.adapters.customers_repository import CustomerRepository
from reference_services.crm.adapters.sales_orders_repository import SalesOrderRepository
from reference_services.crm.domain.model import SalesOrder
from reference_services.platform import unit_of_work as platform_uow


class SalesOrderStore(Protocol):
    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[SalesOrder]: ...

    async def get_for_update(self, order_id: uuid.UUID) -> SalesOrder | None: ...

    async def by_numbers_for_update(self, numbers: Sequence[int]) -> list[SalesOrder]: ...

    async def save(self, order: SalesOrder) -> None: ...

    async def next_due_at(self) -> datetime | None: ...

    async def oldest_awaiting_progress(self) -> datetime | None: ...

    async def feed_watermark(self) -> datetime | None: ...

    async def advance_watermark(self, watermark: datetime) -> None: ...


class Transaction(Protocol):
    """What the submitter and the progress poller do in one transaction."""

    @property
    def sales_orders(self) -> SalesOrderStore: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


TransactionFactory = Callable[[], Transaction]


class UnitOfWork(platform_uow.UnitOfWork):
    def opened(self, conn: AsyncConnection) -> None:
        self.customers = CustomerRepository(conn)
        self._sales_orders = SalesOrderRepository(conn)

    @property
    def sales_orders(self) -> SalesOrderRepository:
        return self._sales_orders
