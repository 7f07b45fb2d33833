"""Redis paused, then restarted, under a stream of order writes: the MES serves reads around
its cache while Redis does not answer, nothing written is lost, and once Redis is back the
outbox relay publishes every event and the reporting service applies every order once."""

from pathlib import Path

import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_status
from preflight.faults import Fault, redis_paused, redis_restarted
from preflight.report.fault_report import UnderLoad, orders_on_primary, unpublished_events
from preflight.targets import Target
from preflight.waits import wait_until

pytestmark = [pytest.mark.destructive, pytest.mark.slow]

PAUSE_S = 4.0  # beyond the services' Redis socket timeout (2 s): their calls to it fail


def reported(reporting_db: str, plant: str) -> tuple[int, int]:
    """Orders of the plant in the reporting read model, and the events it applied to them."""
    with psycopg.connect(reporting_db) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(events_applied), 0) FROM report_orders WHERE plant = %s",
            (plant,),
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def test_a_paused_and_restarted_redis_loses_nothing_and_every_consumer_catches_up(
    target: Target,
    state_dir: Path,
    under_load: UnderLoad,
    mes: MesClient,
    mes_factory: MesFactory,
    mes_db: str,
    plant: Plant,
) -> None:
    assert target.redis_url is not None
    reporting = target.database("reporting")
    if reporting is None or "reporting" not in target.services:
        pytest.skip("needs the reporting service and its database")
    order = mes_factory.create_order(plant)
    with under_load(duration_s=9) as run:
        run.load.history.invoke(order["order_ref"])  # acknowledged to the factory
        run.load.history.ok(order["order_ref"])
        with redis_paused(target.redis_url, PAUSE_S) as paused:
            # The cache does not answer: the read goes around it, to the database.
            assert expect_status(mes.get_order(order["id"]), 200)["id"] == order["id"]
            assert expect_status(mes.http.get(f"/orders/{order['id']}"), 200) == order
        restarted = redis_restarted(state_dir)
        run.fault = Fault(
            f"{paused.name}, then {restarted.name}",
            started=paused.started,
            healed=restarted.healed,
        )

    present = sum(orders_on_primary(mes_db, plant.code).values())
    wait_until(
        lambda: unpublished_events(mes_db, plant.code) == 0,
        timeout=60,
        description="the relay to publish every event once Redis is back",
    )
    wait_until(
        lambda: reported(reporting.primary, plant.code) == (present, present),
        timeout=90,
        interval=0.5,
        description=f"the reporting service to apply all {present} orders once",
    )
