"""Executors: where the worker loop runs."""

from typing import TYPE_CHECKING

from gristmill import _lazy

if TYPE_CHECKING:
    from gristmill.executors.base import Bundle, Executor
    from gristmill.executors.inline import InlineExecutor
    from gristmill.executors.pool import PoolExecutor
    from gristmill.executors.ray import RayExecutor

__getattr__ = _lazy.exports(
    __name__,
    {
        "gristmill.executors.base": ("Bundle", "Executor"),
        "gristmill.executors.inline": ("InlineExecutor",),
        "gristmill.executors.pool": ("PoolExecutor",),
        "gristmill.executors.ray": ("RayExecutor",),
    },
)

__all__ = ["Bundle", "Executor", "InlineExecutor", "PoolExecutor", "RayExecutor"]
