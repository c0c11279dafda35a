"""Find the pipeline a user means: ``path/to/file.py[:name]`` or ``package.module:name``."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gristmill._exceptions import ConfigError
from gristmill.pipeline import Pipeline
from gristmill.storage.urls import redact

DEFAULT_NAMES = ("pipeline", "main")
SHOWN = 100  # characters of a wrong value that a message shows


def load_pipeline(spec: str) -> Pipeline:
    """Load a `Pipeline` (or a function returning one) named by ``spec``.

    A file is run as a module of its own (its ``if __name__ == "__main__"`` block does not
    run), and what it defines is shipped to workers by value.
    """
    target, _, name = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    if not target.strip():
        raise ConfigError(f"{spec!r} names no pipeline; give path/to/file.py[:name] or package.module:name")
    if target.endswith(".py") or "/" in target or Path(target).is_file():
        namespace = _run_file(Path(target))
        default_name = Path(target).stem
    else:
        namespace = _import(target)
        default_name = target.rsplit(".", 1)[-1]
    obj = _pick(namespace, name, spec)
    if callable(obj) and not isinstance(obj, Pipeline):
        obj = obj()
    if not isinstance(obj, Pipeline):
        what = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise ConfigError(f"{spec!r} is {what}, not a gristmill Pipeline")
    if obj.name == "pipeline" and default_name.isidentifier():
        obj.name = default_name
    return obj


def _run_file(path: Path) -> dict[str, Any]:
    """Run the file as a fresh module that cloudpickle ships to workers by value."""
    if path.is_dir():
        raise ConfigError(f"{str(path)!r} is a folder; give the pipeline's file (path/to/file.py)")
    if not path.is_file():
        raise ConfigError(f"pipeline file {str(path)!r} does not exist")
    import cloudpickle

    name = f"__gristmill_{abs(hash(str(path.resolve())))}__"
    module = types.ModuleType(name)
    module.__file__ = str(path.resolve())
    sys.modules[name] = module  # pydantic resolves annotations through sys.modules
    cloudpickle.register_pickle_by_value(module)
    sys.path.insert(0, str(path.resolve().parent))  # so it can import its neighbours
    try:
        code = compile(path.read_bytes(), str(path), "exec")
        exec(code, module.__dict__)
    except ConfigError:
        raise
    except ValidationError as exc:
        raise ConfigError(f"pipeline file {str(path)!r} failed to load: {_invalid(exc)}") from exc
    except Exception as exc:
        raise ConfigError(f"pipeline file {str(path)!r} failed to load: {type(exc).__name__}: {exc}") from exc
    return module.__dict__


def _invalid(exc: ValidationError) -> str:
    """EXC's errors, each input masked then shortened: pydantic's own message shortens a long
    input first, which can cut a URL's ``user:password@`` apart and so keep it from masking."""
    said = []
    for error in exc.errors(include_url=False):
        place = ".".join(map(str, (exc.title, *error["loc"])))
        shown = redact(repr(error["input"]))
        shown = shown if len(shown) <= SHOWN else shown[: SHOWN - 3] + "..."
        said.append(f"{place}: {error['msg']} (found {shown})")
    return f"ValidationError: {'; '.join(said)}"


def _import(module: str) -> dict[str, Any]:
    try:
        return vars(importlib.import_module(module))
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {module!r} ({exc}); give a file path (path/to/file.py) or an importable module"
        ) from exc


def _pick(namespace: dict[str, Any], name: str, spec: str) -> Any:
    if name:
        if name not in namespace:
            raise ConfigError(f"{spec!r}: no attribute {name!r} in the pipeline file")
        return namespace[name]
    found = [key for key, value in namespace.items() if isinstance(value, Pipeline)]
    if len(found) == 1:
        return namespace[found[0]]
    for key in DEFAULT_NAMES:
        if key in namespace and (isinstance(namespace[key], Pipeline) or callable(namespace[key])):
            return namespace[key]
    if not found:
        raise ConfigError(
            f"{spec!r} defines no Pipeline; define one at module level "
            "(pipeline = Pipeline(...)) or name it with FILE:NAME"
        )
    raise ConfigError(f"{spec!r} defines several pipelines ({', '.join(found)}); choose one with FILE:NAME")


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 1 and spec[1] == ":" and spec[0].isalpha() and sys.platform == "win32"
