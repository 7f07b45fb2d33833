"""Operation histories and the exactly-once checker for event delivery.

A delivery test records what was produced (each event the source committed) and what was applied
(each time a consumer's effect ran), then asks the checker whether every produced operation was
applied exactly once. Keys are whatever identifies one operation (an event id); an effect that
can only be observed as a count per entity (events applied to an order) is recorded as that many
applications of the entity's key.
"""

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["produced", "applied"]


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
    produced: Mapping[Hashable, int], applied: Mapping[Hashable, int], *, examples: int = 5
) -> DeliveryVerdict:
    lost: dict[Hashable, int] = {}
    duplicated: dict[Hashable, int] = {}
    unexpected: dict[Hashable, int] = {}
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


def _first(found: Mapping[Hashable, int], limit: int) -> list[str]:
    return [f"{key} x{times}" for key, times in list(found.items())[:limit]]


def from_pairs(produced: Iterable[Hashable], applied: Iterable[Hashable]) -> History:
    history = History()
    for key in produced:
        history.produced(key)
    for key in applied:
        history.applied(key)
    return history
