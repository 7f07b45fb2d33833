"""The exactly-once checker behind the delivery test: it must fail on any loss or duplicate."""

import pytest

from preflight.history import History, assert_exactly_once, check, compare, from_pairs


def test_every_operation_applied_once_is_exactly_once() -> None:
    verdict = check(from_pairs(["a", "b", "c"], ["c", "a", "b"]))

    assert verdict.exactly_once
    assert (verdict.produced, verdict.applied, verdict.lost, verdict.duplicated) == (3, 3, 0, 0)


def test_a_missing_application_is_lost() -> None:
    verdict = check(from_pairs(["a", "b", "c"], ["a", "c"]))

    assert not verdict.exactly_once
    assert (verdict.lost, verdict.duplicated) == (1, 0)
    assert verdict.examples["lost"] == ["b x1"]


def test_a_second_application_is_duplicated() -> None:
    verdict = check(from_pairs(["a", "b"], ["a", "b", "b"]))

    assert not verdict.exactly_once
    assert (verdict.lost, verdict.duplicated) == (0, 1)
    assert verdict.examples["duplicated"] == ["b x1"]


def test_loss_and_duplicate_of_equal_size_do_not_cancel_out() -> None:
    verdict = check(from_pairs(["a", "b"], ["a", "a"]))

    assert (verdict.produced, verdict.applied) == (2, 2)
    assert (verdict.lost, verdict.duplicated) == (1, 1)
    assert not verdict.exactly_once


def test_an_application_of_something_never_produced_fails() -> None:
    verdict = check(from_pairs(["a"], ["a", "z"]))

    assert verdict.unexpected == 1
    assert not verdict.exactly_once


def test_counts_per_entity_compare_like_keys() -> None:
    history = History()
    history.produced("order-1", times=4)
    history.applied("order-1", times=4)
    history.produced("order-2", times=3)
    history.applied("order-2", times=5)

    verdict = check(history)

    assert (verdict.lost, verdict.duplicated) == (0, 2)


def test_compare_takes_counts_directly() -> None:
    assert compare({"a": 2}, {"a": 1}).lost == 1


def test_assert_exactly_once_reports_the_counts() -> None:
    with pytest.raises(AssertionError, match="lost=1 duplicated=0"):
        assert_exactly_once(from_pairs(["a", "b"], ["a"]))
    assert assert_exactly_once(from_pairs(["a"], ["a"])).applied == 1
