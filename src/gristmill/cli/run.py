"""The commands that run a pipeline and report on its runs: run, status, failures, manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from gristmill._exceptions import ConfigError
from gristmill.cli.common import (
    AnonymousOpt,
    DownloadDirOpt,
    EndpointUrlOpt,
    JsonOpt,
    KeepLocalOpt,
    ManifestOpt,
    OptionalPipeline,
    OutputOpt,
    PipelineArg,
    PreserveDownloadsOpt,
    PruneOpt,
    ReDownloadOpt,
    ShardOpt,
    SourceOpt,
    StateOpt,
    app,
    execute,
    handle_errors,
    ledger_for,
    load,
    manifest_app,
    open_ledger,
    parse_shard,
    run_command,
)
from gristmill.ledger.base import Counts, Record, Status
from gristmill.pipeline import check_state, is_database_url
from gristmill.sources.files import Files
from gristmill.telemetry import describe_counts


@app.command()
@handle_errors
@run_command
def run(
    pipeline: PipelineArg,
    source: SourceOpt = None,
    output: OutputOpt = None,
    anonymous: AnonymousOpt = False,
    endpoint_url: EndpointUrlOpt = None,
    keep_local: KeepLocalOpt = None,
    manifest: ManifestOpt = None,
    download_dir: DownloadDirOpt = None,
    re_download: ReDownloadOpt = False,
    preserve_downloads: PreserveDownloadsOpt = False,
    *,
    run: dict[str, Any],
) -> None:
    """Process every item of PIPELINE that is not done yet; rerun to resume."""
    loaded = load(
        pipeline,
        source,
        output,
        endpoint_url=endpoint_url,
        keep_local=keep_local,
        anonymous=anonymous,
        manifest=manifest,
        download_dir=download_dir,
        re_download=re_download,
        preserve_downloads=preserve_downloads,
    )
    execute(loaded, run)


StatesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--state",
        envvar="GRISTMILL_STATE",
        help="state folder; give several (one per shard or machine) for all of them",
    ),
]


def _places(state: list[str] | None) -> list[str | None]:
    places: list[str | None] = list(state) if state else [None]
    if len(set(places)) < len(places):
        raise ConfigError("a state folder is given twice; give each one once")
    return places


@app.command()
@handle_errors
def status(pipeline: OptionalPipeline = None, state: StatesOpt = None, as_json: JsonOpt = False) -> None:
    """How many items are done, failed, skipped and pending."""
    places = _places(state)
    reports = []
    for place in places:
        folder, ledger = open_ledger(pipeline, place)
        reports.append((folder, ledger.counts(), ledger.manifest_info()))
        ledger.close()
    total = Counts(*map(sum, zip(*(counts for _, counts, _ in reports), strict=True)))
    if as_json:
        states = [{"state": str(folder), **_counts_json(counts)} for folder, counts, _ in reports]
        merged = {"states": states, "total": _counts_json(total)}
        typer.echo(json.dumps(states[0] if len(states) == 1 else merged))
        return
    for folder, counts, info in reports:
        typer.echo(f"state: {folder}")
        if info is not None:
            typer.echo(f"source: {info.source}")
        typer.echo(describe_counts(counts))
    if len(reports) > 1:
        typer.echo(f"total: {describe_counts(total)}")


def _counts_json(counts: Counts) -> dict[str, int]:
    return {**counts._asdict(), "total": counts.total}


@app.command()
@handle_errors
def failures(
    pipeline: OptionalPipeline = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="show at most this many")] = None,
    show_traceback: Annotated[bool, typer.Option("--traceback", help="show each traceback")] = False,
    skipped: Annotated[bool, typer.Option("--skipped", help="the skipped items instead, and why")] = False,
) -> None:
    """The failed items: error type, message and traceback."""
    _, ledger = open_ledger(pipeline, state)
    try:
        status = Status.SKIPPED if skipped else Status.FAILED
        shown = _print_failures(ledger.records(status=status, limit=limit), as_json, show_traceback)
        if not shown and not as_json:
            typer.echo("no skipped items" if skipped else "no failed items")
    finally:
        ledger.close()


def _print_failures(rows: Iterator[Record], as_json: bool, show_traceback: bool) -> bool:
    """Print ROWS, one line each; whether there were any."""
    if as_json:
        keys = ("id", "attempts", "error_type", "message", "traceback", "worker")
        typer.echo(json.dumps([{key: getattr(r, key) for key in keys} for r in rows], indent=2))
        return True
    shown = False
    for r in rows:
        shown = True
        typer.echo(f"{_line(r.id)}: {r.error_type}: {_line(r.message or '')} (attempts: {r.attempts})")
        if show_traceback and r.traceback:
            typer.echo("    " + r.traceback.rstrip().replace("\n", "\n    "))
    return shown


def _line(text: str) -> str:
    """TEXT on one line, its control characters escaped: a file name with a line break in it
    cannot pass for another line of the listing."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@app.command()
@handle_errors
def report(
    pipeline: OptionalPipeline = None,
    state: StatesOpt = None,
    as_json: JsonOpt = False,
    slowest: Annotated[int, typer.Option("--slowest", min=0, help="name this many of the slowest items")] = 5,
) -> None:
    """What the runs did: time per item, the slowest items, the workers, errors by type."""
    from gristmill.report import report as make_report

    opened = [open_ledger(pipeline, place) for place in _places(state)]
    try:
        made = make_report(*(ledger for _, ledger in opened), slowest=slowest)
    finally:
        for _, ledger in opened:
            ledger.close()
    folders = [folder for folder, _ in opened]
    if as_json:
        typer.echo(json.dumps({"states": folders, **made.as_json()}, indent=2))
        return
    for number, folder in enumerate(folders, 1):
        typer.echo(f"state {number}: {folder}" if len(folders) > 1 else f"state: {folder}")
    for line in made.lines():
        typer.echo(line)


@manifest_app.command("generate")
@handle_errors
def manifest_generate(
    pipeline: PipelineArg,
    source: SourceOpt = None,
    state: StateOpt = None,
    force_refresh: Annotated[
        bool, typer.Option("--force-refresh", help="list the source again and merge")
    ] = False,
    prune: PruneOpt = False,
    shard: ShardOpt = None,
    anonymous: AnonymousOpt = False,
    endpoint_url: EndpointUrlOpt = None,
    manifest: ManifestOpt = None,
    skip_upload: Annotated[
        bool, typer.Option("--skip-upload", help="keep corpus.manifest.txt in the state folder only")
    ] = False,
) -> None:
    """List the source once and store the manifest (kept until --force-refresh).

    The listing is also written as corpus.manifest.txt (one item path per line) in the
    state folder and, for a source in a store, at its top, unless --skip-upload.
    """
    part, state = parse_shard(shard), check_state(state)
    loaded = load(pipeline, source, None, anonymous=anonymous, endpoint_url=endpoint_url, manifest=manifest)
    ledger = ledger_for(loaded, state, part)
    existed = ledger.manifest_info() is not None
    force_refresh = force_refresh or prune
    changes = loaded.plan(ledger, refresh=force_refresh, shard=part, prune=prune)
    info = ledger.manifest_info()
    written: tuple[str, ...] = ()
    if isinstance(loaded.source, Files) and not (existed and not force_refresh):
        ids = (record.id for record in ledger.records())
        folder = loaded.state_folder(None if state is None or is_database_url(state) else Path(state), part)
        written = loaded.source.write_manifest(ids, folder, upload=not skip_upload)
    ledger.close()
    assert info is not None
    if existed and not force_refresh:
        typer.echo(f"manifest exists ({info.items} items); use --force-refresh to list the source again")
        return
    typer.echo(
        f"manifest: {info.items} items, {info.total_size:,} bytes "
        f"({changes.added} added, {changes.changed} changed, {changes.removed} removed)"
    )
    for place in written:
        typer.echo(f"written to {place}")


@manifest_app.command("report")
@handle_errors
def manifest_report(
    pipeline: OptionalPipeline = None, state: StateOpt = None, as_json: JsonOpt = False
) -> None:
    """Item count, total size, and how many are done, failed and pending."""
    _, ledger = open_ledger(pipeline, state)
    info, counts = ledger.manifest_info(), ledger.counts()
    ledger.close()
    if info is None:
        raise ConfigError("no manifest yet: run `gristmill manifest generate` first")
    report = {
        "items": info.items,
        "total_size": info.total_size,
        "source": info.source,
        "done": counts.done,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "pending": counts.pending,
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key, value in report.items():
        typer.echo(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
