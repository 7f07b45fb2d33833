"""The MES service: production orders and their operations, products, work centers, operators."""

from fastapi import FastAPI, Request
from starlette.responses import Response

from reference_services.mes.domain.model import IllegalTransition, InvalidOrder, UnknownOperation
from reference_services.mes.entrypoints.cached_reads import serve_cached_order_reads
from reference_services.mes.entrypoints.order_intake import serve_order_intake
from reference_services.mes.entrypoints.routes import orders, plant, products
from reference_services.mes.entrypoints.routes.screens import install_screens
from reference_services.mes.service_layer import order_metrics
from reference_services.mes.settings import MesSettings
from reference_services.platform.problems import Problem, problem_response
from reference_services.platform.service_app import build_service_app

VERSION = "1.0.0"


async def _illegal_transition(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IllegalTransition)
    problem = Problem(
        409, "illegal-transition", "Illegal transition", str(exc), current_status=exc.status.value
    )
    return problem_response(problem, request.url.path)


async def _invalid_order(request: Request, exc: Exception) -> Response:
    return problem_response(
        Problem(422, "validation-error", "Request validation failed", str(exc)), request.url.path
    )


async def _unknown_operation(request: Request, exc: Exception) -> Response:
    return problem_response(Problem(404, "not-found", "Not found", str(exc)), request.url.path)


def create_app(settings: MesSettings) -> FastAPI:
    app = build_service_app(
        settings,
        title="MES",
        version=VERSION,
        routers=[orders.router, plant.router, products.router],
    )
    order_metrics.register(app.state.resources.metrics.registry)
    serve_cached_order_reads(app, app.state.resources.cache, orders.router)
    serve_order_intake(app, app.state.resources, orders.router)
    app.add_exception_handler(IllegalTransition, _illegal_transition)
    app.add_exception_handler(InvalidOrder, _invalid_order)
    app.add_exception_handler(UnknownOperation, _unknown_operation)
    install_screens(app, settings.jwt_secret)
    return app


def app_factory() -> FastAPI:
    return create_app(MesSettings())
