"""Ledgers: where every item's state is kept (SQLite by default, in memory for tests)."""

from gristmill.ledger.base import Counts, Ledger, Outcome, Record, Run, Status, Todo
from gristmill.ledger.memory import MemoryLedger
from gristmill.ledger.sqlite import SqliteLedger

__all__ = [
    "Counts",
    "Ledger",
    "MemoryLedger",
    "Outcome",
    "Record",
    "Run",
    "SqliteLedger",
    "Status",
    "Todo",
]
