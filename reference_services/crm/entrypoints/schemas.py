"""Request and response bodies of the CRM API (the OpenAPI contract is generated from these)."""

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_services.crm.domain.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    MesStatus,
    SalesOrderStatus,
)

PlantCode = Annotated[
    str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9-]*$")
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=r"\S")
]
Email = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()./-]+$")]
Priority = Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactCreate(Strict):
    name: Name
    email: Email
    phone: Phone | None = None


class CustomerCreate(Strict):
    name: Name
    email: Email
    plant: PlantCode
    contacts: Annotated[list[ContactCreate], Field(max_length=50)] = []


class ContactPublic(BaseModel):
    name: str
    email: str
    phone: str | None


class CustomerPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    plant: str
    contacts: list[ContactPublic]
    created_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerPublic]
    next_cursor: str | None


class SalesOrderCreate(Strict):
    customer_id: uuid.UUID
    sku: Ref
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    due_date: date
    priority: Priority = 3


class SalesOrderPublic(BaseModel):
    id: uuid.UUID
    number: str = Field(description='"SO-" and the zero-padded sequence number')
    customer_id: uuid.UUID
    plant: str
    sku: str
    quantity: int
    due_date: date
    priority: int
    status: SalesOrderStatus = Field(
        description="submitted until the MES answers, then accepted or rejected"
    )
    reject_reason: str | None = Field(description="The MES's reason, when rejected")
    reject_type: str | None = Field(description="The problem type of the rejection")
    mes_order_id: uuid.UUID | None
    mes_status: MesStatus | None = Field(description="The production order's latest status")
    submit_attempts: int
    completion_notified_at: datetime | None = Field(
        description="When the notification service called back that production completed"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class SalesOrderPage(BaseModel):
    items: list[SalesOrderPublic]
    next_cursor: str | None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
