"""The open workload model on Locust, and the recording that makes its latencies honest.

`OpenModelUser` starts iterations (one weighted @task each) at a target arrival rate, whatever
the target's response times. `--arrival-rate` is iterations per second across all users of all
workers (each user takes its share). A user releases the arrivals that fall due, every couple
of milliseconds, at 1/rate intervals (or Poisson), to `max_in_flight` worker greenlets; while
every worker is busy the arrivals wait (beyond `max_queued` they are dropped and counted). A
request's latency is recorded twice in HDR histograms: as sent (uncorrected) and from the
moment its iteration was due (corrected for coordinated omission: plus the time it waited to
start). Iterations that start more than `late_after_ms` after they were due count as late;
whether the generator itself fell behind shows in its CPU and event-loop lag.

Works under plain `locust -f scenario.py --arrival-rate 50` as under `preflight load run`;
distributed, every worker records and ships its deltas to the master every second (histograms
merged, never percentiles averaged), with its CPU use and event-loop lag. The master (or the
single process) writes results.json to `--preflight-out` and, with `--slo FILE`, gates the run:
exit 3 on a breach, 5 when a generator was saturated.
"""

import json
import logging
import os
import random
import socket
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.pool
import gevent.queue
import psutil
from gevent import GreenletExit
from locust import FastHttpUser, LoadTestShape, events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from preflight.load import histograms
from preflight.load.locust_stats import FEED_INTERVAL_S, BatchedStats, feeds_locust_stats
from preflight.load.recording import Recording

log = logging.getLogger(__name__)

STATS_MESSAGE = "preflight_stats"
RATE_MESSAGE = "preflight_rate"
FLUSH_INTERVAL_S = 1.0
RELEASE_TICK_S = 0.002
SAMPLE_INTERVAL_S = 1.0

LATENESS = "preflight_lateness_ms"
"""The attribute of a worker greenlet that holds how late its current iteration started."""
_KEYS: dict[tuple[str, str], str] = {}
"""Recording keys ("GET /x") by request type and name, formatted once."""


class _State:
    def __init__(self) -> None:
        self.recording: Recording | None = None
        """What this process's users record (not on a master)."""
        self.aggregate: Recording | None = None
        """Everything merged (on the master or the single process)."""
        self.batched: BatchedStats | None = None
        """Locust's stats of the open model's own successful requests (not on a master)."""
        self.rate_factor = 1.0
        self.requests_started = 0
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self.loops: list[Any] = []
        self.dirty: set[tuple[str, int]] = set()
        """Per-second buckets of the aggregate changed since the live feed last wrote them."""
        self.live_generators: list[tuple[str, dict[str, float]]] = []


STATE = _State()


def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("preflight open model")
    group.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        env_var="PREFLIGHT_ARRIVAL_RATE",
        help="OpenModelUser: iterations started per second across all users and workers",
    )
    group.add_argument(
        "--arrival-process",
        choices=["constant", "poisson"],
        default="constant",
        env_var="PREFLIGHT_ARRIVAL_PROCESS",
        help="evenly spaced arrivals (default) or a Poisson process",
    )
    group.add_argument(
        "--max-requests",
        type=int,
        default=0,
        env_var="PREFLIGHT_MAX_REQUESTS",
        help="stop starting iterations once this many requests were sent (per process share)",
    )
    group.add_argument(
        "--preflight-out", default="", env_var="PREFLIGHT_OUT", help="write results.json here"
    )
    group.add_argument(
        "--slo", default="", env_var="PREFLIGHT_SLO", help="SLO file: exit 3 when one breaks"
    )
    group.add_argument(
        "--preflight-target",
        default="",
        env_var="PREFLIGHT_TARGET_FILE",
        help="a target (JSON from preflight) giving the scenarios their tokens and URLs",
    )
    group.add_argument(
        "--preflight-run", default="", env_var="PREFLIGHT_RUN_ID", help="the run id to tag data"
    )
    group.add_argument(
        "--preflight-live",
        default="",
        env_var="PREFLIGHT_LIVE",
        help="append each second's changed HDR buckets, arrivals and generator samples here",
    )
    group.add_argument(
        "--preflight-control",
        default="",
        env_var="PREFLIGHT_CONTROL",
        help="ControlledRate shape: read the arrival rate to offer from this JSON file",
    )


def _init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    if not isinstance(runner, MasterRunner):
        STATE.recording = Recording(time.time())
        STATE.batched = BatchedStats(environment)
    if not isinstance(runner, WorkerRunner):
        STATE.aggregate = Recording(time.time())
        runner.register_message(STATS_MESSAGE, _merge_stats)
        options = environment.parsed_options
        if options is not None:  # workers learn it with the custom arguments (not -u itself)
            options.preflight_dispatchers = max(int(options.num_users or 1), 1)
    if not isinstance(runner, MasterRunner):
        runner.register_message(RATE_MESSAGE, _set_rate)


def _merge_stats(environment: Environment, msg: Any, **_: Any) -> None:
    if STATE.aggregate is not None:
        STATE.aggregate.merge(msg.data)
        for name, data in msg.data["series"].items():
            STATE.dirty.update((name, int(second)) for second in data["per_second"])
            STATE.dirty.update((name, int(second)) for second in data["errors_per_second"])
        for worker, samples in msg.data.get("generators", {}).items():
            STATE.live_generators.extend((worker, sample) for sample in samples)


def _set_rate(environment: Environment, msg: Any, **_: Any) -> None:
    STATE.rate_factor = float(msg.data["factor"])


def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None,
    **_: Any,
) -> None:
    _record(request_type, name, time.time(), response_time, exception is not None)


def _record(request_type: str, name: str, at: float, response_ms: float, failed: bool) -> None:
    recording = STATE.recording
    if recording is None:
        return
    STATE.requests_started += 1
    key = _KEYS.get((request_type, name))
    if key is None:
        key = _KEYS[request_type, name] = (
            name if name.startswith(f"{request_type} ") else f"{request_type} {name}"
        )
    # The worker greenlet carries its iteration's lateness (an attribute: cheaper per request
    # than a gevent.local); greenlets that are no worker of ours were not late.
    lateness_ms: float = getattr(gevent.getcurrent(), LATENESS, 0.0)
    recording.request(key, at, response_ms or 0.0, lateness_ms, failed)


class _OwnRequests:
    """The request event of an OpenModelUser's client. While the listeners of `events.request`
    are only Locust's stats and `_on_request`, a successful request goes to the recording and to
    Locust's stats in batches (`BatchedStats`) without firing the event: Locust's numbers are
    the same, a second or less later, for a fraction of the cost. A failure, or any other
    listener (a plugin), and every request fires the event as ever."""

    def __init__(self, environment: Environment) -> None:
        self.event = environment.events.request
        self.listeners: list[Any] = self.event._handlers  # the live list: add_listener appends
        others = [h for h in self.listeners if h is not _on_request]
        only_ours = len(others) == 1 and feeds_locust_stats(others[0])
        self.expected = list(self.listeners) if only_ours else None

    def fire(
        self,
        *,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int,
        exception: BaseException | None = None,
        **meta: Any,
    ) -> None:
        batched = STATE.batched
        if (
            exception is not None
            or response_time is None
            or batched is None
            or self.listeners != self.expected
        ):
            self.event.fire(  # type: ignore[no-untyped-call]
                request_type=request_type,
                name=name,
                response_time=response_time,
                response_length=response_length,
                exception=exception,
                **meta,
            )
            return
        at = time.time()
        _record(request_type, name, at, response_time, False)
        batched.log(request_type, name, at, response_time, response_length)


def _test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    STATE.loops = []
    live = getattr(environment.parsed_options, "preflight_live", "")
    if live and not isinstance(runner, WorkerRunner):
        STATE.loops.append(gevent.spawn(_live_forever, Path(live)))
    if isinstance(runner, MasterRunner):
        return
    STATE.requests_started = 0
    STATE.loops += [
        gevent.spawn(_flush_forever, environment),
        gevent.spawn(_sample_forever),
        gevent.spawn(_feed_forever),
    ]


def _test_stop(environment: Environment, **_: Any) -> None:
    for loop in STATE.loops:
        loop.kill(block=False)
    STATE.loops = []
    if STATE.batched is not None:
        STATE.batched.feed()
    runner = environment.runner
    if runner is not None and not isinstance(runner, MasterRunner):
        _flush(environment)


def _flush(environment: Environment) -> None:
    if STATE.recording is None or environment.runner is None:
        return
    delta = STATE.recording.take()
    environment.runner.send_message(STATS_MESSAGE, delta)


def _flush_forever(environment: Environment) -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL_S)
        _flush(environment)


def _feed_forever() -> None:
    while True:
        gevent.sleep(FEED_INTERVAL_S)
        if STATE.batched is not None:
            STATE.batched.feed()


def _live_forever(path: Path) -> None:
    """Append, every second, what changed in the merged recording as JSON lines: each changed
    (request name, second) bucket whole (HDR encoded, with its errors), the arrival counters
    and the generators' samples. A capacity search judges its steps on them while the run goes
    on (preflight.load.live_feed reads them; later lines of a bucket supersede earlier ones)."""
    with path.open("a") as feed:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            aggregate = STATE.aggregate
            if aggregate is None:
                continue
            lines = []
            dirty, STATE.dirty = STATE.dirty, set()
            for name, second in sorted(dirty):
                series = aggregate.series.get(name)
                bucket = series.per_second.get(second) if series is not None else None
                if series is None or bucket is None:
                    continue
                lines.append(
                    {
                        "s": second,
                        "n": name,
                        "h": histograms.encode(bucket),
                        "c": int(bucket.get_total_count()),
                        "e": series.errors_per_second.get(second, 0),
                    }
                )
            for worker, sample in STATE.live_generators:
                lines.append({"g": worker, **sample})
            STATE.live_generators = []
            lines.append({"t": time.time(), "arrivals": vars(aggregate.arrivals)})
            feed.write("".join(json.dumps(line) + "\n" for line in lines))
            feed.flush()


def _sample_forever() -> None:
    process = psutil.Process()
    process.cpu_percent(None)
    while True:
        started = time.perf_counter()
        gevent.sleep(SAMPLE_INTERVAL_S)
        lag_ms = max((time.perf_counter() - started - SAMPLE_INTERVAL_S) * 1000, 0.0)
        if STATE.recording is not None:
            STATE.recording.generators[STATE.worker_id].append(
                {"t": time.time(), "cpu_percent": process.cpu_percent(None), "loop_lag_ms": lag_ms}
            )


def _quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner) or STATE.aggregate is None:
        return
    options = environment.parsed_options
    from preflight.load import results

    document = results.build(STATE.aggregate, environment)
    slo_file = getattr(options, "slo", "") if options else ""
    if slo_file:
        from preflight.load import slo

        verdict = slo.evaluate(slo.load(Path(slo_file)), document)
        document["slo"] = verdict.to_json()
    out = getattr(options, "preflight_out", "") if options else ""
    if out:
        results.write(Path(out), document)
    code = results.exit_code(document)
    if code:
        environment.process_exit_code = code
    print(results.one_line(document))


for _hook, _listener in (
    (events.init_command_line_parser, _arguments),
    (events.init, _init),
    (events.request, _on_request),
    (events.test_start, _test_start),
    (events.test_stop, _test_stop),
    (events.quitting, _quitting),
):
    _hook.add_listener(_listener)  # type: ignore[no-untyped-call]


class OpenModelUser(FastHttpUser):
    """Subclass it, add @task methods (each one iteration of the scenario) and run with
    --arrival-rate. A user instance is a dispatcher, not a simulated person: run one per
    worker process (`-u` = number of processes) and let the rate decide the load."""

    abstract = True
    concurrency = 200
    """Connections in this dispatcher's pool (FastHttpUser)."""
    max_in_flight = 200
    """Iterations running at once (worker greenlets); arrivals beyond wait for a free one
    (and count the wait in their corrected latency), like requests queueing at a client."""
    max_queued = 10_000
    """Arrivals waiting beyond this are dropped (and counted)."""
    late_after_ms = 20.0
    """An arrival that starts this long after it was due counts as late."""

    def run(self) -> None:  # type: ignore[misc]  # the workers replace Locust's task loop
        options = self.environment.parsed_options
        self._rate = float(getattr(options, "arrival_rate", 0.0) or 0.0)
        if self._rate <= 0:
            raise StopUser("OpenModelUser needs --arrival-rate (iterations per second)")
        self._share = dispatchers(options)
        self._poisson = getattr(options, "arrival_process", "constant") == "poisson"
        self._max_requests = int(getattr(options, "max_requests", 0) or 0)
        self._rng = random.Random()
        self._tasks = list(self.tasks)
        if not self._tasks:
            raise StopUser(f"{type(self).__name__} has no @task")
        self._due_slots: gevent.queue.Queue[float] = gevent.queue.Queue()
        self.client.request_event = _OwnRequests(self.environment)
        workers = gevent.pool.Group()
        try:
            self.on_start()
            for _ in range(self.max_in_flight):
                workers.spawn(self._work)
            self._state = "waiting"  # Locust may stop this user at once: the workers go too
            self._release()
        except (GreenletExit, StopUser):
            workers.kill(block=False)
            self.on_stop()  # type: ignore[no-untyped-call]

    def _release(self) -> None:
        """Every tick, hand the arrivals that fell due to the workers (one timer per tick, not
        one per arrival: at a few thousand arrivals a second timers dominate the cost)."""
        slots, rng = self._due_slots, self._rng
        due = time.monotonic()
        while True:
            rate = self._rate * STATE.rate_factor / self._share
            if rate <= 0:
                gevent.sleep(0.1)
                due = time.monotonic()
                continue
            if self._max_requests and STATE.requests_started >= self._max_requests / self._share:
                gevent.sleep(0.1)
                continue
            horizon = time.monotonic() + RELEASE_TICK_S
            intended = dropped = 0
            while due <= horizon:
                intended += 1
                if slots.qsize() >= self.max_queued:
                    dropped += 1
                else:
                    slots.put(due)
                due += rng.expovariate(rate) if self._poisson else 1.0 / rate
            if STATE.recording is not None:
                STATE.recording.arrivals.intended += intended
                STATE.recording.arrivals.dropped += dropped
            gevent.sleep(max(due - time.monotonic() - RELEASE_TICK_S, RELEASE_TICK_S))

    def _work(self) -> None:
        """One of max_in_flight workers. While every worker is busy, arrivals wait in the queue;
        the next free worker takes the oldest, late, and the corrected latency counts the wait.
        This loop runs once per request: it keeps to local names and plain counters."""
        slots, tasks, choice = self._due_slots, self._tasks, self._rng.choice
        only = tasks[0] if len(set(tasks)) == 1 else None
        late_after_ms = self.late_after_ms
        worker = gevent.getcurrent()
        while True:
            due = slots.get()
            now = time.monotonic()
            if due - now > RELEASE_TICK_S:
                gevent.sleep(due - now)
                now = time.monotonic()
            lateness_ms = (now - due) * 1000 if now > due else 0.0
            setattr(worker, LATENESS, lateness_ms)
            recording = STATE.recording
            if recording is not None:
                recording.arrivals.started += 1
                if lateness_ms > late_after_ms:
                    recording.arrivals.late += 1
            task: Any = only or choice(tasks)
            try:
                task(self)
            except (GreenletExit, StopUser):
                raise
            except Exception as error:
                log.warning("iteration %s failed: %s", getattr(task, "__name__", task), error)
            else:
                if recording is not None:  # its arrivals now: a flush may have taken them
                    recording.arrivals.completed += 1


def dispatchers(options: Any) -> int:
    """How many OpenModelUser instances share the arrival rate, across all workers."""
    given = getattr(options, "preflight_dispatchers", None) or getattr(options, "num_users", 1)
    return max(int(given or 1), 1)


class RateShape(LoadTestShape):
    """A shape of the arrival rate over time, for OpenModelUser scenarios: `factor(t)` scales
    --arrival-rate (None ends the test). The number of dispatchers stays as given (-u)."""

    abstract = True

    def factor(self, run_time: float) -> float | None:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        factor = self.factor(self.get_run_time())  # type: ignore[no-untyped-call]
        if factor is None:
            return None
        if self.runner is not None:
            self.runner.send_message(RATE_MESSAGE, {"factor": factor})
        users = dispatchers(self.runner.environment.parsed_options if self.runner else None)
        return users, float(users)
