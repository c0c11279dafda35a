"""The ``gristmill`` command: a thin layer over the Python API."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from gristmill._exceptions import ConfigError, GristmillError, SourceError
from gristmill.ledger.base import Counts, Status
from gristmill.ledger.sqlite import LEDGER_FILE, SqliteLedger
from gristmill.manifest import Shard
from gristmill.pipeline import Pipeline, RunResult
from gristmill.sinks.files import FileSink, JsonFiles
from gristmill.sources.files import Files
from gristmill.telemetry import describe_counts

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Parallel, resumable batch processing of document corpora and record sets.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
manifest_app = typer.Typer(no_args_is_help=True, help="Make or describe a run's manifest.")
app.add_typer(manifest_app, name="manifest")

log = logging.getLogger("gristmill")
F = TypeVar("F", bound=Callable[..., Any])

PipelineArg = Annotated[str, typer.Argument(help="path/to/file.py[:name] or package.module:name")]
OptionalPipeline = Annotated[
    str | None, typer.Argument(help="the pipeline (to find its state folder); or give --state")
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state", envvar="GRISTMILL_STATE", help="state folder (default .gristmill/<pipeline name>)"
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source", envvar="GRISTMILL_SOURCE", help="process files under this folder or URL instead"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        envvar="GRISTMILL_SHARD",
        help="I/N: only the items of part I of N, split by item id (one per machine)",
    ),
]


def _handle_errors(func: F) -> F:
    """Errors become one clear line and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, SourceError) as exc:
            _fail(str(exc), 2)
        except GristmillError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug of ours or of a processor's setup: say so plainly
            log.debug("internal error", exc_info=True)
            _fail(f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)", 1)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    typer.echo(f"gristmill: error: {message}", err=True)
    raise typer.Exit(code)


def _logging(verbose: int) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _load(spec: str, source: str | None, output: str | None) -> Pipeline:
    from gristmill.loader import load_pipeline

    pipeline = load_pipeline(spec)
    if source is not None:
        if isinstance(pipeline.source, Files):
            pipeline.source = pipeline.source.model_copy(update={"url": source})
        else:
            pipeline.source = Files(url=source)
    if output is not None:
        if isinstance(pipeline.sink, FileSink):
            pipeline.sink = pipeline.sink.model_copy(update={"folder": Path(output)})
        elif pipeline.sink is None:
            pipeline.sink = JsonFiles(folder=Path(output))
        else:
            raise ConfigError(f"--output does not apply: this pipeline writes to {pipeline.sink!r}")
    return pipeline


def _state(pipeline: str | None, state: Path | None) -> Path:
    if state is not None:
        if not (state / LEDGER_FILE).exists():
            raise ConfigError(f"no run found in {state}: it has no {LEDGER_FILE}")
        return state
    if pipeline is None:
        raise ConfigError("say which run: give the pipeline or --state FOLDER")
    folder = _load(pipeline, None, None).state_folder()
    if not (folder / LEDGER_FILE).exists():
        raise ConfigError(f"{pipeline!r} has not been run yet (no ledger in {folder})")
    return folder


@app.command()
@_handle_errors
def run(
    pipeline: PipelineArg,
    source: SourceOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", envvar="GRISTMILL_OUTPUT", help="write outputs under this folder"),
    ] = None,
    state: StateOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, envvar="GRISTMILL_WORKERS", help="worker processes (default: CPU count)"
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", envvar="GRISTMILL_EXECUTOR", help="pool or inline")
    ] = "pool",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            envvar="GRISTMILL_BATCH_SIZE",
            help="items per message to a worker (default: automatic)",
        ),
    ] = None,
    max_items: Annotated[
        int | None,
        typer.Option(
            "--max-items",
            min=0,
            envvar="GRISTMILL_MAX_ITEMS",
            help="process at most this many items in this run",
        ),
    ] = None,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="process every item again, done or not")
    ] = False,
    force_refresh: Annotated[
        bool, typer.Option("--force-refresh", help="list the source again before running")
    ] = False,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            envvar="GRISTMILL_RETRIES",
            help="retries of transient errors and dead workers",
        ),
    ] = 2,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, envvar="GRISTMILL_TIMEOUT", help="seconds one item may take"),
    ] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="stop at the first failed item")] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: on a terminal)")
    ] = None,
    start_method: Annotated[
        str | None, typer.Option("--start-method", help="forkserver, spawn or fork")
    ] = None,
    max_items_per_worker: Annotated[
        int | None,
        typer.Option("--max-items-per-worker", min=1, help="recycle workers after this many items"),
    ] = None,
    shard: ShardOpt = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more detail")] = 0,
) -> None:
    """Process every item of PIPELINE that is not done yet; rerun to resume."""
    _logging(verbose)
    part = _shard(shard)
    loaded = _load(pipeline, source, output)
    result = loaded.run(
        executor=executor,  # type: ignore[arg-type]  # checked by Pipeline.run
        state=state,
        workers=workers,
        batch_size=batch_size,
        max_items=max_items,
        reprocess=reprocess,
        refresh=force_refresh,
        retries=retries,
        timeout=timeout,
        fail_fast=fail_fast,
        progress=progress,
        start_method=start_method,
        max_items_per_worker=max_items_per_worker,
        shard=part,
    )
    _summary(result, loaded.state_folder(state, part))
    raise typer.Exit(result.exit_code)


def _shard(text: str | None) -> Shard | None:
    return None if text is None else Shard.parse(text)


def _summary(result: RunResult, state: Path) -> None:
    seconds = max(result.seconds, 1e-9)
    finished = result.done + result.failed + result.skipped
    changes = result.changes
    if any(changes):
        typer.echo(f"manifest: {changes.added} added, {changes.changed} changed, {changes.removed} removed")
    typer.echo(
        f"this run: {result.done} done, {result.failed} failed, {result.skipped} skipped "
        f"in {result.seconds:.1f} s ({finished / seconds:,.0f} items/s)"
    )
    typer.echo(f"all items: {describe_counts(result.counts)}")
    if result.interrupted:
        typer.echo("interrupted: run the same command again to continue", err=True)
    elif result.counts.failed:
        typer.echo(f"see the failures with: gristmill failures --state {state}", err=True)


@app.command()
@_handle_errors
def status(
    pipeline: OptionalPipeline = None,
    state: Annotated[
        list[Path] | None,
        typer.Option(
            "--state",
            envvar="GRISTMILL_STATE",
            help="state folder; give several (one per shard or machine) for their sum",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """How many items are done, failed, skipped and pending."""
    folders = [_state(pipeline, folder) for folder in state] if state else [_state(pipeline, None)]
    if len({folder.resolve() for folder in folders}) < len(folders):
        raise ConfigError("a state folder is given twice; give each one once")
    reports = []
    for folder in folders:
        ledger = SqliteLedger(folder)
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
@_handle_errors
def failures(
    pipeline: OptionalPipeline = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="show at most this many")] = None,
    show_traceback: Annotated[bool, typer.Option("--traceback", help="show each traceback")] = False,
) -> None:
    """The failed items: error type, message and traceback."""
    ledger = SqliteLedger(_state(pipeline, state))
    rows = ledger.records(status=Status.FAILED, limit=limit)
    ledger.close()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "attempts": r.attempts,
                        "error_type": r.error_type,
                        "message": r.message,
                        "traceback": r.traceback,
                        "worker": r.worker,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        typer.echo("no failed items")
    for r in rows:
        typer.echo(f"{r.id}: {r.error_type}: {r.message} (attempts: {r.attempts})")
        if show_traceback and r.traceback:
            typer.echo("    " + r.traceback.rstrip().replace("\n", "\n    "))


@manifest_app.command("generate")
@_handle_errors
def manifest_generate(
    pipeline: PipelineArg,
    source: SourceOpt = None,
    state: StateOpt = None,
    force_refresh: Annotated[
        bool, typer.Option("--force-refresh", help="list the source again and merge")
    ] = False,
    shard: ShardOpt = None,
) -> None:
    """List the source once and store the manifest (kept until --force-refresh)."""
    part = _shard(shard)
    loaded = _load(pipeline, source, None)
    ledger = loaded.open_ledger(state, part)
    existed = ledger.manifest_info() is not None
    changes = loaded.plan(ledger, refresh=force_refresh, shard=part)
    info = ledger.manifest_info()
    ledger.close()
    assert info is not None
    if existed and not force_refresh:
        typer.echo(f"manifest exists ({info.items} items); use --force-refresh to list the source again")
        return
    typer.echo(
        f"manifest: {info.items} items, {info.total_size:,} bytes "
        f"({changes.added} added, {changes.changed} changed, {changes.removed} removed)"
    )


@manifest_app.command("report")
@_handle_errors
def manifest_report(
    pipeline: OptionalPipeline = None, state: StateOpt = None, as_json: JsonOpt = False
) -> None:
    """Item count, total size, and how many are done, failed and pending."""
    ledger = SqliteLedger(_state(pipeline, state))
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


def main() -> None:
    from gristmill.settings import load_dotenv, load_toml

    try:
        load_dotenv()
        defaults = load_toml()
    except ConfigError as exc:
        typer.echo(f"gristmill: error: {exc}", err=True)
        raise SystemExit(2) from exc
    app(default_map=defaults)
