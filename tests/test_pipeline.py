"""The guarantees of DESIGN.md, over every executor."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from conftest import ray_executor
from gristmill import BaseSample, Compose, Pipeline, Processor, TransientError
from gristmill.executors import Executor, PoolExecutor
from gristmill.ledger import MemoryLedger, SqliteLedger, Status
from gristmill.manifest import Item
from gristmill.sinks import ListSink
from gristmill.sources import Range
from helpers import AddLock, BatchSquare, NeedsModel, Square, squares


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_item_done_once(make_executor, tmp_path: Path) -> None:
    result = squares(50, tmp_path / "out").run(
        executor=make_executor(), state=tmp_path / "state", progress=False
    )
    assert (result.done, result.failed, result.exit_code) == (50, 0, 0)
    values = sorted(int(r["value"]) for r in lines(tmp_path / "out" / "all.jsonl"))
    assert values == [i * i for i in range(50)]


def test_a_failing_item_is_recorded_and_the_rest_finish(make_executor, tmp_path: Path) -> None:
    pipeline = squares(30, tmp_path / "out", fail=("7",))
    result = pipeline.run(executor=make_executor(), state=tmp_path / "state", progress=False)
    assert (result.done, result.failed, result.exit_code) == (29, 1, 1)
    ledger = SqliteLedger(tmp_path / "state")
    (failed,) = ledger.records(status=Status.FAILED)
    assert failed.id == "7"
    assert failed.error_type == "ValueError"
    assert failed.message == "cannot square 7"
    assert failed.traceback is not None and "in process" in failed.traceback
    assert "raise ValueError" in failed.traceback
    counts = ledger.counts()
    assert counts.total == 30 == counts.done + counts.failed


def test_a_rerun_retries_failures_and_skips_what_is_done(make_executor, tmp_path: Path) -> None:
    state, broken = tmp_path / "state", tmp_path / "broken"
    broken.mkdir()
    for item in ("3", "4"):
        (broken / item).touch()
    pipeline = squares(20, tmp_path / "out", broken_folder=str(broken))
    pipeline.run(executor=make_executor(), state=state, progress=False)
    for item in ("3", "4"):  # the bug, fixed
        (broken / item).unlink()
    again = pipeline.run(executor=make_executor(), state=state, progress=False)
    assert (again.done, again.failed, again.exit_code) == (2, 0, 0)
    assert len(lines(tmp_path / "out" / "all.jsonl")) == 20
    records = {r.id: r for r in SqliteLedger(state).records()}
    assert records["3"].attempts == 2 and records["5"].attempts == 1


def test_items_done_by_other_processors_are_not_taken_as_done_by_these(tmp_path: Path) -> None:
    from gristmill import ConfigError

    state = tmp_path / "state"
    squares(6, tmp_path / "out").run(executor="inline", state=state, progress=False)
    changed = squares(6, tmp_path / "out", sleep=0.001)
    with pytest.raises(
        ConfigError, match="the 6 items finished at this state were done by Square with another"
    ):
        changed.run(executor="inline", state=state, progress=False)
    other = Pipeline(Range(count=6), [AddLock()], ListSink(), name="squares")
    with pytest.raises(ConfigError, match="done by Square, not AddLock: add --reprocess"):
        other.run(executor="inline", state=state, progress=False)
    redone = changed.run(executor="inline", state=state, progress=False, reprocess=True)
    assert redone.done == 6
    assert changed.run(executor="inline", state=state, progress=False).done == 0  # now these are the ones


def test_a_setting_that_is_no_setting_is_refused_before_the_run(tmp_path: Path) -> None:
    from gristmill import ConfigError, Processor

    class Holds(Processor):
        function: object = None

        def process(self, sample: BaseSample) -> BaseSample:
            return sample

    for step in (Holds(function=len), Compose(Square(), Holds(function=threading.Lock()))):
        with pytest.raises(ConfigError, match=r"Holds.function holds a \w+, which cannot be a setting"):
            Pipeline(Range(count=3), [step], ListSink()).run(executor="inline", ledger=MemoryLedger())


def test_reprocess_redoes_everything_without_duplicating(make_executor, tmp_path: Path) -> None:
    state = tmp_path / "state"
    squares(15, tmp_path / "out").run(executor=make_executor(), state=state, progress=False)
    again = squares(15, tmp_path / "out").run(
        executor=make_executor(), state=state, progress=False, reprocess=True
    )
    assert again.done == 15
    assert len(lines(tmp_path / "out" / "all.jsonl")) == 15


def test_a_reprocess_cut_short_is_carried_on_by_a_plain_run(make_executor, tmp_path: Path) -> None:
    state = tmp_path / "state"
    squares(15, tmp_path / "out").run(executor=make_executor(), state=state, progress=False)
    cut = squares(15, tmp_path / "out").run(
        executor=make_executor(), state=state, progress=False, reprocess=True, max_items=5
    )
    assert (cut.done, cut.counts.pending) == (5, 10)  # the rest are to redo, not done
    again = squares(15, tmp_path / "out").run(executor=make_executor(), state=state, progress=False)
    assert (again.done, again.counts.done) == (10, 15)
    assert len(lines(tmp_path / "out" / "all.jsonl")) == 15


def test_max_items_limits_one_run(make_executor, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = squares(25, tmp_path / "out").run(
        executor=make_executor(), state=state, progress=False, max_items=10
    )
    assert first.done == 10 and first.counts.pending == 15 and first.exit_code == 0
    rest = squares(25, tmp_path / "out").run(executor=make_executor(), state=state, progress=False)
    assert rest.done == 15 and rest.counts.done == 25


def test_transient_errors_are_retried(make_executor, tmp_path: Path) -> None:
    flaky = tmp_path / "flaky"
    flaky.mkdir()
    pipeline = squares(6, tmp_path / "out", flaky_folder=str(flaky))
    result = pipeline.run(executor=make_executor(), state=tmp_path / "state", progress=False, backoff=0.01)
    assert (result.done, result.failed) == (6, 0)
    assert {r.attempts for r in SqliteLedger(tmp_path / "state").records()} == {2}


def test_transient_errors_give_up_after_the_retries(make_executor, tmp_path: Path) -> None:
    flaky = tmp_path / "flaky"
    flaky.mkdir()
    pipeline = squares(3, tmp_path / "out", flaky_folder=str(flaky))
    result = pipeline.run(executor=make_executor(), state=tmp_path / "state", progress=False, retries=0)
    assert result.failed == 3
    (record, *_) = SqliteLedger(tmp_path / "state").records()
    assert record.error_type == "TransientError"


def test_fail_fast_stops_at_the_first_failure(tmp_path: Path) -> None:
    pipeline = squares(500, tmp_path / "out", fail=("0",))
    result = pipeline.run(executor="inline", state=tmp_path / "state", progress=False, fail_fast=True)
    assert result.failed == 1 and result.exit_code == 1
    assert result.counts.pending > 0


def test_a_worker_that_kills_itself_fails_only_its_item(make_pool, tmp_path: Path) -> None:
    pipeline = squares(40, tmp_path / "out", die=("11",))
    executor = make_pool()
    result = pipeline.run(executor=executor, state=tmp_path / "state", progress=False, retries=1)
    assert (result.done, result.failed, result.exit_code) == (39, 1, 1)
    (record,) = SqliteLedger(tmp_path / "state").records(status=Status.FAILED)
    assert record.id == "11"
    assert record.error_type == "WorkerDied"
    assert "died" in (record.message or "")
    if isinstance(executor, PoolExecutor):
        assert "SIGKILL" in (record.message or "")
    assert record.attempts == 2  # the first death was retried once


def test_a_hung_item_times_out_and_the_rest_finish(make_pool, tmp_path: Path) -> None:
    pipeline = squares(20, tmp_path / "out", hang=("5",))
    executor = make_pool().model_copy(update={"timeout": 1.0})
    result = pipeline.run(executor=executor, state=tmp_path / "state", progress=False)
    assert (result.done, result.failed) == (19, 1)
    (record,) = SqliteLedger(tmp_path / "state").records(status=Status.FAILED)
    assert record.id == "5" and record.error_type == "ItemTimeout"


@pytest.mark.parametrize("kind", [PoolExecutor, ray_executor])
def test_workers_are_recycled_after_n_items(kind: Callable[..., Executor], tmp_path: Path) -> None:
    executor = kind(workers=2, max_items_per_worker=5, batch_size=3)
    result = squares(40, tmp_path / "out").run(executor=executor, state=tmp_path / "state", progress=False)
    assert result.done == 40
    per_worker = Counter(r.worker for r in SqliteLedger(tmp_path / "state").records())
    assert max(per_worker.values()) <= 5  # its batches never take a worker past its limit
    assert len(per_worker) >= 8


def test_memory_ledger_and_list_sink_for_notebooks(make_executor) -> None:
    sink = ListSink()
    ledger = MemoryLedger()
    result = Pipeline(Range(count=10), [Square()], sink).run(
        executor=make_executor(), ledger=ledger, progress=False
    )
    assert result.done == 10
    assert sorted(s.value for s in sink.samples) == [i * i for i in range(10)]  # type: ignore[attr-defined]
    assert ledger.counts().done == 10


def test_samples_keep_their_processing_history(tmp_path: Path) -> None:
    squares(3, tmp_path / "out").run(executor="inline", state=tmp_path / "state", progress=False)
    (record, *_) = lines(tmp_path / "out" / "all.jsonl")
    assert record["processing_history"] == [["Square", Square().config_hash()]]


def test_invalid_options_are_config_errors(tmp_path: Path) -> None:
    from gristmill import ConfigError

    with pytest.raises(ConfigError, match="workers"):
        squares(3, tmp_path).run(workers=0, state=tmp_path / "s")
    with pytest.raises(ConfigError, match="executor"):
        squares(3, tmp_path).run(executor="threads", state=tmp_path / "s")  # type: ignore[arg-type]


def test_samples_that_cannot_travel_fail_their_items_clearly(make_pool, tmp_path: Path) -> None:
    ledger = MemoryLedger()
    result = Pipeline(Range(count=5), [AddLock()], ListSink()).run(
        executor=make_pool(), ledger=ledger, progress=False
    )
    assert (result.done, result.failed) == (0, 5)
    record = next(ledger.records())
    assert record.error_type == "ProcessingError"
    assert "could not be sent to the coordinator" in (record.message or "")


def test_vectorised_processors_get_batches_and_a_bad_item_fails_alone(make_executor) -> None:
    sink = ListSink()
    ledger = MemoryLedger()
    result = Pipeline(Range(count=20), [BatchSquare()], sink).run(
        executor=make_executor(), ledger=ledger, progress=False
    )
    assert (result.done, result.failed) == (19, 1)
    sizes = {s.id: s.batch for s in sink.samples}  # type: ignore[attr-defined]
    assert max(sizes.values()) == 4  # handed over four at a time
    assert sizes["12"] == 1  # 13's batch was redone item by item
    (failed,) = ledger.records(status=Status.FAILED)
    assert failed.id == "13"
    assert failed.message == "13 is unlucky"


class Miscounts(Processor):
    """Vectorised only, and wrong: one result short (and yields them, which is allowed)."""

    batch_size: ClassVar[int | None] = 4

    def process_batch(self, samples: Sequence[BaseSample]) -> Iterator[BaseSample]:
        yield from samples[1:]


class FlakyBatches(Processor):
    """Vectorised; each batch is refused once, as a rate-limited API would."""

    batch_size: ClassVar[int | None] = 5
    marks: str

    def process_batch(self, samples: Sequence[BaseSample]) -> list[BaseSample]:
        mark = Path(self.marks) / samples[0].id
        if not mark.exists():
            mark.touch()
            raise TransientError("throttled", retry_after=0.01)
        return list(samples)


def test_a_wrong_batch_result_is_the_recorded_reason() -> None:
    ledger = MemoryLedger()
    result = Pipeline(Range(count=6), [Miscounts()], ListSink()).run(
        executor="inline", ledger=ledger, progress=False
    )
    assert result.failed == 6
    assert {r.message for r in ledger.records()} == {
        "Miscounts.process_batch returned 0 results for 1 samples; "
        "it must return one result (a sample, None or several) per sample"
    }


def test_retries_of_a_batch_count_as_attempts(tmp_path: Path) -> None:
    ledger = MemoryLedger()
    result = Pipeline(Range(count=10), [FlakyBatches(marks=str(tmp_path))], ListSink()).run(
        executor="inline", ledger=ledger, progress=False
    )
    assert result.done == 10
    assert {r.attempts for r in ledger.records()} == {2}


class Dicts(Range):
    def open(self, item: Item) -> Any:
        return {"id": item.id}


def test_a_source_that_opens_no_sample_fails_its_items_clearly() -> None:
    ledger = MemoryLedger()
    result = Pipeline(Dicts(count=2), [], ListSink()).run(executor="inline", ledger=ledger, progress=False)
    assert result.failed == 2
    assert (
        next(ledger.records()).message == "Dicts.open returned dict; it must return a sample (a BaseSample)"
    )


def test_a_failing_setup_stops_the_run_before_any_item(make_executor, tmp_path: Path) -> None:
    from gristmill import ConfigError

    ledger = MemoryLedger()
    with pytest.raises(ConfigError, match=r"NeedsModel.setup\(\) failed .*model weights not found"):
        Pipeline(Range(count=5), [NeedsModel()]).run(executor=make_executor(), ledger=ledger, progress=False)
    assert ledger.counts().done == ledger.counts().failed == 0  # nothing was processed


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_run_stopped_while_listing_is_completed_by_the_next(kind: str, tmp_path: Path) -> None:
    from gristmill.ledger.base import Status as S

    ledger = SqliteLedger(tmp_path) if kind == "sqlite" else MemoryLedger()
    from gristmill import Item

    first = ledger.extend([Item(str(n)) for n in range(10)])  # listed, never sealed
    ledger.record([(t[0], int(S.DONE), 1, None, None, None, None, 0.0, 0.0, "w") for t in first[:4]])
    assert ledger.manifest_info() is None
    sink = ListSink()
    result = Pipeline(Range(count=30), [Square()], sink).run(executor="inline", ledger=ledger, progress=False)
    assert result.done == 26  # the four done before are not redone
    assert ledger.counts() == (0, 30, 0, 0)
    assert ledger.manifest_info() is not None
    assert sorted(sink.by_item, key=int) == [str(n) for n in range(4, 30)]


def test_a_few_long_items_are_shared_out_evenly() -> None:
    """Nothing is known of the items at first: they go one at a time, not four to a message
    to whichever worker asks first (12 items of 0.15 s were split 8 and 4)."""
    from helpers import Pause

    ledger = MemoryLedger()
    pipeline = Pipeline(Range(count=12), [Pause(slow=tuple(map(str, range(12))), seconds=0.15)])
    assert pipeline.run(executor=PoolExecutor(workers=2), ledger=ledger, progress=False).done == 12
    per_worker: dict[str, int] = {}
    for record in ledger.records():
        per_worker[record.worker or "?"] = per_worker.get(record.worker or "?", 0) + 1
    assert sorted(per_worker.values()) in ([6, 6], [5, 7])


def test_the_python_api_checks_state_and_database_urls_as_the_command_line_does(tmp_path: Path) -> None:
    from gristmill import ConfigError
    from gristmill.ledger.postgres import PostgresLedger
    from gristmill.pipeline import RunOptions
    from gristmill.sinks import JsonlFiles
    from gristmill.sinks.search_client import SearchClient

    options = RunOptions(state="postgresql+psycopg://someone@127.0.0.1/test")  # type: ignore[arg-type]
    assert (options.state, options.database) == (None, "postgresql://someone@127.0.0.1/test")
    for wrong in ("host=db password=S3cret", "s3://bucket/state"):
        with pytest.raises(ConfigError, match="takes a folder or a postgresql:// URL") as refused:
            RunOptions(state=wrong)  # type: ignore[arg-type]
        assert "S3cret" not in str(refused.value)
    for build in (
        lambda: PostgresLedger("postgresql://someone:Pass/Word@127.0.0.1/test", "r"),
        lambda: SearchClient("http://admin:Pass/Word@127.0.0.1:9200"),
    ):
        with pytest.raises(ConfigError, match="percent-encode") as refused:
            build()
        assert "Word" not in str(refused.value)
    blocker = tmp_path / "a-file"
    blocker.touch()
    sink = JsonlFiles(folder=tmp_path / "out", keep_local=blocker / "copies")
    with pytest.raises(ConfigError, match="--keep-local folder"):
        sink.check()


class Stopwords(Processor):
    words: frozenset[str] = frozenset({"the", "a", "of", "and", "to", "in", "mill"})

    def process(self, sample: BaseSample) -> BaseSample:
        return sample


def test_a_configuration_hash_is_the_same_in_every_process() -> None:
    import subprocess
    import sys

    code = "from test_pipeline import Stopwords; print(Stopwords().config_hash())"
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in range(4)  # a set's order follows the seed
    }
    assert len(hashes) == 1, hashes


def test_how_a_step_works_is_no_setting() -> None:
    from gristmill.documents import Partition
    from gristmill.enrich import Embed
    from gristmill.enrich.openai import OpenAIEmbedder
    from gristmill.ratelimit import RateLimit

    assert Partition().config_hash() == Partition(skip_unsupported=True).config_hash()
    plain = Embed(client=OpenAIEmbedder(api_key="k"))
    limited = Embed(client=OpenAIEmbedder(api_key="k", rate_limit=RateLimit("1/s"), timeout=5, retries=1))
    assert plain.config_hash() == limited.config_hash()
    assert plain.config_hash() != Embed(client=OpenAIEmbedder(api_key="k", model="other")).config_hash()


def test_a_reprocess_that_cannot_start_leaves_the_configuration_as_it_was(tmp_path: Path) -> None:
    from gristmill import ConfigError
    from gristmill.sources import Files

    (tmp_path / "letters").mkdir()
    (tmp_path / "letters" / "a.txt").write_text("dear miller")
    state = tmp_path / "state"
    Pipeline(Files(url=str(tmp_path / "letters")), [Stopwords()], ListSink(), name="p").run(
        executor="inline", state=state, progress=False
    )
    other = Stopwords(words=frozenset({"miller"}))
    changed = Pipeline(Files(url=str(tmp_path / "letterz")), [other], ListSink(), name="p")
    with pytest.raises(ConfigError, match="letterz"):
        changed.run(executor="inline", state=state, progress=False, reprocess=True, refresh=True)
    again = Pipeline(Files(url=str(tmp_path / "letters")), [other], ListSink(), name="p")
    with pytest.raises(ConfigError, match="with another configuration"):
        again.run(executor="inline", state=state, progress=False)
