"""`gristmill import` and `SqlSink` against real SQLite and the real PostgreSQL server.

PostgreSQL tests use the server at GRISTMILL_TEST_PG_URL (default 127.0.0.1:5432, user
postgres, database test), each in a schema of its own that is dropped afterwards. They are
skipped, saying why, when no server answers, except under CI=true, where they must run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gristmill import BaseSample, ConfigError, DuplicateDataError, Pipeline, Processor, SourceError
from gristmill.ledger import MemoryLedger, Status
from gristmill.manifest import Item
from gristmill.sinks import SqlSink
from gristmill.sources import Range
from gristmill.sql import SqlType, connect, import_file
from gristmill.sql.database import quote
from gristmill.sql.importer import AlreadyImported, BadValue

PG_URL = os.environ.get("GRISTMILL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
GRISTMILL = [str(Path(sys.executable).parent / "gristmill")]
UTC = dt.timezone.utc

CSV = """id,name,amount,joined,seen,active
1,Ada,12.50,2024-01-02,2024-01-02T03:04:05Z,true
2,Brontë,,2024-02-03,2024-02-03 10:00:00+02:00,no
3,,7,2024-03-04,2024-03-04T00:00:00,1
"""
EXPECTED = [
    (1, "Ada", Decimal("12.50"), dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), True),
    (2, "Brontë", None, dt.date(2024, 2, 3), dt.datetime(2024, 2, 3, 8, 0, tzinfo=UTC), False),
    (3, None, Decimal(7), dt.date(2024, 3, 4), dt.datetime(2024, 3, 4, tzinfo=UTC), True),
]


def _postgres_answers() -> str | None:
    try:
        connect(PG_URL).close()
    except Exception as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def postgres() -> str:
    problem = _postgres_answers()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must answer under CI=true: {problem}")
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}: {problem}")
    return PG_URL


@pytest.fixture
def pg_schema(postgres: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    db = connect(postgres)
    db.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    db.execute(f'DROP SCHEMA "{schema}" CASCADE')
    db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(database URL, table name) on each database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}", "people"
    schema = request.getfixturevalue("pg_schema")
    return PG_URL, f"{schema}.people"


def rows(url: str, table: str, order: str = "id") -> list[tuple[object, ...]]:
    db = connect(url)
    try:
        return db.query(f"SELECT * FROM {quote(table)} ORDER BY {order}")
    finally:
        db.close()


def columns_of(url: str, table: str) -> dict[str, SqlType] | None:
    db = connect(url)
    try:
        return db.columns(table)
    finally:
        db.close()


def normalised(found: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """SQLite keeps dates, timestamps and decimals as text/numbers: read them back as Python's."""
    out = []
    for row in found:
        id_, name, amount, joined, seen, active = row
        if isinstance(joined, str):
            joined = dt.date.fromisoformat(joined)
        if isinstance(seen, str):
            seen = dt.datetime.fromisoformat(seen)
        if isinstance(seen, dt.datetime):
            seen = seen.astimezone(UTC)
        out.append((id_, name, None if amount is None else Decimal(str(amount)), joined, seen, bool(active)))
    return out


def test_import_infers_types_and_coerces_values(target: tuple[str, str], tmp_path: Path) -> None:
    url, table = target
    data = tmp_path / "people.csv"
    data.write_text(CSV, encoding="utf-8")
    report = import_file(data, url, table, key=["id"])
    assert (report.rows_read, report.inserted, report.skipped) == (3, 3, 0)
    assert normalised(rows(url, table)) == [(*row[:5], row[5]) for row in EXPECTED]


@pytest.mark.parametrize("kind", ["tsv", "jsonl", "parquet", "xlsx"])
def test_every_format_gives_the_same_rows(kind: str, tmp_path: Path) -> None:
    lines = [line.split(",") for line in CSV.strip().splitlines()]
    header, body = lines[0], lines[1:]
    path = tmp_path / f"people.{kind}"
    if kind == "tsv":
        path.write_text("\n".join("\t".join(line) for line in lines) + "\n", encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps(dict(zip(header, line, strict=True))) for line in body) + "\n")
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({h: [line[i] for line in body] for i, h in enumerate(header)}), path)
    else:
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        for line in lines:
            sheet.append(line)
        book.save(path)
    url = f"sqlite:///{tmp_path / 'formats.db'}"
    assert import_file(path, url, "people").inserted == 3
    assert normalised(rows(url, "people")) == EXPECTED


def test_duplicates_are_refused_with_examples_and_nothing_is_written(
    target: tuple[str, str], tmp_path: Path
) -> None:
    url, table = target
    first = tmp_path / "first.csv"
    first.write_text(CSV, encoding="utf-8")
    import_file(first, url, table, key=["id"])
    second = tmp_path / "second.csv"
    second.write_text(
        "id,name,amount,joined,seen,active\n"
        "4,Dora,1,2024-04-01,2024-04-01T00:00:00Z,true\n"
        "2,Brontë again,2,2024-04-02,2024-04-02T00:00:00Z,true\n"
        "4,Dora twice,3,2024-04-03,2024-04-03T00:00:00Z,false\n"
        "5,Eve,4,2024-04-04,2024-04-04T00:00:00Z,true\n",
        encoding="utf-8",
    )
    with pytest.raises(DuplicateDataError) as raised:
        import_file(second, url, table, chunk_size=2)
    error = raised.value
    assert error.duplicates == 2
    assert error.chunks == 2  # lines 2-3 and 4-5
    message = str(error)
    assert "1 repeating an earlier row of the file and 1 already in the table" in message
    assert "line 3, {'id': 2}: already in the table" in message
    assert "line 4, {'id': 4}: repeating an earlier row" in message
    assert len(rows(url, table)) == 3  # nothing of the second file

    skipped = import_file(second, url, table, on_duplicate="skip")
    assert (skipped.inserted, skipped.skipped) == (2, 2)
    assert [(r[0], r[1]) for r in rows(url, table)] == [
        (1, "Ada"),
        (2, "Brontë"),
        (3, None),
        (4, "Dora"),
        (5, "Eve"),
    ]

    updated = import_file(second, url, table, on_duplicate="update", force=True)
    assert (updated.inserted, updated.updated, updated.skipped) == (0, 3, 1)
    names = [(r[0], r[1]) for r in rows(url, table)]
    assert names == [(1, "Ada"), (2, "Brontë again"), (3, None), (4, "Dora twice"), (5, "Eve")]


def test_a_file_imported_before_is_refused_unless_forced(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text(CSV, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'once.db'}"
    import_file(data, url, "people", key=["id"])
    with pytest.raises(AlreadyImported, match=r"^\S+people.csv was already imported into people at "):
        import_file(data, url, "people", key=["id"])
    copy = tmp_path / "copy.csv"  # the same bytes under another name: the message names the first
    shutil.copy(data, copy)
    with pytest.raises(AlreadyImported) as raised:
        import_file(copy, url, "people", key=["id"])
    assert str(raised.value).startswith(
        f"{copy} has the same content as people.csv, imported into people at "
    )
    assert str(raised.value).endswith("(3 rows inserted); nothing to do (--force imports it again)")
    assert import_file(data, url, "people", force=True, on_duplicate="skip").skipped == 3
    history = rows(url, "gristmill_imports", order="imported_at")
    assert [(h[0], h[3], h[4], h[6]) for h in history] == [("people.csv", 3, 3, 0), ("people.csv", 3, 0, 3)]


def test_a_value_that_does_not_fit_names_file_line_and_column(
    target: tuple[str, str], tmp_path: Path
) -> None:
    url, table = target
    data = tmp_path / "bad.csv"
    data.write_text(CSV + "4,Dora,lots,2024-05-01,2024-05-01T00:00:00Z,true\n5,Eve,1,2024-05-02,never,true\n")
    schema = {"amount": "decimal", "seen": "timestamp"}  # else "lots" in the first chunk makes it text
    with pytest.raises(BadValue) as raised:
        import_file(data, url, table, schema=schema)
    assert str(raised.value).startswith(
        f"{data} line 5: column 'amount': cannot read 'lots' as a decimal number"
    )
    assert columns_of(url, table) is None  # not even the table was made

    aside = tmp_path / "aside.csv"
    report = import_file(data, url, table, bad_rows=aside, schema=schema)
    assert (report.rows_read, report.inserted, report.bad_rows) == (5, 3, 2)
    problems = aside.read_text().splitlines()
    assert problems[0] == "line,column,problem,row"
    assert problems[1].startswith("5,amount,column 'amount': cannot read 'lots'")
    assert problems[2].startswith("6,seen,column 'seen': cannot read 'never' as a timestamp")


def test_a_dry_run_checks_everything_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text(CSV, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'dry.db'}"
    report = import_file(data, url, "people", dry_run=True)
    assert (report.rows_read, report.inserted, report.dry_run) == (3, 3, True)
    assert columns_of(url, "people") is None
    assert import_file(data, url, "people").inserted == 3  # and it is not remembered as imported


def test_the_reader_holds_one_chunk_at_a_time(tmp_path: Path) -> None:
    from gristmill.sql.readers import read_table

    data = tmp_path / "big.csv"
    data.write_text("n,text\n" + "".join(f'{i},"line\nwith a break {i}"\n' for i in range(2500)))
    table = read_table(data, chunk_size=1000)
    sizes, lines = [], []
    for chunk in table.chunks:
        sizes.append(len(chunk.rows))
        lines.extend(chunk.lines)
    assert sizes == [1000, 1000, 500]
    assert lines[:3] == [2, 4, 6]  # quoted line breaks counted: the numbers are lines of the file


# -- what files hold: JSONL keys, any column name, delimiters, encodings ------------------------


def test_jsonl_records_may_differ_in_their_keys(target: tuple[str, str], tmp_path: Path) -> None:
    url, table = target
    data = tmp_path / "n.jsonl"
    late = {"id": 4, "late": 7, "x": 1}  # a key first seen after the first chunk: text, nothing lost
    lines = [{"id": 1, "x": None}, {"id": 2, "x": 3.5, "extra": "new"}, {"id": 3}, late]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = import_file(data, url, table, chunk_size=3)
    assert (report.rows_read, report.inserted) == (4, 4)
    assert columns_of(url, table) == {
        "id": SqlType.INTEGER,
        "x": SqlType.DECIMAL,
        "extra": SqlType.TEXT,
        "late": SqlType.TEXT,
    }
    found = [(i, None if x is None else Decimal(str(x)), e, t) for i, x, e, t in rows(url, table)]
    assert found == [
        (1, None, None, None),
        (2, Decimal("3.5"), "new", None),
        (3, None, None, None),
        (4, 1, None, "7"),
    ]

    schema = {"id": "integer", "x": "text", "extra": "text", "late": "integer"}
    again = import_file(data, url, f"{table}_typed", schema=schema, chunk_size=3)
    assert again.inserted == 4
    assert (columns_of(url, f"{table}_typed") or {})["late"] is SqlType.INTEGER


def test_a_broken_jsonl_line_is_named_plainly(tmp_path: Path) -> None:
    data = tmp_path / "b.jsonl"
    data.write_text('{"id": 1}\n{"id": 2,\n{"id": x}\n')
    with pytest.raises(BadValue) as raised:
        import_file(data, f"sqlite:///{tmp_path / 'b.db'}", "b")
    assert str(raised.value) == (
        f"{data} line 2: is not valid JSON: unexpected end of data (the line ends before the JSON value "
        "does); nothing was written. Fix the file, or set such rows aside with --bad-rows FILE"
    )
    aside = tmp_path / "aside.csv"
    assert import_file(data, f"sqlite:///{tmp_path / 'b.db'}", "b", bad_rows=aside).bad_rows == 2
    assert '3,,"is not valid JSON: unexpected character, expected a JSON value at character 8",' in (
        aside.read_text()
    )


def test_any_header_name_is_a_column(target: tuple[str, str], tmp_path: Path) -> None:
    url, table = target
    header = ["id", "größe", "(x)", 'a "q" b', "a.b", "x" * 63]
    data = tmp_path / "names.csv"
    data.write_text('id,größe,(x),"a ""q"" b",a.b,' + "x" * 63 + "\n1,2,3,4,5,6\n1,2,3,4,6,7\n")
    report = import_file(data, url, table, key=["größe", "a.b"], on_duplicate="update")
    assert (report.inserted, report.updated) == (2, 0)
    assert list(columns_of(url, table) or {}) == header
    assert rows(url, table, order='"a.b"') == [(1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 6, 7)]
    data.write_text(data.read_text().replace(",6,7", ",6,8"))
    assert import_file(data, url, table, key=["größe", "a.b"], on_duplicate="update").updated == 2
    assert rows(url, table, order='"a.b"')[1] == (1, 2, 3, 4, 6, 8)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("id," + "é" * 32, "it is 64 bytes long, and PostgreSQL takes at most 63", id="long"),
        pytest.param("id,a\x00b", "it holds a NUL character", id="nul"),
    ],
)
def test_a_column_name_no_database_takes_is_refused_naming_file_and_column(
    tmp_path: Path, header: str, message: str
) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(header + "\n1,2\n")
    with pytest.raises(SourceError) as raised:
        import_file(data, f"sqlite:///{tmp_path / 'names.db'}", "t")
    assert str(raised.value) == f"{data}: the column name {header[3:]!r} cannot be used: {message}"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param("s.b.c", "'s.b.c' is not a usable table name: give TABLE or SCHEMA.TABLE", id="3-parts"),
        pytest.param(
            "s." + "t" * 64,
            f"'s.{'t' * 64}' is not a usable table name: '{'t' * 64}' is 64 bytes long, and PostgreSQL "
            "takes at most 63",
            id="long",
        ),
        pytest.param("a;b", "'a;b' is not a usable table or column name", id="odd"),
    ],
)
def test_a_table_name_the_database_would_misread_is_refused_first(
    tmp_path: Path, table: str, message: str
) -> None:
    data = tmp_path / "a.csv"
    data.write_text("id\n1\n")
    url = "postgresql://nobody@127.0.0.1:1/none"  # never reached: the name is refused first
    with pytest.raises(ConfigError) as raised:
        import_file(data, url, table)
    assert str(raised.value) == message


def test_sqlite_says_it_has_no_schemas(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    with pytest.raises(ConfigError, match=r"^'s.x': SQLite does not support schemas; name the table 'x'$"):
        import_file(tmp_path / "a.csv", f"sqlite:///{tmp_path / 'a.db'}", "s.x")


def test_a_semicolon_or_latin1_csv_is_read_with_delimiter_and_encoding(
    target: tuple[str, str], tmp_path: Path
) -> None:
    url, table = target
    data = tmp_path / "semi.csv"
    data.write_bytes("id;größe;amount\n1;a;2,5\n2;é;3\n".encode("latin-1"))
    with pytest.raises(SourceError) as raised:
        import_file(data, url, table, delimiter=";")
    assert str(raised.value) == (
        f"cannot read {data} as utf-8 text (byte 0xf6: invalid start byte); give its encoding with "
        "--encoding, such as --encoding latin-1 or --encoding cp1252"
    )
    assert import_file(data, url, table, delimiter=";", encoding="latin-1").inserted == 2
    assert rows(url, table) == [(1, "a", "2,5"), (2, "é", "3")]
    assert list(columns_of(url, table) or {}) == ["id", "größe", "amount"]

    bom = tmp_path / "bom.tsv"  # a BOM is not part of the first column's name
    bom.write_text("\ufeffid\tname\n1\tx\n", encoding="utf-8")
    assert import_file(bom, url, f"{table}_bom", encoding="utf-8").inserted == 1
    assert list(columns_of(url, f"{table}_bom") or {}) == ["id", "name"]


def test_a_late_undecodable_byte_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "late.csv"
    data.write_bytes(b"id,name\n" + b"".join(b"%d,a\n" % i for i in range(30_000)) + b"9,caf\xe9\n")
    with pytest.raises(SourceError, match=r"byte 0xe9: invalid continuation byte\); give its encoding with"):
        import_file(data, f"sqlite:///{tmp_path / 'late.db'}", "late")


# -- the command line -----------------------------------------------------------------------


def gristmill(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRISTMILL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env or dict(os.environ)
    )


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing.csv"], "missing.csv does not exist"),
        ("folder", ["folder.csv"], "cannot read folder.csv"),
        ("garbage", ["garbage.xlsx"], "cannot read garbage.xlsx as an Excel workbook"),
        ("ragged", ["ragged.csv"], "ragged.csv line 3: has 3 fields where the header has 2"),
        (
            "header",
            ["header.csv", "--table", "known"],
            "does not match the table known: no column 'nom'",
        ),
        (None, ["x.txt"], "cannot tell its format from '.txt'"),
        (
            "semicolon",
            ["semi.csv"],
            "semi.csv: the header 'id;name;amount' is one column; if the fields are "
            "separated by a semicolon, give --delimiter ';'",
        ),
        ("semicolon", ["semi.csv", "--encoding", "klingon"], "Python knows no encoding 'klingon'"),
        (
            "latin1",
            ["latin1.csv"],
            "cannot read latin1.csv as utf-8 text (byte 0xe9: invalid continuation "
            "byte); give its encoding with --encoding, such as --encoding latin-1",
        ),
        (
            None,
            ["x.txt", "--table", "a.b.c"],
            "'a.b.c' is not a usable table name: give TABLE or SCHEMA.TABLE",
        ),
        (None, ["x.txt", "--table", "s.x"], "'s.x': SQLite does not support schemas; name the table 'x'"),
        ("ragged", ["ragged.csv", "--on-duplicate", "sometimes"], "must be error, skip or update"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, setup: str | None, args: list[str], message: str
) -> None:
    if setup == "folder":
        (tmp_path / "folder.csv").mkdir()
    elif setup == "garbage":
        (tmp_path / "garbage.xlsx").write_bytes(os.urandom(2000))
    elif setup == "ragged":
        (tmp_path / "ragged.csv").write_text("id,name\n1,a\n2,b,c\n")
    elif setup == "semicolon":
        (tmp_path / "semi.csv").write_text("id;name;amount\n1;a;2,5\n")
    elif setup == "latin1":
        (tmp_path / "latin1.csv").write_bytes("id,name\n1,café\n".encode("latin-1"))
    elif setup == "header":
        (tmp_path / "header.csv").write_text("id,nom\n1,a\n")
        known = tmp_path / "known.csv"
        known.write_text("id,name\n1,a\n")
        assert gristmill("import", str(known), "--table", "known", cwd=tmp_path).returncode == 0
    (tmp_path / "x.txt").write_text("a\n")
    if "--table" not in args:
        args = [*args, "--table", "t"]
    result = gristmill("import", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "--schema" not in result.stderr  # no type is the problem here


@pytest.mark.parametrize("port", ["5432", "1"])
def test_a_wrong_password_or_server_exits_2_and_never_shows_the_password(
    postgres: str, tmp_path: Path, port: str
) -> None:
    # the server trusts local users, so a wrong password alone is accepted: a wrong role is not
    (tmp_path / "a.csv").write_text("id\n1\n")
    url = f"postgresql://nobody:S3cr3t-Pa55@127.0.0.1:{port}/test"
    result = gristmill("import", "a.csv", "--table", "t", "--db", url, cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot connect to postgresql://nobody:***@127.0.0.1" in result.stderr
    assert "S3cr3t" not in result.stderr + result.stdout
    reason = {
        "5432": 'failed: FATAL: role "nobody" does not exist',
        "1": "failed: Connection refused; Is the",
    }
    assert f'connection to server at "127.0.0.1", port {port} {reason[port]}' in result.stderr
    assert "\t" not in result.stderr


def test_the_command_takes_a_delimiter_and_an_encoding_and_a_copy_is_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes("id\tnom\n1\tcafé\n".encode("cp1252"))
    db = f"sqlite:///{tmp_path / 'a.db'}"
    args = ["--table", "t", "--db", db, "--delimiter", "\\t", "--encoding", "cp1252"]
    result = gristmill("import", "a.csv", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert rows(db, "t") == [(1, "café")]
    shutil.copy(tmp_path / "a.csv", tmp_path / "b.csv")
    again = gristmill("import", "b.csv", *args, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_imported"].startswith("b.csv has the same content as a.csv")


def test_the_command_reports_and_takes_the_url_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(CSV, encoding="utf-8")
    env = dict(os.environ, GRISTMILL_DB_URL=f"sqlite:///{tmp_path / 'env.db'}")
    result = gristmill("import", "people.csv", "--table", "people", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inserted"] == 3
    again = gristmill("import", "people.csv", "--table", "people", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr  # a cron job's rerun is no failure
    assert again.stdout.startswith("people.csv was already imported into people at ")
    assert again.stdout.endswith("(3 rows inserted); nothing to do (--force imports it again)\n")
    dup = gristmill("import", "people.csv", "--table", "people", "--force", cwd=tmp_path, env=env)
    assert dup.returncode == 1
    assert "1 already in the table" in dup.stderr  # the whole row is the key: rows with a NULL never repeat


def test_an_import_killed_midway_leaves_the_table_as_it_was(
    postgres: str, pg_schema: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    table = f"{pg_schema}.events"
    seed = tmp_path / "seed.csv"
    seed.write_text("id,name\n" + "".join(f"{i},old {i}\n" for i in range(100)))
    import_file(seed, postgres, table, key=["id"])
    data = tmp_path / "events.csv"
    # long enough that a kill soon after the COPY starts lands before it ends, even on a fast machine
    data.write_text("id,name\n" + "".join(f"{i},new {i}\n" for i in range(100, 1_500_100)))
    command = [*GRISTMILL, "import", str(data), "--table", table, "--db", postgres, "--chunk-size", "5000"]
    watcher = connect(postgres)
    request.addfinalizer(watcher.close)
    for attempt in range(3):
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        copying = False
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            copying = bool(watcher.query("SELECT 1 FROM pg_stat_progress_copy WHERE tuples_processed > 0"))
            if copying:
                time.sleep(random.uniform(0.0, 0.3))
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert copying and proc.returncode == -signal.SIGKILL, f"attempt {attempt}: not killed mid-import"
        found = watcher.query(f'SELECT count(*), max(id) FROM "{pg_schema}"."events"')
        assert found == [(100, 99)]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert rows(postgres, table, order="1")[0] and columns_of(postgres, table)
    db = connect(postgres)
    total = db.query(f'SELECT count(*), count(DISTINCT id) FROM "{pg_schema}"."events"')
    db.close()
    assert total == [(1_500_100, 1_500_100)]


# -- SqlSink ---------------------------------------------------------------------------------

SINK_PIPELINE = """
import time

from gristmill import BaseSample, Pipeline, Processor
from gristmill.sinks import SqlSink
from gristmill.sources import Range


class Part(BaseSample):
    n: int
    part: int
    square: int
    tags: list[str]


class Split(Processor):
    sleep: float = 0.0

    def process(self, sample):
        time.sleep(self.sleep)
        n = int(sample.id)
        return [Part(id=f"{{n}}.{{k}}", n=n, part=k, square=n * n, tags=["t", str(k)]) for k in range(2)]


pipeline = Pipeline(
    source=Range(count={count}),
    processors=[Split(sleep={sleep})],
    sink=SqlSink(db={url!r}, table={table!r}),
    name="parts",
)
"""


def write_sink_pipeline(folder: Path, url: str, table: str, count: int, sleep: float = 0.0) -> None:
    text = SINK_PIPELINE.format(url=url, table=table, count=count, sleep=sleep)
    (folder / "parts.py").write_text(text)


def test_sql_sink_writes_rows_and_a_redone_item_replaces_its_own(
    target: tuple[str, str], tmp_path: Path
) -> None:
    url, table = target
    write_sink_pipeline(tmp_path, url, table, count=300)
    first = gristmill("run", "parts.py", "--workers", "2", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = gristmill("run", "parts.py", "--reprocess", "--max-items", "100", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    found = rows(url, table, order="n, part")
    assert len(found) == 600
    assert found[7][:5] == ("3", "3.1", 3, 1, 9)  # item_id, id, n, part, square
    assert json.loads(str(found[7][5])) == ["t", "1"]
    assert sorted({(r[0], r[1]) for r in found}) == sorted(
        (str(n), f"{n}.{k}") for n in range(300) for k in (0, 1)
    )


def test_sql_sink_prune_deletes_the_rows_of_items_gone(target: tuple[str, str], tmp_path: Path) -> None:
    url, table = target
    write_sink_pipeline(tmp_path, url, table, count=30)
    assert gristmill("run", "parts.py", "--no-progress", cwd=tmp_path).returncode == 0
    write_sink_pipeline(tmp_path, url, table, count=20)  # the source now lists 20 items
    pruned = gristmill("run", "parts.py", "--prune", "--no-progress", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "manifest: 0 added, 0 changed, 10 removed" in pruned.stdout
    assert sorted({int(str(r[0])) for r in rows(url, table)}) == list(range(20))


def test_sql_sink_coordinator_killed_at_random_points_leaves_every_row_once(
    postgres: str, pg_schema: str, tmp_path: Path
) -> None:
    table = f"{pg_schema}.parts"
    write_sink_pipeline(tmp_path, postgres, table, count=2000, sleep=0.004)
    command = [*GRISTMILL, "run", "parts.py", "--workers", "2", "--no-progress"]
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 2.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
    assert kills >= 3, f"only {kills} runs were still going when killed"
    final = gristmill("run", "parts.py", "--workers", "2", "--no-progress", cwd=tmp_path)
    assert final.returncode == 0, final.stdout + final.stderr
    db = connect(postgres)
    counted = db.query(f"SELECT count(*), count(DISTINCT id), count(DISTINCT item_id) FROM {quote(table)}")
    db.close()
    assert counted == [(4000, 4000, 2000)]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_import_csv_example(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRISTMILL_DB_URL"}
    if database == "postgresql":
        schema = request.getfixturevalue("pg_schema")
        env["GRISTMILL_DB_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    script = Path(__file__).parent.parent / "examples" / "import_csv" / "import_orders.py"
    first = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "100000 rows read, 99452 inserted, 498 repeats skipped, "
        "50 set aside in examples-output/import_csv/bad-rows.csv"
    )
    again = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert "was already imported into orders" in again.stdout
    bad = (
        (tmp_path / "examples-output" / "import_csv" / "bad-rows.csv")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    assert len(bad) == 51


def test_the_readme_import_commands_run(postgres: str, pg_schema: str, tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```sh\n")[1:] if "gristmill import" in b).split("```")[0]
    (tmp_path / "examples").mkdir()
    shutil.copytree(
        Path(__file__).parent.parent / "examples" / "import_csv", tmp_path / "examples" / "import_csv"
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for line in block.strip().splitlines():
        command = line.split("#")[0].replace(f"{PG_URL}", f"{PG_URL}?options=-csearch_path%3D{pg_schema}")
        result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (line, result.stderr)
    assert "would import orders.csv into orders: 100,000 rows read" in result.stdout
    assert len((tmp_path / "rejected.csv").read_text(encoding="utf-8").splitlines()) == 51


# -- types kept, never narrowed ----------------------------------------------------------------


def test_parquet_and_excel_types_are_kept_and_never_narrowed(target: tuple[str, str], tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    url, table = target
    at = dt.datetime(2024, 5, 1, 13, 45, 10)
    midnight = dt.datetime(2024, 5, 2)
    parquet = tmp_path / "small.parquet"
    prices = pa.array([Decimal("9.99"), Decimal("12.50")], pa.decimal128(10, 2))
    stamps = pa.array([at, at], pa.timestamp("us"))
    pq.write_table(pa.table({"price": prices, "at": stamps, "day": pa.array([midnight] * 2)}), parquet)
    import_file(parquet, url, table)
    kinds = columns_of(url, table)
    assert kinds == {"price": "decimal", "at": "timestamp", "day": "timestamp"}  # the file's own types
    found = [
        (Decimal(str(p)), s if isinstance(s, dt.datetime) else dt.datetime.fromisoformat(str(s)))
        for p, s, _ in rows(url, table, order="1")
    ]
    assert found == [(Decimal("9.99"), at.replace(tzinfo=UTC)), (Decimal("12.50"), at.replace(tzinfo=UTC))]

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["n", "when", "day"])
    sheet.append([1.5, at, midnight])
    sheet.append([2, at, midnight])
    book.save(tmp_path / "cells.xlsx")
    import_file(tmp_path / "cells.xlsx", url, f"{table}_xlsx")
    assert columns_of(url, f"{table}_xlsx") == {"n": "decimal", "when": "timestamp", "day": "date"}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_values_with_leading_zeros_make_a_text_column(
    target: tuple[str, str], tmp_path: Path, kind: str
) -> None:
    url, table = target
    lines = [["zip", "code", "n", "share"], ["01234", "007", "0", "0.5"], ["10115", "010", "12", "1"]]
    path = tmp_path / f"zip.{kind}"
    if kind == "csv":
        path.write_text("".join(",".join(line) + "\n" for line in lines))
    else:
        import openpyxl

        book = openpyxl.Workbook()
        for line in lines:
            book.active.append(line)
        book.save(path)
    import_file(path, url, table)
    assert columns_of(url, table) == {"zip": "text", "code": "text", "n": "integer", "share": "decimal"}
    assert [r[:2] for r in rows(url, table, order="zip")] == [("01234", "007"), ("10115", "010")]


def test_huge_fields_and_integers_beyond_64_bits(target: tuple[str, str], tmp_path: Path) -> None:
    url, table = target
    big = "x" * 5_000_000
    (tmp_path / "huge.csv").write_text(f"id,big\n1,{big}\n")
    import_file(tmp_path / "huge.csv", url, table)
    assert rows(url, table) == [(1, big)]
    (tmp_path / "long.csv").write_text("id,big\n1,123456789012345678901234567890\n2,5\n")
    import_file(tmp_path / "long.csv", url, f"{table}_long")
    assert columns_of(url, f"{table}_long") == {"id": "integer", "big": "decimal"}
    [(_, value), _] = rows(url, f"{table}_long")
    if url.startswith("sqlite"):  # NUMERIC: SQLite keeps a number beyond 64 bits as a REAL
        assert value == 1.2345678901234568e29
    else:
        assert value == Decimal("123456789012345678901234567890")
    (tmp_path / "more.csv").write_text("id,big\n3,1\n99999999999999999999,2\n")
    with pytest.raises(
        BadValue, match="line 3: column 'id': cannot read '99999999999999999999' as an integer"
    ):
        import_file(tmp_path / "more.csv", url, f"{table}_long")


# -- existing PostgreSQL tables of any column type ----------------------------------------------

PG_TYPES = (
    "id integer primary key, small smallint, amount real, ratio double precision, price numeric(6,2), "
    "ref uuid, doc jsonb, name varchar(20), code char(3), at timestamp, note text"
)
PG_ROW = (
    '1,2,2.5,0.25,9.99,12345678-1234-5678-1234-567812345678,"{""a"": [1]}",Ada,ABC,2024-05-01T13:45:10,x\n'
)


@pytest.mark.parametrize("key", [None, "name"], ids=["table-key", "other-key"])
def test_an_existing_postgres_table_keeps_its_own_column_types(
    postgres: str, pg_schema: str, tmp_path: Path, key: str | None
) -> None:
    table = f"{pg_schema}.typed"
    db = connect(postgres)
    db.execute(f"CREATE TABLE {quote(table)} ({PG_TYPES})")
    db.close()
    header = "id,small,amount,ratio,price,ref,doc,name,code,at,note\n"
    (tmp_path / "typed.csv").write_text(header + PG_ROW)
    import_file(tmp_path / "typed.csv", postgres, table, key=[key] if key else None)
    (tmp_path / "more.csv").write_text(header + PG_ROW.replace("1,2,", "2,3,", 1).replace("Ada", "Bob"))
    import_file(tmp_path / "more.csv", postgres, table, on_duplicate="skip", key=[key] if key else None)
    found = rows(postgres, table)
    assert len(found) == 2
    assert found[0][:7] == (
        1,
        2,
        2.5,
        0.25,
        Decimal("9.99"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        {"a": [1]},
    )
    assert found[0][7:] == ("Ada", "ABC", dt.datetime(2024, 5, 1, 13, 45, 10), "x")
    refs = f"{pg_schema}.refs"  # no key: rows compared whole, as uuid and jsonb
    db = connect(postgres)
    db.execute(f"CREATE TABLE {quote(refs)} (ref uuid, doc jsonb)")
    db.close()
    (tmp_path / "whole.csv").write_text('ref,doc\n12345678-1234-5678-1234-567812345678,"{""a"": 1}"\n')
    assert import_file(tmp_path / "whole.csv", postgres, refs).inserted == 1
    assert import_file(tmp_path / "whole.csv", postgres, refs, on_duplicate="skip", force=True).skipped == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3,,,,,,,,,,", 'null value in column "small"'),
        ("3,1,,,123456.5,,,,,,", 'numeric field overflow (column price: "123456.5")'),
        ("3,1,,,,not-a-uuid,,,,,", 'invalid input syntax for type uuid: "not-a-uuid" (column ref'),
        ("3,70000,,,,,,,,,", 'out of range for type smallint (column small: "70000")'),
    ],
)
def test_a_refusal_by_postgres_names_the_column_and_the_reason(
    postgres: str, pg_schema: str, tmp_path: Path, line: str, message: str
) -> None:
    table = f"{pg_schema}.typed"
    db = connect(postgres)
    db.execute(
        f"CREATE TABLE {quote(table)} ({PG_TYPES.replace('small smallint', 'small smallint not null')})"
    )
    db.close()
    (tmp_path / "bad.csv").write_text("id,small,amount,ratio,price,ref,doc,name,code,at,note\n" + line + "\n")
    result = gristmill("import", "bad.csv", "--table", table, "--db", postgres, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "nothing was written" in result.stderr


def test_duplicates_of_a_whole_row_count_each_row_once_and_never_a_null(
    target: tuple[str, str], tmp_path: Path
) -> None:
    url, table = target
    (tmp_path / "w1.csv").write_text("k,v\n1,a\n2,b\n")
    (tmp_path / "w2.csv").write_text("k,v\n1,a\n2,bb\n1,a\n,x\n,x\n")
    import_file(tmp_path / "w1.csv", url, table)
    with pytest.raises(DuplicateDataError) as raised:
        import_file(tmp_path / "w2.csv", url, table)
    assert raised.value.duplicates == 2
    assert raised.value.examples == (
        "line 2, {'k': 1, 'v': 'a'}: already in the table",
        "line 4, {'k': 1, 'v': 'a'}: repeating an earlier row of the file",
    )
    assert "1 repeating an earlier row of the file and 1 already in the table" in str(raised.value)
    assert import_file(tmp_path / "w2.csv", url, table, on_duplicate="skip").inserted == 3


class Payment(BaseSample):
    order: int
    amount: float
    note: str | None = None


class Pay(Processor):
    def process(self, sample: BaseSample) -> Payment:
        n = int(sample.id)
        return Payment(id=sample.id, order=n, amount=n / 4, note=None if n == 3 else f"n{n}")


def test_sql_sink_writes_an_existing_postgres_table_in_its_own_column_types(
    postgres: str, pg_schema: str
) -> None:
    table = f"{pg_schema}.payments"
    db = connect(postgres)
    columns = 'item_id text, id text, "order" integer, amount double precision, note text'
    db.execute(f"CREATE TABLE {quote(table)} ({columns})")
    sink = SqlSink(db=postgres, table=table)
    result = Pipeline(Range(count=5), [Pay()], sink).run(
        executor="inline", ledger=MemoryLedger(), progress=False
    )
    assert result.done == 5
    assert rows(postgres, table, order='"order"')[1] == ("1", "1", 1, 0.25, "n1")

    db.execute(f"DELETE FROM {quote(table)}")
    db.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN note SET NOT NULL")
    items = [Item(str(n)) for n in range(5)]
    batch = [(item, sink.encode(item, [Pay().process(BaseSample(id=item.id))])) for item in items]
    refused = sink.commit(batch)  # only the item whose row the table refuses fails
    assert list(refused) == ["3"] and 'refused its rows: null value in column "note"' in refused["3"]
    assert sorted(r[0] for r in rows(postgres, table, order='"order"')) == ["0", "1", "2", "4"]
    sink.finish(MemoryLedger())
    ledger = MemoryLedger()  # in a run: that item is failed, with the reason, the others done
    result = Pipeline(Range(count=5), [Pay()], sink).run(executor="inline", ledger=ledger, progress=False)
    assert (result.done, result.failed) == (4, 1)
    [failed] = ledger.records(status=Status.FAILED)
    assert failed.id == "3" and 'null value in column "note"' in (failed.message or "")
    db.close()

    other = SqlSink(db=postgres, table=table, columns=["order", "file", "note"])
    with pytest.raises(ConfigError) as raised:
        other.commit([(Item("1"), [{"order": 1, "file": "f", "note": "n"}])])
    other.finish(MemoryLedger())
    assert str(raised.value) == (
        f"the table {table} has no column 'file' (its columns: item_id, id, order, amount, note); add it "
        "(ALTER TABLE ... ADD COLUMN), leave it out (SqlSink(columns=...)) or write to another table"
    )


def test_sql_sink_refuses_a_table_name_the_database_would_cut_or_misread(tmp_path: Path) -> None:
    for table in ("a" * 64, "a.b.c"):
        with pytest.raises(ConfigError, match="is not a usable table name"):
            SqlSink(db=f"sqlite:///{tmp_path / 'x.db'}", table=table).check()


class Dropping(Processor):
    """Drops item 0 (no rows), gives the others one row."""

    def process(self, sample: BaseSample) -> Payment | None:
        return None if sample.id == "0" else Pay().process(sample)


def test_sql_sink_makes_its_table_only_from_a_batch_with_rows(target: tuple[str, str]) -> None:
    url, table = target
    pipeline = Pipeline(Range(count=5), [Dropping()], SqlSink(db=url, table=table))
    ledger = MemoryLedger()
    first = pipeline.run(executor="inline", ledger=ledger, progress=False, max_items=1)
    assert first.done == 1 and columns_of(url, table) is None  # item 0 has no rows to make it from
    rest = pipeline.run(executor="inline", ledger=ledger, progress=False)
    assert (rest.done, rest.failed) == (4, 0)
    assert list(columns_of(url, table) or ()) == ["item_id", "id", "order", "amount", "note"]
    assert [r[:2] for r in rows(url, table)] == [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")]


class Vector(BaseSample):
    vec: Any
    count: Any
    blob: bytes


class MakeVector(Processor):
    def process(self, sample: BaseSample) -> Vector:
        import numpy as np

        return Vector(id=sample.id, vec=np.arange(2000, dtype=float), count=np.int64(7), blob=b"\x00\xff")


def test_sql_sink_writes_arrays_as_json_as_the_file_sinks_do(target: tuple[str, str]) -> None:
    url, table = target
    Pipeline(Range(count=1), [MakeVector()], SqlSink(db=url, table=table)).run(
        executor="inline", ledger=MemoryLedger(), progress=False
    )
    [(_, _, vec, count, blob)] = rows(url, table)
    assert json.loads(str(vec)) == list(range(2000))
    assert (count, blob) == (7, "AP8=")  # a NumPy integer is an integer; bytes are base64, as in JSON
    assert columns_of(url, table) == {
        "item_id": SqlType.TEXT,
        "id": SqlType.TEXT,
        "vec": SqlType.TEXT,
        "count": SqlType.INTEGER,
        "blob": SqlType.TEXT,
    }


class Sized(BaseSample):
    kind: str
    size: int


class Coloured(BaseSample):
    kind: str
    colour: str


def made(item_id: str) -> list[BaseSample]:
    """Samples of different fields: item 0 a Sized one, item 1 a Coloured one, item 2 one of each."""
    return {
        "0": [Sized(id="0", kind="a", size=2)],
        "1": [Coloured(id="1", kind="b", colour="red")],
        "2": [Sized(id="2.1", kind="c", size=3), Coloured(id="2.2", kind="d", colour="blue")],
    }[item_id]


class Mixed(Processor):
    def process(self, sample: BaseSample) -> list[BaseSample]:
        return made(sample.id)


def mixed(sink: SqlSink, *ids: str) -> list[tuple[Item, Any]]:
    """A batch of those items, encoded as a worker does."""
    return [(Item(i), sink.encode(Item(i), made(i))) for i in ids]


def test_sql_sink_makes_its_table_with_every_field_of_the_first_rows(target: tuple[str, str]) -> None:
    url, table = target
    sink = SqlSink(db=url, table=table)
    assert sink.commit(mixed(sink, "2", "0")) == {}
    sink.finish(MemoryLedger())
    assert list(columns_of(url, table) or ()) == ["item_id", "id", "kind", "size", "colour"]
    assert rows(url, table) == [
        ("0", "0", "a", 2, None),
        ("2", "2.1", "c", 3, None),
        ("2", "2.2", "d", None, "blue"),  # a field a row lacks is NULL there
    ]


def test_sql_sink_fails_an_item_with_a_field_the_table_lacks_unless_columns_pick_the_fields(
    target: tuple[str, str],
) -> None:
    url, table = target
    sink = SqlSink(db=url, table=table)
    assert sink.commit(mixed(sink, "0")) == {}  # the table: item_id, id, kind, size
    refused = sink.commit(mixed(sink, "1", "2", "0"))
    sink.finish(MemoryLedger())
    why = (
        f"SqlSink(db={url!r}, table={table!r}) cannot store its rows: the table {table} has no column "
        "'colour' (its columns: item_id, id, kind, size), and a field left out would be lost; add it "
        "(ALTER TABLE ... ADD COLUMN), choose the fields to store (SqlSink(columns=...)) or write to "
        "another table"
    )
    assert refused == {"1": why, "2": why}
    assert rows(url, table) == [("0", "0", "a", 2)]  # item 0 written, once; nothing of the others

    ledger = MemoryLedger()  # in a run: those items fail with the reason, the others are done
    result = Pipeline(Range(count=3), [Mixed()], sink).run(executor="inline", ledger=ledger, progress=False)
    assert (result.done, result.failed) == (1, 2)
    assert {r.id: r.message for r in ledger.records(status=Status.FAILED)} == {"1": why, "2": why}

    picked = SqlSink(db=url, table=table, columns=["id", "kind"])  # only those are written
    assert picked.commit(mixed(picked, "1", "2")) == {}
    picked.finish(MemoryLedger())
    assert rows(url, table) == [
        ("0", "0", "a", 2),
        ("1", "1", "b", None),
        ("2", "2.1", "c", None),
        ("2", "2.2", "d", None),
    ]


# -- numbers as files write them, stale history, wide rows -----------------------------------

WIDE = "\uff11\uff12.\uff15"  # "12.5" in full-width digits


def test_underscores_and_non_ascii_digits_are_never_read_as_numbers(
    target: tuple[str, str], tmp_path: Path
) -> None:
    """Python's int() and Decimal() read "12_34" as 1234 and "١٢٣" as 123: codes, not numbers."""
    url, table = target
    (tmp_path / "codes.csv").write_text(
        f"id,code,amount,n\n1,12_34,1_000.5,7\n2,2024_01,3,-8\n3,١٢٣,{WIDE},+9\n", encoding="utf-8"
    )
    import_file(tmp_path / "codes.csv", url, table)
    assert columns_of(url, table) == {"id": "integer", "code": "text", "amount": "text", "n": "integer"}
    assert [r[1:] for r in rows(url, table)] == [
        ("12_34", "1_000.5", 7),
        ("2024_01", "3", -8),
        ("١٢٣", WIDE, 9),
    ]
    (tmp_path / "more.csv").write_text("id,n\n4,1_0\n", encoding="utf-8")  # an integer column refuses it
    with pytest.raises(BadValue, match="column 'n': cannot read '1_0' as an integer"):
        import_file(tmp_path / "more.csv", url, table)


@pytest.mark.parametrize("how", ["DROP TABLE", "DELETE FROM"])
def test_a_file_whose_table_was_dropped_or_emptied_is_imported_again(
    target: tuple[str, str], tmp_path: Path, how: str
) -> None:
    url, table = target
    data = tmp_path / "again.csv"
    data.write_text("id,v\n1,a\n2,b\n")
    import_file(data, url, table)
    db = connect(url)
    db.execute(f"{how} {quote(table)}")
    db.close()
    report = import_file(data, url, table)
    assert report.inserted == 2
    gone = "no longer exists" if how == "DROP TABLE" else "is empty"
    assert report.note.startswith(f"{data} was imported into {table} at ")
    assert report.note.endswith(f"but {table} {gone}: importing it again")
    assert rows(url, table) == [(1, "a"), (2, "b")]
    with pytest.raises(AlreadyImported):  # the rows are there again: nothing to do
        import_file(data, url, table)


def test_the_command_says_in_one_line_why_it_imports_a_file_again(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("id,v\n1,a\n")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert gristmill("import", "x.csv", "--table", "x", "--db", url, cwd=tmp_path).returncode == 0
    db = connect(url)
    db.execute("DROP TABLE x")
    db.close()
    result = gristmill("import", "x.csv", "--table", "x", "--db", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[0].endswith("but x no longer exists: importing it again")
    assert rows(url, "x") == [(1, "a")]


def test_a_whole_row_key_of_hundreds_of_columns_is_checked_on_sqlite(tmp_path: Path) -> None:
    """SQLite refuses an expression more than 1000 deep: a flat AND of 500 columns was."""
    width = 500
    header = ",".join(f"c{i}" for i in range(width))
    lines = [",".join(f"r{r}c{i}" for i in range(width)) for r in range(3)]
    (tmp_path / "wide.csv").write_text("\n".join([header, *lines, lines[0]]) + "\n")
    url = f"sqlite:///{tmp_path / 'wide.db'}"
    with pytest.raises(DuplicateDataError) as raised:
        import_file(tmp_path / "wide.csv", url, "wide")
    assert raised.value.duplicates == 1
    assert import_file(tmp_path / "wide.csv", url, "wide", on_duplicate="skip").inserted == 3
    assert import_file(tmp_path / "wide.csv", url, "wide", on_duplicate="skip", force=True).skipped == 4
