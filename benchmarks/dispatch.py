"""Dispatch benchmark: gristmill's local process pool against its peers, in one run.

What it measures, on this machine, with the same number of workers for every method:

* items/s on two workloads: ``noop`` (200,000 items that do nothing: pure dispatch cost) and
  ``cpu2ms`` (5,000 items of ~2 ms of pure-Python CPU each; the loop is calibrated once at
  start, and every method runs the same function);
* gristmill: ``Pipeline(Range(count=N), [processor]).run(state=<fresh folder>)``, SQLite ledger
  on, end to end ("gristmill") and with the manifest listed beforehand ("gristmill (manifest
  made)"); against ``multiprocessing.Pool.imap_unordered``, ``ProcessPoolExecutor.map`` and
  ``mpire.WorkerPool.imap_unordered`` (if installed), each at its best of a few chunk sizes;
* every timing starts before the pool is created and ends after it is shut down. Only the
  launch of gristmill's forkserver, once per process, is timed apart (a 1-item warm-up run);
* after a tuning pass that picks each peer's chunk size, methods run once per round in
  interleaved rounds (``--repeat``, 3), each keeping its best: this machine's
  speed drifts, and interleaving keeps a slow spell from landing on one method only;
* gristmill's coordinator: peak RSS over a 100,000- and a 1,000,000-item no-op run (2 workers),
  and how long ``run()`` takes to return on the finished 1,000,000-item state (resume).

Run it::

    python benchmarks/dispatch.py                 # full run: about 5 minutes on 2 cores
    python benchmarks/dispatch.py --quick         # smoke test: about 10 seconds
    python benchmarks/dispatch.py --cpu-ms 10 --json /tmp/dispatch-10ms.json

It prints a table per workload (items/s, and gristmill's ratio to each method: gristmill
items/s ÷ method items/s) and writes every figure as JSON (default benchmarks/results/dispatch.json).
Run it on an otherwise idle machine: it warns when the CPUs are busy as it starts.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psutil

import gristmill
from gristmill import BaseSample, Pipeline, Processor
from gristmill.executors.pool import default_start_method
from gristmill.ledger import SqliteLedger
from gristmill.sources import Range

# mpire is imported only where it is used: a forkserver or spawn worker re-imports this module,
# and mpire's import (~0.25 s) would otherwise be charged to every worker start.
HAVE_MPIRE = importlib.util.find_spec("mpire") is not None

FULL = {"noop_items": 200_000, "cpu_items": 5_000, "memory_items": 1_000_000, "repeat": 3}
QUICK = {"noop_items": 20_000, "cpu_items": 500, "memory_items": 100_000, "repeat": 1}
CHUNKS = {"noop": (256, 1024, 4096), "cpu": (1, 4, 16)}
MEMORY_WORKERS = 2
SAMPLE_EVERY = 0.05  # seconds between RSS samples
MB = 1024 * 1024
Func = Callable[[int], int]


# -- the work, shared by every method (module level: shipped to workers) ----------------------


def noop(i: int) -> int:
    return i


def burn(i: int, loops: int) -> int:
    """Pure-Python CPU work; ``loops`` is calibrated so one call takes ``--cpu-ms``."""
    total = 0
    for k in range(loops):
        total += k * k
    return i


class Noop(Processor):
    def process(self, sample: BaseSample) -> BaseSample:
        return sample


class Burn(Processor):
    loops: int

    def process(self, sample: BaseSample) -> BaseSample:
        burn(0, self.loops)
        return sample


def burn_ms(loops: int, repeat: int = 100) -> float:
    """Milliseconds of the fastest of ``repeat`` calls: the one least disturbed by anything else."""
    fastest = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        burn(0, loops)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest * 1000


def calibrate(ms: float) -> tuple[int, float]:
    """Loop count for one ``burn`` call of about ``ms`` milliseconds, and the ms it measures."""
    loops = 10_000
    while (took := burn_ms(loops, 3)) < 50:
        loops *= 4
    for _ in range(5):  # scale, then correct with calls of the size actually used
        loops = max(1, round(loops * ms / took))
        took = burn_ms(loops)
        if abs(took - ms) < 0.05 * ms:
            break
    return loops, took


def gristmill_first_start(start: str | None) -> float:
    """Seconds of a 1-item run, the first in this process: it includes launching the forkserver.

    That happens once per coordinator process; doing it here, reported on its own, keeps it out
    of the first timed gristmill run only (every timed run still starts its own workers).
    """
    return time_gristmill(Noop(), 1, 1, start, planned=False)


# -- one timed run per method -----------------------------------------------------------------


def _counted(results: Iterator[Any], n: int) -> None:
    count = sum(1 for _ in results)
    assert count == n, f"expected {n} results, got {count}"


def time_mp_pool(func: Func, n: int, workers: int, chunk: int | None, start: str | None) -> float:
    t0 = time.perf_counter()
    with mp.get_context(start).Pool(workers) as pool:
        _counted(pool.imap_unordered(func, range(n), chunksize=chunk or 1), n)
    return time.perf_counter() - t0


def time_futures(func: Func, n: int, workers: int, chunk: int | None, start: str | None) -> float:
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(start)) as pool:
        _counted(pool.map(func, range(n), chunksize=chunk or 1), n)
    return time.perf_counter() - t0


def time_mpire(func: Func, n: int, workers: int, chunk: int | None, start: str | None) -> float:
    from mpire import WorkerPool

    t0 = time.perf_counter()
    with WorkerPool(n_jobs=workers, **({"start_method": start} if start else {})) as pool:
        _counted(pool.imap_unordered(func, range(n), chunk_size=chunk), n)
    return time.perf_counter() - t0


def time_gristmill(processor: Processor, n: int, workers: int, start: str | None, *, planned: bool) -> float:
    pipeline = Pipeline(Range(count=n), [processor], name="bench")
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as folder:
        if planned:
            ledger = SqliteLedger(folder)
            pipeline.plan(ledger)
            ledger.close()
        t0 = time.perf_counter()
        result = pipeline.run(state=Path(folder), workers=workers, progress=False, start_method=start)
        took = time.perf_counter() - t0
    assert result.done == n and result.failed == 0, f"gristmill: {result}"
    return took


# -- throughput -------------------------------------------------------------------------------


def bench_workload(
    n: int, func: Func, processor: Processor, chunks: tuple[int, ...], args: argparse.Namespace
) -> dict[str, Any]:
    """Every method on one workload, in ``--repeat`` interleaved rounds.

    Each (method, chunk size) keeps its fastest round and each method its fastest chunk size.
    Rounds interleave the methods, so a slow spell of the machine does not fall on one of them.
    """
    w, start = args.workers, args.start_method
    runs: dict[str, dict[str, Callable[[], float]]] = {
        "gristmill": {"auto": partial(time_gristmill, processor, n, w, start, planned=False)},
        "gristmill (manifest made)": {"auto": partial(time_gristmill, processor, n, w, start, planned=True)},
        "multiprocessing.Pool": {str(c): partial(time_mp_pool, func, n, w, c, start) for c in chunks},
        "ProcessPoolExecutor": {str(c): partial(time_futures, func, n, w, c, start) for c in chunks},
    }
    if HAVE_MPIRE:
        mpire_chunks = (None, *chunks)  # None: mpire picks its own chunk size
        runs["mpire"] = {str(c or "auto"): partial(time_mpire, func, n, w, c, start) for c in mpire_chunks}
    else:
        print("  mpire: skipped (not installed)")
    # Tuning pass, not counted: each peer's best chunk size. Then every method runs once per
    # round, so each gets the same number of chances at a fast spell of this machine.
    tried: dict[str, dict[str, float]] = {method: {} for method in runs}
    for method, configs in runs.items():
        if len(configs) > 1:
            tried[method] = {label: run() for label, run in configs.items()}
    chosen = {
        method: min(tried[method], key=tried[method].__getitem__) if tried[method] else next(iter(configs))
        for method, configs in runs.items()
    }
    times: dict[str, list[float]] = {method: [] for method in runs}
    order = list(runs)
    for round_ in range(1, args.repeat + 1):
        # Each round starts one method later, so no method always runs in the same place of
        # the machine's fast and slow spells.
        shift = (round_ - 1) % len(order)
        for method in order[shift:] + order[:shift]:
            times[method].append(runs[method][chosen[method]]())
            print(f"  round {round_}: {method:<26} {n / times[method][-1]:>10,.0f} items/s", flush=True)
    rows = []
    for method, taken in times.items():
        seconds = min(taken)
        rows.append(
            {
                "method": method,
                "chunk": chosen[method],
                "seconds": seconds,
                "items_per_s": n / seconds,
                "rounds": taken,
                "tuning": tried[method],
            }
        )
    ratios = {g["method"]: {r["method"]: g["items_per_s"] / r["items_per_s"] for r in rows} for g in rows[:2]}
    # Round by round, methods ran back to back: the median of those paired ratios shrugs off
    # the machine's slow and fast spells better than the best times do.
    paired = {
        g: {m: statistics.median(t / tg for t, tg in zip(times[m], times[g], strict=True)) for m in times}
        for g in list(times)[:2]
    }
    skipped = [] if HAVE_MPIRE else ["mpire"]
    return {
        "items": n,
        "workers": w,
        "methods": rows,
        "gristmill_ratio": ratios,
        "gristmill_paired_median_ratio": paired,
        "skipped": skipped,
    }


def print_table(name: str, result: dict[str, Any]) -> None:
    ratios, paired = result["gristmill_ratio"], result["gristmill_paired_median_ratio"]
    grist, made = list(ratios)
    print(f"\n{name}: {result['items']:,} items, {result['workers']} workers")
    print("  ratio = gristmill items/s ÷ method items/s, from the best rounds and as the median of")
    print("  round-by-round ratios ('made': gristmill with the manifest made)")
    header = f"  {'method':<26}{'chunk':>6}{'seconds':>9}{'items/s':>11}"
    print(header + f"{'gristmill ÷':>13}{'median':>8}{'made ÷':>8}{'median':>8}")
    for row in result["methods"]:
        m = row["method"]
        print(
            f"  {m:<26}{row['chunk']:>6}{row['seconds']:>9.2f}{row['items_per_s']:>11,.0f}"
            f"{ratios[grist][m]:>13.2f}{paired[grist][m]:>8.2f}{ratios[made][m]:>8.2f}{paired[made][m]:>8.2f}"
        )


# -- coordinator memory and resume ------------------------------------------------------------


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Samples this process's RSS every 50 ms in a thread; yields a dict filled in on exit (MB)."""
    me, stop, peak = psutil.Process(), threading.Event(), [0]
    figures = {"before_mb": me.memory_info().rss / MB}

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], me.memory_info().rss)
            if stop.wait(SAMPLE_EVERY):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()
        figures["peak_mb"] = peak[0] / MB


def bench_memory(counts: list[int], start: str | None, folder: Path) -> dict[str, Any]:
    """Peak coordinator RSS for no-op runs of each count; then the resume time of the last one."""
    runs = []
    for n in counts:
        state = folder / f"memory-{n}"
        pipeline = Pipeline(Range(count=n), [Noop()], name="bench")
        gc.collect()
        t0 = time.perf_counter()
        with peak_rss() as figures:
            result = pipeline.run(state=state, workers=MEMORY_WORKERS, progress=False, start_method=start)
        assert result.done == n, f"memory run over {n:,} items: {result}"
        runs.append({"items": n, "seconds": time.perf_counter() - t0, **figures})
        print(f"  {n:>9,} items: RSS before {figures['before_mb']:.1f} MB, peak {figures['peak_mb']:.1f} MB")
    t0 = time.perf_counter()
    again = pipeline.run(state=state, workers=MEMORY_WORKERS, progress=False, start_method=start)
    resume = time.perf_counter() - t0
    assert again.done == 0 and again.counts.done == counts[-1], f"resume: {again}"
    print(f"  resume of the finished {counts[-1]:,}-item run: {resume:.2f} s")
    return {"workers": MEMORY_WORKERS, "runs": runs, "resume": {"items": counts[-1], "seconds": resume}}


# -- main -------------------------------------------------------------------------------------


def source_version() -> str:
    """The checkout's commit (and whether src/ has edits on top), so figures can be traced."""
    root = Path(__file__).resolve().parent.parent
    try:
        git = partial(subprocess.run, cwd=root, capture_output=True, text=True, check=True)
        commit = git(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = git(["git", "status", "--porcelain", "--", "src"]).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}{' + uncommitted src/ edits' if dirty else ''}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--noop-items", type=int, help="noop workload size (200,000)")
    parser.add_argument("--cpu-items", type=int, help="cpu workload size (5,000)")
    parser.add_argument("--cpu-ms", type=float, default=2.0, help="CPU time per cpu item, ms (2)")
    parser.add_argument("--memory-items", type=int, help="the large memory run (1,000,000; also ÷10)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers for every method")
    parser.add_argument("--repeat", type=int, help="interleaved rounds, best kept (3; --quick: 1)")
    parser.add_argument("--start-method", help="for every method (default: each library's own default)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "dispatch.json")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    busy = psutil.cpu_percent(interval=1.0)  # before we start anything: is someone else running?
    if busy > 20:
        print(f"warning: the CPUs were {busy:.0f}% busy before the benchmark started; figures will be noisy")
    loops, ms = calibrate(args.cpu_ms)
    cpu_name = f"cpu{args.cpu_ms:g}ms"
    version = source_version()
    print(f"gristmill {gristmill.__version__} ({version}), Python {platform.python_version()}")
    print(platform.platform())
    starts = (
        args.start_method or f"defaults (gristmill {default_start_method()}, peers {mp.get_start_method()})"
    )
    print(f"{os.cpu_count()} CPUs, {args.workers} workers, start method: {starts}, rounds: {args.repeat}")
    print(f"calibration: burn(loops={loops:,}) takes {ms:.2f} ms here (target {args.cpu_ms:g} ms)")
    report: dict[str, Any] = {
        "machine": {"python": sys.version, "platform": platform.platform(), "cpus": os.cpu_count()},
        "gristmill": {"version": gristmill.__version__, "source": version},
        "start_method": args.start_method,
        "cpu_busy_before_pct": busy,
        "calibration": {"target_ms": args.cpu_ms, "loops": loops, "measured_ms": ms},
        "workloads": {},
    }
    tune = slice(1, 2) if args.quick else slice(None)  # --quick: one chunk size, no tuning
    workloads = [
        ("noop", args.noop_items, noop, Noop(), CHUNKS["noop"][tune]),
        (cpu_name, args.cpu_items, partial(burn, loops=loops), Burn(loops=loops), CHUNKS["cpu"][tune]),
    ]
    first = gristmill_first_start(args.start_method)
    report["gristmill_first_start_s"] = first
    print(f"gristmill's first run in this process (1 item, launches the forkserver): {first:.2f} s")
    print(f"\ngristmill coordinator memory ({MEMORY_WORKERS} workers, noop, ledger on):", flush=True)
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as folder:
        counts = [args.memory_items // 10, args.memory_items]
        report["memory"] = bench_memory(counts, args.start_method, Path(folder))
    for name, n, func, processor, chunks in workloads:
        print(f"\n{name}: {n:,} items", flush=True)
        report["workloads"][name] = bench_workload(n, func, processor, chunks, args)
    for name, result in report["workloads"].items():
        print_table(name, result)
    report["calibration"]["measured_ms_at_end"] = after = burn_ms(loops)
    print(f"\ncalibration re-check: burn(loops={loops:,}) takes {after:.2f} ms now ({ms:.2f} ms at start)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
