"""Where the command line finds its settings: flags, then ``GRISTMILL_*`` environment
variables, then a ``.env`` file, then ``gristmill.toml``, all in the current folder.

``.env`` holds ``GRISTMILL_WORKERS=4`` lines; ``gristmill.toml`` holds a table per command::

    [run]
    workers = 4
    timeout = 60
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from gristmill._exceptions import ConfigError

PREFIX = "GRISTMILL_"


def load_dotenv(path: Path = Path(".env")) -> None:
    """Export the file's ``GRISTMILL_*`` settings that the environment does not already set.

    The file is often shared with other tools: their lines are skipped whatever their syntax,
    a quoted value over several lines (a PEM key) included. A message about a line names its
    file, number and key, never its content: the line may hold a secret.
    """
    if not path.is_file():
        return
    lines = enumerate(_read_text(path).splitlines(), 1)
    for number, raw in lines:
        line = raw.strip().removeprefix("export ").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if value[:1] in ("'", '"') and (len(value) == 1 or not value.endswith(value[0])):
            quote = value[0]
            for _, more in lines:  # the value goes on to the line that closes its quote
                value += "\n" + more
                if more.rstrip().endswith(quote):
                    break
            else:
                if key.startswith(PREFIX):
                    raise ConfigError(f"{path}:{number}: the quoted value of {key} is never closed")
        if not key.startswith(PREFIX):
            continue
        if not sep or not key.isidentifier():
            name = re.split(r"\W", line, maxsplit=1)[0]
            raise ConfigError(
                f"{path}:{number}: expected {name}=VALUE; the line is not in that form (not shown: "
                "it may hold a secret)"
            )
        os.environ.setdefault(key, value.strip().strip("'\""))


def load_toml(path: Path = Path("gristmill.toml")) -> dict[str, Any]:
    """Per-command defaults (click's ``default_map``): ``{"run": {"workers": 4}}``."""
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(_read_text(path))
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


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be read); save it as UTF-8"
        ) from None
