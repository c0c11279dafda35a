"""Every error gristmill raises on purpose.

::

    GristmillError
    ├── ConfigError          bad option, pipeline file or URL; raised before any work (exit 2)
    ├── SourceError          a source cannot be listed or an item cannot be opened
    ├── ProcessingError      a processor failed on an item
    │   └── TransientError   …and asks to be retried with backoff (rate limits, timeouts)
    ├── SinkError            an output could not be written
    ├── LedgerError          the ledger cannot be read or written
    ├── DuplicateDataError   rows that are already present (table import)
    ├── WorkerDied           the worker process died while it held the item
    ├── ItemTimeout          the item ran past its timeout
    └── SkipItem             raised by a processor: leave this item out (status skipped)

Context is keyword-only, so messages stay readable and fields stay machine-readable.
"""

from __future__ import annotations


class GristmillError(Exception):
    """Base of every error gristmill raises on purpose."""

    def __init__(self, message: str, *, item_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.item_id = item_id

    def __str__(self) -> str:
        if self.item_id is None:
            return self.message
        return f"{self.message} (item {self.item_id!r})"


class ConfigError(GristmillError):
    """An option, pipeline file or URL is wrong; nothing has been processed."""


class SourceError(GristmillError):
    """A source cannot be listed, or one of its items cannot be opened."""


class ProcessingError(GristmillError):
    """A processor failed on an item."""

    def __init__(self, message: str, *, item_id: str | None = None, processor: str | None = None) -> None:
        super().__init__(message, item_id=item_id)
        self.processor = processor


class TransientError(ProcessingError):
    """A failure worth retrying later (rate limit, flaky network): retried with backoff."""

    def __init__(
        self,
        message: str,
        *,
        item_id: str | None = None,
        processor: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, item_id=item_id, processor=processor)
        self.retry_after = retry_after


class SinkError(GristmillError):
    """An output could not be written."""


class LedgerError(GristmillError):
    """The ledger cannot be opened, read or written."""


class DuplicateDataError(GristmillError):
    """Incoming rows that are already present; nothing was written."""

    def __init__(
        self,
        message: str,
        *,
        duplicates: int,
        chunks: int = 0,
        examples: tuple[object, ...] = (),
    ) -> None:
        super().__init__(message)
        self.duplicates = duplicates
        self.chunks = chunks
        self.examples = examples


class ExecutorError(GristmillError):
    """The executor cannot run items: no worker can start, or results cannot come back."""


class WorkerDied(GristmillError):
    """The worker process died (killed, out of memory, crashed) while it held the item."""


class ItemTimeout(GristmillError):
    """The item ran longer than its timeout; its worker was replaced."""


class SkipItem(GristmillError):
    """Raised by a processor or source to leave an item out; it is recorded as skipped."""
