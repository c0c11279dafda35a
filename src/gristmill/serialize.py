"""Samples to JSON bytes (orjson), with NumPy arrays and raw bytes handled."""

from __future__ import annotations

import base64
import datetime as dt
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    tolist = getattr(value, "tolist", None)  # NumPy scalars and non-contiguous arrays
    if callable(tolist):
        return tolist()
    try:  # what pydantic writes as JSON: Decimal (exact, as a string), Path, timedelta...
        return to_jsonable_python(value)
    except PydanticSerializationError:
        raise TypeError(f"cannot write {type(value).__name__} as JSON") from None


def to_record(sample: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """A sample as a plain dict, fields in declaration order."""
    return sample.model_dump(mode="python", exclude=exclude)


def fields_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of RECORDS once, in the order first seen: the columns of a table of samples
    that need not all have the same fields (a subclass's extra ones, say)."""
    return list(dict.fromkeys(name for record in records for name in record))


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """JSON bytes for a sample, a record or a list of either."""
    if isinstance(value, BaseModel):
        value = to_record(value)
    # orjson imports NumPy for OPT_SERIALIZE_NUMPY, a sixth of a second in every worker; a
    # sample holding an array means NumPy is imported already
    numpy = orjson.OPT_SERIALIZE_NUMPY if "numpy" in sys.modules else 0
    option = orjson.OPT_NON_STR_KEYS | numpy | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, default=_default, option=option)


PLAIN = (str, int, float, bool)  # what a CSV writer or a database driver takes as it is


def cell(value: Any, keep: tuple[type, ...] = PLAIN) -> Any:
    """VALUE as one cell of a table (CSV, SQL): None and KEEP's types as they are; a value
    JSON writes as a string or a number (a date, a UUID, a NumPy number) as that string or
    number; anything else (a list, a dict, an array) as JSON text, as the other sinks write it."""
    if value is None or isinstance(value, keep):
        return value
    encoded = dumps(value)
    return encoded.decode() if encoded[:1] in (b"[", b"{") else orjson.loads(encoded)


# What a database column types itself (sql.types): kept as they are for it
SQL_PLAIN = (*PLAIN, Decimal, dt.date)
