"""Metrics, traces and logs for a reference service: one ASGI middleware records all three."""

import contextvars
import logging
import random
import sys
import time

import orjson
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# FastAPI's own OpenTelemetry support stays off: TelemetryMiddleware does this job, and the
# native one checks the global providers (environment lookups) on every request.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The RED metrics every service exports, in a registry of its own (one per app)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.service = service
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by route template and status code.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request, by route template.",
            ["service", "method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled.",
            ["service"],
            registry=self.registry,
        )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def traceresponse(span: trace.Span) -> bytes:
    """The W3C Trace Context `traceresponse` value naming the span that served a request."""
    context = span.get_span_context()
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags)


class TelemetryMiddleware:
    """Request id, W3C trace context, a server span, RED metrics and an access log line.

    Responses carry X-Request-ID and `traceresponse` (the server span), unless the app already set
    them (a proxy passing back its upstream's). Fields the app puts in the request state's
    `access_log` dict are added to the access log line.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, tracer: trace.Tracer) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.access_log = logging.getLogger("access")
        self.in_progress = metrics.in_progress.labels(metrics.service)
        # The headers the configured propagators read (W3C traceparent, tracestate, baggage).
        self.trace_headers = frozenset(
            field.lower().encode("latin-1") for field in propagate.get_global_textmap().fields
        )
        # The labelled series by (method, route, status): labels() takes a lock and builds a key
        # on every call; the set is bounded by the routes the app has.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            metrics = self.metrics
            series = (
                metrics.requests.labels(metrics.service, method, route, str(status)),
                metrics.duration.labels(metrics.service, method, route),
            )
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(elapsed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
            elif name in self.trace_headers:
                carrier = carrier or {}
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        request_id = request_id or f"{random.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        # Without trace headers there is nothing to extract: the span starts a new trace.
        context = propagate.extract(carrier) if carrier is not None else Context()
        self.in_progress.inc()
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", context=context, kind=SpanKind.SERVER
        ) as span:

            async def send_with_ids(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    sent = list(message.get("headers", []))
                    names = {name.lower() for name, _ in sent}
                    if b"x-request-id" not in names:
                        sent.append((b"x-request-id", request_id.encode()))
                    if b"traceresponse" not in names:
                        sent.append((b"traceresponse", traceresponse(span)))
                    message["headers"] = sent
                await send(message)

            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                route = _route_template(scope)
                elapsed = time.perf_counter() - started
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                self.in_progress.dec()
                self._observe(method, route, status, elapsed)
                if self.access_log.isEnabledFor(logging.INFO):
                    state = scope.get("state")
                    extra = state.get("access_log") if isinstance(state, dict) else None
                    self.access_log.info(
                        "request",
                        extra={
                            **(extra if isinstance(extra, dict) else {}),
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                        },
                    )
                request_id_var.reset(token)


def build_tracer(service: str, otlp_endpoint: str | None) -> trace.Tracer:
    """Spans exported over OTLP when an endpoint is set. Without one nothing is recorded (no cost,
    no memory), but trace context still flows: ids reach the logs and the next service."""
    resource = Resource.create({"service.name": service})
    if not otlp_endpoint:
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF).get_tracer(service)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=200, max_export_batch_size=128)
    )
    trace_clients(provider)
    return provider.get_tracer(service)


_clients_traced = False


def trace_clients(provider: TracerProvider) -> None:
    """Spans for every PostgreSQL, Redis and outgoing HTTP call of this process (once per process:
    a service runs alone in its process), and this provider as the global one, so stream
    consumers and the outbox relay find it."""
    global _clients_traced
    if _clients_traced:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _clients_traced = True


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        span_context = trace.get_current_span().get_span_context()
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else "-"
        return True


# What every LogRecord has; any other attribute came from `extra=` and goes into the line.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
}


class JsonLines(logging.Formatter):
    """One JSON object per record (orjson): time, level, logger name, message, request and trace
    ids, the service, the record's `extra` fields, and the exception if any."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Formatter's default time (`2026-11-25 10:42:07,123`), the date and time part formatted
        once per second rather than for every line."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, stamp = self._second
        if int(record.created) != second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (int(record.created), stamp)
        return f"{stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "name": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "trace_id": getattr(record, "trace_id", "-"),
            "service": self.service,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(service: str, level: str) -> None:
    # What JsonLines does not print is not gathered for every record either (the logging HOWTO's
    # "Optimization" section): the caller's file and line, thread, process and process name.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(service))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
