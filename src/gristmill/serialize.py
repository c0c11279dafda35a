"""Samples to JSON bytes (orjson), with NumPy arrays and raw bytes handled."""

from __future__ import annotations

import base64
import sys
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


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """JSON bytes for a sample, a record or a list of either."""
    if isinstance(value, BaseModel):
        value = to_record(value)
    # orjson imports NumPy for OPT_SERIALIZE_NUMPY, a sixth of a second in every worker; a
    # sample holding an array means NumPy is imported already
    numpy = orjson.OPT_SERIALIZE_NUMPY if "numpy" in sys.modules else 0
    option = orjson.OPT_NON_STR_KEYS | numpy | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, default=_default, option=option)
