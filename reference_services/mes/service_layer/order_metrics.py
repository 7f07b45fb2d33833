"""Business metrics of the MES: order transitions and lead time per plant.

Recorded from the events a write committed (the same ones the outbox carries), after the commit,
so a rolled-back change counts nothing. The collectors are process-wide and registered in each
app's registry (`register`); plant is a bounded label (the plants of a site), never an order id.
"""

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

from reference_services.platform.outbox import OutboxEvent

LEAD_TIME_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)

TRANSITIONS = Counter(
    "mes_order_transitions_total",
    "Orders entering a lifecycle step, by plant: created, released, started, completed, held,"
    " resumed, cancelled.",
    ["plant", "transition"],
    registry=None,
)
LEAD_TIME = Histogram(
    "mes_order_lead_time_seconds",
    "Time from an order's creation to its completion, observed when it completes.",
    ["plant"],
    buckets=LEAD_TIME_BUCKETS,
    registry=None,
)
COUNTED = frozenset({"created", "released", "started", "completed", "held", "resumed", "cancelled"})


def register(registry: CollectorRegistry) -> None:
    registry.register(TRANSITIONS)
    registry.register(LEAD_TIME)


def record(events: list[OutboxEvent]) -> None:
    for event in events:
        kind, _, step = event.event_type.partition(".")
        if kind != "order" or step not in COUNTED:
            continue
        plant = str(event.payload["plant"])
        TRANSITIONS.labels(plant, step).inc()
        if step == "completed":
            created = datetime.fromisoformat(str(event.payload["created_at"]))
            LEAD_TIME.labels(plant).observe(max((event.occurred_at - created).total_seconds(), 0))
