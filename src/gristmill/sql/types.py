"""Column types of an import: inferred from the data or given, and values coerced to them."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import orjson


class SqlType(str, Enum):
    """The column types gristmill reads and writes, named for the ``--schema`` file."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"  # with time zone; a value without one is taken as UTC
    TEXT = "text"


TRUE = frozenset({"true", "t", "yes", "y"})
FALSE = frozenset({"false", "f", "no", "n"})
UTC = dt.timezone.utc
LIMIT = 1 << 63  # an integer column holds -LIMIT to LIMIT - 1; a number beyond is a decimal
LEADING_ZERO = re.compile(r"\s*[+-]?0[0-9][0-9.]*\s*")  # "007", "01234": codes, not numbers


def _plain(text: str) -> str:
    """TEXT if it is written as files write numbers: ASCII, with no "_". Python's int() and
    Decimal() also read "12_34" as 1234 and "١٢٣" or full-width digits as numbers, which would turn codes
    into other values."""
    if not text.isascii() or "_" in text:
        raise ValueError(text)
    return text


def _integer(value: Any) -> int:
    """VALUE as a 64-bit integer (the widest the databases keep as one), never rounded."""
    if isinstance(value, bool) or (isinstance(value, (float, Decimal)) and value != int(value)):
        raise ValueError(value)
    number = int(_plain(value) if isinstance(value, str) else value)
    if not -LIMIT <= number < LIMIT:
        raise ValueError(value)
    return number


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(_plain(value) if isinstance(value, str) else str(value))
    except InvalidOperation as exc:
        raise ValueError(value) from exc
    if not number.is_finite():
        raise ValueError(value)
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text == "1":
        return True
    if text in FALSE or text == "0":
        return False
    raise ValueError(value)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):  # a date only if nothing of its time would be lost
        if value.tzinfo is not None or value.time() != dt.time():
            raise ValueError(value)
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, str):
        # Python 3.10's fromisoformat does not read a trailing "Z"
        stamp = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    elif isinstance(value, dt.datetime):
        stamp = value
    else:
        raise ValueError(value)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


COERCE: dict[SqlType, Callable[[Any], Any]] = {
    SqlType.INTEGER: _integer,
    SqlType.DECIMAL: _decimal,
    SqlType.BOOLEAN: _boolean,
    SqlType.DATE: _date,
    SqlType.TIMESTAMP: _timestamp,
    SqlType.TEXT: _text,
}
DESCRIBED = {
    SqlType.INTEGER: "an integer",
    SqlType.DECIMAL: "a decimal number",
    SqlType.BOOLEAN: "a boolean (true/false, yes/no, 1/0)",
    SqlType.DATE: "a date (YYYY-MM-DD)",
    SqlType.TIMESTAMP: "a timestamp (ISO 8601)",
    SqlType.TEXT: "text",
}


def _parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


# Python 3.11 reads a trailing "Z" itself: use its C parser directly
PARSE_STAMP = dt.datetime.fromisoformat if sys.version_info >= (3, 11) else _parse_stamp
BOOLEANS = dict.fromkeys((*TRUE, "1"), True) | dict.fromkeys((*FALSE, "0"), False)


def _stamp(text: str) -> dt.datetime:
    stamp = PARSE_STAMP(text)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _finite(text: str) -> Decimal:
    number = Decimal(_plain(text))
    if not number.is_finite():
        raise ValueError(text)
    return number


# How one text value (CSV) becomes its type, as an expression of "v": inlined below.
_FROM_TEXT = {
    SqlType.TEXT: "{v} or None",
    # 18 digits fit; anything else, or not ASCII, or with a "_", is checked with care
    SqlType.INTEGER: '(int({v}) if len({v}) < 19 and {v}.isascii() and "_" not in {v} else integer({v})) '
    "if {v} else None",
    SqlType.DECIMAL: "finite({v}) if {v} else None",
    SqlType.BOOLEAN: "BOOLEANS[{v}.strip().lower()] if {v} else None",
    SqlType.DATE: "date({v}) if {v} else None",
    SqlType.TIMESTAMP: "stamp({v}) if {v} else None",
}


def row_converter(kinds: Sequence[SqlType], *, strings: bool, form: str = "numbered") -> Any:
    """A function coercing rows of values to KINDS, written as one comprehension for these
    kinds (as namedtuple writes its class): about three times faster than a loop over
    columns. ``strings``: every value is text, as read from CSV. The FORM of the function:

    * ``numbered``: ``(rows, lines, chunk) -> [(line, chunk, value, ...), ...]``;
    * ``plain``: ``rows -> iterator of (value, ...)``, lazily;
    * ``reader``: ``(csv_reader, chunk_size) -> iterator of (line, chunk, value, ...)``, lazily,
      numbered by the reader's line count (the line a row ends on) and CHUNK_SIZE.

    It raises ValueError, ArithmeticError or KeyError for a value that does not fit, and
    ValueError for a row of the wrong length."""
    names = [f"c{i}" for i in range(len(kinds))]
    if strings:
        values = ", ".join(_FROM_TEXT[kind].format(v=name) for kind, name in zip(kinds, names, strict=True))
    else:
        values = ", ".join(f"None if {n} is None or {n} == '' else f{i}({n})" for i, n in enumerate(names))
    unpack = f"({', '.join(names)},)"
    code = {
        "numbered": f"lambda rows, lines, chunk: [(n, chunk, {values}) for n, {unpack} in zip(lines, rows)]",
        "plain": f"lambda rows: (({values},) for {unpack} in rows)",
        "reader": f"lambda r, size: ((r.line_num, (r.line_num - 2) // size + 1, {values}) for {unpack} in r)",
    }[form]
    scope: dict[str, Any] = {
        "finite": _finite,
        "integer": _integer,
        "stamp": _stamp,
        "date": dt.date.fromisoformat,
        "BOOLEANS": BOOLEANS,
        **{f"f{i}": COERCE[kind] for i, kind in enumerate(kinds)},
    }
    return eval(code, scope)


def coerce(kind: SqlType, value: Any) -> Any:
    """VALUE as KIND; empty strings and None are NULL. Raises ValueError."""
    if value is None or value == "":
        return None
    return COERCE[kind](value)


def _fits(kind: SqlType, value: Any) -> bool:
    if kind is SqlType.DATE and isinstance(value, str) and len(value) != 10:
        return False
    try:
        COERCE[kind](value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


INFERENCE_ORDER = (  # a column of only 1s and 0s is taken as integers
    SqlType.INTEGER,
    SqlType.BOOLEAN,
    SqlType.DECIMAL,
    SqlType.DATE,
    SqlType.TIMESTAMP,
)


def infer(values: Iterable[Any]) -> SqlType:
    """The narrowest type every non-empty value of a column fits without losing anything;
    text when none does, or when a value has leading zeros (a code, not a number)."""
    present = [v for v in values if v is not None and v != ""]
    if not present or any(isinstance(v, str) and LEADING_ZERO.fullmatch(v) for v in present):
        return SqlType.TEXT
    for kind in INFERENCE_ORDER:
        if all(_fits(kind, v) for v in present):
            return kind
    return SqlType.TEXT
