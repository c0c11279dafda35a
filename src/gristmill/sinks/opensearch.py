"""Samples as documents of an OpenSearch index, written in bulk by the coordinator."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from gristmill._exceptions import ConfigError, SinkError
from gristmill.manifest import Item
from gristmill.ratelimit import RateLimit, backoff_delay
from gristmill.samples import BaseSample
from gristmill.sinks.base import Sink
from gristmill.sinks.bulk import BulkOutcome, Docs, bodies, encode_docs
from gristmill.sinks.search_client import SearchClient
from gristmill.storage.urls import redact

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger

MAX_BYTES = 5 * 1024 * 1024  # a bulk body; OpenSearch advises a few MiB
MAX_DOCS = 10_000
NDJSON = "application/x-ndjson"
COMMIT_ITEMS = 500  # items a commit holds at most: what a crash can cost is one such batch
FORGET_AT_ONCE = 10_000  # item ids per delete request (a terms query takes up to 65,536)


class OpenSearchSink(Sink):
    """Each sample becomes a document of INDEX at URL (``https://user:password@host:9200``).

    An item's k-th sample is the document ``<item id>#<k>``, carrying the item's id and k
    in ``item_field`` and ``chunk_field``: redoing an item overwrites its documents, and
    after each batch the documents an item no longer has (it once had more) are deleted by
    query. The coordinator sends bulk bodies of at most ``max_bytes`` / ``max_docs``;
    documents answered 429 are sent again with backoff, a whole request throttled or
    refused by an overloaded cluster is retried (``Retry-After`` honoured), and a document
    the cluster refuses (a mapping error, say) fails its item with the server's reason
    while the others go in. An item is done only once all its documents are acknowledged.

    The index is made on the first write if absent, from ``mapping`` (settings and
    mappings) or a default one (``knn_vector`` for ``vector_field`` when samples carry
    vectors), the item field a keyword either way; ``purge`` deletes it first.
    Refreshing is paused while loading and restored after; the run then checks the index
    holds the documents it should and fails loudly if not. Passwords and API keys never
    appear in messages, logs or the ledger.
    """

    batched: ClassVar[bool] = True
    commit_items: ClassVar[int | None] = COMMIT_ITEMS

    url: str
    index: str
    api_key: SecretStr | None = None
    aws_region: str | None = None
    verify_certs: bool = True
    mapping: dict[str, Any] | None = None
    purge: bool = False
    max_bytes: int = Field(default=MAX_BYTES, ge=1)
    max_docs: int = Field(default=MAX_DOCS, ge=1)
    retries: int = Field(default=8, ge=0)
    backoff: float = Field(default=0.5, ge=0)
    rate_limit: RateLimit | None = None
    fields: list[str] | None = None
    item_field: str = "gristmill_item"
    chunk_field: str = "gristmill_chunk"
    vector_field: str | None = "embedding"
    check_count: bool = True

    _client: SearchClient | None = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)
    _fresh: bool = PrivateAttr(default=False)  # made by this run: nothing stale can be in it
    _refresh: Any = PrivateAttr(default=None)  # the refresh interval to put back
    _expected: int = PrivateAttr(default=0)  # documents the index should hold now

    @field_validator("index")
    @classmethod
    def _index_name(cls, name: str) -> str:
        if not name or name != name.lower() or any(c in name for c in ' "*\\<|,>/?#:') or name[0] in "-_+":
            raise ValueError(f'{name!r} is not a valid index name (lowercase, no spaces or \\/*?"<>|,#:)')
        return name

    def __repr__(self) -> str:
        return f"OpenSearchSink(url={redact(self.url)!r}, index={self.index!r})"

    def __str__(self) -> str:
        return repr(self)

    def __getstate__(self) -> dict[Any, Any]:
        # workers get the configuration, not the coordinator's connection
        state = super().__getstate__()
        state["__pydantic_private__"] = {
            "_client": None,
            "_ready": False,
            "_fresh": False,
            "_refresh": None,
            "_expected": 0,
        }
        return state

    # -- in the coordinator, before any work ---------------------------------------------------

    def client(self) -> SearchClient:
        if self._client is None:
            self._client = SearchClient(
                self.url,
                api_key=self.api_key.get_secret_value() if self.api_key else None,
                aws_region=self.aws_region,
                verify_certs=self.verify_certs,
                retries=self.retries,
                backoff=self.backoff,
                rate_limit=self.rate_limit,
            )
        return self._client

    def check(self) -> None:
        """Reach the cluster (a wrong URL or password stops the run before it starts)."""
        client = self.client()
        try:  # a busy cluster (429, 502-504) is waited for; an unreachable one stops the run now
            answer = client.request("HEAD", self.index, ok=(200, 404, 401, 403), unreachable_retries=False)
        except SinkError as exc:
            raise ConfigError(str(exc)) from None
        if answer.status in (401, 403):
            raise ConfigError(f"OpenSearch at {client.url} refused the credentials (HTTP {answer.status})")
        if self.purge and answer.status == 200:
            client.request("DELETE", self.index)

    # -- in the worker -------------------------------------------------------------------------

    def encode(self, item: Item, samples: Sequence[BaseSample]) -> Docs:
        include = set(self.fields) if self.fields else None
        records = [s.model_dump(include=include, exclude={"processing_history"}) for s in samples]
        return self.encode_records(item.id, records)

    def encode_records(self, item_id: str, records: Sequence[dict[str, Any]]) -> Docs:
        """An item's documents from plain dicts (which gain the item and chunk fields)."""
        return encode_docs(
            item_id,
            records,
            item_field=self.item_field,
            chunk_field=self.chunk_field,
            vector_field=self.vector_field,
        )

    # -- in the coordinator, per batch ---------------------------------------------------------

    def commit(self, batch: Sequence[tuple[Item, Any]]) -> Mapping[str, str]:
        """Send the batch's documents; returns the items refused, with the reason."""
        client = self.client()
        self._prepare(next((docs.dims for _, docs in batch if docs.dims), None))
        lines: list[bytes] = []
        owners: list[int] = []
        for index, (_, docs) in enumerate(batch):
            lines.extend(docs.lines)
            owners.extend([index] * len(docs.lines))
        outcome = BulkOutcome()
        pending = list(range(len(lines)))
        attempt = 0
        while pending:
            attempt += 1
            chosen = lines if attempt == 1 else [lines[p] for p in pending]
            for start, end in bodies(chosen, self.max_bytes, self.max_docs):
                body = b"".join(chosen[start:end])
                answer = client.request("POST", f"{self.index}/_bulk", body, content_type=NDJSON)
                try:
                    outcome.read(answer.body, owners, pending[start:end])
                except (ValueError, AttributeError) as exc:
                    raise SinkError(f"{self!r}: an unexpected bulk answer: {exc}") from None
            pending, outcome.throttled = outcome.throttled, []
            if pending and attempt > self.retries:
                for position in pending:
                    outcome.refused.setdefault(
                        owners[position],
                        f"OpenSearch throttled its documents (429) {attempt} times; run again later",
                    )
                break
            if pending:
                client.sleep(backoff_delay(self.backoff, attempt, None))
        self._expected += outcome.created
        if not self._fresh:
            self._remove_stale(batch)
        return {batch[index][0].id: reason for index, reason in outcome.refused.items()}

    def forget(self, items: Sequence[Item]) -> None:
        client = self.client()
        if not client.exists(self.index):
            return  # no index: nothing was written
        client.request("POST", f"{self.index}/_refresh")  # a killed run's documents become findable
        for start in range(0, len(items), FORGET_AT_ONCE):
            ids = [item.id for item in items[start : start + FORGET_AT_ONCE]]
            query = {"query": {"terms": {self.item_field: ids}}}
            client.request("POST", f"{self.index}/_delete_by_query?conflicts=proceed&refresh=true", query)

    def _remove_stale(self, batch: Sequence[tuple[Item, Any]]) -> None:
        """Delete the documents items had before and no longer have (k >= their count now)."""
        by_count: dict[int, list[str]] = defaultdict(list)
        for item, docs in batch:
            by_count[len(docs.lines)].append(item.id)
        should = [
            {
                "bool": {
                    "filter": [
                        {"terms": {self.item_field: ids}},
                        {"range": {self.chunk_field: {"gte": count}}},
                    ]
                }
            }
            for count, ids in by_count.items()
        ]
        query = {"query": {"bool": {"should": should, "minimum_should_match": 1}}}
        answer = self.client().request("POST", f"{self.index}/_delete_by_query?conflicts=proceed", query)
        self._expected -= int((answer.json() or {}).get("deleted", 0))

    def _prepare(self, dims: int | None) -> None:
        """Once per run: make the index if absent, pause refreshing, note what it holds."""
        if self._ready:
            return
        client = self.client()
        if not client.exists(self.index):
            made = client.request("PUT", self.index, self.index_body(dims), ok=(200, 201, 400))
            if made.status in {200, 201}:
                self._fresh, self._expected = True, 0
            elif b"resource_already_exists_exception" not in made.body:
                raise SinkError(f"{self!r}: the index cannot be made: {made.reason()}")
            # else another writer (another shard) made it just now: it is not ours to call fresh
        settings: dict[str, Any] = client.request("GET", f"{self.index}/_settings").json() or {}
        first: dict[str, Any] = next(iter(settings.values()), {})
        index_settings = first.get("settings", {}).get("index", {})
        interval = index_settings.get("refresh_interval")
        self._refresh = None if interval in (None, "-1") else interval  # -1: left by a killed run
        client.request("PUT", f"{self.index}/_settings", {"index": {"refresh_interval": "-1"}})
        if not self._fresh:
            client.request("POST", f"{self.index}/_refresh")  # a killed run's documents become findable
            self._expected = self._count()
        self._ready = True

    def index_body(self, dims: int | None) -> dict[str, Any]:
        """Settings and mappings for a new index: ``mapping`` if given, else a default one
        (``knn_vector`` for vectors of ``dims``). Either way the item field is a keyword and
        the chunk field an integer, which finding stale documents relies on."""
        body: dict[str, Any] = copy.deepcopy(self.mapping) if self.mapping else {}
        properties = body.setdefault("mappings", {}).setdefault("properties", {})
        properties.setdefault(self.item_field, {"type": "keyword"})
        properties.setdefault(self.chunk_field, {"type": "integer"})
        if self.mapping is None and dims and self.vector_field:
            properties[self.vector_field] = {"type": "knn_vector", "dimension": dims}
            body["settings"] = {"index": {"knn": True}}
        return body

    def _count(self) -> int:
        return int(self.client().request("GET", f"{self.index}/_count").json()["count"])

    # -- in the coordinator, at the end --------------------------------------------------------

    def finish(self, ledger: Ledger) -> None:
        """Restore refreshing, then check the index holds what was sent."""
        self._prepare(None)
        self._restore()
        client = self.client()
        client.request("POST", f"{self.index}/_refresh")
        if self.check_count:
            found = self._count()
            if found != self._expected:
                raise SinkError(
                    f"{self!r}: the index holds {found} documents, {self._expected} expected from what "
                    "was sent and acknowledged; another writer, or documents lost by the cluster"
                )

    def _restore(self) -> None:
        if self._ready:
            self.client().request(
                "PUT", f"{self.index}/_settings", {"index": {"refresh_interval": self._refresh}}
            )
            self._ready = False

    def close(self) -> None:
        try:
            self._restore()  # an interrupted run must not leave refreshing off
        except SinkError:
            pass
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._fresh = False
