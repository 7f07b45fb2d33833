"""Request and response schemas of the notification API (for validation and its OpenAPI)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 404, 422)
}

EventPattern = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z_.*]+$")]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="http(s) URL receiving POSTs")
    events: list[EventPattern] = Field(
        min_length=1, max_length=50, description='Event types or patterns, e.g. "order.*"'
    )
    plant: str | None = Field(default=None, min_length=1, max_length=16)
    description: str = Field(default="", max_length=200)


class SubscriptionPublic(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    plant: str | None
    description: str
    managed: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256); shown only once")


class SubscriptionList(BaseModel):
    items: list[SubscriptionPublic]


class AttemptPublic(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    next_attempt_at: datetime | None


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str = Field(description="pending, delivered, failed, dead or cancelled")
    attempts: list[AttemptPublic]
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None


class AlertPublic(BaseModel):
    number: int
    id: uuid.UUID
    type: str
    plant: str
    order_id: uuid.UUID
    order_ref: str
    title: str
    detail: str
    raised_at: datetime
    read: bool


class FeedPage(BaseModel):
    items: list[AlertPublic]
    unread: int
    next_before: int | None


class Rule(BaseModel):
    name: str
    on: str
    action: str
    after_s: float | None = None


class RuleList(BaseModel):
    items: list[Rule]
    event_types: list[str] = Field(description="What a webhook can subscribe to")
