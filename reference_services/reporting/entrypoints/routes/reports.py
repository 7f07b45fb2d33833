"""GET /reports/...: the figures as JSON, or as CSV streamed row by row with `format=csv`."""

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from reference_services.platform.endpoints import MinLsn, Res, Scope, json_response, parse_id
from reference_services.platform.problems import Problem, not_found
from reference_services.reporting.adapters.read_model import order_row
from reference_services.reporting.entrypoints.schemas import PROBLEMS
from reference_services.reporting.service_layer import figures
from reference_services.reporting.settings import ReportingSettings

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv (streamed)")]
Plant = Annotated[str | None, Query(max_length=16, description="Only this plant")]
Since = Annotated[datetime | None, Query(alias="from", description="Default: 7 days back")]
Until = Annotated[datetime | None, Query(alias="to", description="Default: now")]
MAX_RANGE = timedelta(days=366)


def _rows_out(
    name: str, rows: list[dict[str, Any]], output: str, columns: Iterable[str]
) -> Response:
    if output == "json":
        return json_response({"items": rows})
    header = list(columns)

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
            if buffer.tell() > 16_384:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _csv_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


FIGURE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    422: PROBLEMS[422],
}
"""A figure is JSON, or CSV with `format=csv`: both are documented."""


def _settings(request: Request) -> ReportingSettings:
    settings: ReportingSettings = request.app.state.resources.settings
    return settings


@router.get("/orders-by-status", responses=FIGURE_RESPONSES)
async def orders_by_status(
    res: Res, lsn: MinLsn, scope: Scope, plant: Plant = None, format: Format = "json"
) -> Response:
    """How many orders each plant has in each status."""
    async with res.db.read(lsn) as read:
        rows = await figures.orders_by_status(read.conn, figures.Scope(scope, plant))
    return _rows_out("orders-by-status", rows, format, ("plant", "status", "orders"))


@router.get("/throughput", responses=FIGURE_RESPONSES)
async def throughput(
    request: Request,
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    plant: Plant = None,
    granularity: Annotated[Literal["day", "shift"], Query()] = "day",
    since: Annotated[
        datetime | None, Query(alias="from", description="Default: 7 days ago")
    ] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Default: now")] = None,
    format: Format = "json",
) -> Response:
    """Completed orders and quantity per day or per shift, by completion time."""
    until = _utc(until) if until else datetime.now(UTC)
    since = _utc(since) if since else until - timedelta(days=7)
    if since >= until or until - since > MAX_RANGE:
        raise Problem(
            422,
            "validation-error",
            "Request validation failed",
            "from must be before to, at most 366 days apart",
        )
    settings = _settings(request)
    async with res.db.read(lsn) as read:
        rows = await figures.throughput(
            read.conn,
            figures.Scope(scope, plant),
            granularity,
            since,
            until,
            settings.first_shift_hour,
            settings.shift_hours,
        )
    return _rows_out("throughput", rows, format, ("plant", "period_start", "orders", "quantity"))


@router.get("/lead-time", responses=FIGURE_RESPONSES)
async def lead_time(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    plant: Plant = None,
    sku: Annotated[list[str] | None, Query(max_length=64)] = None,
    format: Format = "json",
) -> Response:
    """Lead time (creation to completion) p50 and p95 per SKU, over completed orders."""
    async with res.db.read(lsn) as read:
        rows = await figures.lead_times(read.conn, figures.Scope(scope, plant), sku or ())
    columns = ("plant", "sku", "orders", "p50_seconds", "p95_seconds")
    return _rows_out("lead-time", rows, format, columns)


@router.get("/late-orders", responses=FIGURE_RESPONSES)
async def late_orders(
    res: Res,
    lsn: MinLsn,
    scope: Scope,
    plant: Plant = None,
    as_of: Annotated[date | None, Query(description="Default: today (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    format: Format = "json",
) -> Response:
    """Open orders past their due date, and orders completed after it, latest first."""
    day = as_of or datetime.now(UTC).date()
    async with res.db.read(lsn) as read:
        rows = await figures.late_orders(read.conn, figures.Scope(scope, plant), day, limit)
    columns = ("order_id", "order_ref", "plant", "sku", "status", "due_date", "completed_at")
    return _rows_out("late-orders", rows, format, (*columns, "days_late"))


@router.get("/orders/{order_id}", responses={404: PROBLEMS[404]})
async def report_order(order_id: str, res: Res, lsn: MinLsn, scope: Scope) -> Response:
    """One order as the read model holds it, with how many events were applied to it."""
    oid = parse_id(order_id, "order")
    async with res.db.read(lsn) as read:
        row = await order_row(read.conn, oid)
    if row is None or (scope is not None and row["plant"] not in scope):
        raise not_found(f"order {oid}")
    return json_response(
        {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row.items()}
        | {"order_id": str(row["order_id"])}
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
