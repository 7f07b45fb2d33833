"""The gate's answer as an exit code, and how each step's outcome maps onto it.

Exit codes (stable; CI gates on them):

====  ==================  ===========================================================
code  name                meaning
====  ==================  ===========================================================
0     PASS                every selected suite passed (and every SLO held)
1     FUNCTIONAL_FAILURE  a test failed or errored, or the selected suites collected
                          no test at all (a gate that checked nothing must not pass)
2     USAGE               bad command line or configuration: unknown suite, missing
                          or unreadable profile
3     SLO_BREACH          a load run breached an SLO
4     TARGET_UNHEALTHY    the target failed its health checks before any test ran
5     RUN_INVALID         the run cannot be trusted: pytest was interrupted, crashed
                          or was misconfigured by the harness, the load generator
                          saturated, the target is unsafe for what was asked
====  ==================  ===========================================================

pytest's own exit codes map as follows: 0 -> PASS, 1 (tests failed) -> FUNCTIONAL_FAILURE,
5 (no tests collected) -> FUNCTIONAL_FAILURE with its own reason, 2 (interrupted, including
collection errors), 3 (internal error), 4 (usage error: the harness built a bad command line)
and anything else (killed by a signal) -> RUN_INVALID.

When several steps report, the most decisive outcome wins, in this order:
USAGE > TARGET_UNHEALTHY > FUNCTIONAL_FAILURE > RUN_INVALID > SLO_BREACH > PASS.
A functional failure is a definite "no" even if a later load run was invalid; an invalid
load run leaves its SLO verdict unanswered, so it outranks a breach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0
    FUNCTIONAL_FAILURE = 1
    USAGE = 2
    SLO_BREACH = 3
    TARGET_UNHEALTHY = 4
    RUN_INVALID = 5


PRECEDENCE: tuple[ExitCode, ...] = (
    ExitCode.USAGE,
    ExitCode.TARGET_UNHEALTHY,
    ExitCode.FUNCTIONAL_FAILURE,
    ExitCode.RUN_INVALID,
    ExitCode.SLO_BREACH,
    ExitCode.PASS,
)

PYTEST_OK = 0
PYTEST_TESTS_FAILED = 1
PYTEST_INTERRUPTED = 2
PYTEST_INTERNAL_ERROR = 3
PYTEST_USAGE_ERROR = 4
PYTEST_NO_TESTS_COLLECTED = 5


@dataclass(frozen=True)
class Verdict:
    exit_code: ExitCode
    reason: str

    @property
    def name(self) -> str:
        """Lower-case name for reports: "pass", "functional_failure", ..."""
        return self.exit_code.name.lower()

    @property
    def passed(self) -> bool:
        return self.exit_code is ExitCode.PASS


PASSED = Verdict(ExitCode.PASS, "all selected suites passed")


def from_pytest(returncode: int) -> Verdict:
    """Translate a pytest process exit status into the gate's verdict."""
    if returncode == PYTEST_OK:
        return PASSED
    if returncode == PYTEST_TESTS_FAILED:
        return Verdict(ExitCode.FUNCTIONAL_FAILURE, "tests failed or errored")
    if returncode == PYTEST_NO_TESTS_COLLECTED:
        return Verdict(
            ExitCode.FUNCTIONAL_FAILURE,
            "no tests were collected: a gate that checks nothing does not pass",
        )
    if returncode == PYTEST_INTERRUPTED:
        return Verdict(
            ExitCode.RUN_INVALID, "pytest was interrupted (Ctrl-C or errors during collection)"
        )
    if returncode == PYTEST_INTERNAL_ERROR:
        return Verdict(ExitCode.RUN_INVALID, "pytest hit an internal error")
    if returncode == PYTEST_USAGE_ERROR:
        return Verdict(ExitCode.RUN_INVALID, "pytest rejected the command line the gate built")
    if returncode < 0:
        return Verdict(ExitCode.RUN_INVALID, f"pytest was killed by signal {-returncode}")
    return Verdict(ExitCode.RUN_INVALID, f"pytest exited with unexpected status {returncode}")


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The most decisive verdict of several steps (see PRECEDENCE); PASS when none."""
    chosen = PASSED
    for verdict in verdicts:
        if PRECEDENCE.index(verdict.exit_code) < PRECEDENCE.index(chosen.exit_code):
            chosen = verdict
    return chosen
