"""Ray benchmark: gristmill's Ray executor against its local pool, on the same machine, in one run.

The workload is dispatch.py's: items of ~1, 2 and 10 ms of pure-Python CPU (calibrated once),
through ``Pipeline(Range(count=N), [Burn()]).run()`` with a fresh SQLite state each time, on
the local pool and on ``RayExecutor`` with the same number of workers. Ray's own
``ray.util.multiprocessing.Pool.imap_unordered`` (at its best of a few chunk sizes) runs the
same function as a peer. The local Ray instance is started once before the timings (a
cluster is there before a run in practice); its start-up is printed apart. Methods run in
interleaved rounds (``--repeat``), each keeping its best.

    python benchmarks/ray_executor.py            # about 2 minutes on 2 cores
    python benchmarks/ray_executor.py --quick    # smoke test

It prints items/s per workload and the ratio Ray ÷ pool, and writes the figures as JSON
(default benchmarks/results/ray.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import cloudpickle

sys.path.insert(0, str(Path(__file__).parent))
import dispatch  # the calibrated CPU workload

from gristmill import Pipeline
from gristmill.executors import PoolExecutor, RayExecutor
from gristmill.sources import Range

cloudpickle.register_pickle_by_value(dispatch)  # workers need not find this folder

FULL = {1.0: 6000, 2.0: 5000, 10.0: 1000}  # item ms -> items
QUICK = {2.0: 400}
CHUNKS = (4, 16, 64)


def time_gristmill(executor: Any, loops: int, n: int) -> float:
    pipeline = Pipeline(Range(count=n), [dispatch.Burn(loops=loops)], name="bench")
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-") as folder:
        start = time.perf_counter()
        result = pipeline.run(executor=executor, state=Path(folder), progress=False)
        took = time.perf_counter() - start
    assert result.done == n and result.failed == 0, result
    return took


def time_ray_pool(workers: int, loops: int, n: int, chunk: int) -> float:
    from ray.util.multiprocessing import Pool

    start = time.perf_counter()
    with Pool(processes=workers) as pool:
        for _ in pool.imap_unordered(partial(dispatch.burn, loops=loops), range(n), chunksize=chunk):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "ray.json")
    args = parser.parse_args()
    import ray

    workloads = QUICK if args.quick else FULL
    repeat = 1 if args.quick else args.repeat
    started = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False, logging_level="WARNING")
    ray_start = time.perf_counter() - started
    print(f"{args.workers} workers; local Ray instance started in {ray_start:.1f} s (not in the timings)")
    pool = PoolExecutor(workers=args.workers)
    on_ray = RayExecutor(workers=args.workers)
    figures: dict[str, Any] = {"workers": args.workers, "ray_start_s": ray_start, "workloads": {}}
    for ms, n in workloads.items():
        loops, measured = dispatch.calibrate(ms)
        best = {"pool": float("inf"), "ray": float("inf"), "ray.util Pool": float("inf")}
        chunk = min(CHUNKS, key=lambda c: time_ray_pool(args.workers, loops, n // 4, c))
        for _ in range(repeat):
            best["pool"] = min(best["pool"], time_gristmill(pool, loops, n))
            best["ray"] = min(best["ray"], time_gristmill(on_ray, loops, n))
            best["ray.util Pool"] = min(best["ray.util Pool"], time_ray_pool(args.workers, loops, n, chunk))
        rates = {name: n / seconds for name, seconds in best.items()}
        ratio = rates["ray"] / rates["pool"]
        peer = rates["ray"] / rates["ray.util Pool"]
        print(f"\n{measured:.2f} ms items, {n} items (ray.util Pool chunk {chunk})")
        for name, rate in rates.items():
            print(f"  {name:<22} {rate:>9,.0f} items/s")
        print(f"  gristmill on Ray ÷ gristmill pool: {ratio:.2f}x;  ÷ ray.util Pool: {peer:.2f}x")
        figures["workloads"][f"{ms:g}ms"] = {"items": n, "item_ms": measured, "items_per_s": rates}
    ray.shutdown()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
