"""Samples as rows of a PostgreSQL or SQLite table, replaced whole when an item is redone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import PrivateAttr

from gristmill._exceptions import ConfigError, SinkError
from gristmill.manifest import Item
from gristmill.samples import BaseSample
from gristmill.serialize import SQL_PLAIN, cell, fields_of
from gristmill.sinks.base import Sink
from gristmill.sql.database import Database, check_table, connect, quote, quote_column, reason
from gristmill.sql.types import COERCE, SqlType
from gristmill.storage.urls import redact

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger

ITEMS = "gristmill_committing"  # temporary table of the item ids a commit replaces


def _kind(value: Any) -> SqlType:
    """The column type for a Python value (the first non-null one of a column)."""
    if isinstance(value, bool):
        return SqlType.BOOLEAN
    if isinstance(value, int):
        return SqlType.INTEGER
    if isinstance(value, (float, Decimal)):
        return SqlType.DECIMAL
    if isinstance(value, dt.datetime):
        return SqlType.TIMESTAMP
    if isinstance(value, dt.date):
        return SqlType.DATE
    return SqlType.TEXT


class SqlSink(Sink):
    """Each sample becomes a row of TABLE in DB (``postgresql://...`` or ``sqlite:///path``).

    ``columns`` picks the sample fields to store (default: all but ``processing_history``);
    dicts, lists, NumPy arrays and other values without a column type are stored as JSON
    text, as the file sinks write them. Every row also carries the id of the item it came
    from (``item_column``). The coordinator writes rows in batches; a batch deletes its
    items' earlier rows and inserts the new ones in one transaction, so an item redone after
    a crash never leaves its rows twice. The table is made, if absent, by the first write
    that has rows: its columns are ``columns``, or else every field of that batch's rows in
    the order first seen, their types taken from the values (PostgreSQL: binary COPY; SQLite:
    executemany). A field missing from a row is NULL there; without ``columns``, an item with
    a field the table has no column for fails, saying so, rather than lose it.
    """

    batched: ClassVar[bool] = True

    db: str
    table: str
    columns: list[str] | None = None
    item_column: str = "item_id"

    _database: Database | None = PrivateAttr(default=None)
    _columns: dict[str, SqlType] | None = PrivateAttr(default=None)  # the table's, once known

    def __repr__(self) -> str:
        return f"SqlSink(db={redact(self.db)!r}, table={self.table!r})"

    def __getstate__(self) -> dict[Any, Any]:
        # workers get the configuration, not the coordinator's connection
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_database": None, "_columns": None}
        return state

    def check(self) -> None:
        check_table(self.table)
        self._connection()

    def _connection(self) -> Database:
        if self._database is None:
            self._database = connect(self.db)
        return self._database

    def encode(self, item: Item, samples: Sequence[BaseSample]) -> Any:
        fields = set(self.columns) if self.columns else None
        # an array, a list or a dict becomes JSON text here, as every file sink writes it
        rows = [
            {name: cell(value, SQL_PLAIN) for name, value in dumped.items()}
            for dumped in (s.model_dump(include=fields, exclude={"processing_history"}) for s in samples)
        ]
        if self.columns:
            missing = [c for c in self.columns if rows and c not in rows[0]]
            if missing:
                raise ConfigError(f"SqlSink: the samples have no field {missing} (columns={self.columns})")
        return rows

    def commit(self, batch: Sequence[tuple[Item, Any]]) -> dict[str, str]:
        db = self._connection()
        refusals: tuple[type[Exception], ...] = (ValueError, TypeError, ArithmeticError, *db.value_errors)
        try:
            return self._write(db, batch)
        except refusals as exc:  # rows the database (or a column's type) refuses: whose? each
            # item alone says, and only those fail
            if len(batch) == 1:
                why = reason(exc) if isinstance(exc, db.errors) else f"a value does not fit its column: {exc}"
                return {batch[0][0].id: f"{self!r} refused its rows: {why}"}
            return {item_id: why for one in batch for item_id, why in self.commit([one]).items()}
        except db.errors as exc:  # the database itself (gone, full, ...): the run stops
            raise SinkError(f"{self!r} could not write {len(batch)} items: {reason(exc)}") from None

    def _write(self, db: Database, batch: Sequence[tuple[Item, Any]]) -> dict[str, str]:
        """Replace the rows of the batch's items, in one transaction, but for those with a
        field the table has no column for: those fail, each with the reason."""
        try:
            with db.transaction():
                table = self._table(db, batch)
                if table is None:  # no table yet, and no row to make it from: nothing to replace
                    return {}
                unfit = {item.id: why for item, rows in batch if (why := self._unfit(rows, table))}
                batch = [(item, rows) for item, rows in batch if item.id not in unfit]
                if batch:
                    self._delete(db, [item for item, _ in batch])
                    names = self.columns or fields_of(row for _, rows in batch for row in rows)
                    convert = [(COERCE[table[n]], n) for n in names]
                    rows = (
                        [item.id, *(None if row.get(n) is None else f(row[n]) for f, n in convert)]
                        for item, payload in batch
                        for row in payload
                    )
                    db.load(self.table, [self.item_column, *names], rows)
                return unfit
        except BaseException:
            self._columns = None  # a table made in the rolled-back transaction is not there
            raise

    def _unfit(self, rows: Sequence[dict[str, Any]], table: dict[str, SqlType]) -> str | None:
        """Why ROWS cannot be stored whole in TABLE (a field it has no column for), or None."""
        if self.columns:  # the rows hold these fields alone, and the table has them all
            return None
        missing = [n for n in fields_of(rows) if n not in table]
        if not missing:
            return None
        them = "them" if len(missing) > 1 else "it"
        return (
            f"{self!r} cannot store its rows: the table {self.table} has no column "
            f"{' or '.join(map(repr, missing))} (its columns: {', '.join(table)}), and a field left out "
            f"would be lost; add {them} (ALTER TABLE ... ADD COLUMN), choose the fields to store "
            "(SqlSink(columns=...)) or write to another table"
        )

    def forget(self, items: Sequence[Item]) -> None:
        db = self._connection()
        try:
            if db.columns(self.table) is not None:  # no table: nothing was written
                with db.transaction():
                    self._delete(db, items)
        except db.errors as exc:
            raise SinkError(f"{self!r} could not delete the rows of items gone: {reason(exc)}") from None

    def _delete(self, db: Database, items: Sequence[Item]) -> None:
        """Delete the rows of ``items`` (in the caller's transaction)."""
        db.execute(f"{db.temporary(ITEMS)} (id TEXT)")
        db.execute(f"DELETE FROM {quote(ITEMS)}")
        db.load(ITEMS, ["id"], [(item.id,) for item in items])
        where = f"{quote_column(self.item_column)} IN (SELECT id FROM {quote(ITEMS)})"
        db.execute(f"DELETE FROM {quote(self.table)} WHERE {where}")

    def _table(self, db: Database, batch: Sequence[tuple[Item, Any]]) -> dict[str, SqlType] | None:
        """The table's columns and their types; makes the table on the first write that has a
        row, its columns ``columns`` or else every field of the batch's rows, in the order first
        seen, their types taken from the values. None: no table and no row."""
        if self._columns is None:
            existing = db.columns(self.table)
            if existing is None:
                rows = [row for _, payload in batch for row in payload]
                if not rows:
                    return None
                names = self.columns or fields_of(rows)
                kinds = [_kind(next((r[n] for r in rows if r.get(n) is not None), None)) for n in names]
                existing = dict(zip([self.item_column, *names], [SqlType.TEXT, *kinds], strict=True))
                declared = ", ".join(f"{quote_column(n)} {db.column_type(k)}" for n, k in existing.items())
                db.execute(f"CREATE TABLE {quote(self.table)} ({declared})")
                index = quote_column(f"{self.table.replace('.', '_')}_{self.item_column}"[:63])
                db.execute(f"CREATE INDEX {index} ON {quote(self.table)} ({quote_column(self.item_column)})")
            else:
                missing = [n for n in [self.item_column, *(self.columns or ())] if n not in existing]
                if missing:
                    them = "them" if len(missing) > 1 else "it"
                    raise ConfigError(
                        f"the table {self.table} has no column {' or '.join(map(repr, missing))} (its "
                        f"columns: {', '.join(existing)}); add {them} (ALTER TABLE ... ADD COLUMN), leave "
                        f"{them} out (SqlSink(columns=...)) or write to another table"
                    )
            self._columns = existing
        return self._columns

    def finish(self, ledger: Ledger) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None
            self._columns = None
