"""Executors: where the worker loop runs."""

from gristmill.executors.base import Bundle, Executor
from gristmill.executors.inline import InlineExecutor
from gristmill.executors.pool import PoolExecutor
from gristmill.executors.ray import RayExecutor

__all__ = ["Bundle", "Executor", "InlineExecutor", "PoolExecutor", "RayExecutor"]
