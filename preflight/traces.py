"""Spans of the embedded services: an OTLP/HTTP receiver the stack runs, and a reader for tests.

The services export spans over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
the stack sets it to this receiver, which keeps the spans in memory and serves them as JSON:

    GET /api/traces/<trace id>   -> {"spans": [...]}   (a span: trace_id, span_id, parent_id,
                                                         name, service, kind, status, start_ns,
                                                         end_ns, attributes)

For a deployed target, `JaegerTraces` reads the same from Jaeger's query API (`jaeger_url` in the
profile's [observability] table).

    python -m preflight.traces --port 4318      # run a receiver by hand
"""

from __future__ import annotations

import argparse
import gzip
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from preflight.ports import LOOPBACK
from preflight.waits import wait_until

MAX_SPANS_PER_TRACE = 10_000
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    kind: str
    status: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        return cls(**data)


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        service=service,
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        status=_STATUS.get(span.status.code, str(span.status.code)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                    )
                )
    return spans


def _attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        found[pair.key] = getattr(value, kind) if kind in _SCALARS else str(value)
    return found


class SpanStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_trace: dict[str, list[Span]] = defaultdict(list)

    def add(self, spans: Iterable[Span]) -> None:
        with self._lock:
            for span in spans:
                kept = self._by_trace[span.trace_id]
                if len(kept) < MAX_SPANS_PER_TRACE:
                    kept.append(span)

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return list(self._by_trace.get(trace_id, ()))


def serve(host: str, port: int, store: SpanStore | None = None) -> ThreadingHTTPServer:
    spans = store or SpanStore()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/traces":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            try:
                spans.add(decode(body))
            except Exception as error:  # a malformed export: tell the exporter, keep serving
                self.send_error(400, f"not an OTLP trace export: {error}")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            prefix = "/api/traces/"
            if self.path == "/health":
                self._json({"status": "ok"})
            elif self.path.startswith(prefix):
                trace_id = self.path[len(prefix) :].lower()
                self._json({"spans": [asdict(s) for s in spans.trace(trace_id)]})
            else:
                self.send_error(404)

        def _json(self, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


class TraceReader:
    """The spans of one trace, from the receiver of an embedded stack."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def spans(self, trace_id: str) -> list[Span]:
        response = httpx.get(f"{self.url}/api/traces/{trace_id}", timeout=10)
        response.raise_for_status()
        return [Span.from_json(s) for s in response.json()["spans"]]

    def wait_for(
        self,
        trace_id: str,
        done: Callable[[list[Span]], bool],
        *,
        timeout: float = 30,
        description: str = "the trace to arrive",
    ) -> list[Span]:
        """Spans reach the receiver in batches (every few seconds): poll until `done` holds."""

        def arrived() -> list[Span] | None:
            found = self.spans(trace_id)
            return found if found and done(found) else None

        return wait_until(arrived, timeout=timeout, interval=0.25, description=description)


class JaegerTraces(TraceReader):
    """The same reader over Jaeger's query API (GET /api/traces/<id>)."""

    def spans(self, trace_id: str) -> list[Span]:
        response = httpx.get(f"{self.url}/api/traces/{trace_id}", timeout=10)
        if response.status_code == 404:
            return []
        response.raise_for_status()
        found = []
        for data in response.json().get("data", []):
            processes = {k: v.get("serviceName", "unknown") for k, v in data["processes"].items()}
            for span in data["spans"]:
                tags = {t["key"]: t["value"] for t in span.get("tags", [])}
                parents = [
                    r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"
                ]
                found.append(
                    Span(
                        trace_id=span["traceID"],
                        span_id=span["spanID"],
                        parent_id=parents[0] if parents else None,
                        name=span["operationName"],
                        service=processes.get(span["processID"], "unknown"),
                        kind=str(tags.get("span.kind", "unspecified")),
                        status="error" if tags.get("error") else "unset",
                        start_ns=span["startTime"] * 1000,
                        end_ns=(span["startTime"] + span["duration"]) * 1000,
                        attributes=tags,
                    )
                )
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description="OTLP/HTTP trace receiver for the embedded stack")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = serve(args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
