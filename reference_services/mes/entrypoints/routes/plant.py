"""Work centers and operators of a plant."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from reference_services.mes.adapters.tables import operators, work_centers
from reference_services.mes.entrypoints.schemas import (
    OperatorCreate,
    OperatorPublic,
    PlantCode,
    Problem,
    WorkCenterCreate,
    WorkCenterList,
    WorkCenterPublic,
)
from reference_services.mes.service_layer.orders import check_plant
from reference_services.platform.endpoints import (
    MinLsn,
    Res,
    Scope,
    json_response,
    parse_id,
    written,
)
from reference_services.platform.outcome import Outcome
from reference_services.platform.passwords import hash_password
from reference_services.platform.problems import Problem as ProblemError
from reference_services.platform.problems import not_found

router = APIRouter(tags=["plant"])

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}


def _work_center(row: Row[Any]) -> dict[str, str]:
    return {
        "plant": row.plant,
        "code": row.code,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
    }


def _operator(row: Row[Any]) -> dict[str, str | None]:
    return {
        "id": str(row.id),
        "name": row.name,
        "plant": row.plant,
        "work_center": row.work_center,
        "role": row.role,
        "login": row.login,
        "created_at": row.created_at.isoformat(),
    }


@router.post(
    "/work-centers",
    status_code=201,
    response_model=WorkCenterPublic,
    responses={404: _PROBLEM, 409: _PROBLEM, 422: _PROBLEM},
)
async def create_work_center(body: WorkCenterCreate, res: Res, scope: Scope) -> Response:
    check_plant(scope, body.plant, f"plant {body.plant}")
    async with res.db.write() as tx:
        row = (
            await tx.conn.execute(
                insert(work_centers)
                .values(plant=body.plant, code=body.code, name=body.name)
                .on_conflict_do_nothing()
                .returning(*work_centers.c)
            )
        ).first()
    if row is None:
        raise ProblemError(
            409,
            "duplicate-work-center",
            "Duplicate work center",
            f"plant {body.plant} already has {body.code}",
        )
    return written(Outcome(_work_center(row), tx.commit_lsn), 201)


@router.get("/work-centers", response_model=WorkCenterList, responses={422: _PROBLEM})
async def list_work_centers(
    res: Res, lsn: MinLsn, scope: Scope, plant: Annotated[PlantCode, Query()]
) -> Response:
    if scope is not None and plant not in scope:
        return json_response({"items": []})
    async with res.db.read(lsn) as read:
        rows = await read.conn.execute(
            select(*work_centers.c)
            .where(work_centers.c.plant == plant)
            .order_by(work_centers.c.code)
        )
        items = [_work_center(row) for row in rows]
    return json_response({"items": items})


@router.post(
    "/operators",
    status_code=201,
    response_model=OperatorPublic,
    responses={404: _PROBLEM, 409: _PROBLEM, 422: _PROBLEM},
)
async def create_operator(body: OperatorCreate, res: Res, scope: Scope) -> Response:
    check_plant(scope, body.plant, f"plant {body.plant}")
    if (body.login is None) != (body.password is None):
        raise ProblemError(
            422,
            "validation-error",
            "Request validation failed",
            "login and password go together: give both or neither",
        )
    try:
        async with res.db.write() as tx:
            row = (
                await tx.conn.execute(
                    operators.insert()
                    .values(
                        id=uuid.uuid4(),
                        name=body.name,
                        plant=body.plant,
                        work_center=body.work_center,
                        role=body.role,
                        login=body.login,
                        password_hash=hash_password(body.password) if body.password else None,
                    )
                    .returning(*operators.c)
                )
            ).one()
    except IntegrityError as exc:
        if "operators_login" in str(exc.orig):
            raise ProblemError(
                409, "duplicate-login", "Duplicate login", f"login {body.login} is taken"
            ) from None
        raise ProblemError(
            422,
            "unknown-work-center",
            "Unknown work center",
            f"plant {body.plant} has no work center {body.work_center}",
        ) from None
    return written(Outcome(_operator(row), tx.commit_lsn), 201)


@router.get("/operators/{operator_id}", response_model=OperatorPublic, responses={404: _PROBLEM})
async def get_operator(operator_id: str, res: Res, lsn: MinLsn, scope: Scope) -> Response:
    oid = parse_id(operator_id, "operator")
    async with res.db.read(lsn) as read:
        row = (await read.conn.execute(select(*operators.c).where(operators.c.id == oid))).first()
    if row is None:
        raise not_found(f"operator {oid}")
    check_plant(scope, row.plant, f"operator {oid}")
    return json_response(_operator(row))
