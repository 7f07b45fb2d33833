"""The client-write checker: acknowledged writes must be present once, refused ones absent,
unknown outcomes either; it must fail on any lost, duplicated or phantom write."""

from preflight.history import OperationHistory, check_writes


def history_of(*steps: tuple[str, str]) -> OperationHistory:
    history = OperationHistory()
    for outcome, ref in steps:
        history.record(outcome, ref)  # type: ignore[arg-type]
    return history


def test_acknowledged_writes_present_once_are_valid() -> None:
    history = history_of(("invoke", "a"), ("ok", "a"), ("invoke", "b"), ("ok", "b"))

    verdict = check_writes(history, {"a": 1, "b": 1})

    assert verdict.valid
    assert verdict.every_info_resolved
    assert (verdict.invoked, verdict.acknowledged, verdict.lost, verdict.duplicated) == (2, 2, 0, 0)


def test_an_acknowledged_write_absent_from_the_primary_is_lost() -> None:
    history = history_of(("invoke", "a"), ("ok", "a"), ("invoke", "b"), ("ok", "b"))

    verdict = check_writes(history, {"a": 1})

    assert not verdict.valid
    assert verdict.lost == 1
    assert verdict.examples["lost"] == ["b"]


def test_a_write_present_twice_is_duplicated() -> None:
    history = history_of(("invoke", "a"), ("info", "a"), ("invoke", "a"), ("ok", "a"))

    verdict = check_writes(history, {"a": 2})

    assert not verdict.valid
    assert verdict.duplicated == 1
    assert verdict.lost == 0


def test_a_definitely_refused_write_that_is_present_is_a_phantom() -> None:
    history = history_of(("invoke", "a"), ("fail", "a"))

    verdict = check_writes(history, {"a": 1})

    assert not verdict.valid
    assert verdict.phantom == 1
    assert verdict.failed == 1


def test_a_write_no_client_invoked_is_a_phantom() -> None:
    verdict = check_writes(history_of(("invoke", "a"), ("ok", "a")), {"a": 1, "z": 1})

    assert verdict.phantom == 1
    assert verdict.examples["phantom"] == ["z"]
    assert not verdict.valid


def test_an_unknown_outcome_may_be_present_or_absent_but_stays_unresolved() -> None:
    history = history_of(("invoke", "a"), ("info", "a"), ("invoke", "b"), ("info", "b"))

    verdict = check_writes(history, {"a": 1})

    assert verdict.valid
    assert not verdict.every_info_resolved
    assert (verdict.unresolved, verdict.unresolved_present) == (2, 1)


def test_a_retry_that_is_acknowledged_resolves_the_unknown_outcome() -> None:
    history = history_of(("invoke", "a"), ("info", "a"), ("invoke", "a"), ("ok", "a"))

    verdict = check_writes(history, {"a": 1})

    assert verdict.valid
    assert verdict.every_info_resolved
    assert verdict.acknowledged == 1


def test_an_invocation_that_never_completed_counts_as_unknown() -> None:
    verdict = check_writes(history_of(("invoke", "a")), {})

    assert verdict.valid
    assert verdict.unresolved == 1


def test_a_definite_failure_absent_is_valid() -> None:
    verdict = check_writes(history_of(("invoke", "a"), ("fail", "a")), {})

    assert verdict.valid
    assert verdict.figures()["failed"] == 1
