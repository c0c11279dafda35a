"""The few OpenSearch queries the stand-in understands, evaluated against one document."""

from __future__ import annotations

from typing import Any

RANGE = {
    "gte": lambda value, bound: value >= bound,
    "gt": lambda value, bound: value > bound,
    "lte": lambda value, bound: value <= bound,
    "lt": lambda value, bound: value < bound,
}


def _field(doc: dict[str, Any], name: str) -> Any:
    value: Any = doc
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, list):
        return wanted in value
    return bool(value == wanted)


def matches(query: dict[str, Any] | None, doc_id: str, doc: dict[str, Any]) -> bool:
    """Whether the document matches ``query`` (``None`` matches everything)."""
    if not query:
        return True
    (kind, spec), *_ = query.items()
    if kind == "match_all":
        return True
    if kind == "ids":
        return doc_id in spec.get("values", [])
    if kind == "term":
        (name, wanted), *_ = spec.items()
        wanted = wanted.get("value") if isinstance(wanted, dict) else wanted
        return _equal(_field(doc, name), wanted)
    if kind == "terms":
        (name, values), *_ = spec.items()
        value = _field(doc, name)
        return any(_equal(value, wanted) for wanted in values)
    if kind == "range":
        (name, bounds), *_ = spec.items()
        value = _field(doc, name)
        return value is not None and all(
            RANGE[op](value, bound) for op, bound in bounds.items() if op in RANGE
        )
    if kind == "bool":
        return _bool(spec, doc_id, doc)
    raise ValueError(f"the stand-in does not understand the query {kind!r}")


def _bool(spec: dict[str, Any], doc_id: str, doc: dict[str, Any]) -> bool:
    def clauses(key: str) -> list[dict[str, Any]]:
        found = spec.get(key, [])
        return found if isinstance(found, list) else [found]

    if not all(matches(q, doc_id, doc) for q in clauses("must") + clauses("filter")):
        return False
    if any(matches(q, doc_id, doc) for q in clauses("must_not")):
        return False
    should = clauses("should")
    if not should:
        return True
    needed = int(spec.get("minimum_should_match", 0 if clauses("must") + clauses("filter") else 1))
    return sum(matches(q, doc_id, doc) for q in should) >= needed
