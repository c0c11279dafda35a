"""Files over fsspec (local and memory://) and the file sinks."""

from __future__ import annotations

import csv
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fsspec
import orjson
import pytest

from gristmill import BaseSample, ConfigError, Item, Pipeline, Processor, SinkError, SourceError
from gristmill.executors import RayExecutor
from gristmill.ledger import MemoryLedger
from gristmill.sinks import CsvFiles, JsonFiles, JsonlFiles
from gristmill.sources import Files, Range
from helpers import FlushWatched, FlushWatchedLedger, Numbered, Square


def test_local_files_ids_fingerprints_and_patterns(corpus: Path) -> None:
    listed = list(Files(url=str(corpus)).list())
    ids = [item.id for item in listed]
    assert ids == sorted(ids)
    assert "part0/doc00.txt" in ids
    assert "naïve résumé.txt" in ids
    assert all(item.size and item.fingerprint for item in listed)
    only = [i.id for i in Files(url=str(corpus), pattern="part1/*").list()]
    assert only == ["part1/doc01.txt", "part1/doc04.txt", "part1/doc07.txt", "part1/doc10.txt"]
    some = [i.id for i in Files(url=str(corpus), pattern="**/*.txt", exclude=("part0/*", "part2/*")).list()]
    assert some == ["naïve résumé.txt", *only]


def test_fingerprint_changes_with_the_content(corpus: Path) -> None:
    source = Files(url=str(corpus))
    before = {i.id: i.fingerprint for i in source.list()}
    (corpus / "part0" / "doc00.txt").write_text("a longer, different text")
    after = {i.id: i.fingerprint for i in source.list()}
    assert [k for k in before if before[k] != after[k]] == ["part0/doc00.txt"]


def test_memory_filesystem() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe({"/corpus/a.txt": b"alpha", "/corpus/sub/b.txt": b"beta"})
    source = Files(url="memory://corpus")
    source.check()
    listed = list(source.list())
    assert [i.id for i in listed] == ["a.txt", "sub/b.txt"]
    document = source.open(listed[1])
    assert document.content == b"beta"
    assert document.source_uri == "memory:///corpus/sub/b.txt"


def test_a_missing_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Files(url=str(tmp_path / "nowhere")).check()


def test_a_file_gone_since_listing_fails_clearly(corpus: Path) -> None:
    source = Files(url=str(corpus))
    item = next(iter(source.list()))
    (corpus / item.id).unlink()
    with pytest.raises(SourceError, match="gone now") as caught:
        source.open(item)
    assert caught.value.item_id == item.id


def test_links_are_followed_once_and_special_files_fail_unread(tmp_path: Path) -> None:
    source, other = tmp_path / "source", tmp_path / "other"
    (source / "real").mkdir(parents=True)
    other.mkdir()
    (source / "a.txt").write_text("a")
    (source / "real" / "c.txt").write_text("c")
    (other / "b.txt").write_text("b")
    (source / "a-link.txt").symlink_to("a.txt")
    (source / "other-link").symlink_to(other)  # a folder outside: its files, under the link
    (source / "real-link").symlink_to(source / "real")  # a folder listed already: not twice
    (source / "real" / "loop").symlink_to(source)  # would be walked forever
    (source / "up").symlink_to(tmp_path)  # holds the source: it would be listed again
    (source / "dangling.txt").symlink_to(tmp_path / "nowhere")
    os.mkfifo(source / "pipe.txt")  # reading it would wait forever
    files = Files(url=str(source))
    items = {item.id: item for item in files.list()}
    assert sorted(items) == [
        "a-link.txt",
        "a.txt",
        "dangling.txt",
        "other-link/b.txt",
        "pipe.txt",
        "real/c.txt",
    ]
    assert items["a-link.txt"].size == 1  # the file's, not the link's
    assert files.open(items["other-link/b.txt"]).content == b"b"
    with pytest.raises(SourceError, match=r"a link to .*nowhere.*, which does not exist"):
        files.open(items["dangling.txt"])
    with pytest.raises(SourceError, match="a named pipe, not read"):
        files.open(items["pipe.txt"])


def test_a_file_name_not_in_utf8_is_left_out_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.txt").write_text("ok")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as latin1:  # as old archives are
        latin1.write(b"ok")
    assert [item.id for item in Files(url=str(tmp_path)).list()] == ["good.txt"]
    assert "left out 'caf\\xe9.txt': its name is not UTF-8; rename it" in caplog.text


class FlakyApi(Range):
    """A source whose listing fails after ``fails_after`` items, as an API's page may."""

    fails_after: int | None = None

    def list(self) -> Iterator[Item]:
        for number, item in enumerate(super().list()):
            if number == self.fails_after:
                raise ConnectionError("page 2 answered 503")
            yield item


def test_a_listing_that_fails_says_so_and_a_rerun_resumes(tmp_path: Path) -> None:
    sink = JsonlFiles(folder=tmp_path / "out")
    flaky = Pipeline(FlakyApi(count=50, fails_after=30), [], sink, name="api")
    with pytest.raises(
        SourceError,
        match=r"listing Range\(50\) failed: ConnectionError: page 2 answered 503; what was done is kept",
    ):
        flaky.run(state=tmp_path / "state", executor="inline", progress=False)
    result = Pipeline(FlakyApi(count=50), [], sink, name="api").run(
        state=tmp_path / "state", executor="inline", progress=False
    )
    assert result.exit_code == 0 and result.counts.done == 50


class Row(BaseSample):
    name: str
    tags: list[str] = []


def rows(n: int) -> list[Row]:
    return [Row(id=f"r{i}", name=f"name, {i}", tags=["x"]) for i in range(n)]


@pytest.mark.parametrize(
    ("sink_type", "suffix"), [(JsonFiles, ".json"), (JsonlFiles, ".jsonl"), (CsvFiles, ".csv")]
)
def test_file_sinks_write_atomically_and_replace_on_redo(
    tmp_path: Path, sink_type: type, suffix: str
) -> None:
    sink = sink_type(folder=tmp_path / "out", merged=tmp_path / f"all{suffix}")
    sink.check()
    item = Item("deep/er/doc.txt")
    assert sink.write(item, rows(3)) == [f"deep/er/doc.txt{suffix}"]
    first = (tmp_path / "out" / "deep" / "er" / f"doc.txt{suffix}").read_bytes()
    sink.write(item, rows(2))  # redone: replaced, not appended
    second = (tmp_path / "out" / "deep" / "er" / f"doc.txt{suffix}").read_bytes()
    assert first != second
    assert not list((tmp_path / "out").rglob("*.tmp"))


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_are_made_with_the_umask_s_mode(tmp_path: Path, umask: int, mode: int) -> None:
    """Written through a temporary file (private, as mkstemp makes it), an output still gets
    the mode any other new file of the user's would: others may read the results."""
    script = (
        f"import os; os.umask({umask}); from gristmill.sinks import JsonFiles; from gristmill import Item; "
        f"from gristmill.samples import BaseSample; "
        f"JsonFiles(folder={str(tmp_path / 'out')!r}).write(Item('a.txt'), [BaseSample(id='a')])"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert (tmp_path / "out" / "a.txt.json").stat().st_mode & 0o777 == mode


def test_csv_merge_has_one_header(tmp_path: Path) -> None:
    sink = CsvFiles(folder=tmp_path / "out", merged=tmp_path / "all.csv", columns=("id", "name", "tags"))
    ledger = MemoryLedger()
    ledger.plan([Item("a"), Item("b")], source="test")
    for seq, item_id in ((1, "a"), (2, "b")):
        refs = sink.write(Item(item_id), rows(2))
        ledger.record([(seq, 1, 1, None, None, None, orjson.dumps(refs).decode(), 0.0, 0.0, "w")])
    sink.finish(ledger)
    lines = (tmp_path / "all.csv").read_text().splitlines()
    assert lines[0] == "id,name,tags"
    assert lines[1] == 'r0,"name, 0","[""x""]"'
    assert len(lines) == 5


class DropFirst(Processor):
    """Item 0 has no rows; the others one each."""

    def process(self, sample: BaseSample) -> Numbered | None:
        return None if sample.id == "0" else Numbered(id=sample.id, value=int(sample.id))


def test_merged_files_are_whole_when_the_first_item_has_no_rows(tmp_path: Path) -> None:
    csv_sink = CsvFiles(folder=tmp_path / "csv", merged=tmp_path / "all.csv")
    json_sink = JsonFiles(folder=tmp_path / "json", merged=tmp_path / "all.json")
    for sink in (csv_sink, json_sink):
        Pipeline(Range(count=4), [DropFirst()], sink).run(
            executor="inline", ledger=MemoryLedger(), progress=False
        )
    assert list(csv.DictReader((tmp_path / "all.csv").read_text().splitlines())) == [
        {"id": str(n), "value": str(n)} for n in (1, 2, 3)
    ]
    merged = orjson.loads((tmp_path / "all.json").read_bytes())  # one JSON array, not JSON Lines
    assert merged == [
        {"id": str(n), "processing_history": merged[0]["processing_history"], "value": n} for n in (1, 2, 3)
    ]


class Sized(BaseSample):
    kind: str
    size: int


class Coloured(BaseSample):
    kind: str
    colour: str
    weight: float


class Mixed(Processor):
    """Samples of different fields: item 0 Sized, item 1 Coloured, item 2 one of each."""

    def process(self, sample: BaseSample) -> list[BaseSample]:
        sized = Sized(id=f"{sample.id}#1", kind="a", size=2)
        coloured = Coloured(id=f"{sample.id}#2", kind="b\nc", colour="red, dark", weight=1.5)
        return [[sized], [coloured], [sized, coloured]][int(sample.id)]


def test_csv_columns_are_the_union_of_the_samples_fields_per_item_and_merged(tmp_path: Path) -> None:
    sink = CsvFiles(folder=tmp_path / "out", merged=tmp_path / "all.csv")
    Pipeline(Range(count=3), [Mixed()], sink).run(executor="inline", ledger=MemoryLedger(), progress=False)
    union = ["id", "kind", "size", "colour", "weight"]
    sized = {"kind": "a", "size": "2", "colour": "", "weight": ""}
    coloured = {"kind": "b\nc", "size": "", "colour": "red, dark", "weight": "1.5"}
    with (tmp_path / "out" / "2.csv").open(newline="") as item:  # a later sample's fields are kept
        assert list(csv.DictReader(item)) == [{"id": "2#1", **sized}, {"id": "2#2", **coloured}]
    with (tmp_path / "all.csv").open(newline="") as merged:
        table = list(csv.reader(merged))
    assert table[0] == union and all(len(row) == len(union) for row in table)
    assert [dict(zip(union, row, strict=True)) for row in table[1:]] == [
        {"id": "0#1", **sized},
        {"id": "1#2", **coloured},
        {"id": "2#1", **sized},
        {"id": "2#2", **coloured},
    ]


def test_csv_merge_reads_each_header_and_keeps_rows_that_need_no_change(tmp_path: Path) -> None:
    sink = CsvFiles(folder=tmp_path / "out")
    outputs = [b"a,b\n1,2\n", b"\n", b"a,b,c\n3,,4\n", b"c,a\n5,6\n", b'a\n"x\ny"\n']
    assert sink.merge(outputs) == b'a,b,c\n1,2,\n3,,4\n6,,5\n"x\ny",,\n'
    assert sink.merge([b"\n", b"\n"]) == b""  # no item with rows: no header either


def test_a_parquet_file_has_every_field_of_its_samples(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    from gristmill.sinks import ParquetFiles

    sink = ParquetFiles(folder=tmp_path / "out", merged=tmp_path / "all.parquet")
    Pipeline(Range(count=3), [Mixed()], sink).run(executor="inline", ledger=MemoryLedger(), progress=False)
    assert pq.read_table(tmp_path / "out" / "2.parquet").to_pylist() == [
        {"id": "2#1", "kind": "a", "size": 2, "colour": None, "weight": None},
        {"id": "2#2", "kind": "b\nc", "size": None, "colour": "red, dark", "weight": 1.5},
    ]
    assert pq.read_table(tmp_path / "all.parquet").column_names == ["id", "kind", "size", "colour", "weight"]


def test_a_merged_json_file_of_no_samples_is_an_empty_array(tmp_path: Path) -> None:
    sink = JsonFiles(folder=tmp_path / "json", merged=tmp_path / "all.json")
    assert orjson.loads(sink.merge([b"[]", b"[\n]"])) == []
    assert orjson.loads(sink.merge([b'[{"a":1},{"a":2}]', b"[]", b'[\n  {\n    "a": 3\n  }\n]'])) == [
        {"a": 1},
        {"a": 2},
        {"a": 3},
    ]


def test_a_run_removes_the_temporary_files_killed_runs_left_and_only_those(tmp_path: Path) -> None:
    def made(path: Path, age: float = 100.0) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"part")
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    stale = [
        made(tmp_path / "out" / "deep" / ".doc.txt.jsonl.ab12_z9q.gristmill.tmp"),  # killed mid-write
        made(tmp_path / "out" / "..gristmill-write-check.6r5p2_be.gristmill.tmp"),
        made(tmp_path / "copies" / ".3.jsonl.qrfcthwr.gristmill.tmp"),
        made(tmp_path / ".all.jsonl.qrfcthwr.gristmill.tmp"),  # the merged file's
    ]
    kept = [
        made(tmp_path / "out" / ".fresh.jsonl.abcdefgh.gristmill.tmp", age=-100),  # since the run began
        made(tmp_path / ".other.csv.abcdefgh.gristmill.tmp"),  # beside the merged file, but not its
        made(tmp_path / "out" / "notes.tmp"),
        made(tmp_path / "out" / ".x.tmp"),
        made(tmp_path / "out" / ".backup.20240101.tmp"),  # a user's own, named as ours once were
        made(tmp_path / "out" / "sub" / ".notes.draft_v2.tmp"),
    ]
    live = made(tmp_path / "out" / ".2.jsonl.livewrit.gristmill.tmp")
    with live.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a writer that is still going holds it
        sink = JsonlFiles(
            folder=tmp_path / "out", merged=tmp_path / "all.jsonl", keep_local=tmp_path / "copies"
        )
        result = Pipeline(Range(count=4), [Square()], sink).run(
            executor="inline", ledger=MemoryLedger(), progress=False
        )
    assert result.done == 4
    assert [path.exists() for path in stale] == [False] * len(stale)
    assert [path.exists() for path in [*kept, live]] == [True] * (len(kept) + 1)


def test_unsafe_item_ids_are_refused(tmp_path: Path) -> None:
    sink = JsonFiles(folder=tmp_path)
    with pytest.raises(SinkError, match="not a safe relative path"):
        sink.write(Item("../escape"), rows(1))


def test_an_unwritable_output_folder_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot write to the output folder"):
        JsonFiles(folder=tmp_path / "file" / "out").check()


def test_local_workers_leave_flushing_to_the_coordinator_before_it_records(
    tmp_path: Path, make_executor: Callable[[], Any]
) -> None:
    """A pool on this machine: no fsync per output file, one flush of the filesystem before
    each write of the ledger that marks items done. Ray's workers may be elsewhere: they
    flush each file themselves."""
    sink = FlushWatched(folder=tmp_path / "out")
    ledger = FlushWatchedLedger(sink)
    executor = make_executor()
    result = Pipeline(Range(count=30), [Square()], sink).run(executor=executor, ledger=ledger, progress=False)
    assert result.done == 30
    flushed_each = {path.read_text() for path in (tmp_path / "out").glob("*.flushed-each")}
    events = sink._events
    if isinstance(executor, RayExecutor):
        assert flushed_each == {"True"} and "flush" not in events
    else:
        assert flushed_each == {"False"}
        records = [i for i, event in enumerate(events) if event.startswith("record")]
        assert records and all(events[i - 1] == "flush" for i in records), events


class Typed(BaseSample):
    price: Decimal
    at: datetime
    raw: bytes
    tags: list[str]


def test_values_are_written_plainly_in_json_and_csv(tmp_path: Path) -> None:
    sample = Typed(id="a", price=Decimal("9.99"), at=datetime(2024, 5, 1, 13, 45), raw=b"hi", tags=["x"])
    JsonlFiles(folder=tmp_path / "json").write(Item("a"), [sample])
    record = orjson.loads((tmp_path / "json" / "a.jsonl").read_bytes())
    assert record["price"] == "9.99" and record["at"] == "2024-05-01T13:45:00"  # exact: a string
    CsvFiles(folder=tmp_path / "csv").write(Item("a"), [sample])
    rows = list(csv.DictReader((tmp_path / "csv" / "a.csv").read_text().splitlines()))
    assert rows == [{"id": "a", "price": "9.99", "at": "2024-05-01T13:45:00", "raw": "aGk=", "tags": '["x"]'}]


def test_a_folder_that_cannot_be_read_is_said(tmp_path: Path) -> None:
    """fsspec lists an unreadable folder as an empty one; the listing says so. Run without
    the capability that lets root read anything (this suite may run as root)."""
    setpriv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    setpriv += ["--inh-caps", "-dac_override,-dac_read_search"]
    if subprocess.run([*setpriv, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop the capabilities here")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.txt").write_text("b")
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "locked").chmod(0)
    script = (
        "import logging; logging.basicConfig(); from gristmill.sources import Files; "
        f"print([item.id for item in Files(url={str(tmp_path)!r}).list()])"
    )
    try:
        listed = subprocess.run([*setpriv, sys.executable, "-c", script], capture_output=True, text=True)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert listed.stdout.strip() == "['a.txt']", listed.stderr
    assert f"left out the files of {tmp_path / 'locked'}: Permission denied" in listed.stderr
    assert "empty" not in listed.stderr
