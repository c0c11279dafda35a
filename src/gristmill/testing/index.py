"""One index of the OpenSearch stand-in: documents, versions, what a search sees, and the
mapping checks that make a bulk refuse a document (400)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Json = dict[str, Any]


class Index:
    """One index: its documents, their versions, and what a search sees."""

    def __init__(self, name: str, body: Json) -> None:
        self.name = name
        settings: Json = body.get("settings") or {}
        self.settings: Json = {k: v for k, v in settings.get("index", settings).items() if v is not None}
        self.mappings: Json = body.get("mappings") or {"properties": {}}
        self.docs: dict[str, Json] = {}
        self.versions: dict[str, int] = {}
        self.snapshot: dict[str, Json] = {}  # the documents a search sees when refreshing is off
        self._checked_for: Json | None = None
        self._check_list: list[tuple[str, str, Callable[[Any], bool]]] = []

    def searchable(self) -> dict[str, Json]:
        return self.snapshot if str(self.settings.get("refresh_interval")) == "-1" else self.docs

    def refresh(self) -> None:
        self.snapshot = dict(self.docs)

    def write(self, doc_id: str, source: Json, create: bool) -> Json:
        """Index one document; the per-document result as OpenSearch gives it."""
        if create and doc_id in self.docs:
            return doc_error(409, "version_conflict_engine_exception", f"[{doc_id}]: document already exists")
        for field, kind, fits in self._checks():
            value = source.get(field)
            if value is not None and not fits(value):
                reason = f"failed to parse field [{field}] of type [{kind}]: {value!r:.40}"
                return doc_error(400, "mapper_parsing_exception", reason)
        version = self.versions.get(doc_id, 0) + 1
        existed = doc_id in self.docs
        self.docs[doc_id] = source
        self.versions[doc_id] = version
        if not existed:
            return {"_index": self.name, "_id": doc_id, "_version": 1, "result": "created", "status": 201}
        return {"_index": self.name, "_id": doc_id, "_version": version, "result": "updated", "status": 200}

    def index_all(self, parsed: Iterator[Json]) -> Json | None:
        """The common bulk, every action ``index`` with an ``_id``, in one tight loop; None
        (nothing done) for any other, which then takes the general path."""
        pairs = list(zip(parsed, parsed, strict=False))  # odd: a delete, so not this path
        if not all(len(meta) == 1 and "_id" in meta.get("index", ()) for meta, _ in pairs):
            return None
        docs, versions, checks, name = self.docs, self.versions, self._checks(), self.name
        items = []
        errors = False
        for meta, source in pairs:
            doc_id = meta["index"]["_id"]
            if checks and not all(source.get(f) is None or fits(source.get(f)) for f, _, fits in checks):
                result = self.write(doc_id, source, create=False)  # says why it does not fit
                errors = True
            else:
                version = versions.get(doc_id, 0) + 1
                versions[doc_id] = version
                created = doc_id not in docs
                docs[doc_id] = source
                result = {
                    "_index": name,
                    "_id": doc_id,
                    "_version": version,
                    "result": "created" if created else "updated",
                    "status": 201 if created else 200,
                }
            items.append({"index": result})
        return {"took": 1, "errors": errors, "items": items}

    def delete(self, doc_id: str) -> Json:
        found = self.docs.pop(doc_id, None) is not None
        self.snapshot.pop(doc_id, None)
        return {
            "_index": self.name,
            "_id": doc_id,
            "result": "deleted" if found else "not_found",
            "status": 200 if found else 404,
        }

    def _checks(self) -> list[tuple[str, str, Callable[[Any], bool]]]:
        properties = self.mappings.get("properties") or {}
        if self._checked_for is not properties:  # worked out once per mapping: bulk loads are hot
            self._check_list = []
            for field, spec in properties.items():
                kind = spec.get("type", "object")
                if kind == "knn_vector":
                    self._check_list.append((field, kind, _vector_of(spec.get("dimension"))))
                elif kind in FITS:
                    self._check_list.append((field, kind, FITS[kind]))
            self._checked_for = properties
        return self._check_list


def _vector_of(dims: int | None) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and len(value) == dims


FITS: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "keyword": lambda v: not isinstance(v, dict),
}


def doc_error(status: int, kind: str, reason: str) -> Json:
    return {"status": status, "error": {"type": kind, "reason": reason}}
