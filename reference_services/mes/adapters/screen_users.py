"""The people who sign in to the operator screens: operators and planners with a login."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reference_services.mes.adapters.tables import operators, work_centers


@dataclass(frozen=True)
class ScreenUser:
    id: uuid.UUID
    name: str
    plant: str
    work_center: str | None
    role: str
    password_hash: str | None

    @property
    def is_planner(self) -> bool:
        return self.role == "planner"


async def user_by_login(conn: AsyncConnection, login: str) -> ScreenUser | None:
    row = (
        await conn.execute(
            select(
                operators.c.id,
                operators.c.name,
                operators.c.plant,
                operators.c.work_center,
                operators.c.role,
                operators.c.password_hash,
            ).where(operators.c.login == login)
        )
    ).first()
    if row is None:
        return None
    return ScreenUser(row.id, row.name, row.plant, row.work_center, row.role, row.password_hash)


async def plant_work_centers(conn: AsyncConnection, plant: str) -> list[str]:
    rows = await conn.execute(
        select(work_centers.c.code)
        .where(work_centers.c.plant == plant)
        .order_by(work_centers.c.code)
    )
    return [row.code for row in rows]
