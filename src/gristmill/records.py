"""JSON and JSONL files read back as records: what ``gristmill index`` sends to a search index."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ConfigDict

from gristmill._exceptions import ProcessingError, SkipItem
from gristmill.processors import Processor
from gristmill.samples import BaseSample, Document

LINES = (".jsonl", ".ndjson")


class Record(BaseSample):
    """A JSON object as a sample: its keys become fields as they are."""

    model_config = ConfigDict(extra="allow")


class ReadRecords(Processor):
    """A ``.json`` file (an object, or an array of objects) or a ``.jsonl``/``.ndjson`` file
    (one object a line) as records, in file order. Other files are skipped. A record keeps
    its ``id`` (as text); one without gets ``<file id>#<n>``."""

    def process(self, sample: BaseSample) -> list[Record]:
        assert isinstance(sample, Document)
        name = sample.id.lower()
        content = sample.content or b""
        if name.endswith(LINES):
            objects = [
                _parse(line, sample.id, n) for n, line in enumerate(content.splitlines(), 1) if line.strip()
            ]
        elif name.endswith(".json"):
            parsed = _parse(content, sample.id, None)
            objects = parsed if isinstance(parsed, list) else [parsed]
        else:
            raise SkipItem("not a .json, .jsonl or .ndjson file", item_id=sample.id)
        records = []
        for n, value in enumerate(objects):
            if not isinstance(value, dict):
                raise ProcessingError(
                    f"record {n + 1} is a {type(value).__name__}, not an object", item_id=sample.id
                )
            own = value.get("id")
            records.append(Record(**{**value, "id": str(own) if own is not None else f"{sample.id}#{n}"}))
        return records


def _parse(data: bytes, item_id: str, line: int | None) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        where = f"line {line}" if line is not None else "the file"
        raise ProcessingError(f"invalid JSON at {where}: {exc}", item_id=item_id) from None
