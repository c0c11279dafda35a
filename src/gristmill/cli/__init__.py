"""The ``gristmill`` command: a thin layer over the Python API.

Each module of this package registers its commands on the one ``app`` of ``common``.
"""

from __future__ import annotations

import gc
import re
import signal
import sys
from typing import Any

__all__ = ["main"]

# Commands whose workers' imports are known before the command loads (the package naming
# them in IMPORTS): their fork server starts first, so that its imports and this process's
# run side by side (see `gristmill.executors.forkserver`). Other commands start theirs
# with the pool, on the imports their processors name.
EARLY_IMPORTS = {"extract": "gristmill.documents"}


def main() -> None:
    # Until a run installs its own handler (drain, then stop), SIGTERM stops the command as
    # Ctrl-C does, with 130 and a word, instead of killing it outright.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _main()
    except KeyboardInterrupt:  # before a command's own handling of it (loading, parsing)
        print("gristmill: error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _main() -> None:
    from gristmill._exceptions import ConfigError
    from gristmill.settings import load_dotenv, load_toml

    try:
        load_dotenv()  # before any worker process exists: they all see its variables
        defaults = load_toml()
    except ConfigError as exc:
        print(f"gristmill: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    start_workers_early(sys.argv[1:], defaults)
    # loading the commands takes a few tenths of a second: the fork server starts meanwhile
    from gristmill.cli import extract, importer, index, run  # noqa: F401  (each registers its commands)
    from gristmill.cli.common import app

    if defaults:
        import typer

        try:
            check_settings(typer.main.get_command(app), defaults)
        except ConfigError as exc:
            print(f"gristmill: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
    if {"-h", "--help"} & set(sys.argv[1:]):  # help shows gristmill.toml's values as defaults
        defaults = masked(defaults)
    try:
        app(default_map=defaults)
    finally:
        from gristmill.executors import forkserver

        forkserver.stop()
        # The interpreter's last collections would walk every object the run made, only for
        # the process to end: a tenth of a second after a large run, which its caller waits.
        gc.freeze()


def start_workers_early(args: list[str], defaults: dict[str, Any] | None = None) -> None:
    """For a command that will run a local pool on known imports, start its fork server now
    (``defaults``: gristmill.toml's, by command)."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in EARLY_IMPORTS or {"-h", "--help"} & set(args):
        return
    settings = (defaults or {}).get(command, {})
    for option, wanted in (("executor", "pool"), ("start_method", "forkserver")):
        if _given(f"--{option.replace('_', '-')}", args, settings.get(option, wanted)) != wanted:
            return
    import importlib

    from gristmill.executors import forkserver

    forkserver.start(importlib.import_module(EARLY_IMPORTS[command]).IMPORTS)


def check_settings(command: Any, settings: dict[str, Any], where: str = "") -> None:
    """Refuse a gristmill.toml section or setting that no command has: a mistyped one
    (``timout = 3``) would otherwise be left out without a word."""
    from gristmill._exceptions import ConfigError

    children = getattr(command, "commands", None)
    if children is None:
        known = {param.name for param in command.params}
        # a setting may be named as its flag is (json = true for --json)
        flags = {
            flag.lstrip("-").replace("-", "_"): param.name
            for param in command.params
            for flag in getattr(param, "opts", ())
            if flag.startswith("--")
        }
        for key in list(settings):
            if key not in known and key in flags:
                settings[flags[key]] = settings.pop(key)
            elif key not in known:
                arguments = {param.name for param in command.params if param.param_type_name == "argument"}
                options = ", ".join(sorted(name.replace("_", "-") for name in {*flags, *arguments} if name))
                raise ConfigError(f"gristmill.toml: [{where}] has no setting {key!r}; it has: {options}")
        return
    for key, value in settings.items():
        name = f"{where}.{key}" if where else key
        if key not in children:
            raise ConfigError(
                f"gristmill.toml: there is no command [{name}]; commands: {', '.join(sorted(children))}"
            )
        if isinstance(value, dict):
            check_settings(children[key], value, name)


# A setting whose value is a secret as a whole (api-key, password...), not a URL holding one.
_SECRET_SETTING = re.compile(r"(?i)(key|password|secret|token)$")


def masked(settings: dict[str, Any]) -> dict[str, Any]:
    """SETTINGS with their secrets masked, as --help may show them."""
    from gristmill.storage.urls import MASK, redact

    return {
        key: masked(value)
        if isinstance(value, dict)
        else MASK
        if _SECRET_SETTING.search(key)
        else redact(value)
        if isinstance(value, str)
        else value
        for key, value in settings.items()
    }


def _given(option: str, args: list[str], default: Any) -> Any:
    """OPTION's value in ARGS, else DEFAULT."""
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(option + "="):
            return arg.partition("=")[2]
    return default
