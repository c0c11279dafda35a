"""The ``gristmill`` command: a thin layer over the Python API.

Each module of this package registers its commands on the one ``app`` of ``common``.
"""

from __future__ import annotations

import typer

from gristmill._exceptions import ConfigError
from gristmill.cli import extract as _extract  # noqa: F401  (each registers its commands)
from gristmill.cli import importer as _importer  # noqa: F401
from gristmill.cli import index as _index  # noqa: F401
from gristmill.cli import run as _run  # noqa: F401
from gristmill.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    from gristmill.settings import load_dotenv, load_toml

    try:
        load_dotenv()
        defaults = load_toml()
    except ConfigError as exc:
        typer.echo(f"gristmill: error: {exc}", err=True)
        raise SystemExit(2) from exc
    app(default_map=defaults)
