"""What every ``gristmill`` command shares: the app, its options, error handling, loading a run."""

from __future__ import annotations

import inspect
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from gristmill import logs
from gristmill._exceptions import ConfigError, GristmillError, SourceError
from gristmill.ledger.base import Ledger
from gristmill.ledger.sqlite import LEDGER_FILE, SqliteLedger
from gristmill.manifest import Shard
from gristmill.pipeline import Pipeline, RunResult, check_state, is_database_url
from gristmill.sinks.files import FileSink, JsonFiles
from gristmill.sources.files import Files
from gristmill.sources.tables import Tables
from gristmill.storage.options import GCS, S3
from gristmill.storage.urls import check_password, is_remote, protocol, redact
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

PipelineArg = Annotated[
    str, typer.Argument(metavar="PIPELINE", help="path/to/file.py[:name] or package.module:name")
]
OptionalPipeline = Annotated[
    str | None,
    typer.Argument(metavar="PIPELINE", help="the pipeline (to find its state folder); or give --state"),
]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        envvar="GRISTMILL_STATE",
        help="state folder (default .gristmill/<pipeline name>; for extract, .gristmill/extract-<hash of its "
        "settings>), or postgresql://... for a ledger that several coordinators share",
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


OutputOpt = Annotated[
    str | None,
    typer.Option("--output", envvar="GRISTMILL_OUTPUT", help="write outputs under this folder"),
]

# The options of a run, shared by `run` and every built-in job that runs a pipeline.
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", min=1, envvar="GRISTMILL_WORKERS", help="worker processes (default: CPU count)"
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        envvar="GRISTMILL_EXECUTOR",
        help="pool (local processes), ray (the cluster at RAY_ADDRESS, else a local one) or inline",
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        envvar="GRISTMILL_BATCH_SIZE",
        help="items per message to a worker (default: automatic)",
    ),
]
MaxItemsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-items", min=0, envvar="GRISTMILL_MAX_ITEMS", help="process at most this many items in this run"
    ),
]
ReprocessOpt = Annotated[bool, typer.Option("--reprocess", help="process every item again, done or not")]
ForceRefreshOpt = Annotated[
    bool, typer.Option("--force-refresh", help="list the source again before running")
]
PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="list the source again (as --force-refresh) and delete the outputs of items it no longer has",
    ),
]
RetriesOpt = Annotated[
    int,
    typer.Option(
        "--retries", min=0, envvar="GRISTMILL_RETRIES", help="retries of transient errors and dead workers"
    ),
]


MIN_TIMEOUT = 0.001


def _seconds(value: float | None) -> float | None:
    """A --timeout, checked here: a range check would say of nan that it is too small."""
    if value is not None and (math.isnan(value) or value < MIN_TIMEOUT):
        raise typer.BadParameter(f"give a number of seconds, at least {MIN_TIMEOUT}, not {value}")
    return value


TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", envvar="GRISTMILL_TIMEOUT", callback=_seconds, help="seconds one item may take"
    ),
]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="stop at the first failed item")]
ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: on a terminal)")
]
StartMethodOpt = Annotated[str | None, typer.Option("--start-method", help="forkserver, spawn or fork")]
MaxItemsPerWorkerOpt = Annotated[
    int | None, typer.Option("--max-items-per-worker", min=1, help="recycle workers after this many items")
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="GRISTMILL_RAY_ADDRESS",
        help="with --executor ray: auto, HOST:PORT or ray://HOST:10001 "
        "(default: RAY_ADDRESS, else a Ray started here)",
    ),
]
ThreadsOpt = Annotated[
    int,
    typer.Option(
        "--threads",
        min=1,
        envvar="GRISTMILL_THREADS",
        help="with --executor ray: items at once in each worker",
    ),
]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="more detail")]
AnonymousOpt = Annotated[
    bool, typer.Option("--anonymous", help="read the source without credentials (a public bucket)")
]
EndpointUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="GRISTMILL_ENDPOINT_URL",
        help="address of an S3-compatible store (MinIO, Ceph…) for s3:// URLs",
    ),
]
DownloadsOpt = Annotated[
    int | None,
    typer.Option(
        "--downloads",
        min=1,
        envvar="GRISTMILL_DOWNLOADS",
        help="items each worker fetches at once (default: 16 from a store, 1 from local files)",
    ),
]
ManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--manifest",
        envvar="GRISTMILL_MANIFEST",
        help="list the items from this file (one path per line, as manifest generate writes) instead",
    ),
]
DownloadDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--download-dir",
        envvar="GRISTMILL_DOWNLOAD_DIR",
        help="save each object from a store here before processing it (default: in memory only)",
    ),
]
ReDownloadOpt = Annotated[
    bool, typer.Option("--re-download", help="fetch objects again even if already in --download-dir")
]
PreserveDownloadsOpt = Annotated[
    bool, typer.Option("--preserve-downloads", help="keep downloads once their items are finished")
]
KeepLocalOpt = Annotated[
    Path | None,
    typer.Option(
        "--keep-local", envvar="GRISTMILL_KEEP_LOCAL", help="also keep every output under this folder"
    ),
]
ProcessedManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--processed-manifest",
        envvar="GRISTMILL_PROCESSED_MANIFEST",
        help="URL of the list of done items kept for other machines "
        "(default: processed.manifest.jsonl beside outputs in a store)",
    ),
]


def handle_errors(func: F) -> F:
    """Errors become one clear line and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, SourceError) as exc:
            fail(str(exc), 2)
        except GristmillError as exc:
            fail(str(exc), 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # `gristmill failures | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
            raise typer.Exit(141) from None  # as a shell reports a command that SIGPIPE ended
        except Exception as exc:  # a bug of ours or of a processor's setup: say so plainly
            log.debug("internal error", exc_info=True)
            hint = "" if log.isEnabledFor(logging.DEBUG) else " (run with -v for the traceback)"
            fail(f"unexpected {type(exc).__name__}: {exc}{hint}", 1)

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int) -> None:
    typer.echo(f"gristmill: error: {redact(message)}", err=True)
    raise typer.Exit(code)


def setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = logs.handler()
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if verbose:  # what the stores' libraries say, through the same masking: -vv, every request
        from gristmill.storage import STORE_LOGGERS

        for name in STORE_LOGGERS:
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def load(
    spec: str,
    source: str | None,
    output: str | None,
    *,
    endpoint_url: str | None = None,
    keep_local: Path | None = None,
    **files: Any,
) -> Pipeline:
    """The pipeline ``spec`` names, with the command line's changes.

    ``files`` are settings of a `Files` source given on the command line (``anonymous``,
    ``manifest``, ``download_dir``…); those left at None or False leave the source as it is.
    A source with the same settings (`Tables` has ``url`` and ``anonymous``) takes them too.
    """
    from gristmill.loader import load_pipeline

    pipeline = load_pipeline(spec)
    if source is not None:
        check_source(source)
        if "url" in type(pipeline.source).model_fields:
            pipeline.source = pipeline.source.model_copy(update={"url": source})
        else:  # a source of the user's own: what would --source change in it?
            raise ConfigError(
                "--source applies to a pipeline whose source has a url (Files, Tables); "
                f"this one's is {type(pipeline.source).__name__}"
            )
    if output is not None:
        folder: str | Path = output if is_remote(output) else Path(output)
        if isinstance(pipeline.sink, FileSink):
            pipeline.sink = pipeline.sink.moved_to(folder)
        elif pipeline.sink is None:
            pipeline.sink = JsonFiles(folder=folder)
        else:
            raise ConfigError(f"--output does not apply: this pipeline writes to {pipeline.sink!r}")
    given = {name: value for name, value in files.items() if value not in (None, False)}
    manifest = given.get("manifest")
    if manifest is not None and not is_remote(manifest) and not Path(manifest).is_file():
        # said now: found missing later, it would pass for a changed manifest or a bucket's fault
        raise ConfigError(f"--manifest {manifest}: no such file")
    if given:
        foreign = [name for name in given if name not in type(pipeline.source).model_fields]
        if foreign:
            flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
            raise ConfigError(f"{flags} apply to files, not to {pipeline.source!r}")
        pipeline.source = pipeline.source.model_copy(update=given)
        url = str(getattr(pipeline.source, "url", ""))
        if "download_dir" in given and not is_remote(url):  # else left unused without a word
            raise ConfigError(f"--download-dir applies to a source in a store; {url} is a local folder")
    if endpoint_url is not None:
        set_endpoint(pipeline, endpoint_url)
    if keep_local is not None:
        if not isinstance(pipeline.sink, FileSink):
            raise ConfigError(f"--keep-local applies to file outputs, not to {pipeline.sink!r}")
        pipeline.sink = pipeline.sink.model_copy(update={"keep_local": keep_local})
    return pipeline


def check_source(url: str) -> None:
    """Refuse a --source URL with credentials in it: stores take them from their settings,
    and a bucket named ``KEY:SECRET@bucket`` only fails later, in a store's own words."""
    bucket = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    if protocol(url) in S3 | GCS and re.search("[:@]", bucket):  # never in a bucket's name
        raise ConfigError(
            f"--source {redact(url)}: credentials do not go in the URL; give them in the store's "
            "settings (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS)"
        )
    check_password(url, "--source")


def open_ledger(pipeline: str | None, state: str | None) -> tuple[str, Ledger]:
    """The ledger of a finished or running run, and where it is (for messages)."""
    state = check_state(state)
    if is_database_url(state):
        assert state is not None
        if pipeline is None:
            raise ConfigError("with a database as --state, give the pipeline too: its name is the run's")
        return redact(state), ledger_for(load(pipeline, None, None), state, None)
    folder = find_state(pipeline, None if state is None else Path(state))
    return str(folder), SqliteLedger(folder, reader=True)


def ledger_for(pipeline: Pipeline, state: str | None, shard: Shard | None) -> Ledger:
    """The ledger a run of PIPELINE uses: in a database, or in its state folder."""
    state = check_state(state)
    if is_database_url(state):
        from gristmill.ledger.postgres import PostgresLedger

        assert state is not None
        return PostgresLedger(state, pipeline.run_name(shard))
    return pipeline.open_ledger(None if state is None else Path(state), shard)


def set_endpoint(pipeline: Pipeline, endpoint_url: str) -> None:
    """The endpoint goes to the source and the output that are in an S3-compatible store."""
    if "@" in endpoint_url.partition("://")[2].split("/", 1)[0]:
        raise ConfigError(
            f"--endpoint-url {redact(endpoint_url)}: credentials do not go in the endpoint; "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead"
        )
    used = False
    if isinstance(pipeline.source, Files | Tables) and protocol(pipeline.source.url) in S3 | GCS:
        pipeline.source = pipeline.source.model_copy(update={"endpoint_url": endpoint_url})
        used = True
    if isinstance(pipeline.sink, FileSink) and protocol(str(pipeline.sink.folder)) in S3 | GCS:
        pipeline.sink = pipeline.sink.model_copy(update={"endpoint_url": endpoint_url})
        used = True
    if not used:
        raise ConfigError("--endpoint-url applies to s3:// (or gs://) sources and outputs; this run has none")


def find_state(pipeline: str | None, state: Path | None) -> Path:
    if state is not None:
        if not (state / LEDGER_FILE).exists():
            raise ConfigError(f"no run found in {state}: it has no {LEDGER_FILE}")
        return state
    if pipeline is None:
        return _the_only_run()
    folder = load(pipeline, None, None).state_folder()
    if not (folder / LEDGER_FILE).exists():
        shards = sorted(ledger.parent for ledger in folder.glob(f"shard-*-of-*/{LEDGER_FILE}"))
        if shards:
            flags = " ".join(f"--state {shard}" for shard in shards)
            raise ConfigError(f"{pipeline!r} ran in shards, each with its state folder: give {flags}")
        raise ConfigError(f"{pipeline!r} has not been run yet (no ledger in {folder})")
    return folder


def _the_only_run() -> Path:
    """The state folder under .gristmill/ when there is one run there (an extract's folder
    is named after a hash of its settings), else what to say instead."""
    from gristmill.pipeline import STATE_ROOT

    runs = sorted(
        (ledger.parent for ledger in STATE_ROOT.glob(f"**/{LEDGER_FILE}")),
        key=lambda folder: (folder / LEDGER_FILE).stat().st_mtime,
        reverse=True,
    )
    if len(runs) == 1:
        return runs[0]
    listed = "; the runs here, latest first: " + ", ".join(map(str, runs[:10])) if runs else ""
    raise ConfigError(f"say which run: give the pipeline or --state FOLDER{listed}")


def parse_shard(text: str | None) -> Shard | None:
    return None if text is None else Shard.parse(text)


def print_summary(result: RunResult, state: str, *, reprocess: bool = False, database: bool = False) -> None:
    """The run's counts; DATABASE: STATE is a (masked) database URL, which the user must give
    again in full to see the failures."""
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
        again = "the same command again, without --reprocess," if reprocess else "the same command again"
        typer.echo(f"interrupted: run {again} to continue", err=True)
    elif result.counts.failed:
        where = "PIPELINE --state <your database URL>" if database else f"--state {state}"
        typer.echo(f"see the failures with: gristmill failures {where}", err=True)


# Every option of a run, as a command's parameter: (annotation, default). `run_command`
# gives them to each command that runs a pipeline, so they are declared once.
RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "state": (StateOpt, None),
    "workers": (WorkersOpt, None),
    "executor": (ExecutorOpt, "pool"),
    "batch_size": (BatchSizeOpt, None),
    "max_items": (MaxItemsOpt, None),
    "reprocess": (ReprocessOpt, False),
    "force_refresh": (ForceRefreshOpt, False),
    "prune": (PruneOpt, False),
    "retries": (RetriesOpt, 2),
    "timeout": (TimeoutOpt, None),
    "fail_fast": (FailFastOpt, False),
    "progress": (ProgressOpt, None),
    "start_method": (StartMethodOpt, None),
    "max_items_per_worker": (MaxItemsPerWorkerOpt, None),
    "shard": (ShardOpt, None),
    "ray_address": (RayAddressOpt, None),
    "threads": (ThreadsOpt, 1),
    "downloads": (DownloadsOpt, None),
    "processed_manifest": (ProcessedManifestOpt, None),
    "verbose": (VerboseOpt, 0),
}


def run_command(command: F) -> F:
    """COMMAND, given every run option after its own; it receives them as one dict,
    ``run``, to hand to `execute` (logging is set up from ``--verbose`` already)."""
    hints = get_type_hints(command, include_extras=True)
    own = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in inspect.signature(command).parameters.items()
        if name != "run"
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, (annotation, default) in RUN_OPTIONS.items()
    ]

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = {name: kwargs.pop(name) for name in RUN_OPTIONS}
        setup_logging(run.pop("verbose"))
        run["state"] = check_state(run["state"])
        return command(*args, run=run, **kwargs)

    parameters = own + added
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def execute(pipeline: Pipeline, run: dict[str, Any], **changes: Any) -> None:
    """Run PIPELINE with the command line's run options (``run``, from `run_command`; a
    command may change some, as ``changes``), print the summary and exit with its code."""
    options = {**run, **changes}
    state, shard = options.pop("state"), options.pop("shard")
    options["refresh"] = options.pop("force_refresh")
    part = parse_shard(shard)
    result = pipeline.run(state=state, shard=part, **options)
    database = is_database_url(state)
    if database:
        where = redact(state)
    else:
        where = str(pipeline.state_folder(None if state is None else Path(state), part))
    print_summary(result, where, reprocess=options["reprocess"], database=database)
    raise typer.Exit(result.exit_code)
