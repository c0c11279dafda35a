"""Cloud storage against real emulators on loopback: moto's S3 server and Azurite's Blob service.

The suite starts both (see cloud_servers.py) and stops them at the end. Without the
emulator's program the tests that need it are skipped, saying why, except under CI=true,
where they must run. GCS has no emulator here: its tests cover URL and credential handling,
and the code path every store shares runs over ``memory://``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cloud_servers import (
    AZURE_ACCOUNT,
    AZURE_KEY,
    azure_connection_string,
    azurite_blob,
    free_port,
    missing_emulator,
    moto_s3,
    run_env,
    s3_environment,
)
from gristmill import BaseSample, ConfigError, Document, Pipeline, Processor
from gristmill.executors import InlineExecutor
from gristmill.ledger import MemoryLedger
from gristmill.manifest import Item
from gristmill.sinks import JsonlFiles
from gristmill.sources import Files
from gristmill.storage import redact
from gristmill.storage.options import resolve

GRISTMILL = [sys.executable, "-m", "gristmill"]
ITEMS = 60

PIPELINE = """
import os
import time

from gristmill import BaseSample, Document, Pipeline, Processor
from gristmill.sinks import JsonlFiles
from gristmill.sources import Files


class Shout(BaseSample):
    text: str


class Upper(Processor):
    delay: float = 0.0

    def process(self, doc: Document) -> Shout:
        time.sleep(self.delay)
        return Shout(id=doc.id, text=doc.content.decode().upper())


pipeline = Pipeline(
    Files(url="unused"),
    [Upper(delay=float(os.environ.get("DELAY", "0")))],
    JsonlFiles(folder="unused", merged=os.environ["MERGED"]),
    name="cloud",
)
"""


def _need(name: str) -> None:
    problem = missing_emulator(name)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the {name} emulator must run under CI=true: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    _need("s3")
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def blob_endpoint() -> Iterator[str]:
    _need("azure")
    with azurite_blob() as endpoint:
        yield endpoint


class Store:
    """One bucket or container made for one test, and an fsspec handle on it."""

    def __init__(self, kind: str, fs: Any, env: dict[str, str]) -> None:
        self.kind = kind
        self.fs = fs
        self.env = env
        self.name = f"t{uuid.uuid4().hex[:12]}"
        fs.mkdir(self.name)

    def url(self, path: str = "") -> str:
        scheme = "s3" if self.kind == "s3" else "az"
        return f"{scheme}://{self.name}/{path}".rstrip("/")

    def put(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.name}/{path}", data)

    def keys(self, prefix: str) -> list[str]:
        root = f"{self.name}/{prefix}/"
        return sorted(path[len(root) :] for path in self.fs.find(root.rstrip("/")))

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.name}/{path}"))


@pytest.fixture
def s3(s3_endpoint: str, tmp_path: Path) -> Store:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing")
    env = {**s3_environment(tmp_path), "AWS_ENDPOINT_URL": s3_endpoint}
    return Store("s3", fs, env)


@pytest.fixture
def azure(blob_endpoint: str) -> Store:
    import adlfs

    connection = azure_connection_string(blob_endpoint)
    fs = adlfs.AzureBlobFileSystem(connection_string=connection)
    return Store("az", fs, {"AZURE_STORAGE_CONNECTION_STRING": connection})


def _corpus(store: Store, count: int = ITEMS) -> dict[str, bytes]:
    docs = {f"part{i % 3}/doc{i:03d}.txt": f"document {i}\n".encode() for i in range(count)}
    for path, data in docs.items():
        store.put(f"corpus/{path}", data)
    return docs


def _gristmill(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRISTMILL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _setup_run(tmp_path: Path, source: Store, output: Store) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**source.env, **output.env, "MERGED": output.url("out/all.jsonl")})
    args = ["run", "cloud.py", "--source", source.url("corpus"), "--output", output.url("out")]
    return [*args, "--workers", "2", "--no-progress"], env


def _done(state: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{state / 'ledger.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM items WHERE status = 1").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _check_outputs(output: Store, docs: dict[str, bytes]) -> None:
    """Every output there exactly once, with the right content, and nothing else."""
    keys = output.keys("out")
    expected = {f"{path}.jsonl" for path in docs}
    assert set(keys) == expected | {"all.jsonl", "processed.manifest.jsonl"}
    for path, data in docs.items():
        record = orjson.loads(output.read(f"out/{path}.jsonl"))
        assert (record["id"], record["text"]) == (path, data.decode().upper())
    merged = [orjson.loads(line)["id"] for line in output.read("out/all.jsonl").splitlines()]
    assert sorted(merged) == sorted(docs)  # each item once


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source_kind", "output_kind"), [("s3", "az"), ("az", "s3")], ids=["s3-to-azure", "azure-to-s3"]
)
def test_killed_mid_run_then_resumed_writes_every_output_once(
    source_kind: str, output_kind: str, s3: Store, azure: Store, tmp_path: Path
) -> None:
    stores = {"s3": s3, "az": azure}
    source, output = stores[source_kind], stores[output_kind]
    docs = _corpus(source)
    args, env = _setup_run(tmp_path, source, output)
    env["DELAY"] = "0.05"
    state = tmp_path / ".gristmill" / "cloud"
    proc = subprocess.Popen(
        [*GRISTMILL, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and _done(state) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert 10 <= _done(state) < ITEMS
    env["DELAY"] = "0"
    again = _gristmill(*args, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert f"all items: {ITEMS} done" in again.stdout
    _check_outputs(output, docs)


def test_a_fresh_state_folder_continues_from_the_processed_manifest(
    s3: Store, azure: Store, tmp_path: Path
) -> None:
    docs = _corpus(s3)
    args, env = _setup_run(tmp_path, s3, azure)
    first = _gristmill(*args, "--max-items", "25", "--state", "machine-a", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    listed = azure.read("out/processed.manifest.jsonl").splitlines()
    assert len(listed) == 25
    second = _gristmill(*args, "--state", "machine-b", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert f"this run: {ITEMS - 25} done" in second.stdout
    assert f"all items: {ITEMS} done" in second.stdout
    _check_outputs(azure, docs)
    assert len(azure.read("out/processed.manifest.jsonl").splitlines()) == ITEMS


def test_an_object_deleted_after_listing_fails_alone(s3: Store, tmp_path: Path) -> None:
    docs = _corpus(s3, 12)
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**s3.env, "MERGED": str(tmp_path / "all.jsonl")})
    source = ["--source", s3.url("corpus")]
    made = _gristmill("manifest", "generate", "cloud.py", *source, cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    s3.fs.rm_file(f"{s3.name}/corpus/part1/doc004.txt")
    ran = _gristmill(
        "run", "cloud.py", *source, "--output", str(tmp_path / "out"), "--no-progress", cwd=tmp_path, env=env
    )
    assert ran.returncode == 1, ran.stderr
    assert f"this run: {len(docs) - 1} done, 1 failed" in ran.stdout
    failures = json.loads(_gristmill("failures", "cloud.py", "--json", cwd=tmp_path, env=env).stdout)
    assert [f["id"] for f in failures] == ["part1/doc004.txt"]
    assert "listed but is gone now" in failures[0]["message"]


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        pytest.param("missing-bucket", "does not exist", id="missing-bucket"),
        pytest.param("no-credentials", "credentials are missing or were refused", id="no-credentials"),
        pytest.param("wrong-endpoint", "the store does not answer", id="wrong-endpoint"),
    ],
)
def test_s3_problems_stop_the_run_before_any_work(
    problem: str, expected: str, s3: Store, tmp_path: Path
) -> None:
    _corpus(s3, 3)
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**s3.env, "MERGED": str(tmp_path / "all.jsonl")})
    url = s3.url("corpus")
    extra: list[str] = []
    if problem == "missing-bucket":
        url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/corpus"
    elif problem == "no-credentials":
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    else:
        extra = ["--endpoint-url", f"http://127.0.0.1:{free_port()}"]
    ran = _gristmill(
        "run", "cloud.py", "--source", url, *extra, "--output", str(tmp_path / "out"), cwd=tmp_path, env=env
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert expected in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.jsonl"))


def _sas(container: str, key: str = AZURE_KEY) -> str:
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        AZURE_ACCOUNT,
        container,
        account_key=key,
        permission=ContainerSasPermissions(read=True, list=True, write=True, delete=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )


@pytest.mark.parametrize("valid", [True, False], ids=["good-sas", "wrong-sas"])
def test_an_azure_sas_url(valid: bool, azure: Store, blob_endpoint: str, tmp_path: Path) -> None:
    docs = _corpus(azure, 5)
    wrong_key = AZURE_KEY[:-8] + "AAAAAAA="
    sas = _sas(azure.name, AZURE_KEY if valid else wrong_key)
    sas_url = f"{blob_endpoint}/{azure.name}?{sas}"
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({"AZURE_STORAGE_SAS_URL": sas_url, "MERGED": str(tmp_path / "all.jsonl")})
    ran = _gristmill(
        "run",
        "cloud.py",
        "--source",
        azure.url("corpus"),
        "--output",
        str(tmp_path / "out"),
        "--no-progress",
        cwd=tmp_path,
        env=env,
    )
    signature = sas.split("sig=")[1].split("&")[0]
    assert signature not in ran.stdout + ran.stderr
    if valid:
        assert ran.returncode == 0, ran.stderr
        assert f"this run: {len(docs)} done" in ran.stdout
    else:
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert "credentials are missing or were refused" in ran.stderr
        assert "AZURE_STORAGE_SAS_URL" in ran.stderr
    ledger = tmp_path / ".gristmill" / "cloud" / "ledger.sqlite"
    if ledger.exists():
        assert signature.encode() not in ledger.read_bytes()


# -- without a server ------------------------------------------------------------------------


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
    """No GCS emulator runs here: this covers how gs:// options are made, not a real bucket."""
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
    manifest and a fresh state continuing from it) over fsspec's ``memory://``; it stands in
    for GCS, which has no emulator here."""
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


def test_the_readme_cloud_snippets_run(s3: Store, azure: Store, tmp_path: Path) -> None:
    """The "Cloud storage" section's snippets, against the emulators, as a user would run them."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python cloud\n(.*?)```", readme, flags=re.DOTALL)
    (commands,) = re.findall(r"```bash cloud\n(.*?)```", readme, flags=re.DOTALL)
    s3.fs.mkdir("corpus")
    azure.fs.mkdir("results")
    for index in range(100):
        s3.fs.pipe_file(f"corpus/letters/{index:03d}.txt", b"dear miller " * index)
    (tmp_path / "cloud_pipeline.py").write_text(code)
    env = run_env({**s3.env, **azure.env})
    lines = [line for line in commands.splitlines() if line.strip()]
    outputs = []
    for line in lines:
        result = subprocess.run(
            ["bash", "-c", line.replace("gristmill ", f"{sys.executable} -m gristmill ", 1)],
            cwd=tmp_path,
            env={**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{line}: {result.stderr}"
        outputs.append(result.stdout)
    assert outputs[0].split() == ["100"]
    assert "100 done, 0 failed" in outputs[1]
    assert "this run: 0 done" in outputs[2]
    merged = azure.fs.cat_file("results/letters.jsonl").splitlines()
    assert sorted(orjson.loads(line)["words"] for line in merged) == [2 * i for i in range(100)]


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
