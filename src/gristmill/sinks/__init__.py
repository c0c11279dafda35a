"""Sinks: where results go."""

from typing import TYPE_CHECKING

from gristmill import _lazy

if TYPE_CHECKING:
    from gristmill.sinks.base import ListSink, Sink
    from gristmill.sinks.files import CsvFiles, FileSink, JsonFiles, JsonlFiles, ParquetFiles
    from gristmill.sinks.opensearch import OpenSearchSink
    from gristmill.sinks.sql import SqlSink

__getattr__ = _lazy.exports(
    __name__,
    {
        "gristmill.sinks.base": ("ListSink", "Sink"),
        "gristmill.sinks.files": ("CsvFiles", "FileSink", "JsonFiles", "JsonlFiles", "ParquetFiles"),
        "gristmill.sinks.opensearch": ("OpenSearchSink",),
        "gristmill.sinks.sql": ("SqlSink",),
    },
)

__all__ = [
    "CsvFiles",
    "FileSink",
    "JsonFiles",
    "JsonlFiles",
    "ListSink",
    "OpenSearchSink",
    "ParquetFiles",
    "Sink",
    "SqlSink",
]
