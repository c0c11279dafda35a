"""``gristmill extract``: a folder (or URL) of documents into JSON elements, one file each."""

from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from gristmill._exceptions import ConfigError
from gristmill.cli.common import (
    AnonymousOpt,
    EndpointUrlOpt,
    app,
    execute,
    handle_errors,
    run_command,
    set_endpoint,
)

POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """``10MB``, ``1.5G``, ``512KiB``, ``1e6``: bytes."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:e\d{1,2})?)\s*(?:([kmgt])(i?)b?|b)?\s*", text.lower())
    if found is None:
        raise ConfigError(f"--max-file-size {text!r} is not a size; write e.g. 50MB, 1.5G, 512KiB or 1000000")
    number, power, binary = found.groups()
    return int(float(number) * (1024 if binary else 1000) ** POWERS[power or ""])


@app.command()
@handle_errors
@run_command
def extract(
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="a folder or URL of documents, or one file")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="folder for one <file>.json per document")],
    chunk: Annotated[bool, typer.Option("--chunk/--no-chunk", help="gather elements into chunks")] = False,
    strategy: Annotated[str, typer.Option("--strategy", help="chunking: basic or by_title")] = "basic",
    max_characters: Annotated[int, typer.Option("--max-characters", min=1, help="chunk size limit")] = 500,
    new_after_n_chars: Annotated[
        int | None,
        typer.Option("--new-after-n-chars", min=1, help="close a chunk once it is this long (a soft limit)"),
    ] = None,
    overlap: Annotated[int, typer.Option("--overlap", min=0, help="characters cut pieces share")] = 0,
    skip_unsupported: Annotated[
        bool, typer.Option("--skip-unsupported", help="skip files of unknown formats instead of failing them")
    ] = False,
    max_file_size: Annotated[
        str,
        typer.Option("--max-file-size", envvar="GRISTMILL_MAX_FILE_SIZE", help="fail larger files"),
    ] = "100MB",
    pattern: Annotated[str, typer.Option("--pattern", help="only files whose path matches")] = "*",
    anonymous: AnonymousOpt = False,
    endpoint_url: EndpointUrlOpt = None,
    *,
    run: dict[str, Any],
) -> None:
    """Extract the elements of every document under SOURCE into OUTPUT; rerun to resume."""
    from gristmill.documents import Chunk, Partition
    from gristmill.pipeline import Pipeline
    from gristmill.processors import Processor
    from gristmill.sinks import JsonFiles
    from gristmill.sources import Files
    from gristmill.storage.urls import is_remote, parent_and_name

    if strategy not in ("basic", "by_title"):
        raise ConfigError(f"--strategy {strategy!r}: use basic or by_title")
    steps: list[Processor] = [Partition(skip_unsupported=skip_unsupported)]
    if chunk:
        try:
            steps.append(
                Chunk(
                    strategy=strategy,
                    max_characters=max_characters,
                    new_after_n_chars=new_after_n_chars,
                    overlap=overlap,
                )
            )
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"--chunk: {problem} (--overlap {overlap}, --max-characters {max_characters})"
            ) from None
    if is_remote(source):
        one_file = Files(url=source, anonymous=anonymous, endpoint_url=endpoint_url).names_a_file()
        if one_file:  # a single document: its folder, listed for it alone
            source, name = parent_and_name(source)
            pattern = glob.escape(name)
    else:
        one_file = Path(source).is_file()
        if one_file:  # as above (a link stays a link)
            source, pattern = str(Path(source).absolute().parent), glob.escape(Path(source).name)
    # hidden files (.DS_Store, a tool's marker) are no documents
    source_files = Files(
        url=source,
        pattern=pattern,
        exclude=("**/.*",),
        max_size=parse_size(max_file_size),
        anonymous=anonymous,
    )
    # one state per source, pattern, output and settings: the same command resumes where it
    # stopped; other settings (--chunk, a new --strategy) redo every document
    places = [place if is_remote(place) else str(Path(place).resolve()) for place in (source, output)]
    local = not is_remote(source) and not is_remote(output)
    if local and not one_file and Path(places[1]).is_relative_to(places[0]):
        raise ConfigError(
            f"the output folder {output} is inside the source {source}: the outputs would be read as "
            "documents on the next listing; write them elsewhere"
        )
    if local:
        source_files.keep_out(places[1])  # nor through a link in the source to it
    settings = "\0".join([*places, pattern, *(step.config_hash() for step in steps)])
    name = "extract-" + hashlib.sha256(settings.encode()).hexdigest()[:10]
    folder: str | Path = output if is_remote(output) else Path(output)
    pipeline = Pipeline(source_files, steps, JsonFiles(folder=folder, field="elements"), name=name)
    if endpoint_url is not None:
        set_endpoint(pipeline, endpoint_url)
    # every run lists the source again: a new document is extracted, a changed one redone
    execute(pipeline, run, force_refresh=True)
