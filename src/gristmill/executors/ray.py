"""Runs items on Ray actors: the cores of a Ray cluster rather than this machine's alone.

One actor per worker holds the bundle and runs the same worker loop as a local process, over
batches sent as actor calls; the coordinator keeps a few calls queued on each actor. What the
local pool learns from its pipes and shared array, it learns here from Ray:

- An actor that dies (its process killed, its node lost) fails every call it had queued. A
  call runs only after the earlier ones of its actor, so its first call held the culprit: a
  batch of one item charges that item (``WorkerDied``, retried up to ``retries``); a longer one
  is sent again one item at a time, so a poison item ends up alone and is charged alone.
- An item past ``timeout``: the actor answers which item it is on from a second thread (its
  own concurrency group) while the first works; it is killed and the item failed as
  ``ItemTimeout``. A ``setup()`` past ``timeout`` stops the run, as on the local pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import cloudpickle
from pydantic import BaseModel, ConfigDict, Field

from gristmill._exceptions import ConfigError, ExecutorError, ItemTimeout, WorkerDied
from gristmill.executors.base import (
    ATTEMPTS_SPENT,
    BatchSizer,
    Bundle,
    Results,
    pack_bundle,
    without_unpicklable,
)
from gristmill.executors.worker import Worker
from gristmill.ledger.base import SEQ, Outcome, Run, Todo, failure, pack

TARGET_BATCH_SECONDS = 0.05  # of work per call: an actor call costs some 0.3-1 ms
STOP_GRACE = 3.0  # after a stop request, how long queued calls may take before actors are killed
PLACEMENT_WAIT = 120.0  # how long the run waits with work left and no actor able to start
IDLE = -1.0
SETUP = -2  # in place of an item's seq: the actor's processors are being set up


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs Ray: pip install 'gristmill[ray]'") from None
    return ray


class RayExecutor(BaseModel):
    """Runs items on ``workers`` Ray actors.

    Args:
        address: the cluster to join (``ray://host:10001``, ``host:6379`` or ``auto``); by
            default ``RAY_ADDRESS``, else a Ray instance started on this machine for the run.
        workers: actors to start (default: the cluster's CPUs divided by ``cpus_per_worker``).
        cpus_per_worker: CPUs Ray reserves for each actor.
        batch_size: items per call; by default sized so a call takes about 50 ms.
        timeout: seconds one item may take before its actor is killed and replaced.
        max_items_per_worker: replace an actor after this many items (leaky libraries).
        threads: items processed at once in each actor, for steps that wait on I/O (they
            must then be thread-safe).

    gristmill must be installed on every node; the pipeline itself travels with the run.
    Actors work in the coordinator's folder where their node has it (one machine, or a
    shared file system); elsewhere, give sources and sinks absolute paths or URLs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = None
    workers: int | None = Field(default=None, ge=1)
    cpus_per_worker: float = Field(default=1.0, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    max_items_per_worker: int | None = Field(default=None, ge=1)
    threads: int = Field(default=1, ge=1)

    def model_post_init(self, context: Any) -> None:
        _check_reachable(self.address or os.environ.get("RAY_ADDRESS"))  # before any work starts

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[Results]:
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            _join(ray, self.address)
        try:
            with _Cluster(self, bundle, ray) as cluster:
                yield from cluster.run(iter(todo), stop)
        finally:
            if started_here:
                ray.shutdown()


def _join(ray: Any, address: str | None) -> None:
    """Join (or start) the cluster, keeping the coordinator's own SIGINT/SIGTERM handlers:
    Ray installs handlers of its own that end the process at once."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except ConnectionError as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
        raise ConfigError(f"cannot reach the Ray cluster at {where}: {_first_line(exc)}") from None
    finally:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in kept.items():
                if handler is not None:  # None: not set from Python, nothing to put back
                    signal.signal(signum, handler)


def _check_reachable(address: str | None) -> None:
    """Fail at once on an address nobody answers at: Ray itself keeps retrying for minutes."""
    found = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)/?", address or "")
    if found is None:  # none (a local instance), "auto", or a form Ray will judge
        return
    host, port = found.group(1), int(found.group(2))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; "
            "is the head node up (ray status), and is the address its GCS port (6379 by default)?"
        ) from None


class _Actor:
    """One worker, in a Ray actor process; with THREADS > 1, the units of a batch run that
    many at a time (for steps that wait on I/O: they must be thread-safe)."""

    def __init__(self, bundle: bytes, name: str, folder: str, path: list[str], threads: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
        if os.path.isdir(folder):  # relative paths mean what they mean to the coordinator
            os.chdir(folder)
        # modules the coordinator imports steps from, where this node has them (as the pool's
        # workers get the coordinator's sys.path)
        sys.path.extend(p for p in path if p not in sys.path and os.path.isdir(p))
        self.worker = Worker(cloudpickle.loads(bundle), name, own_process=True)
        self.running: dict[int, float] = {}  # item seq -> when it started
        self.threads = ThreadPoolExecutor(threads) if threads > 1 else None

    def setup(self) -> str | None:
        """None once set up; the reason otherwise (the run stops: nothing would work)."""
        self.running[SETUP] = time.monotonic()  # for `where`: setting up, since now
        try:
            self.worker.setup()
        except ConfigError as exc:
            return str(exc)
        finally:
            del self.running[SETUP]
        return None

    def run(self, batch: list[Todo]) -> tuple[list[Outcome], list[Run], bytes, dict[str, float]]:
        """A batch's results, the payloads pickled (see `Results`)."""
        self.worker.expect(batch)  # downloads start now, a few at a time
        units = self.worker.units(batch)
        done = self.threads.map(self._unit, units) if self.threads else map(self._unit, units)
        outcomes: list[Outcome] = []
        payloads: list[Any] = []
        for results in done:
            for outcome, payload in results:
                outcomes.append(outcome)
                if payload is not None:
                    payloads.append(payload)
        settled = self.worker.settle(outcomes, wait=True)  # writes ended
        # pickled here, once (Ray then sends bytes): one payload Ray could not send back
        # would fail every item of the call
        try:
            packed = cloudpickle.dumps(payloads)
        except Exception:
            settled, payloads = without_unpicklable(settled, payloads)
            packed = cloudpickle.dumps(payloads)
        return (*pack(settled), packed, self.worker.take_step_seconds())

    def _unit(self, unit: Sequence[Todo]) -> list[tuple[Outcome, Any]]:
        seq = unit[0][SEQ]
        self.running[seq] = time.monotonic()
        try:
            return self.worker.run_unit(unit)
        finally:
            del self.running[seq]

    def where(self) -> tuple[int, float]:
        """The item that has been running longest and for how long (-1, -1 when idle)."""
        now = time.monotonic()
        started = dict(self.running)  # read while the worker thread(s) change it
        if not started:
            return -1, IDLE
        seq = min(started, key=started.__getitem__)
        return seq, now - started[seq]


@dataclass
class _Member:
    """The coordinator's view of one actor."""

    handle: Any
    name: str
    ready: Any  # the setup call, until it has answered
    since: float = field(default_factory=time.monotonic)  # started
    probe: Any = None  # a `where` call on an actor slow to set up, until it answers
    calls: deque[tuple[Any, list[Todo]]] = field(default_factory=deque)  # queued, in order
    items: int = 0  # items finished
    quiet_since: float = field(default_factory=time.monotonic)  # last result, or first call since idle
    retiring: bool = False


class _Cluster:
    def __init__(self, options: RayExecutor, bundle: Bundle, ray: Any) -> None:
        self.options, self.ray, self.retries = options, ray, bundle.retries
        self.bundle = ray.put(pack_bundle(bundle))  # stored once, fetched by each actor
        self.processor_name = bundle.processor.name if bundle.processor is not None else "the processor"
        self.actor_class = ray.remote(
            num_cpus=options.cpus_per_worker, max_restarts=0, concurrency_groups={"watch": 1}
        )(_Actor)
        # a call's items run `threads` at a time: fewer would leave threads idle
        self.sizer = BatchSizer(options.batch_size, TARGET_BATCH_SECONDS, bundle, minimum=options.threads)
        self.members: list[_Member] = []
        self.started = 0
        self.requeued: deque[Todo] = deque()  # items given back by an actor that went away
        self.alone: deque[Todo] = deque()  # suspects: sent one per call
        self.stopping = False
        self.unplaced_since: float | None = None
        self.failed_starts = 0

    def __enter__(self) -> _Cluster:
        count = self.options.workers
        if count is None:
            cpus = self.ray.cluster_resources().get("CPU", 1.0)
            count = max(1, int(cpus / self.options.cpus_per_worker))
        self.members = [self._start() for _ in range(count)]
        return self

    def __exit__(self, *exc: object) -> None:
        for member in self.members:
            self._kill(member)

    def _start(self) -> _Member:
        name = f"r{self.started}"
        self.started += 1
        handle = self.actor_class.remote(self.bundle, name, os.getcwd(), sys.path, self.options.threads)
        return _Member(handle, name, handle.setup.remote())

    def _kill(self, member: _Member) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(member.handle, no_restart=True)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, todo: Iterator[Todo], stop: threading.Event) -> Iterator[Results]:
        stopped_at = 0.0
        while True:
            if stop.is_set() and not self.stopping:
                self.stopping, stopped_at = True, time.monotonic()
            exhausted = self.stopping or self._fill(todo)
            busy = any(member.calls for member in self.members)
            if exhausted and not busy and not self.requeued and not self.alone:
                return
            if self.stopping and (not busy or time.monotonic() - stopped_at > STOP_GRACE):
                return  # actors still busy are killed on exit; their items stay pending
            yield from self._collect()
            yield from self._watchdog()
            self._check_placement(exhausted)

    def _fill(self, todo: Iterator[Todo]) -> bool:
        """Queue calls up to ``prefetch`` per ready actor; True once nothing is left to send."""
        recycle = self.options.max_items_per_worker
        for member in self.members:
            if member.ready is not None or member.retiring:
                continue
            while len(member.calls) < self.sizer.prefetch:
                room = sys.maxsize
                if recycle is not None:
                    room = recycle - member.items - sum(len(b) for _, b in member.calls)
                    if room <= 0:
                        break  # it has enough to reach its quota: it retires after those
                batch = self._next_batch(todo, room)
                if not batch:
                    return True
                if not member.calls:
                    member.quiet_since = time.monotonic()
                member.calls.append((member.handle.run.remote(batch), batch))
                if self.alone:
                    break  # suspects one at a time per actor: one of them may kill it
        return False

    def _next_batch(self, todo: Iterator[Todo], room: int) -> list[Todo]:
        if self.alone:
            return [self.alone.popleft()]
        size = min(self.sizer.batch_size, room)
        batch: list[Todo] = []
        while self.requeued and len(batch) < size:
            batch.append(self.requeued.popleft())
        if len(batch) < size:
            batch.extend(islice(todo, size - len(batch)))
        return batch

    def _collect(self) -> Iterator[Results]:
        waiting: dict[Any, _Member] = {}
        for member in self.members:
            if member.ready is not None:
                waiting[member.ready] = member
            if member.calls:
                waiting[member.calls[0][0]] = member  # calls of one actor finish in order
        if not waiting:
            time.sleep(0.05)
            return
        tick = min(1.0, (self.options.timeout or 10.0) / 10)
        finished, _ = self.ray.wait(list(waiting), num_returns=1, timeout=tick)
        if finished:  # and whatever else is finished by now
            finished, _ = self.ray.wait(list(waiting), num_returns=len(waiting), timeout=0)
        for ref in finished:
            member = waiting[ref]
            if member not in self.members:
                continue  # replaced while handling an earlier one
            if ref is member.ready:
                self._answered_setup(member)
            else:
                yield from self._answered_call(member)

    def _answered_setup(self, member: _Member) -> None:
        try:
            problem = self.ray.get(member.ready)
        except self.ray.exceptions.RayActorError as exc:
            self.failed_starts += 1
            if self.failed_starts > 3 * len(self.members):
                raise ExecutorError(f"Ray workers die as they start: {_first_line(exc)}") from None
            self._replace(member)
            return
        if problem is not None:
            raise ConfigError(problem)
        member.ready = None

    def _answered_call(self, member: _Member) -> Iterator[Results]:
        ref, batch = member.calls[0]
        try:
            outcomes, runs, packed, steps = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            yield from self._died(member, _death_reason(member, exc))
            return
        except self.ray.exceptions.RayError as exc:  # the results could not come back
            member.calls.popleft()
            reason = f"its output could not be sent to the coordinator: {_first_line(exc)}"
            yield (
                [failure(t[SEQ], "ProcessingError", reason, worker=member.name) for t in batch],
                [],
                None,
                {},
            )
            return
        member.calls.popleft()
        member.quiet_since = time.monotonic()
        member.items += len(batch)
        self.sizer.observe(outcomes, runs, len(batch))
        yield outcomes, runs, cloudpickle.loads(packed), steps
        recycle = self.options.max_items_per_worker
        if recycle is not None and member.items >= recycle:
            member.retiring = True
            if not member.calls:
                self._replace(member)

    def _died(self, member: _Member, reason: str) -> Iterator[Results]:
        """The actor is gone: charge the item it was on, give the rest back, start another."""
        (_, first), *rest = member.calls
        member.calls.clear()
        for _, batch in rest:
            self.requeued.extend(batch)
        if len(first) == 1:
            yield from self._charge(first[0], WorkerDied, reason, member.name)
        else:
            self.alone.extend(first)  # which one? each alone, then we know
        self._replace(member)

    def _charge(self, task: Todo, error: type[Exception], reason: str, worker: str) -> Iterator[Results]:
        attempts = task[ATTEMPTS_SPENT] + 1
        if error is WorkerDied and attempts <= self.retries:
            self.requeued.appendleft((*task[:ATTEMPTS_SPENT], attempts))
            return
        yield [failure(task[SEQ], error.__name__, reason, attempts=attempts, worker=worker)], [], None, {}

    def _replace(self, member: _Member) -> None:
        self._kill(member)
        index = self.members.index(member)
        for _, batch in member.calls:
            self.requeued.extend(batch)
        if self.stopping:
            self.members.pop(index)
        else:
            self.members[index] = self._start()

    def _watchdog(self) -> Iterator[Results]:
        timeout = self.options.timeout
        if timeout is None:
            return
        now = time.monotonic()
        for member in list(self.members):
            if member.ready is not None and now - member.since > timeout:
                self._watch_setup(member, timeout)
            if not member.calls or now - member.quiet_since <= timeout:
                continue
            try:
                seq, running = self.ray.get(
                    member.handle.where.options(concurrency_group="watch").remote(), timeout=5
                )
            except Exception:
                continue  # dead or busy: the next collect or tick says more
            if running <= timeout:
                continue
            held = [t for _, batch in member.calls for t in batch]
            culprit = next(t for t in held if t[SEQ] == seq)
            member.calls.clear()
            self.requeued.extend(t for t in held if t is not culprit)
            self._replace(member)
            reason = f"timed out after {timeout:g} s; its Ray worker was replaced"
            yield from self._charge(culprit, ItemTimeout, reason, member.name)

    def _watch_setup(self, member: _Member, timeout: float) -> None:
        """Ask, without waiting, whether an actor slow to be ready is still in ``setup()`` (it may
        still be starting, or waiting for a CPU); past the timeout the run stops."""
        if member.probe is None:
            member.probe = member.handle.where.options(concurrency_group="watch").remote()
            return
        answered, _ = self.ray.wait([member.probe], timeout=0)
        if not answered:
            return
        probe, member.probe = member.probe, None
        try:
            seq, running = self.ray.get(probe)
        except Exception:
            return  # dead: its setup call says so
        if seq == SETUP and running > timeout:
            raise ConfigError(
                f"{self.processor_name}.setup() did not finish within the timeout ({timeout:g} s) "
                f"in Ray worker {member.name}; make setup() quicker or raise --timeout"
            )

    def _check_placement(self, exhausted: bool) -> None:
        """Fail clearly, rather than wait for ever, when no actor can start (no free CPU)."""
        if any(member.ready is None for member in self.members) or (exhausted and not self.requeued):
            self.unplaced_since = None
            return
        now = time.monotonic()
        self.unplaced_since = self.unplaced_since or now
        if now - self.unplaced_since > PLACEMENT_WAIT:
            raise ExecutorError(
                f"no Ray worker could start in {PLACEMENT_WAIT:g} s: does the cluster have "
                f"{self.options.cpus_per_worker:g} free CPU per worker? (ray status shows it)"
            )


def _death_reason(member: _Member, exc: Exception) -> str:
    if re.search(r"\bits node (has )?died\b", str(exc)):
        return f"Ray worker {member.name} was lost with its node while processing this item"
    return f"Ray worker {member.name} died while processing this item ({_first_line(exc)})"


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__
