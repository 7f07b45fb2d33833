"""The figures the reporting API serves, computed in SQL over the orders read model.

Every query takes the caller's plant scope (None: every plant) and an optional plant filter.
Shifts: `shift_hours`-long shifts from `first_shift_hour` UTC; a shift belongs to the production
day it starts on (with 06:00/8 h shifts, 22:00-06:00 is the third shift of the day it began).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

Granularity = Literal["day", "shift"]
PlantScope = frozenset[str] | None


@dataclass(frozen=True)
class Scope:
    plants: PlantScope
    plant: str | None

    def where(self, alias: str = "o") -> tuple[str, dict[str, Any]]:
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if self.plants is not None:
            clauses.append(f"{alias}.plant = ANY(:plants)")
            params["plants"] = sorted(self.plants)
        if self.plant is not None:
            clauses.append(f"{alias}.plant = :plant")
            params["plant"] = self.plant
        return " AND ".join(clauses), params


async def orders_by_status(conn: AsyncConnection, scope: Scope) -> list[dict[str, Any]]:
    where, params = scope.where()
    rows = await conn.execute(
        text(
            f"SELECT o.plant, o.status, count(*) AS orders FROM report_orders o WHERE {where}"
            " GROUP BY o.plant, o.status ORDER BY o.plant, o.status"
        ),
        params,
    )
    return [dict(row._mapping) for row in rows]


async def throughput(
    conn: AsyncConnection,
    scope: Scope,
    granularity: Granularity,
    since: datetime,
    until: datetime,
    first_shift_hour: int,
    shift_hours: int,
) -> list[dict[str, Any]]:
    where, params = scope.where()
    if granularity == "day":
        period = "date_trunc('day', o.completed_at AT TIME ZONE 'UTC')"
    else:
        shifted = "(o.completed_at AT TIME ZONE 'UTC' - make_interval(hours => :first_hour))"
        period = (
            f"date_trunc('day', {shifted}) + make_interval(hours => :first_hour)"
            f" + floor(extract(epoch FROM {shifted} - date_trunc('day', {shifted}))"
            " / (:shift_hours * 3600)) * make_interval(hours => :shift_hours)"
        )
    rows = await conn.execute(
        text(
            f"SELECT o.plant, ({period}) AT TIME ZONE 'UTC' AS period_start,"
            " count(*) AS orders, sum(o.quantity) AS quantity"
            f" FROM report_orders o WHERE {where} AND o.completed_at IS NOT NULL"
            " AND o.completed_at >= :since AND o.completed_at < :until"
            " GROUP BY o.plant, period_start ORDER BY o.plant, period_start"
        ),
        params
        | {
            "since": since,
            "until": until,
            "first_hour": first_shift_hour,
            "shift_hours": shift_hours,
        },
    )
    return [
        {
            **row._mapping,
            "period_start": row.period_start.isoformat(),
            "quantity": int(row.quantity),
        }
        for row in rows
    ]


async def lead_times(
    conn: AsyncConnection, scope: Scope, skus: Sequence[str] = ()
) -> list[dict[str, Any]]:
    where, params = scope.where()
    if skus:
        where += " AND o.sku = ANY(:skus)"
        params["skus"] = list(skus)
    seconds = "extract(epoch FROM o.completed_at - o.created_at)"
    rows = await conn.execute(
        text(
            f"SELECT o.plant, o.sku, count(*) AS orders,"
            f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) AS p50_seconds,"
            f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {seconds}) AS p95_seconds"
            f" FROM report_orders o WHERE {where} AND o.completed_at IS NOT NULL"
            " GROUP BY o.plant, o.sku ORDER BY o.plant, o.sku"
        ),
        params,
    )
    return [
        {
            **row._mapping,
            "p50_seconds": round(float(row.p50_seconds), 3),
            "p95_seconds": round(float(row.p95_seconds), 3),
        }
        for row in rows
    ]


async def late_orders(
    conn: AsyncConnection, scope: Scope, as_of: date, limit: int
) -> list[dict[str, Any]]:
    """Open orders past their due date on `as_of`, and orders completed after their due date."""
    where, params = scope.where()
    rows = await conn.execute(
        text(
            "SELECT o.order_id, o.order_ref, o.plant, o.sku, o.status, o.due_date, o.completed_at,"
            " CASE WHEN o.completed_at IS NULL THEN :as_of - o.due_date"
            " ELSE (o.completed_at AT TIME ZONE 'UTC')::date - o.due_date END AS days_late"
            f" FROM report_orders o WHERE {where} AND ("
            " (o.status NOT IN ('completed', 'cancelled') AND o.due_date < :as_of)"
            " OR (o.completed_at IS NOT NULL"
            " AND (o.completed_at AT TIME ZONE 'UTC')::date > o.due_date))"
            " ORDER BY days_late DESC, o.order_ref LIMIT :limit"
        ),
        params | {"as_of": as_of, "limit": limit},
    )
    return [
        {
            **row._mapping,
            "order_id": str(row.order_id),
            "due_date": row.due_date.isoformat(),
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        }
        for row in rows
    ]
