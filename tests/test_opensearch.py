"""OpenSearchSink, `gristmill index` and RateLimit.

No OpenSearch server can run here: the tests run against `StandInOpenSearch`, a loopback
stand-in for the REST subset the sink uses (see its docstring). Those marked ``opensearch``
that do not need the stand-in's fault injection also run against a real cluster when
GRISTMILL_TEST_OPENSEARCH_URL is set (each test in an index of its own, deleted after).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from gristmill import ConfigError, Item, Pipeline, RateLimit, SinkError
from gristmill.executors import InlineExecutor, PoolExecutor
from gristmill.ledger import MemoryLedger
from gristmill.ledger.base import Status
from gristmill.sinks import OpenSearchSink
from gristmill.sinks.search_client import SearchClient
from gristmill.sources import Range
from gristmill.testing import StandInOpenSearch
from helpers import Parts, PostDoc

REAL_URL = os.environ.get("GRISTMILL_TEST_OPENSEARCH_URL")
GRISTMILL = [str(Path(sys.executable).parent / "gristmill")]

pytestmark = pytest.mark.opensearch


class Cluster(NamedTuple):
    url: str
    index: str
    stand_in: StandInOpenSearch | None

    def call(self, method: str, path: str, body: object = None) -> Any:
        """One request on a connection of its own; the answer's status and JSON."""
        with SearchClient(self.url) as client:
            answer = client.request(method, path.format(index=self.index), body, ok=(200, 201, 404))
            return answer.status, answer.json()

    def ids(self) -> list[str]:
        if self.stand_in is not None:
            return self.stand_in.ids(self.index)
        self.call("POST", "{index}/_refresh")
        query = {"query": {"match_all": {}}, "size": 10_000, "_source": False}
        hits = self.call("POST", "{index}/_search", query)[1]["hits"]["hits"]
        return sorted(hit["_id"] for hit in hits)

    def count(self) -> int:
        self.call("POST", "{index}/_refresh")
        return int(self.call("GET", "{index}/_count")[1]["count"])

    def bulk_requests(self) -> int | None:
        """Bulk requests the stand-in has had so far (None on a real cluster)."""
        if self.stand_in is None:
            return None
        return sum(1 for _, _, path in list(self.stand_in.requests) if path.endswith("_bulk"))

    def refresh_interval(self) -> object:
        settings = self.call("GET", "{index}/_settings")[1]
        return settings[self.index]["settings"]["index"].get("refresh_interval")


@pytest.fixture
def stand_in() -> Iterator[StandInOpenSearch]:
    with StandInOpenSearch(seed=6) as server:
        yield server


@pytest.fixture(params=["stand-in", pytest.param("real", id="real-cluster")])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    index = f"gristmill-test-{uuid.uuid4().hex[:10]}"
    if request.param == "stand-in":
        server = request.getfixturevalue("stand_in")
        yield Cluster(server.url, index, server)
        return
    if REAL_URL is None:
        pytest.skip("no real cluster: set GRISTMILL_TEST_OPENSEARCH_URL to test against one")
    yield Cluster(REAL_URL, index, None)
    with SearchClient(REAL_URL) as client:
        client.request("DELETE", index, ok=(200, 404))


def expected_ids(count: int, modulo: int) -> list[str]:
    return sorted(f"{n}#{k}" for n in range(count) for k in range(n % modulo))


def parts_pipeline(cluster: Cluster, count: int, **options: object) -> Pipeline:
    modulo = int(options.pop("modulo", 3))  # type: ignore[call-overload]
    bad = options.pop("bad", ())
    sink = OpenSearchSink(url=cluster.url, index=cluster.index, backoff=0.01, **options)  # type: ignore[arg-type]
    return Pipeline(Range(count=count), [Parts(modulo=modulo, bad=bad)], sink, name="parts")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make_executor",
    [pytest.param(InlineExecutor, id="inline"), pytest.param(lambda: PoolExecutor(workers=2), id="pool")],
)
def test_documents_have_item_ids_and_a_redone_item_replaces_its_own(
    cluster: Cluster, make_executor, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = parts_pipeline(cluster, 60, modulo=4, max_docs=7).run(
        executor=make_executor(), state=tmp_path, progress=False
    )
    assert (first.done, first.failed) == (60, 0)
    assert cluster.ids() == expected_ids(60, 4)
    # Fewer documents per item now: redoing drops the ones an item no longer has.
    again = parts_pipeline(cluster, 60, modulo=2).run(
        executor=make_executor(), state=tmp_path, reprocess=True, progress=False
    )
    assert again.done == 60
    assert cluster.ids() == expected_ids(60, 2)
    assert cluster.count() == 30
    assert cluster.refresh_interval() in (None, "1s")


@pytest.mark.parametrize("executor", ["inline", "pool"])
def test_a_refused_document_fails_its_item_with_the_reason_and_the_rest_go_in(
    cluster: Cluster, executor: str
) -> None:
    mapping = {"mappings": {"properties": {"value": {"type": "long"}}}}
    ledger = MemoryLedger()
    bad = ("7", "11", "701", "1100")  # commits of 500 items: refusals in the first and the last
    result = parts_pipeline(cluster, 1200, bad=bad, mapping=mapping).run(
        executor=executor, ledger=ledger, workers=2, progress=False
    )
    assert (result.done, result.failed, result.exit_code) == (1196, 4, 1)
    assert ledger.counts().done == 1196
    failed = list(ledger.records(status=Status.FAILED))
    assert [r.id for r in failed] == list(bad)
    assert all(
        r.error_type == "SinkError" and "mapper_parsing_exception" in (r.message or "") for r in failed
    )
    assert "value" in (failed[0].message or "")
    good = [i for i in expected_ids(1200, 3) if i.split("#")[0] not in bad]
    assert set(good) <= set(cluster.ids())


def test_throttled_half_the_time_every_document_goes_in_exactly_once(stand_in: StandInOpenSearch) -> None:
    stand_in.throttle_docs = 0.5  # half the documents of every bulk answered 429…
    stand_in.throttle_requests = 0.5  # …and half the requests refused whole with Retry-After
    cluster = Cluster(stand_in.url, "throttled", stand_in)
    result = parts_pipeline(cluster, 300, retries=30, max_docs=50).run(
        executor="inline", ledger=MemoryLedger(), progress=False
    )
    assert (result.done, result.failed) == (300, 0)
    assert stand_in.ids("throttled") == expected_ids(300, 3)
    assert set(stand_in.versions("throttled").values()) == {1}  # each written once, none twice
    throttled = sum(1 for _, _, path in stand_in.requests if path.endswith("_bulk"))
    assert throttled > 300 // 50 * 2  # it really was throttled, many times


def test_a_throttled_request_waits_as_long_as_retry_after_says(stand_in: StandInOpenSearch) -> None:
    stand_in.throttle_requests, stand_in.retry_after = 0.5, 2.5
    slept: list[float] = []
    with SearchClient(stand_in.url, backoff=0.001, retries=30, sleep=slept.append) as client:
        for n in range(10):
            assert client.request("PUT", f"waits/_doc/{n}", {"n": n}).status == 201
    assert slept and all(wait >= 2.5 for wait in slept)
    refused = SearchClient(stand_in.url, backoff=0.001, retries=0, sleep=slept.append)
    stand_in.throttle_requests = 1.0
    with pytest.raises(SinkError, match="rejected_execution_exception"):
        refused.request("GET", "waits/_count")
    refused.close()


def test_a_throttled_index_probe_is_retried_and_never_taken_for_an_index(stand_in: StandInOpenSearch) -> None:
    sink = OpenSearchSink(url=stand_in.url, index="probed", backoff=0.001)
    stand_in.throttle_next = 3  # the start-up HEAD is answered 429 three times, then 404
    sink.check()
    stand_in.throttle_next = 2  # and so is the HEAD before the first write: still no index
    refused = sink.commit([(Item(str(n)), sink.encode_records(str(n), [{"n": n}])) for n in range(3)])
    sink.close()
    assert refused == {}
    assert stand_in.ids("probed") == ["0#0", "1#0", "2#0"]
    assert sum(1 for _, method, _ in stand_in.requests if method == "HEAD") == 3 + 1 + 2 + 1
    stand_in.throttle_requests, stand_in.retry_after = 1.0, 0.0  # busy past every retry: a clear error
    busy = OpenSearchSink(url=stand_in.url, index="probed", backoff=0.001, retries=2)
    with pytest.raises(ConfigError, match=r"HEAD probed: HTTP 429 \(3 tries\)"):
        busy.check()
    busy.close()


def test_a_retry_after_past_the_cap_waits_the_cap(stand_in: StandInOpenSearch) -> None:
    stand_in.throttle_next, stand_in.retry_after = 2, 3600  # a proxy asking for an hour
    slept: list[float] = []
    with SearchClient(stand_in.url, backoff=0.001, sleep=slept.append) as client:
        assert client.request("PUT", "capped/_doc/1", {"n": 1}).status == 201
    assert slept == [300.0, 300.0]


def test_rate_limit_holds_across_four_worker_processes(stand_in: StandInOpenSearch) -> None:
    stand_in.throttle_requests = 0.5  # and still every document arrives exactly once
    limit = RateLimit("10/s")
    pipeline = Pipeline(
        Range(count=25), [PostDoc(url=stand_in.url, index="limited", limit=limit)], name="limited"
    )
    executor = PoolExecutor(workers=4, start_method="forkserver")
    result = pipeline.run(executor=executor, ledger=MemoryLedger(), retries=40, backoff=0.01, progress=False)
    assert (result.done, result.failed) == (25, 0)
    posts = [t for t, method, _ in stand_in.requests if method == "PUT"]
    assert len(posts) > 25  # half were throttled and retried
    assert stand_in.most_in_window(1.0) <= 10, sorted(round(t - posts[0], 3) for t in posts)
    assert stand_in.ids("limited") == sorted(str(n) for n in range(25))
    assert set(stand_in.versions("limited").values()) == {1}


def test_rate_limit_spaces_grants_and_copies_share_them() -> None:
    limit = RateLimit("10/s")
    twin = pickle.loads(pickle.dumps(limit))  # what a worker gets
    waits = [(limit if n % 2 else twin).reserve(1, 100.0)[0] for n in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    burst = RateLimit(rate=2, per=1, burst=3)
    assert [burst.reserve(1, 50.0)[0] for _ in range(5)] == pytest.approx([0, 0, 0, 0.5, 1.0])
    assert RateLimit("90000/min").interval == pytest.approx(60 / 90000)
    slept: list[float] = []
    tokens = RateLimit("100/s")
    tokens.acquire(50, clock=lambda: 10.0, sleep=slept.append)
    tokens.acquire(50, clock=lambda: 10.0, sleep=slept.append)
    assert slept == pytest.approx([0.5])
    with pytest.raises(ConfigError, match="looks like"):
        RateLimit("ten per second")
    assert "name" not in limit.model_dump()  # a processor's config hash must not change per run


def test_a_held_grant_counts_until_its_request_ends() -> None:
    limit = RateLimit(rate=2, per=1.0)  # two requests in any second
    first = limit.reserve(1, 100.0, held=True)
    second = limit.reserve(1, 100.0, held=True)
    assert first[0] == 0.0 and second[0] == pytest.approx(0.5)
    assert limit.reserve(1, 100.6, held=True) == (pytest.approx(0.02), None, False)  # both under way
    assert first[1] is not None
    limit._release(first[1], 101.2)  # the first request ended late: its slot frees a second later
    wait, slot, booked = limit.reserve(1, 101.2, held=True)
    assert booked and slot == first[1] and wait == pytest.approx(1.0)


def write_corpus(folder: Path, files: int, lines: int) -> list[str]:
    """JSONL files of ``n % lines + 1`` records each; the ids the index should then hold."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for n in range(files):
        count = n % lines + 1
        records = [{"title": f"book {n} part {k}", "n": n, "text": "lorem ipsum " * 20} for k in range(count)]
        (folder / f"book{n:04d}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        ids += [f"book{n:04d}.jsonl#{k}" for k in range(count)]
    return sorted(ids)


def gristmill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRISTMILL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_index_killed_with_sigkill_and_rerun_leaves_exactly_the_expected_documents(
    cluster: Cluster, tmp_path: Path
) -> None:
    corpus = tmp_path / "books"
    write_corpus(corpus, 300, 4)
    command = ["index", "books", "--opensearch", cluster.url, "--index", cluster.index, "--no-progress"]
    first = gristmill(*command, "--workers", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # The corpus changes (fewer records per book), then the reindex is killed again and again.
    expected = write_corpus(corpus, 1500, 3)
    if cluster.stand_in is not None:
        cluster.stand_in.delay = 0.004  # a slow cluster: each run lasts long enough to be killed
    rng = random.Random(61)
    # Kill after a random number of bulk requests (a commit of 500 books is ~200 of them),
    # so the kills land mid-commit and between commits however busy the machine is.
    thresholds = [rng.randint(20, 180), rng.randint(230, 380), rng.randint(20, 380), rng.randint(20, 380)]
    kills = 0
    for attempt, threshold in enumerate(thresholds):
        args = [*GRISTMILL, *command, "--workers", "2", "--bulk-bytes", "2000"]
        if attempt == 0:
            args.append("--force-refresh")
        before = cluster.bulk_requests()
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        if before is None:  # a real cluster: by time instead
            time.sleep(rng.uniform(0.8, 2.0))
        while before is not None and proc.poll() is None and time.monotonic() < deadline:
            if (cluster.bulk_requests() or 0) - before >= threshold:
                break
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
    assert kills >= 2, f"only {kills} runs were still going when killed"
    final = gristmill(*command, "--workers", "2", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "all items: 1500 done, 0 failed, 0 skipped, 0 pending (of 1500)" in final.stdout, final.stdout
    redone = int(re.search(r"this run: (\d+) done", final.stdout).group(1))  # type: ignore[union-attr]
    assert redone < 1500  # the killed runs got some of it done
    assert cluster.ids() == expected
    assert cluster.count() == len(expected)
    assert cluster.refresh_interval() in (None, "1s")


def test_index_purge_and_mapping(cluster: Cluster, tmp_path: Path) -> None:
    expected = write_corpus(tmp_path / "books", 20, 3)
    (tmp_path / "bad.json").write_text("[1, 2]")  # outside the corpus: not indexed
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"mappings": {"properties": {"n": {"type": "integer"}}}}))
    command = ["index", "books", "--opensearch", cluster.url, "--index", cluster.index, "--no-progress"]
    first = gristmill(*command, "--mapping", str(mapping), "--executor", "inline", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "20 done" in first.stdout
    cluster.call("PUT", "{index}/_doc/stray", {"n": 1})
    purged = gristmill(*command, "--purge", "--mapping", str(mapping), "--executor", "inline", cwd=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "20 done" in purged.stdout  # everything again, into a new index
    assert cluster.ids() == expected
    properties = cluster.call("GET", "{index}/_mapping")[1][cluster.index]["mappings"]["properties"]
    assert properties["n"] == {"type": "integer"}  # the given mapping…
    assert properties["gristmill_item"] == {"type": "keyword"}  # …with what stale deletion needs


def test_the_final_count_check_fails_loudly_on_a_mismatch(cluster: Cluster) -> None:
    sink = OpenSearchSink(url=cluster.url, index=cluster.index)
    sink.check()
    batch = [(Item(str(n)), sink.encode_records(str(n), [{"n": n}])) for n in range(10)]
    assert sink.commit(batch) == {}
    cluster.call("PUT", "{index}/_doc/stray", {"n": 1})  # another writer
    with pytest.raises(SinkError, match="the index holds 11 documents, 10 expected"):
        sink.finish(MemoryLedger())
    sink.close()


def test_index_a_broken_file_fails_alone_with_its_line(stand_in: StandInOpenSearch, tmp_path: Path) -> None:
    expected = write_corpus(tmp_path / "books", 10, 2)
    (tmp_path / "books" / "broken.jsonl").write_text('{"title": "fine"}\n{"title": \n')
    command = ["index", "books", "--opensearch", stand_in.url, "--index", "b", "--no-progress"]
    result = gristmill(*command, "--executor", "inline", cwd=tmp_path)
    assert result.returncode == 1
    assert "10 done, 1 failed" in result.stdout
    failures = json.loads(
        gristmill("failures", "--state", ".gristmill/index-b", "--json", cwd=tmp_path).stdout
    )
    assert [f["id"] for f in failures] == ["broken.jsonl"]
    assert "invalid JSON at line 2" in failures[0]["message"]
    assert stand_in.ids("b") == expected


def test_secrets_never_appear_in_output_or_the_ledger(tmp_path: Path) -> None:
    password, key = "pa55-w0rd-XYZ", "k3y-SECRET-abc"
    write_corpus(tmp_path / "books", 5, 2)
    with StandInOpenSearch(users={"admin": password}, api_keys=(key,)) as server:
        host = server.url.removeprefix("http://")
        base = ["index", "books", "--index", "books", "--no-progress", "--executor", "inline"]
        wrong = gristmill(*base, "--opensearch", f"http://admin:nope-{password}@{host}", cwd=tmp_path)
        assert wrong.returncode == 2
        assert "refused the credentials" in wrong.stderr
        assert "admin:***@" in wrong.stderr
        right = gristmill(*base, "--opensearch", f"http://admin:{password}@{host}", "-v", cwd=tmp_path)
        assert right.returncode == 0, right.stderr
        by_key = gristmill(
            *base, "--opensearch", server.url, "--api-key", key, "--reprocess", "-v", cwd=tmp_path
        )
        assert by_key.returncode == 0, by_key.stderr
        assert server.ids("books") == write_corpus(tmp_path / "books", 5, 2)
    sink = OpenSearchSink(url=f"https://admin:{password}@example.org:9200", index="x", api_key=key)
    shown = [
        wrong.stdout,
        wrong.stderr,
        right.stdout,
        right.stderr,
        by_key.stdout,
        by_key.stderr,
        repr(sink),
        str(sink),
    ]
    ledger = tmp_path / ".gristmill" / "index-books" / "ledger.sqlite"
    shown.append(ledger.read_bytes().decode("latin-1"))
    assert not [text for text in shown if password in text or key in text]


def test_an_unreachable_cluster_exits_2_before_any_work(tmp_path: Path) -> None:
    write_corpus(tmp_path / "books", 3, 1)
    result = gristmill(
        "index", "books", "--opensearch", "http://127.0.0.1:9", "--index", "b", "--no-progress", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "cannot be reached" in result.stderr
    bad = gristmill(
        "index", "books", "--opensearch", "http://127.0.0.1:9", "--index", "Bad Name", cwd=tmp_path
    )
    assert bad.returncode == 2
    assert "not a valid index name" in bad.stderr


def test_the_readme_search_section_runs(stand_in: StandInOpenSearch, tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(
        b for b in (c.split("```")[0] for c in readme.split("```sh\n")[1:]) if "gristmill index" in b
    )
    expected = write_corpus(tmp_path / "summaries", 30, 3)
    (tmp_path / "mapping.json").write_text(
        json.dumps({"mappings": {"properties": {"n": {"type": "integer"}}}})
    )
    env = dict(os.environ, GRISTMILL_OPENSEARCH_URL=stand_in.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for line in block.strip().splitlines():
        result = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (line, result.stderr)
        assert "30 done" in result.stdout
    assert stand_in.ids("books") == expected
    snippets = (c.split("```")[0] for c in readme.split("```python\n")[1:])
    snippet = next(b for b in snippets if "OpenSearchSink" in b)
    (tmp_path / "passages.py").write_text(snippet)
    ran = subprocess.run([sys.executable, "passages.py"], cwd=tmp_path, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["100", "300"]


def test_vectors_get_a_knn_vector_mapping_by_default(stand_in: StandInOpenSearch) -> None:
    sink = OpenSearchSink(url=stand_in.url, index="vectors")
    sink.check()
    batch = [(Item(str(n)), sink.encode_records(str(n), [{"embedding": [0.5, n, 1.0]}])) for n in range(3)]
    assert sink.commit(batch) == {}
    sink.finish(MemoryLedger())
    sink.close()
    with SearchClient(stand_in.url) as client:
        answer = client.request("GET", "vectors/_mapping").json()
        settings = client.request("GET", "vectors/_settings").json()
    properties = answer["vectors"]["mappings"]["properties"]
    assert properties["embedding"] == {"type": "knn_vector", "dimension": 3}
    assert properties["gristmill_item"] == {"type": "keyword"}
    assert settings["vectors"]["settings"]["index"]["knn"] == "true"
    bad = [(Item("x"), sink.encode_records("x", [{"embedding": [1.0]}]))]  # the wrong length
    assert "[embedding] of type [knn_vector]" in sink.commit(bad)["x"]
    sink.close()


def test_two_shards_load_one_index_at_once(cluster: Cluster, tmp_path: Path) -> None:
    expected = write_corpus(tmp_path / "books", 200, 3)
    command = [*GRISTMILL, "index", "books", "--opensearch", cluster.url, "--index", cluster.index]
    command += ["--no-progress", "--no-count-check", "--executor", "inline"]
    procs = [
        subprocess.Popen([*command, "--shard", shard], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for shard in ("1/2", "2/2")
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert cluster.ids() == expected


def test_index_prune_deletes_the_documents_of_files_gone(cluster: Cluster, tmp_path: Path) -> None:
    expected = write_corpus(tmp_path / "books", 12, 3)
    command = ["index", "books", "--opensearch", cluster.url, "--index", cluster.index, "--no-progress"]
    assert gristmill(*command, cwd=tmp_path).returncode == 0
    (tmp_path / "books" / "book0002.jsonl").unlink()  # three documents
    (tmp_path / "books" / "book0007.jsonl").unlink()  # two
    refreshed = gristmill(*command, "--force-refresh", cwd=tmp_path)
    assert "2 removed" in refreshed.stdout
    assert cluster.ids() == expected  # without --prune, their documents stay
    (tmp_path / "books" / "book0010.jsonl").unlink()
    pruned = gristmill(*command, "--prune", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr  # and the count check holds
    assert "1 removed" in pruned.stdout
    assert cluster.ids() == [i for i in expected if not i.startswith("book0010")]
