"""Reporting scrap against an operation of an order (the operator screens' scrap form)."""

import uuid

from reference_services.mes.adapters.scrap_reports import add_scrap_report
from reference_services.mes.service_layer.orders import PlantScope, check_plant, present
from reference_services.mes.service_layer.unit_of_work import UnitOfWork
from reference_services.platform.db import Database
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import not_found


async def report_scrap(
    db: Database,
    order_id: uuid.UUID,
    *,
    seq: int,
    quantity: int,
    reason: str,
    reported_by: str,
    scope: PlantScope = None,
) -> Outcome:
    async with UnitOfWork(db) as uow:
        order = await uow.orders.get_for_update(order_id)
        if order is None:
            raise not_found(f"order {order_id}")
        check_plant(scope, order.plant, f"order {order_id}")
        order.check_scrap(seq, quantity)
        await add_scrap_report(uow.conn, order.id, seq, quantity, reason, reported_by)
    return Outcome(present(order), uow.commit_lsn)
