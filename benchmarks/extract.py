"""Extract benchmark: `gristmill extract` on 1 and 2 workers, and against unstructured, in one run.

1. Makes the sample corpus (examples/corpus/make_corpus.py) with ``--count`` documents of
   every format, broken files included.
2. Times ``gristmill extract`` over it with ``--workers 1`` and with ``--workers N`` (fresh
   output and state each time, back to back, ``--repeat`` rounds, the order of the two
   swapped every round so a machine that slows down or speeds up favours neither) and prints
   documents/s and the speed-up: from the best round of each, and as the median of the
   rounds' own ratios, which a slow spell of a shared machine moves less. Each round also
   times the same command on an empty folder: a run's fixed cost (start-up, the workers'
   imports, exit), which no number of workers shortens; the speed-up of what remains, the
   documents' own part, is printed beside the whole command's.
   Every round's output is kept until the end: deleting a thousand files just before the
   next round creates as many makes some filesystems (ext4 without a journal, as on our CI
   machines) skip each recently freed inode at every file created, a cost that grows round
   after round and that a user's run does not pay. gristmill's modules are byte-compiled
   first, as an installed wheel's are.
3. Where the ``unstructured`` library is importable, partitions the same files of each format
   with ``unstructured.partition.auto.partition`` and with gristmill's ``Partition``, in this
   process, one after the other, and prints documents/s and the ratio per format. A format
   that unstructured cannot read here (a missing extra, a model it must download) is listed
   with its reason, not counted.

    python benchmarks/extract.py                    # 1,000 documents
    python benchmarks/extract.py --quick            # smoke test
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gristmill

ROOT = Path(__file__).parent.parent
GRISTMILL = [sys.executable, "-m", "gristmill"]


def make_corpus(folder: Path, count: int) -> list[Path]:
    script = ROOT / "examples" / "corpus" / "make_corpus.py"
    subprocess.run([sys.executable, str(script), "--out", str(folder), "--count", str(count)], check=True)
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def time_extract(corpus: Path, workers: int, scratch: Path) -> tuple[float, str]:
    scratch.mkdir()
    command = [*GRISTMILL, "extract", str(corpus), "--output", f"{scratch}/out", "--no-progress"]
    start = time.perf_counter()
    run = subprocess.run(
        [*command, "--workers", str(workers), "--state", f"{scratch}/state"],
        capture_output=True,
        text=True,
        cwd=scratch,
    )
    took = time.perf_counter() - start
    if run.returncode not in (0, 1):  # 1: the corpus's broken files fail, on purpose
        raise SystemExit(f"gristmill extract failed: {run.stderr}")
    return took, run.stdout.strip().splitlines()[-2] if run.stdout.strip() else ""


def compare_with_unstructured(files: list[Path]) -> dict[str, Any]:
    try:
        from unstructured.partition.auto import partition as theirs
    except ImportError:
        return {"installed": False}
    from gristmill.documents import Partition
    from gristmill.samples import Document

    ours = Partition()
    by_format: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        if "broken" not in path.parts:
            by_format[path.suffix.lower() or "(none)"].append(path)
    report: dict[str, Any] = {"installed": True, "formats": {}}
    for suffix, paths in sorted(by_format.items()):
        try:
            theirs(filename=str(paths[0]))
        except Exception as exc:  # what unstructured needs and lacks here
            report["formats"][suffix] = {"unstructured": f"cannot: {type(exc).__name__}: {str(exc)[:90]}"}
            continue
        start = time.perf_counter()
        for path in paths:
            theirs(filename=str(path))
        their_rate = len(paths) / (time.perf_counter() - start)
        start = time.perf_counter()
        for path in paths:
            ours.process(Document(id=path.name, content=path.read_bytes(), metadata={"filename": path.name}))
        our_rate = len(paths) / (time.perf_counter() - start)
        report["formats"][suffix] = {"files": len(paths), "gristmill": our_rate, "unstructured": their_rate}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "extract.json")
    args = parser.parse_args()
    count, repeat = (60, 1) if args.quick else (args.count, args.repeat)
    with tempfile.TemporaryDirectory(prefix="gristmill-corpus-") as folder:
        files = make_corpus(Path(folder) / "corpus", count)
        print(f"{len(files)} files ({count} documents asked for, broken files included)")
        compileall.compile_dir(Path(gristmill.__file__).parent, quiet=1)
        times: dict[int, list[float]] = {1: [], args.workers: []}
        empty: dict[int, list[float]] = {1: [], args.workers: []}
        (Path(folder) / "empty").mkdir()
        summary = ""
        for round_ in range(repeat):
            order = list(times) if round_ % 2 == 0 else list(times)[::-1]
            for workers in order:
                scratch = Path(folder) / f"round-{round_}-workers-{workers}"
                took, summary = time_extract(Path(folder) / "corpus", workers, scratch)
                times[workers].append(took)
                empty[workers].append(time_extract(Path(folder) / "empty", workers, scratch / "empty")[0])
            print(
                "  "
                + ", ".join(
                    f"--workers {n}: {rounds[-1]:.2f} s (empty folder {empty[n][-1]:.2f} s)"
                    for n, rounds in times.items()
                )
            )
        best = {workers: min(rounds) for workers, rounds in times.items()}
        rates = {workers: len(files) / seconds for workers, seconds in best.items()}
        print(f"  last run: {summary}")
        for workers, rate in rates.items():
            print(f"  gristmill extract --workers {workers}: {rate:,.0f} documents/s ({best[workers]:.2f} s)")
        speedup = rates[args.workers] / rates[1]
        paired = statistics.median(one / many for one, many in zip(*times.values(), strict=True))
        print(
            f"  speed-up, {args.workers} workers over 1: {speedup:.2f}x (best rounds), "
            f"{paired:.2f}x (median of rounds)"
        )
        fixed = {workers: statistics.median(rounds) for workers, rounds in empty.items()}
        # a round where the documents took no measurable time beside the fixed cost says nothing
        own = [
            (one - empty_one) / (many - empty_many)
            for one, many, empty_one, empty_many in zip(*times.values(), *empty.values(), strict=True)
            if one > empty_one and many > empty_many
        ]
        own_speedup = statistics.median(own) if own else float("nan")
        print(
            "  fixed cost of a run (an empty folder, median): "
            + ", ".join(f"{seconds:.2f} s on {workers}" for workers, seconds in fixed.items())
            + f"; the documents' own part: {own_speedup:.2f}x (median of rounds)"
        )
        versus = compare_with_unstructured(files)
    if not versus["installed"]:
        print("unstructured is not installed: no comparison (pip install unstructured to add it)")
    else:
        print("per format, in one process (documents/s): gristmill, unstructured, ratio")
        for suffix, row in versus["formats"].items():
            if "files" in row:
                ratio = row["gristmill"] / row["unstructured"]
                print(f"  {suffix:<8} {row['gristmill']:>9,.0f} {row['unstructured']:>9,.1f} {ratio:>8.1f}x")
            else:
                print(f"  {suffix:<8} unstructured {row['unstructured']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "files": len(files),
        "seconds": times,
        "documents_per_s": rates,
        "speedup": speedup,
        "speedup_paired_median": paired,
        "empty_folder_seconds": empty,
        "speedup_without_fixed_cost_median": own_speedup,
    }
    args.json.write_text(json.dumps({**figures, "unstructured": versus}, indent=2, default=str))


if __name__ == "__main__":
    main()
