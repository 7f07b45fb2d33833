"""One request through the gateway is one trace: gateway, MES, its database and cache calls, and
the publication of the events it caused, without errors and with a bounded number of spans."""

import random

from fixtures.crm import CrmFactory
from fixtures.mes import MesFactory, Plant
from preflight.clients.crm import CrmClient
from preflight.clients.gateway import GatewayCallers
from preflight.expect import expect_status
from preflight.targets import Target
from preflight.traces import Span, TraceReader

MAX_SPANS = 60


def new_traceparent() -> tuple[str, str, str]:
    trace_id = f"{random.getrandbits(128):032x}"
    span_id = f"{random.getrandbits(64):016x}"
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def services(spans: list[Span]) -> set[str]:
    return {span.service for span in spans}


def complete(spans: list[Span], path: set[str], caller_span: str) -> bool:
    """Every service of `path` has spans and every span's parent has arrived (or is the
    caller's): a parent ends, and is exported, after its children, so the first spans seen of
    a service may be its children's."""
    ids = {span.span_id for span in spans} | {caller_span}
    return path <= services(spans) and all(span.parent_id in ids for span in spans)


def test_an_order_placed_through_the_gateway_is_one_trace_to_the_event_stream(
    callers: GatewayCallers, mes_factory: MesFactory, plant: Plant, traces: TraceReader
) -> None:
    traceparent, trace_id, caller_span = new_traceparent()
    planner = callers("planner", plant.code)

    response = planner.http.post(
        "/orders", json=mes_factory.build_order(plant), headers={"traceparent": traceparent}
    )
    expect_status(response, 201)

    spans = traces.wait_for(
        trace_id,
        lambda found: complete(found, {"gateway", "mes", "mes-relay"}, caller_span),
        description="spans of the gateway, the MES and the relay, each with its parent",
    )
    by_id = {span.span_id: span for span in spans}
    assert {span.trace_id for span in spans} == {trace_id}
    assert [s.name for s in spans if s.status == "error"] == []
    assert len(spans) <= MAX_SPANS
    roots = [s for s in spans if s.parent_id not in by_id]
    assert {s.parent_id for s in roots} == {caller_span}, "every span hangs off the caller's"
    assert any(s.service == "mes" and s.attributes.get("db.system") == "postgresql" for s in spans)
    published = [s for s in spans if s.service == "mes-relay" and s.kind == "producer"]
    assert published, "the relay's publication joins the trace"
    assert by_id[published[0].parent_id or ""].service == "mes"


def test_a_sales_order_placed_in_the_crm_is_one_trace_through_submission_to_the_stream(
    crm: CrmClient,
    crm_factory: CrmFactory,
    plant: Plant,
    traces: TraceReader,
    target: Target,
) -> None:
    traceparent, trace_id, caller_span = new_traceparent()
    customer = crm_factory.create_customer(plant.code)
    order = crm_factory.build_sales_order(customer, sku=plant.skus[0])

    placed = crm.http.post("/sales-orders", json=order, headers={"traceparent": traceparent})
    expect_status(placed, 201)

    # Consumers of mes.events join the trace too, when the target runs them.
    consumers = {"reporting", "notification"} & set(target.services)
    path = {"crm", "gateway", "mes", "mes-relay"} | consumers
    spans = traces.wait_for(
        trace_id,
        lambda found: complete(found, path, caller_span),
        description=f"spans of {', '.join(sorted(path))}, each with its parent",
    )
    by_id = {span.span_id: span for span in spans}
    assert [s.name for s in spans if s.status == "error"] == []
    assert len(spans) <= MAX_SPANS * 2
    assert {s.parent_id for s in spans if s.parent_id not in by_id} == {caller_span}
    submit = next(s for s in spans if s.name == "submit sales order")
    assert submit.service == "crm"
    mes_server = [s for s in spans if s.service == "mes" and s.kind == "server"]
    assert any(by_id[s.parent_id or ""].service == "gateway" for s in mes_server)
