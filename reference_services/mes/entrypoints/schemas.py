"""Request and response bodies of the MES API (the OpenAPI contract is generated from these)."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_services.mes.domain.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    OperationStatus,
    OrderStatus,
)

PlantCode = Annotated[
    str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9-]*$")
]
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Priority = Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OperationCreate(Strict):
    work_center: Code
    description: Text
    planned_minutes: Annotated[int, Field(ge=1, le=100_000)]


class OrderCreate(Strict):
    order_ref: Ref
    customer_ref: Ref
    sku: Ref
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    due_date: date
    plant: PlantCode
    priority: Priority = 3
    operations: Annotated[
        list[OperationCreate] | None,
        Field(min_length=1, max_length=50, description="Omitted: the product's routing"),
    ] = None


class OrderUpdate(Strict):
    priority: Priority | None = None
    due_date: date | None = None


class OperationPublic(BaseModel):
    seq: int
    work_center: str
    description: str
    planned_minutes: int
    status: OperationStatus


class OrderPublic(BaseModel):
    id: uuid.UUID
    order_ref: str
    customer_ref: str
    sku: str
    quantity: int
    due_date: date
    plant: str
    priority: int
    status: OrderStatus
    version: int
    created_at: datetime
    updated_at: datetime
    operations: list[OperationPublic]


class OrderPage(BaseModel):
    items: list[OrderPublic]
    next_cursor: str | None


class ProductCreate(Strict):
    plant: PlantCode
    sku: Ref
    name: Text
    routing: Annotated[list[OperationCreate], Field(min_length=1, max_length=50)]


class ProductPublic(BaseModel):
    plant: str
    sku: str
    name: str
    routing: list[OperationCreate]
    created_at: datetime


class ProductList(BaseModel):
    items: list[ProductPublic]


class WorkCenterCreate(Strict):
    plant: PlantCode
    code: Code
    name: Text


class WorkCenterPublic(BaseModel):
    plant: str
    code: str
    name: str
    created_at: datetime


class WorkCenterList(BaseModel):
    items: list[WorkCenterPublic]


class OperatorCreate(Strict):
    name: Text
    plant: PlantCode
    work_center: Code | None = None
    role: Literal["operator", "planner"] = "operator"
    login: Code | None = Field(default=None, description="Sign-in name for the operator screens")
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)] | None = Field(
        default=None, description="Screen password (stored as a scrypt hash); needs a login"
    )


class OperatorPublic(BaseModel):
    id: uuid.UUID
    name: str
    plant: str
    work_center: str | None
    role: Literal["operator", "planner"]
    login: str | None = None
    created_at: datetime


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
