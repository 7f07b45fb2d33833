"""Products of a plant and their routings: the operations an order of that SKU goes through."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from starlette.responses import Response

from reference_services.mes.adapters.tables import products, work_centers
from reference_services.mes.entrypoints.schemas import (
    PlantCode,
    Problem,
    ProductCreate,
    ProductList,
    ProductPublic,
)
from reference_services.mes.service_layer.orders import check_plant
from reference_services.platform.endpoints import MinLsn, Res, Scope, json_response, written
from reference_services.platform.outcome import Outcome
from reference_services.platform.problems import Problem as ProblemError
from reference_services.platform.problems import not_found

router = APIRouter(prefix="/products", tags=["products"])

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


def _product(row: Row[Any]) -> dict[str, Any]:
    return {
        "plant": row.plant,
        "sku": row.sku,
        "name": row.name,
        "routing": row.routing,
        "created_at": row.created_at.isoformat(),
    }


@router.post(
    "",
    status_code=201,
    response_model=ProductPublic,
    responses={404: _PROBLEM, 409: _PROBLEM, 422: _PROBLEM},
)
async def create_product(body: ProductCreate, res: Res, scope: Scope) -> Response:
    check_plant(scope, body.plant, f"plant {body.plant}")
    wanted = {step.work_center for step in body.routing}
    async with res.db.write() as tx:
        found = await tx.conn.execute(
            select(work_centers.c.code).where(
                work_centers.c.plant == body.plant, work_centers.c.code.in_(sorted(wanted))
            )
        )
        missing = wanted - {row.code for row in found}
        if missing:
            raise ProblemError(
                422,
                "unknown-work-center",
                "Unknown work center",
                f"plant {body.plant} has no work center {', '.join(sorted(missing))}",
            )
        row = (
            await tx.conn.execute(
                insert(products)
                .values(
                    plant=body.plant,
                    sku=body.sku,
                    name=body.name,
                    routing=[step.model_dump() for step in body.routing],
                )
                .on_conflict_do_nothing()
                .returning(*products.c)
            )
        ).first()
    if row is None:
        raise ProblemError(
            409,
            "duplicate-product",
            "Duplicate product",
            f"plant {body.plant} already has {body.sku}",
        )
    return written(Outcome(_product(row), tx.commit_lsn), 201)


@router.get("", response_model=ProductList, responses={422: _PROBLEM})
async def list_products(
    res: Res, lsn: MinLsn, scope: Scope, plant: Annotated[PlantCode, Query()]
) -> Response:
    if scope is not None and plant not in scope:
        return json_response({"items": []})
    async with res.db.read(lsn) as read:
        rows = await read.conn.execute(
            select(*products.c).where(products.c.plant == plant).order_by(products.c.sku)
        )
        items = [_product(row) for row in rows]
    return json_response({"items": items})


@router.get("/{plant}/{sku}", response_model=ProductPublic, responses={404: _PROBLEM})
async def get_product(plant: str, sku: str, res: Res, lsn: MinLsn, scope: Scope) -> Response:
    check_plant(scope, plant, f"product {plant}/{sku}")
    async with res.db.read(lsn) as read:
        row = (
            await read.conn.execute(
                select(*products.c).where(products.c.plant == plant, products.c.sku == sku)
            )
        ).first()
    if row is None:
        raise not_found(f"product {plant}/{sku}")
    return json_response(_product(row))
