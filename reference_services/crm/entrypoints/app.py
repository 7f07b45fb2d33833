"""The CRM service: customers, sales orders, and their submission to and progress in the MES."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import Counter
from starlette.responses import Response

from reference_services.crm.domain.model import InvalidSalesOrder
from reference_services.crm.entrypoints import workers
from reference_services.crm.entrypoints.routes import callbacks, customers, sales_orders
from reference_services.crm.settings import CrmSettings
from reference_services.platform.problems import Problem, problem_response
from reference_services.platform.service_app import build_service_app

VERSION = "1.0.0"


async def _invalid_sales_order(request: Request, exc: Exception) -> Response:
    return problem_response(
        Problem(422, "validation-error", "Request validation failed", str(exc)), request.url.path
    )


def create_app(settings: CrmSettings) -> FastAPI:
    app = build_service_app(
        settings,
        title="CRM",
        version=VERSION,
        routers=[customers.router, sales_orders.router, callbacks.router],
    )
    app.add_exception_handler(InvalidSalesOrder, _invalid_sales_order)
    # One line per gateway call would drown the log: the poller calls every interval.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    resources = app.state.resources
    background = workers.build_workers(settings, resources.db, resources.metrics.registry)
    app.state.submitter = background.submitter
    app.state.poller = background.poller
    app.state.callbacks_counter = Counter(
        "crm_mes_callbacks_total",
        "Completion callbacks received, by result (applied, duplicate, rejected).",
        ["result"],
        registry=resources.metrics.registry,
    )
    platform_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            platform_lifespan(app),
            workers.running(background, enabled=settings.background_workers),
        ):
            yield

    app.router.lifespan_context = lifespan
    return app


def app_factory() -> FastAPI:
    return create_app(CrmSettings())
