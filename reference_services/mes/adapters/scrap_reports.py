"""Scrap an operator reported against an operation of an order."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.mes.adapters.tables import scrap_reports


@dataclass(frozen=True)
class ScrapReport:
    seq: int
    quantity: int
    reason: str
    reported_by: str
    reported_at: datetime


async def add_scrap_report(
    conn: AsyncConnection, order_id: uuid.UUID, seq: int, quantity: int, reason: str, by: str
) -> None:
    await conn.execute(
        scrap_reports.insert().values(
            id=uuid.uuid4(),
            order_id=order_id,
            seq=seq,
            quantity=quantity,
            reason=reason,
            reported_by=by,
        )
    )


async def scrap_of_order(conn: AsyncConnection, order_id: uuid.UUID) -> list[ScrapReport]:
    rows = await conn.execute(
        select(scrap_reports)
        .where(scrap_reports.c.order_id == order_id)
        .order_by(scrap_reports.c.reported_at, scrap_reports.c.id)
    )
    return [
        ScrapReport(row.seq, row.quantity, row.reason, row.reported_by, row.reported_at)
        for row in rows
    ]
