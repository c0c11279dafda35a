"""Cloud benchmark: downloads in flight per worker, against a store 50 ms away.

What it measures: a 2-worker `Pipeline.run` over ``--objects`` objects of ``--size`` bytes
in a real S3 server (moto, on loopback) reached through a proxy that adds ``--latency`` to
every request (see tests/cloud_servers.py), outputs written locally. The same run is timed
with one download in flight per worker (``downloads=1``), with the default (16 per worker),
and with the default writing its outputs into the same store (also 50 ms away), in rounds
whose order rotates (``--rounds``), each keeping its best; it prints all three and the ratio
of the first two.
Each timing covers the whole run: listing, starting the workers, downloads, outputs; only
the launch of the forkserver, once per process, is left out (a 1-item warm-up run).

Run it::

    python benchmarks/cloud.py             # 200 objects of 100 KB, 50 ms: about 30 seconds
    python benchmarks/cloud.py --quick     # smoke test: 40 objects
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cloud_servers import LatencyProxy, moto_s3, s3_environment  # noqa: E402
from gristmill import Document, Pipeline, Processor  # noqa: E402
from gristmill.sinks import JsonlFiles  # noqa: E402
from gristmill.sources import Files  # noqa: E402
from gristmill.sources.files import DOWNLOADS  # noqa: E402

BUCKET = "bench"


class Measure(Processor):
    """Next to nothing: the run's time is the downloads'."""

    def process(self, doc: Document) -> Document:
        assert doc.content is not None
        return Document(id=doc.id, metadata={"bytes": len(doc.content)})


# (downloads in flight per worker, outputs into the store too)
METHODS = {
    "1 download in flight per worker": (1, False),
    f"{DOWNLOADS} downloads in flight per worker": (DOWNLOADS, False),
    f"{DOWNLOADS} downloads, outputs into S3 too": (DOWNLOADS, True),
}


def timed_run(endpoint: str, out: Path, downloads: int, workers: int, *, store_out: bool = False) -> float:
    source = Files(url=f"s3://{BUCKET}/corpus", endpoint_url=endpoint)
    folder = f"s3://{BUCKET}/{out.name}" if store_out else str(out / "items")
    sink = JsonlFiles(folder=folder, endpoint_url=endpoint if store_out else None)
    pipeline = Pipeline(source, [Measure()], sink, name="cloud-bench")
    start = time.perf_counter()
    result = pipeline.run(state=out / "state", workers=workers, downloads=downloads, progress=False)
    seconds = time.perf_counter() - start
    if result.counts.done != result.counts.total:
        raise SystemExit(f"the run did not finish: {result.counts}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--size", type=int, default=100_000, help="bytes per object")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to each request")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 objects, one round")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "cloud.json")
    args = parser.parse_args()
    if args.quick:
        args.objects, args.rounds = 40, 1
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(s3_environment(Path(scratch)))
        with moto_s3() as direct:
            import s3fs

            fs = s3fs.S3FileSystem(endpoint_url=direct)
            fs.mkdir(BUCKET)
            payload = os.urandom(args.size)
            for index in range(args.objects):
                fs.pipe_file(f"{BUCKET}/corpus/{index:05d}.bin", payload)
            port = int(direct.rsplit(":", 1)[1])
            best = dict.fromkeys(METHODS, float("inf"))
            with LatencyProxy(port, args.latency) as proxy:
                # The forkserver starts once per process: not part of any timing.
                warm = Pipeline(
                    Files(url=f"s3://{BUCKET}/corpus", pattern="00000.bin", endpoint_url=proxy.url)
                )
                warm.run(state=Path(scratch) / "warm", workers=args.workers, progress=False)
                for round_ in range(args.rounds):
                    order = list(METHODS)[round_ % len(METHODS) :] + list(METHODS)[: round_ % len(METHODS)]
                    for number, method in enumerate(order):
                        downloads, store_out = METHODS[method]
                        out = Path(scratch) / f"run-{round_}-{number}"
                        seconds = timed_run(proxy.url, out, downloads, args.workers, store_out=store_out)
                        best[method] = min(best[method], seconds)
    serial = best["1 download in flight per worker"]
    concurrent = best[f"{DOWNLOADS} downloads in flight per worker"]
    report = {
        "objects": args.objects,
        "bytes_per_object": args.size,
        "latency_s": args.latency,
        "workers": args.workers,
        "rounds": args.rounds,
        "one_download_per_worker_s": serial,
        "default_downloads_per_worker": DOWNLOADS,
        "default_s": concurrent,
        "default_outputs_in_store_s": best[f"{DOWNLOADS} downloads, outputs into S3 too"],
        "speedup": serial / concurrent,
    }
    print(
        f"{args.objects} objects x {args.size:,} bytes, {args.latency * 1000:.0f} ms per request, "
        f"{args.workers} workers (best of {args.rounds}):"
    )
    for method, seconds in best.items():
        rate = args.objects / seconds
        print(f"  {method + ':':44} {seconds:6.2f} s  ({rate:7.1f} objects/s)")
    print(f"  speedup, {DOWNLOADS} downloads against 1: {serial / concurrent:.1f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
