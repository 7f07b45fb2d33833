"""Operation histories and their checkers: exactly-once event delivery, and client writes
(invoke / ok / fail / info per client reference) against the final state of the primary.

A delivery test records what was produced (each event the source committed) and what was applied
(each time a consumer's effect ran), then asks the checker whether every produced operation was
applied exactly once. Keys are whatever identifies one operation (an event id); an effect that
can only be observed as a count per entity (events applied to an order) is recorded as that many
applications of the entity's key.
"""

import time
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

Kind = Literal["produced", "applied"]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Operation:
    kind: Kind
    key: Hashable


@dataclass
class History:
    operations: list[Operation] = field(default_factory=list)

    def produced(self, key: Hashable, times: int = 1) -> None:
        self.operations.extend(Operation("produced", key) for _ in range(times))

    def applied(self, key: Hashable, times: int = 1) -> None:
        self.operations.extend(Operation("applied", key) for _ in range(times))

    def counts(self, kind: Kind) -> Counter[Hashable]:
        return Counter(op.key for op in self.operations if op.kind == kind)


@dataclass(frozen=True)
class DeliveryVerdict:
    produced: int
    applied: int
    lost: int
    duplicated: int
    unexpected: int
    examples: dict[str, list[str]]

    @property
    def exactly_once(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0

    def summary(self) -> str:
        text = (
            f"produced={self.produced} applied={self.applied} lost={self.lost} "
            f"duplicated={self.duplicated} unexpected={self.unexpected}"
        )
        shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.examples.items() if v)
        return f"{text} ({shown})" if shown else text


def check(history: History, *, examples: int = 5) -> DeliveryVerdict:
    """Compare applications with productions key by key.

    lost: productions without an application; duplicated: applications beyond the productions
    of a key; unexpected: applications of keys never produced (also a failure: a consumer made
    up or misattributed an effect).
    """
    return compare(history.counts("produced"), history.counts("applied"), examples=examples)


def compare(
    produced: Mapping[K, int], applied: Mapping[K, int], *, examples: int = 5
) -> DeliveryVerdict:
    lost: dict[K, int] = {}
    duplicated: dict[K, int] = {}
    unexpected: dict[K, int] = {}
    for key, times in produced.items():
        done = applied.get(key, 0)
        if done < times:
            lost[key] = times - done
        elif done > times:
            duplicated[key] = done - times
    for key, done in applied.items():
        if key not in produced and done > 0:
            unexpected[key] = done
    return DeliveryVerdict(
        produced=sum(produced.values()),
        applied=sum(applied.values()),
        lost=sum(lost.values()),
        duplicated=sum(duplicated.values()),
        unexpected=sum(unexpected.values()),
        examples={
            "lost": _first(lost, examples),
            "duplicated": _first(duplicated, examples),
            "unexpected": _first(unexpected, examples),
        },
    )


def assert_exactly_once(history: History) -> DeliveryVerdict:
    verdict = check(history)
    assert verdict.exactly_once, f"delivery was not exactly once: {verdict.summary()}"
    return verdict


def _first(found: Mapping[K, int], limit: int) -> list[str]:
    return [f"{key} x{times}" for key, times in list(found.items())[:limit]]


def from_pairs(produced: Iterable[Hashable], applied: Iterable[Hashable]) -> History:
    history = History()
    for key in produced:
        history.produced(key)
    for key in applied:
        history.applied(key)
    return history


# -- client operation histories (Jepsen's shape) -----------------------------------------------

Outcome = Literal["invoke", "ok", "fail", "info"]


@dataclass(frozen=True)
class ClientOperation:
    """One step of one client operation: it was invoked, or it completed ok (acknowledged), fail
    (definitely not done: a 4xx the server answered) or info (unknown: a timeout, a reset, a
    5xx; the write may or may not have happened). `at` is a monotonic time."""

    outcome: Outcome
    ref: str
    at: float
    detail: str = ""


@dataclass
class OperationHistory:
    """Every client operation of a run, keyed by the client's reference (an order_ref): retries
    of an operation with an unknown outcome reuse the reference (and its Idempotency-Key).
    Appends are atomic under the GIL, so threads and event loops may record into one history."""

    operations: list[ClientOperation] = field(default_factory=list)

    def record(self, outcome: Outcome, ref: str, detail: str = "") -> None:
        self.operations.append(ClientOperation(outcome, ref, time.monotonic(), detail))

    def invoke(self, ref: str) -> None:
        self.record("invoke", ref)

    def ok(self, ref: str, detail: str = "") -> None:
        self.record("ok", ref, detail)

    def fail(self, ref: str, detail: str = "") -> None:
        self.record("fail", ref, detail)

    def info(self, ref: str, detail: str = "") -> None:
        self.record("info", ref, detail)

    def outcomes(self) -> dict[str, set[Outcome]]:
        """The completions each invoked reference got; an invocation that never completed (the
        run ended first) counts as info."""
        seen: dict[str, set[Outcome]] = {}
        open_calls: Counter[str] = Counter()
        for op in self.operations:
            seen.setdefault(op.ref, set())
            if op.outcome == "invoke":
                open_calls[op.ref] += 1
            else:
                open_calls[op.ref] -= 1
                seen[op.ref].add(op.outcome)
        for ref, still_open in open_calls.items():
            if still_open > 0:
                seen[ref].add("info")
        return seen

    def details(self, outcome: Outcome, top: int = 3) -> str:
        """The most frequent details of one outcome ("ReadTimeout x40, 503 ... x3")."""
        counts = Counter(op.detail for op in self.operations if op.outcome == outcome)
        return ", ".join(f"{detail or '-'} x{n}" for detail, n in counts.most_common(top))

    def first_ok_after(self, moment: float) -> float | None:
        """When the first operation acknowledged after `moment` was (to measure recovery)."""
        return next(
            (op.at for op in self.operations if op.outcome == "ok" and op.at >= moment), None
        )


@dataclass(frozen=True)
class WriteVerdict:
    """The final state against the history. lost: acknowledged, absent; duplicated: present
    more than once; phantom: present although never invoked or definitely refused;
    unresolved: references whose outcome stayed unknown (only info), with how many of them
    turned out present."""

    invoked: int
    acknowledged: int
    failed: int
    lost: int
    duplicated: int
    phantom: int
    unresolved: int
    unresolved_present: int
    examples: dict[str, list[str]]

    @property
    def valid(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.phantom == 0

    @property
    def every_info_resolved(self) -> bool:
        return self.unresolved == 0

    def summary(self) -> str:
        text = (
            f"invoked={self.invoked} acknowledged={self.acknowledged} failed={self.failed} "
            f"lost={self.lost} duplicated={self.duplicated} phantom={self.phantom} "
            f"unresolved={self.unresolved} (present {self.unresolved_present})"
        )
        shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.examples.items() if v)
        return f"{text} ({shown})" if shown else text

    def figures(self) -> dict[str, int]:
        return {
            "invoked": self.invoked,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "phantom": self.phantom,
            "unresolved": self.unresolved,
        }


def check_writes(
    history: OperationHistory, final: Mapping[str, int], *, examples: int = 5
) -> WriteVerdict:
    """Compare the final state (how many times each reference is present, read from the
    primary) with what the clients were told.

    An acknowledged write must be present exactly once; a definitely failed one (and a
    reference no client invoked) must be absent; an unknown outcome may be either, but not
    twice. A reference present in `final` that no client invoked is a phantom: pass the state of
    the run's own data only (the orders of its own plant).
    """
    outcomes = history.outcomes()
    lost: list[str] = []
    duplicated: dict[str, int] = {}
    phantom: list[str] = []
    unresolved: list[str] = []
    present_unknown = 0
    for ref, seen in outcomes.items():
        count = final.get(ref, 0)
        if count > 1:
            duplicated[ref] = count - 1
        if "ok" in seen:
            if count == 0:
                lost.append(ref)
        elif "info" in seen:
            unresolved.append(ref)
            present_unknown += count > 0
        elif count > 0:
            phantom.append(ref)  # refused definitely, yet written
    phantom += [ref for ref, count in final.items() if count > 0 and ref not in outcomes]
    return WriteVerdict(
        invoked=len(outcomes),
        acknowledged=sum("ok" in seen for seen in outcomes.values()),
        failed=sum(seen == {"fail"} for seen in outcomes.values()),
        lost=len(lost),
        duplicated=sum(duplicated.values()),
        phantom=len(phantom),
        unresolved=len(unresolved),
        unresolved_present=present_unknown,
        examples={
            "lost": lost[:examples],
            "duplicated": _first(duplicated, examples),
            "phantom": phantom[:examples],
            "unresolved": unresolved[:examples],
        },
    )
