"""Storage handling that needs no server: secrets masked, URLs and options, downloads ahead,
and the code path every store shares, over ``memory://``.

Real stores, GCS's among them, are in test_cloud.py.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from gristmill import BaseSample, ConfigError, Document, Pipeline, Processor
from gristmill.executors import InlineExecutor
from gristmill.ledger import MemoryLedger, Status
from gristmill.manifest import Item
from gristmill.sinks import JsonlFiles
from gristmill.sources import Files, Range
from gristmill.storage import redact
from gristmill.storage.errors import explain
from gristmill.storage.options import resolve

SECRETS = [
    pytest.param(
        "https://acct.blob.core.windows.net/c/x?sv=2024-05-04&sp=rl&sig=AbC%2Bdef%3D&se=2030",
        "sig=AbC",
        id="sas-url",
    ),
    pytest.param(
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5==;EndpointSuffix=core.windows.net",
        "c2VjcmV0",
        id="connection-string",
    ),
    pytest.param("http://minio:hunter22@127.0.0.1:9000/bucket", "hunter22", id="password-in-url"),
    pytest.param(
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef",
        "deadbeef",
        id="presigned",
    ),
    pytest.param("postgresql://u:S3cr/3tPass@h:5432/db", "3tPass", id="password-with-a-slash"),
    pytest.param("postgresql://u:S3cr@3tPass@h:5432/db", "3tPass", id="password-with-an-at"),
    pytest.param("at postgresql://:S3cr3tPass@h/db", "S3cr3tPass", id="empty-user-name"),
    pytest.param("found 'admin:S3cr3tPass@127.0.0.1:9200'", "S3cr3tPass", id="url-without-scheme"),
    pytest.param("listing AKIAKEY:S3cr/3tPass@corpus/letters", "S3cr", id="bucket-with-credentials"),
    pytest.param("input_value='postgresql://u:TruncSec....example.com:5432'", "TruncSec", id="cut-short"),
    pytest.param("{'X-Amz-Security-Token': b'SessToken1'}", "SessToken1", id="session-token-header"),
    pytest.param("GET\nhost:h\nx-amz-security-token:SessToken1\n", "SessToken1", id="session-token-line"),
    pytest.param("export AWS_SECRET_ACCESS_KEY=wJalr/XUtnF", "wJalr", id="secret-variable"),
    pytest.param("https://maps.example.com/x?key=AIzaSecret&x=1", "AIzaSecret", id="key-query"),
    pytest.param("https://h/v1?api_key=Sekrit", "Sekrit", id="api-key-query"),
    pytest.param("HTTP 401: Incorrect API key provided: Bearer sk-Key0001", "sk-Key0001", id="bearer"),
    pytest.param("X-Api-Key: Sekrit", "Sekrit", id="api-key-header"),
    pytest.param("{'api_key': 'sk-Sekrit', 'n': 1}", "Sekrit", id="dict-key"),
    pytest.param('{"password": "hunter22"}', "hunter22", id="json-key"),
    pytest.param("password: hunter22", "hunter22", id="label"),
    pytest.param('client(api_key="sk-Sekrit")', "Sekrit", id="quoted-argument"),
    pytest.param("aws_secret_access_key = wJalr", "wJalr", id="ini-line"),
    pytest.param("PGPASSWORD=hunter22 psql", "hunter22", id="prefixed-variable"),
    pytest.param("{'Authorization': 'Basic dXNlcjpw'}", "dXNlcjpw", id="basic-auth-header"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_a_source_never_shows_its_secrets() -> None:
    files = Files(
        url="https://acct.blob.core.windows.net/docs/2024?sv=2024-05-04&sp=rl&sig=SECRETSIG",
        storage_options={"account_key": "SECRETKEY", "max_concurrency": 4},
    )
    for shown in (repr(files), files.describe()):
        assert "SECRETSIG" not in shown and "SECRETKEY" not in shown
    assert files.describe() == "Files('az://docs/2024', pattern='*')"
    assert "max_concurrency" in repr(files)


def test_a_sas_url_becomes_an_az_url_with_a_connection_string() -> None:
    emulator = "http://127.0.0.1:10000/devstoreaccount1/docs?sv=1&sig=S"
    assert resolve(emulator, {}) == (
        "az://docs",
        {
            "connection_string": "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=1&sig=S"
        },
    )
    cloud = {"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/docs?sv=1&sig=S"}
    target = resolve("az://docs/2024", {}, environ=cloud)
    assert target.options["connection_string"].startswith("BlobEndpoint=https://acct.blob.core.windows.net;")
    assert resolve("az://docs", {"account_key": "k"}, environ=cloud).options == {"account_key": "k"}
    with pytest.raises(ConfigError, match="container SAS URL"):
        resolve("az://docs", {}, environ={"AZURE_STORAGE_SAS_URL": "not a url"})


def test_gcs_urls_and_credentials(tmp_path: Path) -> None:
    """How gs:// options are made (test_cloud.py uses them on fake-gcs-server)."""
    assert resolve("gs://b/p", {}, anonymous=True, environ={}).options == {"token": "anon"}
    assert resolve("gs://b/p", {}, endpoint_url="http://127.0.0.1:4443", environ={}).options == {
        "endpoint_url": "http://127.0.0.1:4443"
    }
    missing = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "nope.json")}
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        resolve("gs://b/p", {}, environ=missing)
    s3 = resolve("s3://b", {}, anonymous=True, endpoint_url="http://x", environ={}).options
    assert (s3["anon"], s3["endpoint_url"], s3["max_concurrency"]) == (True, "http://x", 1)
    with pytest.raises(ConfigError, match="apply to"):
        resolve("/local/folder", {}, anonymous=True, environ={})


class Upper(Processor):
    def process(self, doc: Document) -> BaseSample:
        assert doc.content is not None
        return Document(id=doc.id, text=doc.content.decode().upper())


def test_the_shared_store_code_path_over_memory() -> None:
    """What every store shares (listing, whole-object writes, merged output, the processed
    manifest and a fresh state continuing from it) over fsspec's ``memory://``, fast enough
    to check every piece in one place."""
    import fsspec

    root = f"memory://{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for i in range(10):
        fs.pipe_file(f"{root}/in/{i}.txt", f"text {i}".encode())
    sink = JsonlFiles(folder=f"{root}/out", merged=f"{root}/out/all.jsonl")
    pipeline = Pipeline(Files(url=f"{root}/in"), [Upper()], sink, name="memory")
    first = pipeline.run(executor=InlineExecutor(), ledger=MemoryLedger(), max_items=4)
    assert first.done == 4
    assert len(fs.cat_file(f"{root}/out/processed.manifest.jsonl").splitlines()) == 4
    second = pipeline.run(executor=InlineExecutor(), ledger=MemoryLedger())
    assert (second.done, second.counts.done) == (6, 10)
    merged = [orjson.loads(line)["id"] for line in fs.cat_file(f"{root}/out/all.jsonl").splitlines()]
    assert merged == [f"{i}.txt" for i in range(10)]


class Slow(Files):
    """Counts how many items are being opened at once."""

    def open(self, item: Item) -> Document:
        with LOCK:
            OPEN[0] += 1
            OPEN[1] = max(OPEN[1], OPEN[0])
        time.sleep(0.02)
        with LOCK:
            OPEN[0] -= 1
        return Document(id=item.id, content=b"x")


LOCK = threading.Lock()
OPEN = [0, 0]  # now, most at once


@pytest.mark.parametrize("downloads", [1, 4])
def test_a_worker_opens_several_items_at_once(downloads: int, tmp_path: Path) -> None:
    for i in range(24):
        (tmp_path / f"{i}.txt").write_text("x")
    OPEN[:] = [0, 0]
    pipeline = Pipeline(Slow(url=str(tmp_path)), [], name="slow")
    result = pipeline.run(executor=InlineExecutor(), ledger=MemoryLedger(), downloads=downloads)
    assert result.done == 24
    assert OPEN[1] == downloads


def test_prefetching_holds_at_most_its_byte_budget() -> None:
    from gristmill.executors.prefetch import Prefetcher

    held: list[int] = [0, 0]
    lock = threading.Lock()

    def open_item(item: Item) -> str:
        with lock:
            held[0] += 1
            held[1] = max(held)
        time.sleep(0.02)
        with lock:
            held[0] -= 1
        return item.id

    prefetch = Prefetcher(open_item, threads=8, max_bytes=100)
    items = [Item(str(i), 40) for i in range(10)]
    prefetch.expect(items)
    taken = []
    for item in items:
        taken.append(prefetch.take(item))
    prefetch.close()
    assert taken == [item.id for item in items]
    assert held[1] == 2  # opened at once: 2 x 40 bytes fit in 100, 3 do not


def test_a_sas_url_for_another_container_is_refused() -> None:
    env = {"AZURE_STORAGE_SAS_URL": "https://acct.blob.core.windows.net/docs?sv=1&sig=S"}
    assert resolve("abfs://docs/a/b", {}, environ=env).url == "abfs://docs/a/b"
    with pytest.raises(ConfigError, match="grants access to az://docs, not to 'az://other/x'"):
        resolve("az://other/x", {}, environ=env)


def test_each_shard_keeps_its_own_processed_manifest() -> None:
    from gristmill.manifest import Shard
    from gristmill.processed import ProcessedManifest

    sink = JsonlFiles(folder="memory://bucket/out")
    whole = ProcessedManifest.for_run(sink, None)
    part = ProcessedManifest.for_run(sink, None, Shard(2, 3))
    assert whole is not None and whole.name == "processed.manifest.jsonl"
    assert part is not None and part.name == "processed.manifest.shard-2-of-3.jsonl"
    assert ProcessedManifest.for_run(JsonlFiles(folder="out"), None) is None  # local: the ledger is enough


class SlowStore(JsonlFiles):
    """Stands in for a distant store: each write takes 20 ms; item "3"'s write fails."""

    def writes_at_once(self) -> int:
        return 4

    def write(self, item: Item, samples: Sequence[BaseSample]) -> list[str]:
        with LOCK:
            OPEN[0] += 1
            OPEN[1] = max(OPEN[1], OPEN[0])
        try:
            time.sleep(0.02)
            if item.id == "3":
                raise OSError("the store refused the object")
            return super().write(item, samples)
        finally:
            with LOCK:
                OPEN[0] -= 1


def test_a_worker_writes_several_items_at_once(tmp_path: Path) -> None:
    OPEN[:] = [0, 0]
    pipeline = Pipeline(Range(count=12), [], SlowStore(folder=tmp_path / "out"), name="uploads")
    ledger = MemoryLedger()
    result = pipeline.run(executor=InlineExecutor(), ledger=ledger)
    assert (result.done, result.failed) == (11, 1)
    assert OPEN[1] == 4
    (failed,) = ledger.records(status=Status.FAILED)
    assert (failed.id, failed.message) == ("3", "the store refused the object")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{i}.jsonl" for i in range(12) if i != 3
    )
    assert all(r.outputs == f'["{r.id}.jsonl"]' for r in ledger.records(status=Status.DONE))


def test_writes_at_once_on_the_pool(make_pool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pipeline = Pipeline(Range(count=40), [], SlowStore(folder=tmp_path / "out"), name="uploads")
    result = pipeline.run(executor=make_pool(), state=tmp_path / "state")
    assert (result.done, result.failed) == (39, 1)
    assert len(list((tmp_path / "out").iterdir())) == 39


def test_a_changed_copy_opens_its_store_afresh(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text(name)
    source = Files(url=str(tmp_path / "a"))
    assert [item.id for item in source.list()] == ["a.txt"]
    moved = source.model_copy(update={"url": str(tmp_path / "b")})
    assert [item.id for item in moved.list()] == ["b.txt"]


NOISY = """
import logging

from gristmill import Pipeline, Processor
from gristmill.sources import Files


class Noisy(Processor):
    def process(self, doc):
        try:
            raise ConnectionError("Cannot connect to host 127.0.0.1:1")
        except ConnectionError:  # what gcsfs logs when it gives up on a request, then raises
            logging.getLogger("gcsfs").exception("_request out of retries on exception")
        return doc


pipeline = Pipeline(Files(url="corpus"), [Noisy()], name="noisy")
"""


@pytest.mark.parametrize("executor", ["inline", "pool"])
def test_a_store_librarys_retry_log_stays_off_the_terminal(executor: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("a")
    (tmp_path / "noisy.py").write_text(NOISY)
    command = [sys.executable, "-m", "gristmill", "run", "noisy.py", "--executor", executor, "--no-progress"]
    ran = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "out of retries" not in ran.stderr and "Traceback" not in ran.stderr
    if executor == "inline":  # in this process, -v shows it
        shown = subprocess.run([*command, "--reprocess", "-v"], cwd=tmp_path, capture_output=True, text=True)
        assert "_request out of retries on exception" in shown.stderr


def test_a_local_file_one_may_not_read_is_no_matter_of_credentials() -> None:
    # the error Python raises for it (this suite may run as root, whom chmod does not stop)
    denied = PermissionError(13, "Permission denied", "/data/x.txt")
    local = explain(denied, "/data/x.txt", "read")
    assert "permission denied" in local and "check its permissions" in local
    assert "credentials" not in local
    assert "credentials are missing" in explain(denied, "s3://bucket/x.txt", "read")


@pytest.mark.parametrize(
    ("code", "advice"),
    [(36, "at most 255 bytes; shorten the file's name"), (28, "the disk is full; make room and run again")],
)
def test_a_local_write_error_says_what_to_do(code: int, advice: str) -> None:
    error = OSError(code, os.strerror(code), "out/x.json")
    assert advice in explain(error, "out/x.json", "write")


def test_a_file_url_splits_into_its_folder_and_name() -> None:
    from gristmill.storage.urls import parent_and_name

    sas = "https://acct.blob.core.windows.net/box/pm.jsonl?sv=2024&sig=abc"
    assert parent_and_name(sas) == ("https://acct.blob.core.windows.net/box?sv=2024&sig=abc", "pm.jsonl")
    assert parent_and_name("s3://b/p/x.jsonl") == ("s3://b/p", "x.jsonl")
    assert parent_and_name("all.jsonl") == (".", "all.jsonl")
    assert parent_and_name("/all.jsonl") == ("/", "all.jsonl")
    for folder in ("s3://out/", "s3://bucket", "out/"):
        with pytest.raises(ConfigError, match="names a folder, not a file"):
            parent_and_name(folder)


def test_masking_keeps_the_colon_that_ends_a_clause() -> None:
    said = redact("cannot read https://a/b?sv=1&sig=abc%3D: the credentials are missing")
    assert said == "cannot read https://a/b?sv=1&sig=***: the credentials are missing"
    assert redact("password=a:b rest") == "password=*** rest"


def test_masking_keeps_what_is_not_a_secret() -> None:
    kept = "19:23:33 WARNING f1.txt: RuntimeError: see http://host:9200/x and AWS_ACCESS_KEY_ID=AKIA1"
    assert redact(kept) == kept
    assert redact("postgresql://u:p/w@h/db x") == "postgresql://u:***@h/db x"
    assert redact("at postgresql://nobody@h:5432/db") == "at postgresql://nobody@h:5432/db"
    for prose in (
        "took 10:20... then",
        "C:\\Users\\bob@corp\\docs\\report.pdf",
        "mailto:bob@corp.com",
        "sender: bob@corp.com",
        "unexpected token: '}'",
        "token_limit=5",
    ):
        assert redact(prose) == prose


def test_anonymous_azure_sends_no_credential_from_the_environment() -> None:
    """adlfs takes the environment's connection string (and its key) over ``anon``: a private
    container read with --anonymous would pass for a public one."""
    key = "AccountKey=c2VjcmV0"
    env = {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=https;AccountName=acct;{key};"}
    options = resolve("az://box/p", {}, anonymous=True, environ=env).options
    assert options == {"anon": True, "connection_string": "DefaultEndpointsProtocol=https;AccountName=acct"}
    by_name = resolve(
        "az://box/p", {}, anonymous=True, environ={"AZURE_STORAGE_ACCOUNT_NAME": "acct"}
    ).options
    assert "AccountName=acct" in by_name["connection_string"]
    assert resolve("az://box/p", {}, environ=env).options == {}  # without --anonymous: left to adlfs


def test_a_store_that_refuses_an_anonymous_reader_is_said_not_public() -> None:
    refused = PermissionError(13, "Forbidden")
    said = explain(refused, "s3://bucket/x.txt", "read", anonymous=True)
    assert said.startswith(
        "cannot read s3://bucket/x.txt without credentials (--anonymous): it is not public"
    )
    assert said.endswith("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
    assert "pass --anonymous for a public bucket" in explain(refused, "s3://bucket/x.txt", "read")


def test_a_stores_error_gets_the_advice_of_its_kind_of_url() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert "AWS_ENDPOINT_URL" in explain(refused, "s3://b/x", "list")
    for url in ("http://h/x", "ftp://h/x"):  # the address is the URL's own: no word of AWS
        assert explain(refused, url, "list").endswith("check the URL's host name and port, and the network")
    missing = FileNotFoundError(2, "No such file or directory", "//listed.txt")
    assert explain(missing, "/listed.txt", "read").endswith("it does not exist; check the path")
    unknown = explain(ValueError("Protocol not known: bogus"), "bogus://x", "open")
    assert "does not know bogus:// URLs; give a local path or one of s3://" in unknown
