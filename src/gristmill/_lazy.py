"""Imports made on first use: the names a package exports (``import gristmill`` stays cheap,
and with it every command's start and every worker's: a worker imports only what it runs),
and the optional dependencies an extra brings."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, modules: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that finds each name in its module (``modules``: module →
    names) and keeps it in the package once found."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__


def optional(module: str, extra: str) -> Any:
    """``module``, or a `ConfigError` saying which extra of gristmill installs it."""
    from gristmill._exceptions import ConfigError

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{module} is not installed: pip install 'gristmill[{extra}]'") from None
