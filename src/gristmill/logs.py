"""gristmill's log lines, with keys, signatures and passwords masked: in the coordinator and
in every worker process, where a processor may log a URL that holds a password."""

from __future__ import annotations

import logging
import sys

from gristmill.storage.urls import redact

LOGGER = "gristmill"
FORMAT = "%(asctime)s %(levelname)s %(message)s"


class Redacting(logging.Formatter):
    """Log lines (tracebacks included) with keys, signatures and passwords masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def handler() -> logging.Handler:
    """The handler every gristmill process logs through: stderr, secrets masked."""
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(Redacting(FORMAT, "%H:%M:%S"))
    return to_stderr


def setup_worker() -> None:
    """In a worker's own process, the coordinator's handler on the ``gristmill`` logger tree,
    unless the process has one already (forked from the coordinator, or a reused Ray worker):
    a spawned one has none, and Python's last-resort handler would print secrets."""
    log = logging.getLogger(LOGGER)
    if log.handlers:
        return
    log.addHandler(handler())
    log.propagate = False
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)  # as the command line's default
