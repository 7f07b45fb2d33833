"""The notification service: rules over the mes.events stream, webhooks and the alert feed."""

import asyncio
import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI

from reference_services.notification.adapters import subscription_store
from reference_services.notification.adapters.intake import apply_event, apply_events
from reference_services.notification.domain.callback_urls import Allowlist
from reference_services.notification.domain.rules import CRM_CALLBACK_EVENTS
from reference_services.notification.entrypoints.routes import feed, webhooks
from reference_services.notification.service_layer.alert_scanner import AlertScanner
from reference_services.notification.service_layer.delivery import (
    DeliveryMetrics,
    DeliveryPolicy,
    DeliveryWorker,
)
from reference_services.notification.settings import NotificationSettings
from reference_services.platform.background import run_with_app
from reference_services.platform.backoff import Backoff
from reference_services.platform.events import Envelope
from reference_services.platform.service_app import build_service_app
from reference_services.platform.stream_consumer import (
    ConsumerMetrics,
    StreamConsumer,
    consumer_config,
)

VERSION = "1.0.0"
CRM_SUBSCRIPTION_ID = uuid.uuid5(uuid.NAMESPACE_URL, "preflight:notification:crm-callback")


def create_app(settings: NotificationSettings) -> FastAPI:
    app = build_service_app(
        settings, title="Notification", version=VERSION, routers=[webhooks.router, feed.router]
    )
    resources = app.state.resources
    registry = resources.metrics.registry
    allowlist = Allowlist.parse(settings.callback_allowlist)
    app.state.allowlist = allowlist
    http = httpx.AsyncClient(timeout=settings.delivery_timeout_s, follow_redirects=False)
    worker = DeliveryWorker(
        resources.db,
        http,
        DeliveryPolicy(
            max_attempts=settings.delivery_max_attempts,
            backoff=Backoff(settings.delivery_backoff_base_s, settings.delivery_backoff_cap_s),
            timeout_s=settings.delivery_timeout_s,
            batch_size=settings.delivery_batch_size,
            poll_interval_s=settings.delivery_poll_interval_s,
            concurrency=settings.delivery_concurrency,
            allowlist=allowlist,
        ),
        DeliveryMetrics(registry),
    )
    scanner = AlertScanner(
        resources.db,
        hold_after=timedelta(seconds=settings.hold_alert_after_s),
        interval_s=settings.scan_interval_s,
        registry=registry,
        on_raised=worker.wake.set,
    )
    config = consumer_config(settings)

    async def handle(event: Envelope, entry_id: str) -> None:
        if await apply_event(resources.db, event, entry_id):
            worker.wake.set()

    async def handle_batch(batch: list[tuple[Envelope, str]]) -> None:
        if await apply_events(resources.db, batch):
            worker.wake.set()

    consumer = StreamConsumer(
        resources.redis,
        config,
        handle,
        ConsumerMetrics(registry, config),
        batch_handler=handle_batch,
    )

    async def configure_crm_callback() -> None:
        if settings.crm_url:
            async with resources.db.write() as write:
                await subscription_store.keep_managed(
                    write.conn,
                    CRM_SUBSCRIPTION_ID,
                    settings.crm_url.rstrip("/") + settings.crm_callback_path,
                    list(CRM_CALLBACK_EVENTS),
                    settings.webhook_secret,
                )

    async def deliver() -> None:
        await configure_crm_callback()
        try:
            await worker.run()
        except asyncio.CancelledError:
            await http.aclose()
            raise

    run_with_app(app, consumer.run, scanner.run, deliver)
    app.state.consumer = consumer
    app.state.delivery = worker
    return app


def app_factory() -> FastAPI:
    return create_app(NotificationSettings())
