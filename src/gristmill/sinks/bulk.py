"""Bulk request bodies and answers: NDJSON bytes built directly, results mapped to items.

Each document travels as one ready line pair (action, then source) made in the worker, so
the coordinator only joins bytes. A bulk answer lists one result per line pair, in order;
`BulkOutcome` folds them back into what happened to each item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from gristmill.serialize import dumps
from gristmill.sinks.search_client import describe_error

MAX_ID_BYTES = 512  # OpenSearch refuses longer _ids
ACTION = b'{"index":{"_id":%b}}\n%b\n'
NO_ERRORS, RESULT, CREATED = b'"errors":false', b'"result":"', b'"result":"created"'


class Docs(NamedTuple):
    """One item's documents, ready to send: ``lines[k]`` is document k's action and source
    lines; ``dims`` is the length of its vectors (for a default ``knn_vector`` mapping)."""

    lines: list[bytes]
    dims: int | None = None


def doc_id(item_id: str, chunk: int) -> str:
    """The document's ``_id``: the item's id and the document's place among its documents,
    so redoing the item overwrites the same documents."""
    made = f"{item_id}#{chunk}"
    if len(made.encode()) <= MAX_ID_BYTES:
        return made
    return f"{hashlib.sha256(item_id.encode()).hexdigest()}#{chunk}"


def encode_docs(
    item_id: str,
    records: Sequence[dict[str, Any]],
    *,
    item_field: str,
    chunk_field: str,
    vector_field: str | None = None,
) -> Docs:
    """Action and source lines for an item's records; the records gain the item's id and
    their chunk number (fields used to find stale documents)."""
    lines = []
    for chunk, record in enumerate(records):
        record[item_field] = item_id
        record[chunk_field] = chunk
        try:
            source = orjson.dumps(record)  # plain options: twice as fast as with NumPy support
        except TypeError:  # NumPy arrays, bytes, sets, models: the slower path that knows them
            source = dumps(record)
        lines.append(ACTION % (orjson.dumps(doc_id(item_id, chunk)), source))
    dims = None
    if vector_field is not None and records and vector_field in records[0]:
        vector = records[0][vector_field]
        if hasattr(vector, "__len__") and not isinstance(vector, str | dict):
            dims = len(vector)
    return Docs(lines, dims)


def bodies(lines: Sequence[bytes], max_bytes: int, max_docs: int) -> Iterable[tuple[int, int]]:
    """(start, end) slices of ``lines`` that make bulk bodies within both limits."""
    start, size = 0, 0
    for index, line in enumerate(lines):
        if index > start and (size + len(line) > max_bytes or index - start >= max_docs):
            yield start, index
            start, size = index, 0
        size += len(line)
    if start < len(lines):
        yield start, len(lines)


@dataclass
class BulkOutcome:
    """What the bulk answers said, per document and per item."""

    created: int = 0  # new documents (the count check adds these up)
    throttled: list[int] = field(default_factory=list)  # documents answered 429: send again
    refused: dict[int, str] = field(default_factory=dict)  # item index -> the server's reason

    def read(self, body: bytes, owners: Sequence[int], positions: Sequence[int]) -> None:
        """Fold one bulk answer in. ``owners[k]`` is the item of the k-th document sent and
        ``positions[k]`` where that document is in the commit."""
        if NO_ERRORS in body[:64] and body.count(RESULT) == len(positions):
            self.created += body.count(CREATED)  # all went in: no need to parse the answer
            return
        answer = orjson.loads(body)
        items = answer.get("items") or []
        if len(items) != len(positions):
            raise ValueError(f"the bulk answer has {len(items)} results for {len(positions)} documents")
        if not answer.get("errors"):
            self.created += sum(1 for entry in items if _result(entry).get("result") == "created")
            return
        for entry, position in zip(items, positions, strict=True):
            result = _result(entry)
            status = result.get("status", 500)
            if status < 300:
                self.created += result.get("result") == "created"
            elif status == 429:
                self.throttled.append(position)
            else:
                owner = owners[position]
                if owner not in self.refused:
                    reason = _reason(result.get("error"))
                    self.refused[owner] = f"OpenSearch refused document {result.get('_id')}: {reason}"


def _result(entry: dict[str, Any]) -> dict[str, Any]:
    return next(iter(entry.values())) if entry else {}


def _reason(error: Any) -> str:
    return describe_error(error) if error else "no reason given"
