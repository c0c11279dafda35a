"""``gristmill import``: a CSV/TSV, JSONL, Parquet or Excel file into a database table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gristmill._exceptions import ConfigError
from gristmill.cli.common import JsonOpt, ProgressOpt, VerboseOpt, app, handle_errors, setup_logging

DEFAULT_DB = "sqlite:///gristmill.db"
TAB = {"\\t": "\t", "tab": "\t"}  # --delimiter '\t' as a shell passes it


@app.command("import")
@handle_errors
def import_(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="a .csv, .tsv, .jsonl, .parquet or .xlsx file")
    ],
    table: Annotated[str, typer.Option("--table", "-t", help="the table to import into (made if absent)")],
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="GRISTMILL_DB_URL",
            help="postgresql://user:password@host:port/database or sqlite:///path.db",
        ),
    ] = DEFAULT_DB,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help="COL[,COL...] that identify a row (default: the table's key, else the whole row)"
        ),
    ] = None,
    on_duplicate: Annotated[
        str,
        typer.Option(
            "--on-duplicate", help="error: refuse the import; skip: insert only new rows; update: upsert"
        ),
    ] = "error",
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="rows read at a time")] = 10_000,
    schema: Annotated[
        Path | None, typer.Option("--schema", help='JSON file of column types: {"amount": "decimal"}')
    ] = None,
    bad_rows: Annotated[
        Path | None, typer.Option("--bad-rows", help="set rows that do not fit aside in this CSV file")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="import a file that was imported before")] = False,
    delimiter: Annotated[
        str | None,
        typer.Option(
            "--delimiter", help="a CSV/TSV file's field separator (default: , for .csv, \\t for .tsv)"
        ),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="a CSV/TSV file's encoding (default: utf-8)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check everything and report; write nothing")
    ] = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Import FILE into TABLE: all rows or none, duplicates checked first; rerun-safe."""
    from gristmill.sql import AlreadyImported, import_file

    setup_logging(verbose)
    if delimiter == "":
        raise ConfigError("--delimiter is empty; give one character, such as ';' or '\\t'")
    try:
        report = import_file(
            file,
            db,
            table,
            key=[k.strip() for k in key.split(",") if k.strip()] if key else None,
            on_duplicate=on_duplicate,  # type: ignore[arg-type]  # checked by import_file
            chunk_size=chunk_size,
            schema=schema,
            bad_rows=bad_rows,
            force=force,
            dry_run=dry_run,
            progress=progress,
            delimiter=TAB.get(delimiter.lower(), delimiter) if delimiter else None,
            encoding=encoding,
        )
    except AlreadyImported as done:  # a cron job's rerun: nothing to do, not a failure
        said = {"file": str(file), "table": table, "already_imported": str(done)}
        typer.echo(json.dumps(said) if as_json else str(done))
        return
    if report.note:
        typer.echo(report.note, err=True)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    rate = report.rows_read / max(report.seconds, 1e-9)
    verb = "would import" if dry_run else "imported"
    typer.echo(
        f"{verb} {file} into {table}: {report.rows_read:,} rows read, {report.inserted:,} inserted, "
        f"{report.updated:,} updated, {report.skipped:,} duplicates skipped "
        f"in {report.seconds:.1f} s ({rate:,.0f} rows/s)"
    )
    if report.bad_rows:
        typer.echo(f"{report.bad_rows:,} rows did not fit and were set aside in {bad_rows}", err=True)
