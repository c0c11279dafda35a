"""Where the command line finds its settings: flags, then ``GRISTMILL_*`` environment
variables, then a ``.env`` file, then ``gristmill.toml``, all in the current folder.

``.env`` holds ``GRISTMILL_WORKERS=4`` lines; ``gristmill.toml`` holds a table per command::

    [run]
    workers = 4
    timeout = 60
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gristmill._exceptions import ConfigError

PREFIX = "GRISTMILL_"


def load_dotenv(path: Path = Path(".env")) -> None:
    """Export the file's ``GRISTMILL_*`` settings that the environment does not already set."""
    if not path.is_file():
        return
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, found {line!r}")
        key, value = key.strip(), value.strip().strip("'\"")
        if key.startswith(PREFIX):
            os.environ.setdefault(key, value)


def load_toml(path: Path = Path("gristmill.toml")) -> dict[str, Any]:
    """Per-command defaults (click's ``default_map``): ``{"run": {"workers": 4}}``."""
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    loose = [key for key, value in data.items() if not isinstance(value, dict)]
    if loose:
        raise ConfigError(
            f"{path}: {', '.join(map(repr, loose))} outside any section; put settings under the "
            "command they are for ([run], [extract], ...)"
        )
    return {command: _parameters(table) for command, table in data.items()}


def _parameters(table: dict[str, Any]) -> dict[str, Any]:
    """Option names as on the command line, with dashes, as click's parameter names; a
    table inside is a subcommand's (``[manifest.generate]``)."""
    return {
        key if isinstance(value, dict) else key.replace("-", "_"): _parameters(value)
        if isinstance(value, dict)
        else value
        for key, value in table.items()
    }
