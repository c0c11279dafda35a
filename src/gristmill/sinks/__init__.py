"""Sinks: where results go."""

from gristmill.sinks.base import ListSink, Sink
from gristmill.sinks.files import CsvFiles, FileSink, JsonFiles, JsonlFiles
from gristmill.sinks.opensearch import OpenSearchSink
from gristmill.sinks.sql import SqlSink

__all__ = ["CsvFiles", "FileSink", "JsonFiles", "JsonlFiles", "ListSink", "OpenSearchSink", "Sink", "SqlSink"]
