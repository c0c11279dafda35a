"""The data that flows through processors.

A sample is a pydantic model, so it validates, serialises and pickles like any other; users
subclass `BaseSample` (or `Document`) and may give it fields of any type, NumPy arrays
included (``arbitrary_types_allowed``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BaseSample(BaseModel):
    """One unit of data: an ``id`` and the steps that made it.

    ``processing_history`` holds one ``(processor name, configuration hash)`` pair per
    processor that ran, in order, so a result says how it was made.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, validate_assignment=False, defer_build=True)

    id: str
    processing_history: list[tuple[str, str]] = Field(default_factory=list)


class Element(BaseModel):
    """A typed piece of a document, with the field names of unstructured's element JSON."""

    model_config = ConfigDict(extra="allow")

    type: str
    element_id: str
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Document(BaseSample):
    """The built-in sample for a file: where it came from, its bytes, and what was found in it."""

    source_uri: str = ""
    content: bytes | None = None
    text: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    elements: list[Element] = Field(default_factory=list)
