"""Big tables cut into slices (`Tables`): every record in exactly one slice, bad slices alone."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gristmill import ConfigError, Pipeline, ProcessingError, SinkError
from gristmill.cli.common import load
from gristmill.executors import PoolExecutor
from gristmill.ledger import Status
from gristmill.sinks import JsonlFiles
from gristmill.sources import Rows, Tables
from helpers import SumAmounts

NOTES = ["plain", 'says "hi"', "two\nlines", "a, b", "windows\r\nbreak", "", "naïve café"]


def table(count: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {"id": str(i), "amount": f"{rng.random() * 100:.2f}", "note": rng.choice(NOTES)} for i in range(count)
    ]


def write_csv(
    path: Path, rows: list[dict[str, str]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def read_all(source: Tables) -> tuple[list[str], list[dict[str, Any]]]:
    ids, rows = [], []
    for item in source.list():
        sample = source.open(item)
        assert isinstance(sample, Rows)
        if not item.id.split("@")[0].endswith(".parquet"):  # Parquet: rows, not bytes
            assert item.size == sample.end - sample.start
        ids.append(item.id)
        rows.extend(sample.rows)
    return ids, rows


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("t.csv", lambda path, rows: write_csv(path, rows, encoding="utf-8-sig")),  # with a byte-order mark
        ("t.tsv", lambda path, rows: write_csv(path, rows, delimiter="\t")),
        ("t.jsonl", lambda path, rows: path.write_text("".join(json.dumps(r) + "\n" for r in rows))),
    ],
)
def test_every_record_is_in_exactly_one_slice(
    tmp_path: Path, name: str, write: Callable[[Path, list[dict[str, str]]], None]
) -> None:
    rows = table(400)
    write(tmp_path / name, rows)
    source = Tables(url=str(tmp_path), slice_bytes=500)
    ids, got = read_all(source)
    assert got == rows  # quoted line breaks, quotes, commas, CRLF and accents intact, in order
    assert len(ids) > 10
    assert ids == [item.id for item in source.list()]  # the same cuts every time
    assert ids[0].startswith(f"{name}@0-")
    assert source.open(source_item(source, 3)).columns == ["id", "amount", "note"]


def source_item(source: Tables, index: int) -> Any:
    return list(source.list())[index]


def test_parquet_row_groups_are_the_slices(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": i, "amount": i / 4, "note": note} for i, note in enumerate(NOTES * 100)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet", row_group_size=64)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 but nothing else")
    source = Tables(url=str(tmp_path), pattern="t.parquet")
    ids, got = read_all(source)
    assert got == rows  # typed values, in order
    assert ids[:2] == ["t.parquet@0-64", "t.parquet@64-128"]
    assert len(ids) == -(-len(rows) // 64)
    [broken] = Tables(url=str(tmp_path), pattern="broken.parquet").list()
    with pytest.raises(ProcessingError, match="not a readable Parquet file"):
        source.open(broken)


def test_cutting_at_line_ends_only_when_no_field_spans_lines(tmp_path: Path) -> None:
    flat = [row | {"note": row["note"].replace("\r\n", " ").replace("\n", " ")} for row in table(300)]
    write_csv(tmp_path / "flat.csv", flat)
    quick = Tables(url=str(tmp_path), slice_bytes=400, newlines_in_quotes=False)
    careful = Tables(url=str(tmp_path), slice_bytes=400)
    assert read_all(quick) == read_all(careful)
    assert read_all(quick)[1] == flat
    write_csv(tmp_path / "flat.csv", table(300))  # now with line breaks inside quotes
    with pytest.raises(ProcessingError, match=r"ends inside a quoted field .* keep newlines_in_quotes=True"):
        read_all(quick)  # a slice cut inside a quoted field fails, never ends on a value cut short
    assert read_all(careful)[1] == table(300)


def test_bad_files_and_slices_fail_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "good.csv", table(200))
    lines = [json.dumps(row) for row in table(200)]
    lines[150] = '{"id": "150", "amount": '  # cut short
    (data / "bad.jsonl").write_text("\n".join(lines) + "\n")
    (data / "notes.txt").write_text("not a table")
    write_csv(data / "latin.csv", table(50), encoding="latin-1")  # read as UTF-8: fails
    (data / "empty.csv").write_bytes(b"")
    source = Tables(url=str(data), slice_bytes=2000)
    pipeline = Pipeline(source, [SumAmounts()], JsonlFiles(folder=tmp_path / "out"), name="tables")
    result = pipeline.run(executor=PoolExecutor(workers=2), state=tmp_path / "state", progress=False)
    ledger = pipeline.open_ledger(tmp_path / "state")
    failures = {r.id: r.message or "" for r in ledger.records(status=Status.FAILED)}
    assert "not a CSV, TSV, JSON Lines or Parquet file" in failures.pop("notes.txt@0-11")
    [(jsonl, message)] = [(k, v) for k, v in failures.items() if k.startswith("bad.jsonl")]
    assert "of this slice is not JSON" in message
    latin = {k: v for k, v in failures.items() if k.startswith("latin.csv")}
    assert latin
    assert all("is not utf-8" in message for message in latin.values())
    assert set(failures) == {jsonl, *latin}  # the other slices, and the empty file, are done
    assert result.failed == len(failures) + 1
    totals = [orjson.loads(p.read_bytes()) for p in (tmp_path / "out").rglob("*.jsonl")]
    assert sum(t["rows"] for t in totals) == 200 + 200 - len(_rows_in(source, jsonl))


def _rows_in(source: Tables, item_id: str) -> list[str]:
    file, _, span = item_id.rpartition("@")
    start, end = map(int, span.split("-"))
    data = (Path(source.url) / file).read_bytes()[start:end]
    return [line for line in data.decode().splitlines() if line.strip()]


def test_a_run_over_slices_counts_every_row_once_and_resumes(tmp_path: Path) -> None:
    rows = table(3000)
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "orders.csv", rows)
    source = Tables(url=str(tmp_path / "data"), slice_bytes=4000)
    pipeline = Pipeline(source, [SumAmounts()], JsonlFiles(folder=tmp_path / "out"))
    options: dict[str, Any] = {"executor": PoolExecutor(workers=2), "state": tmp_path / "state"}
    options["progress"] = False
    first = pipeline.run(**options)
    assert first.done > 10
    assert first.failed == 0

    def totals() -> tuple[int, float]:
        found = [orjson.loads(p.read_bytes()) for p in (tmp_path / "out").rglob("*.jsonl")]
        return sum(t["rows"] for t in found), round(sum(t["amount"] for t in found), 2)

    assert totals() == (3000, round(sum(float(r["amount"]) for r in rows), 2))
    assert pipeline.run(**options).done == 0  # nothing redone
    more = table(3500, seed=8)
    write_csv(tmp_path / "data" / "orders.csv", more)  # changed: cut again, every slice redone
    again = pipeline.run(**options, prune=True)  # and the outputs of the old cuts deleted
    assert again.failed == 0
    assert again.changes.removed > 0
    assert totals() == (3500, round(sum(float(r["amount"]) for r in more), 2))  # the new cuts' alone


def test_gristmill_run_over_tables_with_another_source_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "orders.csv", table(2000))
    (tmp_path / "pipeline.py").write_text(
        "from gristmill import Pipeline\n"
        "from gristmill.sinks import JsonlFiles\n"
        "from gristmill.sources import Tables\n"
        "pipeline = Pipeline(Tables(url='elsewhere', slice_bytes=5000), [], JsonlFiles(folder='out'))\n"
    )
    command = [sys.executable, "-m", "gristmill", "run", "pipeline.py", "--source", "data", "--no-progress"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    outputs = sorted((tmp_path / "out").glob("orders.csv@*.jsonl"))
    assert len(outputs) > 5
    slices = [orjson.loads(line) for path in outputs for line in path.read_bytes().splitlines()]
    assert sum(len(s["rows"]) for s in slices) == 2000


def test_file_options_of_the_command_line_that_a_tables_source_has_not(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.py"
    spec.write_text(
        "from gristmill import Pipeline\nfrom gristmill.sources import Tables\n"
        "pipeline = Pipeline(Tables(url='data', pattern='*.csv'), [])\n"
    )
    loaded = load(str(spec), "s3://bucket/tables", None, anonymous=True)
    assert isinstance(loaded.source, Tables)
    settings = (loaded.source.url, loaded.source.pattern, loaded.source.anonymous)
    assert settings == ("s3://bucket/tables", "*.csv", True)
    with pytest.raises(ConfigError, match="--download-dir apply to files"):
        load(str(spec), None, None, download_dir=tmp_path)


def test_slices_to_parquet_files_merged_into_one(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from gristmill.sinks import ParquetFiles

    (tmp_path / "data").mkdir()
    rows = table(1000)
    write_csv(tmp_path / "data" / "orders.csv", rows)
    sink = ParquetFiles(folder=tmp_path / "out", merged=tmp_path / "totals.parquet")
    source = Tables(url=str(tmp_path / "data"), slice_bytes=3000)
    result = Pipeline(source, [SumAmounts()], sink).run(
        executor=PoolExecutor(workers=2), state=tmp_path / "state", progress=False
    )
    assert result.failed == 0
    per_slice = sorted((tmp_path / "out").glob("*.parquet"))
    assert len(per_slice) == result.done > 5
    merged = pq.read_table(tmp_path / "totals.parquet").to_pylist()
    assert [r["id"] for r in merged] == [item.id for item in source.list()]  # manifest order
    assert sum(r["rows"] for r in merged) == 1000
    assert round(sum(r["amount"] for r in merged), 2) == round(sum(float(r["amount"]) for r in rows), 2)
    assert set(merged[0]) == {"id", "rows", "amount"}


def test_samples_that_make_no_parquet_table_fail_their_item(tmp_path: Path) -> None:
    from gristmill.sinks import ParquetFiles

    sink = ParquetFiles(folder=tmp_path / "out", columns=("missing",))
    with pytest.raises(SinkError, match="do not make a Parquet table"):
        sink.encode_samples([Rows(id="x", file="f", start=0, end=1)])


def test_a_header_that_repeats_a_name_fails_its_slices(tmp_path: Path) -> None:
    (tmp_path / "twice.csv").write_text(
        "id,name,name\n1,a,b\n" + "".join(f"{i},c,d\n" for i in range(2, 200))
    )
    source = Tables(url=str(tmp_path), slice_bytes=500)
    items = list(source.list())
    assert len(items) > 2
    for item in items:  # every slice, not only the one that holds the header
        with pytest.raises(ProcessingError, match=r"the header names \['name'\] more than once"):
            source.open(item)


def test_a_field_may_be_as_large_as_its_file(tmp_path: Path) -> None:
    big = "x" * 5_000_000
    (tmp_path / "huge.csv").write_text(f"id,big\n1,{big}\n2,y\n")
    source = Tables(url=str(tmp_path))
    assert read_all(source)[1] == [{"id": "1", "big": big}, {"id": "2", "big": "y"}]


def csv_truth(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        columns = next(reader)
        return [dict(zip(columns, values, strict=True)) for values in reader if values]


def test_a_quote_inside_an_unquoted_field_is_text_as_csv_reads_it(tmp_path: Path) -> None:
    with (tmp_path / "menu.csv").open("w", newline="") as f:
        f.write('id,item,note\n0,12" pizza,plain\n1,"7"" ruler",x\n2,ab"c"d,"e ""f"""\n3,3 in,end\n')
        csv.writer(f).writerows([i, f"item{i}", "two\nlines" if i % 10 == 0 else "x"] for i in range(4, 400))
    expected = csv_truth(tmp_path / "menu.csv")
    assert expected[0]["item"] == '12" pizza'
    for size in (1, 7, 64, 500, 1 << 20):
        assert read_all(Tables(url=str(tmp_path), slice_bytes=size))[1] == expected, size


def test_an_unclosed_quote_reads_to_the_end_of_the_file_at_every_slice_size(tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_bytes(b'a\tb\n1\t5" x\n2\t"y\n3\tz\n4\tw\n')
    expected = csv_truth(tmp_path / "t.tsv", "\t")
    assert expected[-1] == {"a": "2", "b": "y\n3\tz\n4\tw\n"}  # csv reads the quoted field to the end
    for size in (1, 2, 5, 13, 21, 1000):
        assert read_all(Tables(url=str(tmp_path), slice_bytes=size))[1] == expected, size


def test_a_slice_that_ends_inside_a_quoted_field_fails(tmp_path: Path) -> None:
    from gristmill.manifest import Item

    (tmp_path / "t.csv").write_bytes(b'id,note\n1,"two\nlines"\n2,x\n')
    source = Tables(url=str(tmp_path))
    cut = len(b'id,note\n1,"two\n')  # a line end inside the quoted field, as if the file changed
    with pytest.raises(ProcessingError, match=f"ends inside a quoted field \\(at byte {cut} of the file\\)"):
        source.open(Item(f"t.csv@0-{cut}", cut))
    assert len(source.open(Item("t.csv@0-26", 26)).rows) == 2  # the whole file


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_json_lines_are_split_at_line_feeds_only(tmp_path: Path, separator: str) -> None:
    rows = [{"id": i, "text": f"one{separator}two" if i % 3 == 0 else "plain"} for i in range(50)]
    (tmp_path / "t.jsonl").write_bytes(
        b"".join(orjson.dumps(row) + b"\r\n" * (i % 2) + b"\n" for i, row in enumerate(rows))
    )
    assert read_all(Tables(url=str(tmp_path), slice_bytes=300))[1] == rows


def test_a_ragged_record_is_reported_at_its_byte_in_the_file(tmp_path: Path) -> None:
    head = '\ufeffid,note\n1,"café\nau lait"\n2,x\n'.encode()
    (tmp_path / "t.csv").write_bytes(head + b"3,y,extra\n4,z\n")
    source = Tables(url=str(tmp_path))
    with pytest.raises(ProcessingError, match=f"the record at byte {len(head)} of the file \\(record 3 "):
        read_all(source)
    (tmp_path / "t.csv").write_bytes(head + b"3,y\n" * 50 + b"4\n")
    with pytest.raises(ProcessingError, match=f"at byte {len(head) + 4 * 50} of the file"):
        read_all(Tables(url=str(tmp_path), slice_bytes=100))  # in a later slice
