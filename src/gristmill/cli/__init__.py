"""The ``gristmill`` command: a thin layer over the Python API.

Each module of this package registers its commands on the one ``app`` of ``common``.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

# Commands whose workers' imports are known before the command loads (the package naming
# them in IMPORTS): their fork server starts first, so that its imports and this process's
# run side by side (see `gristmill.executors.forkserver`). Other commands start theirs
# with the pool, on the imports their processors name.
EARLY_IMPORTS = {"extract": "gristmill.documents"}


def main() -> None:
    start_workers_early(sys.argv[1:])
    # loading the commands takes a few tenths of a second: the fork server starts meanwhile
    import typer

    from gristmill._exceptions import ConfigError
    from gristmill.cli import extract, importer, index, run  # noqa: F401  (each registers its commands)
    from gristmill.cli.common import app
    from gristmill.settings import load_dotenv, load_toml

    try:
        load_dotenv()
        defaults = load_toml()
    except ConfigError as exc:
        typer.echo(f"gristmill: error: {exc}", err=True)
        raise SystemExit(2) from exc
    try:
        app(default_map=defaults)
    finally:
        from gristmill.executors import forkserver

        forkserver.stop()


def start_workers_early(args: list[str]) -> None:
    """For a command that will run a local pool on known imports, start its fork server now."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in EARLY_IMPORTS or not _wants("--executor", "pool", args):
        return
    if not _wants("--start-method", "forkserver", args) or {"-h", "--help"} & set(args):
        return
    import importlib

    from gristmill.executors import forkserver

    forkserver.start(importlib.import_module(EARLY_IMPORTS[command]).IMPORTS)


def _wants(option: str, value: str, args: list[str]) -> bool:
    """Whether ARGS leave OPTION at VALUE (given so, or not given)."""
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            return args[index + 1] == value
        if arg.startswith(option + "="):
            return arg.partition("=")[2] == value
    return True
