"""``gristmill index``: JSON/JSONL documents from an earlier run into an OpenSearch index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gristmill._exceptions import ConfigError
from gristmill.cli.common import (
    app,
    execute,
    handle_errors,
    run_command,
)
from gristmill.pipeline import Pipeline
from gristmill.records import ReadRecords
from gristmill.sinks.opensearch import MAX_BYTES, OpenSearchSink
from gristmill.sources.files import Files
from gristmill.storage.urls import check_password


@app.command()
@handle_errors
@run_command
def index(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE", help="folder or URL of .json / .jsonl files (an earlier run's output)"
        ),
    ],
    opensearch: Annotated[
        str,
        typer.Option(
            "--opensearch",
            envvar="GRISTMILL_OPENSEARCH_URL",
            help="https://[user:password@]host:9200 (the password is never printed)",
        ),
    ],
    index_name: Annotated[str, typer.Option("--index", help="the index to write (made if absent)")],
    purge: Annotated[
        bool, typer.Option("--purge", help="delete and recreate the index, then index everything again")
    ] = False,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="JSON file of the index's settings and mappings")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="GRISTMILL_OPENSEARCH_API_KEY", show_default=False, help="API key (secret)"
        ),
    ] = None,
    aws_region: Annotated[
        str | None,
        typer.Option(
            "--aws-region",
            envvar="GRISTMILL_OPENSEARCH_AWS_REGION",
            help="sign requests with AWS SigV4 (Amazon OpenSearch)",
        ),
    ] = None,
    pattern: Annotated[str, typer.Option("--pattern", help="which files (shell pattern)")] = "*",
    bulk_bytes: Annotated[int, typer.Option("--bulk-bytes", min=1, help="largest bulk body")] = MAX_BYTES,
    no_count_check: Annotated[
        bool,
        typer.Option(
            "--no-count-check",
            help="skip the final count check (other writers, such as other shards, share the index)",
        ),
    ] = False,
    no_verify_certs: Annotated[
        bool, typer.Option("--no-verify-certs", help="accept any TLS certificate")
    ] = False,
    *,
    run: dict[str, Any],
) -> None:
    """Bulk-index the documents of every JSON/JSONL file under SOURCE; rerun to resume."""
    check_password(opensearch, "--opensearch")  # else a part of the password is read as the port
    try:
        sink = OpenSearchSink(
            url=opensearch,
            index=index_name,
            api_key=api_key,
            aws_region=aws_region,
            mapping=_mapping(mapping),
            purge=purge,
            max_bytes=bulk_bytes,
            verify_certs=not no_verify_certs,
            check_count=not no_count_check,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid option: {_first_error(exc)}") from None
    pipeline = Pipeline(Files(url=source, pattern=pattern), [ReadRecords()], sink, name=f"index-{index_name}")
    execute(pipeline, run, reprocess=run["reprocess"] or purge)  # a purged index holds nothing: all again


def _mapping(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--mapping {path}: {exc}") from None
    if not isinstance(found, dict):
        raise ConfigError(f'--mapping {path}: expected an object like {{"mappings": {{...}}}}')
    return found


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)
