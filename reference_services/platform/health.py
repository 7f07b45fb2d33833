"""Liveness and readiness: ready means both database roles and Redis answer."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.responses import JSONResponse

from reference_services.platform.problems import MEDIA_TYPE, PROBLEM_BASE

Check = Callable[[], Awaitable[object]]


def health_router(checks: dict[str, Check], timeout_s: float = 2.0) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", response_model=None)
    async def ready() -> JSONResponse:
        results = await asyncio.gather(*(_run(check, timeout_s) for check in checks.values()))
        status = dict(zip(checks, results, strict=True))
        failing = [name for name, result in status.items() if result != "ok"]
        if not failing:
            return JSONResponse({"status": "ok", "checks": status})
        body = {
            "type": PROBLEM_BASE + "not-ready",
            "title": "Service not ready",
            "status": 503,
            "detail": "failing: " + ", ".join(failing),
            "checks": status,
        }
        return JSONResponse(body, status_code=503, media_type=MEDIA_TYPE)

    return router


async def _run(check: Check, timeout_s: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout_s)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"[:200]
    return "ok"
