"""gristmill: parallel, resumable batch processing of document corpora and record sets."""

from gristmill._exceptions import (
    ConfigError,
    DuplicateDataError,
    ExecutorError,
    GristmillError,
    ItemTimeout,
    LedgerError,
    ProcessingError,
    SinkError,
    SkipItem,
    SourceError,
    TransientError,
    WorkerDied,
)
from gristmill.manifest import Item, Shard
from gristmill.pipeline import Pipeline, RunOptions, RunResult
from gristmill.processors import Cache, Compose, Processor, Save
from gristmill.ratelimit import RateLimit
from gristmill.samples import BaseSample, Document, Element

__version__ = "0.1.0"

__all__ = [
    "BaseSample",
    "Cache",
    "Compose",
    "ConfigError",
    "Document",
    "DuplicateDataError",
    "Element",
    "ExecutorError",
    "GristmillError",
    "Item",
    "ItemTimeout",
    "LedgerError",
    "Pipeline",
    "ProcessingError",
    "Processor",
    "RateLimit",
    "RunOptions",
    "RunResult",
    "Save",
    "Shard",
    "SinkError",
    "SkipItem",
    "SourceError",
    "TransientError",
    "WorkerDied",
    "__version__",
]
