"""A pool of local worker processes, with a watchdog, batching and a bounded queue.

Each worker has its own pair of pipes (no lock shared between processes, so a worker killed
mid-write cannot wedge the others) and a two-number shared array saying which item it is on
and since when. From those the coordinator can tell, without a message per item, which item
a dead worker held (``WorkerDied``) and which one has run past its timeout (``ItemTimeout``).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle
from pydantic import BaseModel, ConfigDict, Field

from gristmill._exceptions import ConfigError, ExecutorError, GristmillError, ItemTimeout, WorkerDied
from gristmill.executors import forkserver
from gristmill.executors.base import (
    ATTEMPTS_SPENT,
    BatchSizer,
    Bundle,
    Results,
    pack_bundle,
    without_unpicklable,
)
from gristmill.executors.worker import Worker
from gristmill.ledger.base import SEQ, Outcome, Todo, failure, pack

TARGET_BATCH_SECONDS = 0.025  # of work per message: a pipe message costs some 20 us
FLUSH_SECONDS = 0.1  # a worker sends finished results at least this often
STOP_GRACE = 3.0  # after a stop request, how long in-flight items may take before workers are killed
IDLE = -1.0
SETUP = -2.0  # in a worker's state instead of an item's seq: its processors are being set up


FILES_PER_WORKER = 4  # the coordinator's ends of a worker's two pipes, its sentinel, its start
FILES_BESIDE = 64  # the ledger, outputs, libraries


def _allow_open_files(workers: int) -> None:
    """Raise this process's open-file limit as far as WORKERS need (up to the hard limit);
    where that is not enough, say so before any worker starts (the fork server would fail
    midway, printing its own traceback)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    needed = workers * FILES_PER_WORKER + FILES_BESIDE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard == resource.RLIM_INFINITY or needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return
    fit = (hard - FILES_BESIDE) // FILES_PER_WORKER
    advice = f"use fewer workers (--workers {fit} at most)" if fit >= 1 else "raise that limit"
    raise ConfigError(
        f"{workers} worker{'s' * (workers > 1)} need about {needed} open files, and this process "
        f"may open {hard} (ulimit -n); {advice}"
    )


def _check_imports(bundle: Bundle) -> None:
    """Refuse a module the processors name in ``imports`` that is not there: the fork server
    would pass over it without a word, and each worker fail on it later."""
    import importlib.util

    for name in bundle.imports():
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # its package is missing
            found = False
        if not found:
            raise ConfigError(
                f"the processors' imports name {name!r}, which is not installed here; install it (for "
                "a step of gristmill's own, the extra its docs name) or fix the name"
            )


def default_start_method() -> str:
    """forkserver where it exists (fast restarts, no inherited state), else spawn."""
    return "forkserver" if forkserver.available() else "spawn"


class PoolExecutor(BaseModel):
    """Runs items on ``workers`` local processes.

    Args:
        workers: number of worker processes (default: CPU count).
        batch_size: items per message; by default sized so a batch takes about 25 ms.
        timeout: seconds one item may take before its worker is killed and replaced; a
            worker's ``setup()`` that takes longer stops the run (`ConfigError`).
        max_items_per_worker: recycle a worker after this many items (leaky libraries).
        start_method: ``forkserver`` or ``spawn``; ``fork`` only when asked for.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    max_items_per_worker: int | None = Field(default=None, ge=1)
    start_method: str = Field(default_factory=default_start_method)

    def model_post_init(self, context: Any) -> None:
        if self.start_method not in mp.get_all_start_methods():
            raise ConfigError(
                f"start method {self.start_method!r} is not available here; "
                f"use one of {', '.join(mp.get_all_start_methods())}"
            )

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[Results]:
        with _Pool(self, bundle) as pool:
            yield from pool.run(iter(todo), stop)


class _Slot:
    """The coordinator's view of one worker process."""

    def __init__(
        self, ctx: Any, index: int, generation: int, bundle_bytes: bytes, recycle: int | None
    ) -> None:
        self.name = f"w{index}" if generation == 0 else f"w{index}.{generation}"
        task_r, self.tasks = ctx.Pipe(duplex=False)
        self.results, result_w = ctx.Pipe(duplex=False)
        self.state = ctx.RawArray("d", [IDLE, IDLE])  # item seq, monotonic start time
        self.process = ctx.Process(
            target=_worker_main,
            args=(task_r, result_w, self.state, self.name, recycle),
            name=f"gristmill-{self.name}",
            daemon=True,
        )
        with forkserver.main_module_hidden():
            self.process.start()
        task_r.close()
        result_w.close()
        self.held: deque[Todo] = deque()  # sent and not yet reported, in processing order
        self.batches = 0  # batches sent and not finished
        self.room = recycle if recycle is not None else sys.maxsize  # items it may still be sent
        self.leaving = False
        try:
            self.tasks.send_bytes(bundle_bytes)
        except OSError:
            self.leaving = True  # it died as it started; its sentinel says so next

    def send(self, batch: list[Todo]) -> None:
        self.held.extend(batch)  # before sending: if the worker dies now, they come back
        self.batches += 1
        self.room -= len(batch)
        try:
            self.tasks.send(batch)
        except OSError:
            self.leaving = True  # it died; its sentinel says so next

    def request_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.tasks.send("stop")

    def current(self) -> tuple[Todo | None, float]:
        """The item the worker is on (if it is one it holds) and when it started."""
        seq, started = self.state[0], self.state[1]
        if started == IDLE:
            return None, IDLE
        for task in self.held:
            if task[SEQ] == seq:
                return task, started
        return None, IDLE

    def kill(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.process.kill()
        self.process.join(5)
        for conn in (self.tasks, self.results):
            conn.close()


class _Pool:
    def __init__(self, options: PoolExecutor, bundle: Bundle) -> None:
        self.options = options
        self.ctx = mp.get_context(options.start_method)
        _check_imports(bundle)
        if options.start_method == "forkserver":
            forkserver.start(bundle.imports())
        self.retries = bundle.retries
        self.processor_name = bundle.processor.name if bundle.processor is not None else "the processor"
        # Enough items in a worker's hands for its downloads and writes to overlap, whatever the batch size.
        writes = 0 if bundle.sink is None or bundle.sink.batched else bundle.sink.writes_at_once()
        self.min_held = 2 * (bundle.downloads + writes)
        self.bundle_bytes = pack_bundle(bundle)
        self.generations = [0] * options.workers
        self.slots: list[_Slot] = []
        self.requeued: deque[Todo] = deque()  # items handed back by a worker that went away
        self.sizer = BatchSizer(options.batch_size, TARGET_BATCH_SECONDS, bundle)
        self.stopping = False

    def __enter__(self) -> _Pool:
        _allow_open_files(self.options.workers)
        self.slots = [self._start(i) for i in range(self.options.workers)]
        return self

    def __exit__(self, *exc: object) -> None:
        for slot in self.slots:
            if slot.held:  # still busy after a stop's grace (or a second Ctrl-C): no more waiting
                slot.kill()
        for slot in self.slots:
            with contextlib.suppress(OSError):
                slot.tasks.send(None)
        deadline = time.monotonic() + 2
        for slot in self.slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            slot.kill()

    def _start(self, index: int) -> _Slot:
        generation = self.generations[index]
        self.generations[index] += 1
        try:
            return _Slot(self.ctx, index, generation, self.bundle_bytes, self.options.max_items_per_worker)
        except (EOFError, OSError) as exc:  # multiprocessing's words for a fork server gone
            raise ExecutorError(
                f"a worker process could not be started ({type(exc).__name__}: {exc}): the fork server "
                "may have been killed; what was done is kept: run the same command again to continue"
            ) from exc

    def run(self, todo: Iterator[Todo], stop: threading.Event) -> Iterator[Results]:
        stopped_at = 0.0
        while True:
            if stop.is_set() and not self.stopping:
                self.stopping, stopped_at = True, time.monotonic()
                for slot in self.slots:
                    slot.request_stop()
            exhausted = self.stopping or self._fill(todo)
            busy = [slot for slot in self.slots if slot.held]
            if exhausted and not busy and not self.requeued:
                return
            if self.stopping and (not busy or time.monotonic() - stopped_at > STOP_GRACE):
                return  # workers still busy are killed on exit; their items stay pending
            # and those recycled, to replace them as soon as they are gone
            watched = [slot for slot in self.slots if slot.held or slot.leaving]
            yield from self._collect(watched or self.slots)

    def _fill(self, todo: Iterator[Todo]) -> bool:
        """Top every worker up to ``prefetch`` batches, and never past the items it may process
        before it is recycled; True once there is nothing left to send."""
        for slot in self.slots:
            while (
                (slot.batches < self.sizer.prefetch or len(slot.held) < self.min_held)
                and slot.room
                and not slot.leaving
            ):
                batch = self._next_batch(todo, slot.room)
                if not batch:
                    return True
                slot.send(batch)
        return False

    def _next_batch(self, todo: Iterator[Todo], room: int) -> list[Todo]:
        batch: list[Todo] = []
        size = min(self.sizer.batch_size, room)
        while self.requeued and len(batch) < size:
            batch.append(self.requeued.popleft())
        if len(batch) < size:
            batch.extend(islice(todo, size - len(batch)))
        return batch

    def _collect(self, slots: list[_Slot]) -> Iterator[Results]:
        by_handle: dict[Any, _Slot] = {}
        for slot in slots:
            by_handle[slot.results] = slot
            by_handle[slot.process.sentinel] = slot
        # a stop's grace is kept to within a tenth of a second
        tick = 0.1 if self.stopping else min(1.0, (self.options.timeout or 10.0) / 10)
        ready = wait(list(by_handle), timeout=tick)
        gone = []
        for handle in ready:
            slot = by_handle[handle]
            if handle is slot.results:
                yield from self._receive(slot)
            else:
                gone.append(slot)
        for slot in gone:
            yield from self._receive(slot)  # whatever it sent before it went
            culprit, _ = slot.current()
            if culprit is None and slot.held and not slot.leaving:
                culprit = slot.held[0]  # it died between items: charge the next one, so this ends
            if culprit is None:
                self._replace(slot)
            else:
                yield from self._fail(slot, culprit, WorkerDied, _death_reason(slot))
        yield from self._watchdog()

    def _receive(self, slot: _Slot) -> Iterator[Results]:
        while True:
            try:
                if not slot.results.poll():
                    return
                kind, *rest = slot.results.recv()
            except (EOFError, OSError):
                return
            if kind == "results":
                outcomes, runs, payloads, steps, batch_done = rest
                count = len(outcomes) + sum(run.length for run in runs)
                for _ in range(count):  # reported in the order they were sent
                    slot.held.popleft()
                slot.batches -= batch_done
                if count:
                    self.sizer.observe(outcomes, runs, count)
                if count or steps:
                    yield outcomes, runs, payloads, steps
            elif kind == "leaving":  # recycled or stopped; it holds nothing it started
                slot.leaving = True
            elif kind == "setup-failed":
                raise ConfigError(rest[0])

    def _fail(self, slot: _Slot, task: Todo, error: type[GristmillError], reason: str) -> Iterator[Results]:
        """The worker is gone or hung on ``task``: retry it or record the failure, then replace the worker."""
        slot.held.remove(task)
        attempts = task[ATTEMPTS_SPENT] + 1
        if error is WorkerDied and attempts <= self.retries:
            # The next worker starts counting from here, so its outcome includes this death.
            self.requeued.append((*task[:ATTEMPTS_SPENT], attempts))
            self._replace(slot)
            return
        self._replace(slot)
        yield [failure(task[SEQ], error.__name__, reason, attempts=attempts, worker=slot.name)], [], None, {}

    def _replace(self, slot: _Slot) -> None:
        """Kill the worker, hand back the items it never started, and start another unless stopping."""
        slot.kill()
        self.requeued.extendleft(reversed(slot.held))
        slot.held.clear()
        index = self.slots.index(slot)
        if self.stopping:
            self.slots.pop(index)
        else:
            self.slots[index] = self._start(index)

    def _watchdog(self) -> Iterator[Results]:
        timeout = self.options.timeout
        if timeout is None:
            return
        now = time.monotonic()
        for slot in list(self.slots):
            if slot.state[0] == SETUP and slot.state[1] != IDLE and now - slot.state[1] > timeout:
                slot.kill()
                raise ConfigError(
                    f"{self.processor_name}.setup() did not finish within the timeout ({timeout:g} s) "
                    f"in worker {slot.name}, which was ended; make setup() quicker or raise --timeout"
                )
            task, started = slot.current()
            if task is not None and now - started > timeout:
                yield from self._fail(
                    slot, task, ItemTimeout, f"timed out after {timeout:g} s; its worker was replaced"
                )


def _death_reason(slot: _Slot) -> str:
    slot.process.join(1)  # its sentinel fired; reap it so the exit code is known
    exitcode = slot.process.exitcode
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (killed: the OOM killer does this when memory runs out)" if name == "SIGKILL" else ""
        return f"worker {slot.name} died from {name}{hint} while processing this item"
    return f"worker {slot.name} exited with code {exitcode} while processing this item"


# -- the worker process ------------------------------------------------------------------------


def _worker_main(tasks: Connection, results: Connection, state: Any, name: str, recycle: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    # What the worker inherited (modules, classes) lives as long as it does: the collector
    # need not walk it at every full collection, nor copy its pages from the fork server.
    gc.freeze()
    bundle: Bundle = cloudpickle.loads(tasks.recv_bytes())
    worker = Worker(bundle, name, own_process=True)
    now = memoryview(state).cast("B").cast("d")  # plain float stores: cheaper than ctypes
    now[0] = SETUP  # for the watchdog: setting up, since now
    now[1] = time.monotonic()
    try:
        worker.setup()
    except Exception as exc:
        results.send(("setup-failed", str(exc)))
        return
    now[1] = IDLE

    def waiting(seq: int) -> None:  # for the watchdog: waiting on this item's write, since now
        now[0] = seq
        now[1] = time.monotonic()

    inbox: deque[Any] = deque()
    arrived = threading.Condition()
    stopping = threading.Event()
    reader = threading.Thread(target=_read_tasks, args=(tasks, inbox, arrived, stopping, worker), daemon=True)
    reader.start()
    done = 0
    while True:
        with arrived:
            idle = not inbox
        if idle and worker.unsettled:  # nothing else to do meanwhile: wait for the writes
            _settle_all(worker, results, waiting, now)
        with arrived:
            while not inbox:
                arrived.wait()
            batch = inbox.popleft()
        if batch is None:
            _leave(worker, results, waiting, now)
            return
        outcomes: list[Outcome] = []
        payloads: list[Any] = []
        flushed = time.monotonic()
        for unit in worker.units(batch):
            if stopping.is_set():
                break
            now[0] = unit[0][0]  # which item, and since when: read by the coordinator's watchdog
            now[1] = time.monotonic()
            for outcome, payload in worker.run_unit(unit):
                outcomes.append(outcome)
                if payload is not None:
                    payloads.append(payload)
            now[1] = IDLE
            if time.monotonic() - flushed > FLUSH_SECONDS:  # slow items: report as they end
                _report(results, worker, worker.settle(outcomes), payloads, 0)
                outcomes, payloads = [], []
                flushed = time.monotonic()
        _report(results, worker, worker.settle(outcomes), payloads, 1)
        done += len(batch)
        if stopping.is_set() or (recycle is not None and done >= recycle):
            _leave(worker, results, waiting, now)
            return


def _settle_all(worker: Worker, results: Connection, waiting: Any, now: Any) -> None:
    """Report every outcome still waiting for its write, once the write has ended."""
    settled = worker.settle([], waiting, wait=True)
    now[1] = IDLE
    if settled:
        _report(results, worker, settled, [], 0)


def _leave(worker: Worker, results: Connection, waiting: Any, now: Any) -> None:
    """Say so to the coordinator, holding nothing: every started item is reported first."""
    _settle_all(worker, results, waiting, now)
    worker.close()
    results.send(("leaving",))


def _report(
    results: Connection, worker: Worker, outcomes: list[Outcome], payloads: list[Any], batch_done: int
) -> None:
    """Send outcomes, runs of plain successes packed (plain pickle: fast), payloads
    (cloudpickle: samples may be of classes defined in a script) and the steps' seconds.
    Payloads that cannot be sent fail their items, and only theirs."""
    steps = worker.take_step_seconds()
    if not payloads:
        results.send(("results", *pack(outcomes), payloads, steps, batch_done))
        return
    try:
        data = cloudpickle.dumps(("results", outcomes, [], payloads, steps, batch_done))
    except Exception:  # which ones? each payload alone, then we know
        outcomes, payloads = without_unpicklable(outcomes, payloads)
        data = cloudpickle.dumps(("results", outcomes, [], payloads, steps, batch_done))
    results.send_bytes(data)


def _read_tasks(
    tasks: Connection,
    inbox: deque[Any],
    arrived: threading.Condition,
    stopping: threading.Event,
    worker: Worker,
) -> None:
    """Drain the task pipe as soon as batches arrive, so the coordinator never blocks on it,
    and start their downloads."""
    while True:
        try:
            message = tasks.recv()
        except (EOFError, OSError):
            os._exit(0)  # the coordinator is gone: nobody is left to report to
        if message == "stop":
            stopping.set()
            message = None
        elif isinstance(message, list):
            worker.expect(message)
        with arrived:
            inbox.append(message)
            arrived.notify()
