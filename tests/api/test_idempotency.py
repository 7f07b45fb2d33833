"""Idempotency-Key: a retried write takes effect once, whatever the timing of the retry."""

import threading
import uuid

import httpx
import psycopg
import pytest

from fixtures.mes import MesFactory, Plant
from preflight.clients.mes import MesClient
from preflight.expect import expect_problem, expect_status
from preflight.targets import Target
from preflight.waits import wait_until


def test_the_same_key_and_body_replays_the_first_response(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order, key = mes_factory.build_order(plant), str(uuid.uuid4())

    first = mes.create_order(order, idempotency_key=key)
    retry = mes.create_order(order, idempotency_key=key)

    assert expect_status(retry, 201) == expect_status(first, 201)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.headers["location"]  # a replay answers alike
    assert [o["id"] for o in mes.iter_orders(plant=plant.code)] == [first.json()["id"]]


def test_the_same_key_with_another_body_is_refused(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    key = str(uuid.uuid4())
    expect_status(mes.create_order(mes_factory.build_order(plant), idempotency_key=key), 201)

    expect_problem(
        mes.create_order(mes_factory.build_order(plant), idempotency_key=key),
        422,
        "idempotency-key-reused",
    )

    assert len(list(mes.iter_orders(plant=plant.code))) == 1


def test_a_failed_request_does_not_use_up_its_key(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order, key = mes_factory.build_order(plant), str(uuid.uuid4())
    bad = {**order, "operations": [{**order["operations"][0], "work_center": "NOPE-00"}]}
    expect_problem(mes.create_order(bad, idempotency_key=key), 422, "unknown-work-center")
    expect_problem(mes.create_order(bad, idempotency_key=key), 422, "unknown-work-center")


def test_a_retried_transition_takes_effect_once(
    mes: MesClient, mes_factory: MesFactory, plant: Plant
) -> None:
    order, key = mes_factory.create_order(plant), str(uuid.uuid4())

    first = expect_status(mes.transition(order["id"], "release", idempotency_key=key), 200)
    retry = mes.transition(order["id"], "release", idempotency_key=key)

    assert expect_status(retry, 200) == first
    assert expect_status(mes.get_order(order["id"]), 200)["version"] == 2
    expect_problem(mes.transition(order["id"], "release"), 409, "illegal-transition")


@pytest.mark.needs_db
def test_a_retry_while_the_first_request_is_in_flight_is_told_to_wait(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, mes_db: str, target: Target, run_id: str
) -> None:
    order, key = mes_factory.build_order(plant), str(uuid.uuid4())
    first: list[httpx.Response] = []
    with psycopg.connect(mes_db, autocommit=False) as blocker:
        blocker.execute("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        with MesClient(
            target.url("mes"), headers=target.headers, run_id=run_id, timeout=30
        ) as slow:
            in_flight = threading.Thread(
                target=lambda: first.append(slow.create_order(order, idempotency_key=key))
            )
            in_flight.start()
            try:
                wait_until(
                    lambda: blocker.execute(
                        "SELECT 1 FROM idempotency_keys WHERE key = %s AND state = 'in_flight'",
                        (key,),
                    ).fetchone(),
                    timeout=10,
                    description="the first request to claim its key",
                )
                expect_problem(
                    mes.create_order(order, idempotency_key=key), 409, "idempotency-in-flight"
                )
            finally:
                blocker.rollback()
                in_flight.join(timeout=30)

    created = expect_status(first[0], 201)
    assert expect_status(mes.create_order(order, idempotency_key=key), 201) == created
    assert [o["id"] for o in mes.iter_orders(plant=plant.code)] == [created["id"]]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_malformed_keys_are_refused(
    mes: MesClient, mes_factory: MesFactory, plant: Plant, key: str
) -> None:
    response = mes.http.post(
        "/orders", json=mes_factory.build_order(plant), headers={"Idempotency-Key": key}
    )
    expect_problem(response, 422, "validation-error")
