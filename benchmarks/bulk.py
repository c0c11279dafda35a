"""Bulk indexing: gristmill's OpenSearchSink against opensearch-py's ``helpers.bulk``.

Both send the same 1 KB documents, in bodies of 500, to the OpenSearch stand-in
(``gristmill.testing``), which runs in a process of its own; the time covers building
the bodies, sending them and reading the answers, in one process. gristmill's figure
includes making each item's NDJSON lines (``encode_records``, which the pipeline does in
its workers) and the coordinator's ``commit``; opensearch-py's includes ``helpers.bulk``
serialising its actions. The stand-in's parsing is in both, so the ratio understates how
much faster gristmill's side is. Methods take turns within each round; each index is
counted afterwards and must hold every document. Then ``gristmill index`` itself (JSONL
files of 500 documents, 2 workers, start-up included) loads the same documents once.

    python benchmarks/bulk.py [--docs 100000] [--rounds 3] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gristmill.manifest import Item
from gristmill.sinks import OpenSearchSink
from gristmill.sinks.search_client import SearchClient

CHUNK = 500  # documents a bulk body; helpers.bulk's default, and the sink's commit size
WORDS = [
    "the",
    "miller",
    "ground",
    "the",
    "grist",
    "and",
    "the",
    "wheel",
    "turned",
    "slowly",
    "under",
    "the",
    "weight",
    "of",
    "water",
]


def make_docs(count: int) -> list[dict[str, Any]]:
    """Documents of about 1 KB of JSON each: a title, a text, a few numbers and tags."""
    docs = []
    for n in range(count):
        text = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(160))[:900]
        docs.append(
            {"title": f"book {n}", "text": text, "year": 1800 + n % 200, "pages": n % 900, "tags": ["a", "b"]}
        )
    return docs


@contextmanager
def stand_in() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gristmill.testing", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def gristmill_bulk(url: str, index: str, docs: list[dict[str, Any]]) -> None:
    sink = OpenSearchSink(url=url, index=index, check_count=False)
    sink.check()
    batch: list[tuple[Item, Any]] = []
    for n, doc in enumerate(docs):
        item_id = str(n)
        batch.append((Item(item_id), sink.encode_records(item_id, [doc])))
        if len(batch) == CHUNK:
            assert not sink.commit(batch)
            batch = []
    if batch:
        assert not sink.commit(batch)
    sink.close()


def opensearch_py_bulk(url: str, index: str, docs: list[dict[str, Any]]) -> None:
    from opensearchpy import OpenSearch, helpers

    client = OpenSearch(hosts=[url])
    actions = ({"_index": index, "_id": str(n), "_source": doc} for n, doc in enumerate(docs))
    ok, errors = helpers.bulk(client, actions, chunk_size=CHUNK, max_chunk_bytes=5 * 1024 * 1024)
    assert ok == len(docs) and not errors, errors
    client.close()


METHODS: dict[str, Callable[[str, str, list[dict[str, Any]]], None]] = {
    "gristmill OpenSearchSink": gristmill_bulk,
    "opensearch-py helpers.bulk": opensearch_py_bulk,
}


def timed(url: str, name: str, docs: list[dict[str, Any]], round_: int) -> float:
    index = f"bench-{round_}-{abs(hash(name)) % 10_000}"
    with SearchClient(url) as client:
        client.request("DELETE", index, ok=(200, 404))  # each method makes its index
        start = time.perf_counter()
        METHODS[name](url, index, docs)
        seconds = time.perf_counter() - start
        client.request("POST", f"{index}/_refresh")
        count = client.request("GET", f"{index}/_count").json()["count"]
        client.request("DELETE", index)  # frees the stand-in's memory
    if count != len(docs):
        raise SystemExit(f"{name}: the index holds {count} documents, {len(docs)} sent")
    return len(docs) / seconds


def index_command(url: str, docs: list[dict[str, Any]], per_file: int = 500) -> float:
    """``gristmill index`` (2 workers) over JSONL files of the documents: docs/s, start-up included."""
    import orjson

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "docs"
        folder.mkdir()
        for start in range(0, len(docs), per_file):
            lines = b"".join(orjson.dumps(doc) + b"\n" for doc in docs[start : start + per_file])
            (folder / f"part{start // per_file:05d}.jsonl").write_bytes(lines)
        command = [str(Path(sys.executable).parent / "gristmill"), "index", str(folder)]
        command += ["--opensearch", url, "--index", "bench-cli", "--workers", "2", "--no-progress"]
        begin = time.perf_counter()
        subprocess.run(command, cwd=scratch, check=True, capture_output=True)
        seconds = time.perf_counter() - begin
    with SearchClient(url) as client:
        count = client.request("GET", "bench-cli/_count").json()["count"]
        client.request("DELETE", "bench-cli")
    if count != len(docs):
        raise SystemExit(f"gristmill index: the index holds {count} documents, {len(docs)} sent")
    return len(docs) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 documents, one round (the test suite)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    docs_count, rounds = (10_000, 1) if args.quick else (args.docs, args.rounds)
    docs = make_docs(docs_count)
    gc.freeze()  # the test data is no method's garbage to scan
    size = sum(len(json.dumps(d)) for d in docs[:1000]) / 1000
    print(f"{docs_count:,} documents of {size:,.0f} bytes of JSON, bodies of {CHUNK}, {rounds} rounds")
    rates: dict[str, list[float]] = {name: [] for name in METHODS}
    with stand_in() as url:
        names = list(METHODS)
        for round_ in range(rounds):
            for name in names[round_ % 2 :] + names[: round_ % 2]:  # the order alternates
                rates[name].append(timed(url, name, docs, round_))
        command_rate = index_command(url, docs)
    ours, theirs = rates["gristmill OpenSearchSink"], rates["opensearch-py helpers.bulk"]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    for name, found in rates.items():
        print(
            f"{name:28} best {max(found):>10,.0f} docs/s   median {statistics.median(found):>10,.0f} docs/s"
        )
    print(f"gristmill ÷ helpers.bulk, paired median: {statistics.median(ratios):.2f}")
    print(f"gristmill index, JSONL files of 500, 2 workers, start-up included: {command_rate:,.0f} docs/s")
    if args.json:
        report = {
            "docs": docs_count,
            "doc_bytes": size,
            "rounds": rounds,
            "methods": [{"method": name, "docs_per_s": found} for name, found in rates.items()],
            "ratio_median": statistics.median(ratios),
            "index_command_docs_per_s": command_rate,
        }
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
