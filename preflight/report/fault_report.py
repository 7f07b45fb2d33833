"""A reliability test's verdict: its client writes checked against the primary, and its figures
printed, attached to Allure and written for the gate (`preflight.report.reliability`)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import allure
import psycopg

from preflight.faults import Fault
from preflight.history import WriteVerdict, check_writes, compare
from preflight.report.reliability import FaultRun, results_dir, write_run
from preflight.write_load import WriteLoad


def orders_on_primary(mes_db: str, plant: str) -> Counter[str]:
    """How many orders each order_ref has in the plant, read from the primary."""
    with psycopg.connect(mes_db) as conn:
        rows = conn.execute(
            "SELECT order_ref, count(*) FROM orders WHERE plant = %s GROUP BY order_ref", (plant,)
        ).fetchall()
    return Counter({ref: int(count) for ref, count in rows})


def created_events_on_primary(mes_db: str, plant: str) -> Counter[str]:
    """How many order.created events the outbox holds for each order_ref of the plant."""
    with psycopg.connect(mes_db) as conn:
        rows = conn.execute(
            "SELECT payload->>'order_ref', count(*) FROM outbox"
            " WHERE event_type = 'order.created' AND payload->>'plant' = %s"
            " GROUP BY 1",
            (plant,),
        ).fetchall()
    return Counter({ref: int(count) for ref, count in rows})


def unpublished_events(mes_db: str, plant: str | None = None) -> int:
    """Events of the plant's orders (of every order without one) the outbox relay has not
    published yet."""
    with psycopg.connect(mes_db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            " AND (%(plant)s::text IS NULL OR payload->>'plant' = %(plant)s)",
            {"plant": plant},
        ).fetchone()
    return int(row[0]) if row else 0


class FaultReport:
    """Checks a run's writes against the primary and reports the figures: printed, attached to
    Allure, and written for the gate's summary."""

    def __init__(self, test: str, default_dir: Path) -> None:
        self.test = test
        self.default_dir = default_dir

    def check(
        self,
        load: WriteLoad,
        fault: Fault,
        *,
        mes_db: str,
        plant: str,
        notes: str = "",
        publish: bool = True,
    ) -> tuple[WriteVerdict, FaultRun]:
        """The verdict and the run's figures; `publish`: also write them for the gate (not
        for a deliberately broken build, whose failure is the expected answer)."""
        verdict = check_writes(load.history, orders_on_primary(mes_db, plant))
        present = {ref: 1 for ref, count in orders_on_primary(mes_db, plant).items() if count}
        events = compare(present, created_events_on_primary(mes_db, plant))
        recovered = load.history.first_ok_after(fault.healed) if fault.healed else None
        run = FaultRun(
            test=self.test,
            fault=fault.name,
            survived=verdict.valid and verdict.every_info_resolved and events.exactly_once,
            rate_per_s=round(load.achieved_rate, 1),
            invoked=verdict.invoked,
            acknowledged=verdict.acknowledged,
            failed=verdict.failed,
            unresolved=verdict.unresolved,
            lost=verdict.lost,
            duplicated=verdict.duplicated,
            phantom=verdict.phantom,
            events_lost=events.lost,
            events_duplicated=events.duplicated + events.unexpected,
            fault_s=round(fault.duration_s, 3),
            recovery_s=(
                round(recovered - fault.healed, 3)
                if recovered is not None and fault.healed
                else None
            ),
            notes=notes,
        )
        text = (
            f"{fault.name}: {verdict.summary()}; order.created events: {events.summary()}; "
            f"rate {run.rate_per_s}/s, {load.attempts} attempts, fault {run.fault_s} s, "
            f"recovery {run.recovery_s} s; unknown outcomes: {load.history.details('info')}"
            + (f"; {notes}" if notes else "")
        )
        print(text)
        allure.attach(
            run.model_dump_json(indent=2),
            name="reliability figures",
            attachment_type=allure.attachment_type.JSON,
        )
        allure.attach(text, name="write verdict", attachment_type=allure.attachment_type.TEXT)
        if publish:
            write_run(results_dir(self.default_dir), run)
        return verdict, run


def assert_nothing_lost(verdict: WriteVerdict, run: FaultRun) -> None:
    assert run.acknowledged > 0, "no write was acknowledged: the load never ran"
    assert (verdict.lost, verdict.duplicated, verdict.phantom) == (0, 0, 0), verdict.summary()
    assert verdict.every_info_resolved, verdict.summary()
    assert (run.events_lost, run.events_duplicated) == (0, 0), run


@dataclass
class FaultUnderLoad:
    """One reliability run: the order load writing, the fault injected meanwhile (`injected`),
    and, once the load is over, the checker's verdict and the figures (see `under_load` in
    tests/reliability/conftest.py, which runs it)."""

    load: WriteLoad
    fault: Fault | None = None
    notes: str = ""
    verdict: WriteVerdict | None = None
    figures: FaultRun | None = None

    @contextlib.contextmanager
    def injected(self, fault: contextlib.AbstractContextManager[Fault]) -> Iterator[Fault]:
        """The fault for the block, recorded as the run's (for its recovery time)."""
        with fault as started:
            self.fault = started
            yield started

    def unknown_outcomes_since(self, moment: float) -> int:
        """Attempts answered with an unknown outcome (info) from `moment` on."""
        return sum(
            1 for op in self.load.history.operations if op.outcome == "info" and op.at >= moment
        )

    def server_errors(self) -> Counter[str]:
        """Answers of 500 and above other than 503 (a refusal the client may retry), by detail:
        a fault the service should have turned into a 503 crashed a request instead."""
        return Counter(
            op.detail
            for op in self.load.history.operations
            if op.outcome == "info" and op.detail[:1] == "5" and not op.detail.startswith("503")
        )

    def assert_refused_with_503(self, during: str, back: str) -> None:
        """The run recovered (a write acknowledged once `back`), refused writes with 503 while
        `during`, and answered no other 5xx."""
        assert self.figures is not None
        assert self.figures.recovery_s is not None, f"no write was acknowledged once {back}"
        refusals = self.load.history.details("info", top=5)
        assert "503 service-unavailable" in refusals, refusals
        assert not self.server_errors(), f"a 5xx other than 503 while {during}: {refusals}"


UnderLoad = Callable[..., contextlib.AbstractContextManager[FaultUnderLoad]]
"""The reliability suite's `under_load` fixture: `with under_load(duration_s=8) as run:`."""
