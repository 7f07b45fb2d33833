"""The reporting service: read models of the MES's orders, built from the mes.events stream."""

from fastapi import FastAPI

from reference_services.platform.background import run_with_app
from reference_services.platform.events import Envelope
from reference_services.platform.service_app import build_service_app
from reference_services.platform.stream_consumer import (
    ConsumerMetrics,
    StreamConsumer,
    consumer_config,
)
from reference_services.reporting.adapters.read_model import apply_event, apply_events
from reference_services.reporting.entrypoints.routes import reports
from reference_services.reporting.settings import ReportingSettings

VERSION = "1.0.0"


def create_app(settings: ReportingSettings) -> FastAPI:
    app = build_service_app(settings, title="Reporting", version=VERSION, routers=[reports.router])
    resources = app.state.resources
    config = consumer_config(settings)

    async def handle(event: Envelope, entry_id: str) -> None:
        await apply_event(resources.db, event, entry_id)

    async def handle_batch(batch: list[tuple[Envelope, str]]) -> None:
        await apply_events(resources.db, batch)

    consumer = StreamConsumer(
        resources.redis,
        config,
        handle,
        ConsumerMetrics(resources.metrics.registry, config),
        batch_handler=handle_batch,
    )
    run_with_app(app, consumer.run)
    app.state.consumer = consumer
    return app


def app_factory() -> FastAPI:
    return create_app(ReportingSettings())
