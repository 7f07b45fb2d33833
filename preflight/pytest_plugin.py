"""Preflight's pytest plugin: the target of a run, its clients and its test data.

`--target embedded` (the default, or PREFLIGHT_TARGET) tests the embedded stack: a running one
(`preflight stack up --keep`) is reused, else one is started for the run and stopped after it.
`--target PROFILE.toml` tests whatever the profile describes. Under xdist the controller resolves
the target once and hands it to every worker.
"""

import contextlib
import functools
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from faker import Faker

from fixtures.cleanup import CleanupRegistry
from fixtures.crm import CrmFactory
from fixtures.mes import MesFactory, Plant
from fixtures.seeding import faker_for
from preflight import rwlock
from preflight.clients.crm import CrmClient
from preflight.clients.mes import MesClient
from preflight.targets import Target, TargetError, from_stack, load_profile
from preflight.traces import JaegerTraces, TraceReader

if TYPE_CHECKING:
    from filelock import FileLock

    from preflight.stack import StackInfo

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")  # the Pact FFI reports usage unless told not to
os.environ.setdefault("ALLURE_NO_ANALYTICS", "true")

WORKER_KEY = "preflight_target"
RUN_KEY = "preflight_run_id"
OFFLINE_SUITES = ("tests/unit", "tests/harness")
SETTLE_TIMEOUT_S = 60.0  # how long a destructive test's stack may take to serve again after it

_target_key = pytest.StashKey[Target | None]()
_target_error_key = pytest.StashKey[str | None]()
_run_id_key = pytest.StashKey[str]()
_stop_key = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("preflight")
    group.addoption(
        "--target",
        default=os.environ.get("PREFLIGHT_TARGET", "embedded"),
        help="embedded (default) or a profile TOML of a deployed stack [env: PREFLIGHT_TARGET]",
    )
    group.addoption(
        "--run-id",
        default=os.environ.get("PREFLIGHT_RUN_ID"),
        help="tag for the data this run creates",
    )


def _suite_path(arg: str, root: Path) -> str:
    path = Path(arg.split("::")[0])
    if path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    return path.as_posix()


def _needs_target(config: pytest.Config) -> bool:
    args = [a for a in config.args if not a.startswith("-")] or list(config.getini("testpaths"))
    for arg in args:
        path = _suite_path(arg, Path(config.rootpath))
        if not any(path == suite or path.startswith(suite + "/") for suite in OFFLINE_SUITES):
            return True
    return False


def _resolve(config: pytest.Config) -> Target | None:
    choice = str(config.getoption("--target"))
    if choice != "embedded":
        return load_profile(Path(choice))
    if not _needs_target(config):
        return None
    from preflight import stack

    running = stack.status()
    if running is not None:
        return from_stack(running)
    return from_stack(_start_run_stack(config))


def _start_run_stack(config: pytest.Config) -> "StackInfo":
    """A stack of this run's own, so that runs side by side do not collide; stopped at the end."""
    from preflight import stack

    def progress(line: str) -> None:
        print(f"preflight: {line}", flush=True)

    stack.sweep_stale_runs(progress)
    state_dir = stack.run_state_dir(config.stash[_run_id_key])
    started = stack.running(state_dir=state_dir, progress=progress)
    info = started.__enter__()
    config.stash[_stop_key] = (started, state_dir)
    return info


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        raw = worker_input.get(WORKER_KEY)
        config.stash[_target_key] = Target.from_json(raw) if raw else None
        config.stash[_target_error_key] = worker_input.get("preflight_target_error")
        config.stash[_run_id_key] = worker_input[RUN_KEY]
        return
    config.stash[_run_id_key] = str(config.getoption("--run-id") or uuid.uuid4().hex[:8])
    config.stash[_target_error_key] = None
    try:
        config.stash[_target_key] = _resolve(config)
    except TargetError as exc:
        config.stash[_target_key] = None
        config.stash[_target_error_key] = str(exc)
        raise pytest.UsageError(f"--target: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    config = node.config
    target = config.stash.get(_target_key, None)
    node.workerinput[WORKER_KEY] = target.to_json() if target else None
    node.workerinput[RUN_KEY] = config.stash[_run_id_key]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Allure's environment and categories, written once by the controller (not per worker)."""
    config = session.config
    results = config.getoption("allure_report_dir", None)
    if not results or hasattr(config, "workerinput"):
        return
    from preflight.report import environment

    target = config.stash.get(_target_key, None)
    results_dir = Path(str(results))
    results_dir.mkdir(parents=True, exist_ok=True)
    properties = environment.environment_properties(
        target_name=target.name if target else "none",
        services=target.services if target else {},
        run_id=config.stash[_run_id_key],
        git_sha=environment.git_sha(Path(config.rootpath)),
    )
    environment.write_environment(results_dir, properties)
    environment.write_categories(results_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(_stop_key, None)
    if started is not None:
        stack_context, state_dir = started
        stack_context.__exit__(None, None, None)
        from preflight import stack

        stack.remove_run_dir(state_dir)


def pytest_report_header(config: pytest.Config) -> list[str]:
    target = config.stash.get(_target_key, None)
    if target is None:
        return ["preflight: no target needed"]
    services = ", ".join(f"{name}={url}" for name, url in sorted(target.services.items()))
    return [f"preflight: target {target.name} ({services}), run {config.stash[_run_id_key]}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.stash.get(_target_key, None)
    if target is not None and target.allow_destructive:
        return
    skip = pytest.mark.skip(reason="destructive: runs only on a stack Preflight started itself")
    for item in items:
        if item.get_closest_marker("destructive"):
            item.add_marker(skip)


def service_url(target: Target, service: str) -> str:
    """The service's base URL; a test of a service the target does not expose is skipped."""
    if service not in target.services:
        pytest.skip(f"the target {target.name!r} exposes no {service} service")
    return target.url(service)


def lock_dir() -> Path:
    """Where the locks between xdist workers live: PREFLIGHT_LOCK_DIR, else .preflight/."""
    from preflight import stack

    configured = os.environ.get("PREFLIGHT_LOCK_DIR")
    return Path(configured) if configured else stack.project_root() / ".preflight"


@functools.cache
def machine_lock() -> "FileLock":
    """What slow work holds to take the machine one at a time, across xdist workers. One
    instance per process, so it is re-entrant: a fixture that needs it inside a slow test
    gets it."""
    from filelock import FileLock

    path = lock_dir() / "slow-tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """The module- and session-scoped fixtures a slow test brings up (a stack of its own, a
    baseline search, 100,000 seeded orders) take the machine while they set up, as the test
    does while it runs: else they start before its lock and compete with another slow test.

    They hold it while they tear down too (a stack's shutdown checkpoint and removal, after the
    last test of its module let go): a fixture's finalizers run last-registered first, so the
    lock is taken by one registered after the fixture's own teardown and let go by one
    registered before it."""
    item = getattr(request, "_pyfuncitem", None)
    if fixturedef.scope == "function" or item is None or item.get_closest_marker("slow") is None:
        return (yield)
    lock = machine_lock()
    fixturedef.addfinalizer(lock.release)
    try:
        with lock:
            return (yield)
    finally:
        fixturedef.addfinalizer(lock.acquire)


@pytest.fixture(autouse=True)
def _services_stay_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """On a stack Preflight runs, a destructive test (which stops services) runs alone: it waits
    for the tests in flight on other workers, and tests that need the target wait for it, and
    for the stack to serve again after it (every health check, the gateway's breakers closed).

    Slow tests (stacks of their own, load runs, fault injection) also take the machine one at a
    time, across workers: a load run's measurements must not compete with another test's
    stack for the two cores. A `perf` test (speed against a budget) has the machine to itself:
    every other test holds it shared, so the other workers pause while it measures. The slow
    lock comes first, then the measuring one, then the services, always in that order.
    """
    with contextlib.ExitStack() as held:
        if request.node.get_closest_marker("slow") is not None:
            held.enter_context(machine_lock())
        measures = request.node.get_closest_marker("perf") is not None
        held.enter_context(rwlock.held(lock_dir() / "measuring.lock", exclusive=measures))
        if "target" in request.fixturenames:
            target: Target = request.getfixturevalue("target")
            if target.stack_dir is not None:
                from preflight import stack

                exclusive = request.node.get_closest_marker("destructive") is not None
                held.enter_context(
                    stack.services_held(exclusive=exclusive, state_dir=Path(target.stack_dir))
                )
                if exclusive:  # runs first on leaving, while the other tests still wait
                    held.callback(_hand_back_settled, target, request.node.nodeid)
        yield


def _hand_back_settled(target: Target, nodeid: str) -> None:
    """A destructive test hands the stack back serving: every health check passing and the
    gateway's breakers closed (preflight.recovery), or it errors naming what is still wrong."""
    from preflight.recovery import wait_until_settled

    problems = wait_until_settled(target, timeout_s=SETTLE_TIMEOUT_S)
    if problems:
        pytest.fail(
            f"{nodeid} left the stack unfit for {SETTLE_TIMEOUT_S:g} s after it: "
            + "; ".join(problems),
            pytrace=False,
        )


@pytest.fixture(scope="session")
def run_id(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_run_id_key]


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    resolved = pytestconfig.stash.get(_target_key, None)
    if resolved is None:
        pytest.fail(
            "this test needs a target, but the run resolved none (it ran only offline suites)"
        )
    return resolved


@pytest.fixture
def mes(target: Target, run_id: str) -> Iterator[MesClient]:
    with MesClient(service_url(target, "mes"), headers=target.headers, run_id=run_id) as client:
        yield client


@pytest.fixture
def crm(target: Target, run_id: str) -> Iterator[CrmClient]:
    with CrmClient(service_url(target, "crm"), headers=target.headers, run_id=run_id) as client:
        yield client


@pytest.fixture
def fake(run_id: str, request: pytest.FixtureRequest) -> Faker:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return faker_for(run_id, worker, request.node.nodeid)


@pytest.fixture
def cleanup(target: Target) -> Iterator[CleanupRegistry | None]:
    if target.allow_destructive:
        yield None
        return
    registry = CleanupRegistry()
    yield registry
    registry.run()


@pytest.fixture
def mes_factory(
    mes: MesClient, fake: Faker, run_id: str, cleanup: CleanupRegistry | None
) -> MesFactory:
    return MesFactory(mes, fake, run_id, cleanup)


@pytest.fixture
def traces(target: Target) -> TraceReader:
    """Spans by trace id: the embedded stack's OTLP receiver, or the profile's Jaeger."""
    if not target.traces_url:
        pytest.skip("the target gives no trace store ([observability] jaeger_url)")
    if target.traces_api == "jaeger":
        return JaegerTraces(target.traces_url)
    return TraceReader(target.traces_url)


@pytest.fixture
def plant(mes_factory: MesFactory) -> Plant:
    """A plant of this test's own, with three work centers."""
    return mes_factory.create_plant()


@pytest.fixture
def crm_factory(crm: CrmClient, fake: Faker, run_id: str) -> CrmFactory:
    return CrmFactory(crm, fake, run_id)


@pytest.fixture
def mes_db(target: Target) -> str:
    """Primary DSN of the MES database; skips when the target does not expose it."""
    dsns = target.database("mes")
    if dsns is None:
        pytest.skip("the target gives no MES database DSN")
    return dsns.primary


@pytest.fixture
def mes_replica_db(target: Target) -> str:
    dsns = target.database("mes")
    if dsns is None or dsns.replica is None:
        pytest.skip("the target gives no MES replica DSN")
    return dsns.replica
