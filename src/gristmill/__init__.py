"""gristmill: parallel, resumable batch processing of document corpora and record sets."""

from typing import TYPE_CHECKING

from gristmill import _lazy
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

if TYPE_CHECKING:
    from gristmill.manifest import Item, Shard
    from gristmill.pipeline import Pipeline, RunOptions, RunResult
    from gristmill.processors import Cache, Compose, Processor, Save
    from gristmill.ratelimit import RateLimit
    from gristmill.samples import BaseSample, Document, Element

__version__ = "0.1.0"

__getattr__ = _lazy.exports(
    __name__,
    {
        "gristmill.manifest": ("Item", "Shard"),
        "gristmill.pipeline": ("Pipeline", "RunOptions", "RunResult"),
        "gristmill.processors": ("Cache", "Compose", "Processor", "Save"),
        "gristmill.ratelimit": ("RateLimit",),
        "gristmill.samples": ("BaseSample", "Document", "Element"),
    },
)

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
