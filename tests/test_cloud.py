"""Cloud storage against real emulators on loopback: moto's S3 server, Azurite's Blob
service and fake-gcs-server for Google Cloud Storage.

The suite starts them (see cloud_servers.py) and stops them at the end. Without the
emulator's program the tests that need it are skipped, saying why, except under CI=true,
where they must run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
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
    fake_gcs,
    free_port,
    gcs_environment,
    missing_emulator,
    moto_s3,
    run_env,
    s3_environment,
)
from gristmill.sources import Files

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
    def process(self, doc: Document) -> Shout:
        time.sleep(float(os.environ.get("DELAY", "0")))  # no setting: a resumed run may be quicker
        if "local_path" in doc.metadata:  # --download-dir: the file is there while it is processed
            assert open(doc.metadata["local_path"], "rb").read() == doc.content
        return Shout(id=doc.id, text=doc.content.decode().upper())


pipeline = Pipeline(
    Files(url="unused"),
    [Upper()],
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


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    _need("gcs")
    with fake_gcs() as endpoint:
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
        scheme = self.kind
        return f"{scheme}://{self.name}/{path}".rstrip("/")

    def put(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.name}/{path}", data)

    def keys(self, prefix: str) -> list[str]:
        self.fs.invalidate_cache()  # others wrote since: list afresh
        root = f"{self.name}/{prefix}/"
        return sorted(path[len(root) :] for path in self.fs.find(root.rstrip("/")))

    def read(self, path: str) -> bytes:
        self.fs.invalidate_cache()
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


@pytest.fixture
def gcs(gcs_endpoint: str) -> Store:
    from gcsfs.core import GCSFileSystem  # the plain one, whatever gcsfs's experimental switch says

    return Store("gs", GCSFileSystem(endpoint_url=gcs_endpoint, token="anon"), gcs_environment(gcs_endpoint))


STORES = {"s3": "s3", "az": "azure", "gs": "gcs"}  # a store's URL scheme: its fixture


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
    ("source_kind", "output_kind"),
    [("s3", "az"), ("az", "gs"), ("gs", "s3")],
    ids=["s3-to-azure", "azure-to-gcs", "gcs-to-s3"],
)
def test_killed_mid_run_then_resumed_writes_every_output_once(
    source_kind: str, output_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, output = (request.getfixturevalue(STORES[kind]) for kind in (source_kind, output_kind))
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
    second = _gristmill(*args, "--state", "machine-b", "--keep-local", "copies", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert f"this run: {ITEMS - 25} done" in second.stdout
    assert len(list((tmp_path / "copies").rglob("*.jsonl"))) == ITEMS - 25  # what this run wrote
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


def test_an_item_named_as_the_processed_manifest_fails_alone_and_the_manifest_is_kept(
    s3: Store, tmp_path: Path
) -> None:
    docs = {"a.txt": b"a", "processed.manifest": b"not a manifest"}
    for path, data in docs.items():
        s3.put(f"corpus/{path}", data)
    args, env = _setup_run(tmp_path, s3, s3)
    ran = _gristmill(*args, cwd=tmp_path, env=env)
    assert ran.returncode == 1, ran.stderr
    failures = json.loads(_gristmill("failures", "cloud.py", "--json", cwd=tmp_path, env=env).stdout)
    assert [f["id"] for f in failures] == ["processed.manifest"]
    assert "a name gristmill keeps for the run's processed manifest" in failures[0]["message"]
    listed = [orjson.loads(line)["id"] for line in s3.read("out/processed.manifest.jsonl").splitlines()]
    assert listed == ["a.txt"]  # the manifest, not the item's output


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


def test_rejected_s3_credentials_stop_the_run_before_any_work(tmp_path: Path) -> None:
    _need("s3")
    (tmp_path / "cloud.py").write_text(PIPELINE)
    with moto_s3(check_credentials=True) as endpoint:
        env = run_env({**s3_environment(tmp_path), "AWS_ENDPOINT_URL": endpoint, "MERGED": "all.jsonl"})
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-key"
        ran = _gristmill(
            "run", "cloud.py", "--source", "s3://corpus/letters", "--output", "out", cwd=tmp_path, env=env
        )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "the credentials are missing or were refused" in ran.stderr
    assert "not-the-secret-key" not in ran.stderr
    assert not list((tmp_path / "out").rglob("*.jsonl"))


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


def test_fingerprints_are_the_stores_etags(
    s3: Store, azure: Store, gcs: Store, s3_endpoint: str, gcs_endpoint: str
) -> None:
    for store in (s3, azure, gcs):
        store.put("corpus/a.txt", b"first")
    sources = [
        Files(url=s3.url("corpus"), endpoint_url=s3_endpoint, storage_options={"key": "k", "secret": "s"}),
        Files(
            url=azure.url("corpus"),
            storage_options={"connection_string": azure.env["AZURE_STORAGE_CONNECTION_STRING"]},
        ),
        Files(url=gcs.url("corpus"), endpoint_url=gcs_endpoint, anonymous=True),
    ]
    for source, store in zip(sources, [s3, azure, gcs], strict=True):
        (before,) = source.list()
        info = store.fs.info(f"{store.name}/corpus/a.txt")
        marker = info.get("generation") or info.get("ETag") or info.get("etag")  # GCS: the generation
        assert before.fingerprint == f"5:{marker}"
        store.put("corpus/a.txt", b"other")  # same size, new content: a new ETag
        (after,) = source.list()
        assert after.fingerprint != before.fingerprint


def test_anonymous_reads_without_credentials(s3: Store, tmp_path: Path) -> None:
    """A public bucket's objects, read with --anonymous: no credentials are sent."""
    for path in _corpus(s3, 4):
        s3.fs.chmod(f"{s3.name}/corpus/{path}", "public-read")
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**s3.env, "MERGED": str(tmp_path / "all.jsonl")})
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    args = ["run", "cloud.py", "--source", s3.url("corpus"), "--output", str(tmp_path / "o"), "--no-progress"]
    assert _gristmill(*args, cwd=tmp_path, env=env).returncode == 2  # no credentials
    ran = _gristmill(*args, "--anonymous", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "this run: 4 done" in ran.stdout


def test_the_corpus_manifest_beside_the_corpus(s3: Store, tmp_path: Path) -> None:
    docs = _corpus(s3, 8)
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**s3.env, "MERGED": str(tmp_path / "all.jsonl")})
    source = ["--source", s3.url("corpus")]
    skipped = _gristmill("manifest", "generate", "cloud.py", *source, "--skip-upload", cwd=tmp_path, env=env)
    assert skipped.returncode == 0, skipped.stderr
    assert (tmp_path / ".gristmill" / "cloud" / "corpus.manifest.txt").read_text().split() == sorted(docs)
    assert "corpus.manifest.txt" not in s3.keys("corpus")
    made = _gristmill("manifest", "generate", "cloud.py", *source, "--force-refresh", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert f"written to {s3.url('corpus/corpus.manifest.txt')}" in made.stdout
    assert s3.read("corpus/corpus.manifest.txt").decode().split() == sorted(docs)
    again = _gristmill("manifest", "generate", "cloud.py", *source, "--force-refresh", cwd=tmp_path, env=env)
    assert "(0 added, 0 changed, 0 removed)" in again.stdout  # the manifest itself is no item
    # Another machine lists nothing: it reads the manifest, and processes what it names.
    s3.put("corpus/not-in-manifest.txt", b"late")
    run = [*source, "--manifest", s3.url("corpus/corpus.manifest.txt"), "--state", "other", "--no-progress"]
    ran = _gristmill("run", "cloud.py", *run, "--output", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert f"all items: {len(docs)} done" in ran.stdout


def test_a_download_folder(s3: Store, tmp_path: Path) -> None:
    docs = _corpus(s3, 6)
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**s3.env, "MERGED": str(tmp_path / "all.jsonl")})
    args = ["run", "cloud.py", "--source", s3.url("corpus"), "--download-dir", "dl", "--no-progress"]

    def run(state: str, *extra: str) -> dict[str, str]:
        ran = _gristmill(*args, "--state", state, "--output", state, *extra, cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stderr
        return {p: orjson.loads((tmp_path / state / f"{p}.jsonl").read_bytes())["text"] for p in docs}

    run("first")
    assert not any(p.is_file() for p in (tmp_path / "dl").rglob("*"))  # removed once done
    run("second", "--preserve-downloads")
    assert sorted(
        p.relative_to(tmp_path / "dl").as_posix() for p in (tmp_path / "dl").rglob("*.txt")
    ) == sorted(docs)
    kept = tmp_path / "dl" / "part0" / "doc000.txt"
    kept.write_bytes(b"DOCUMENT X\n")  # same size: taken as already downloaded
    assert run("third", "--preserve-downloads")["part0/doc000.txt"] == "DOCUMENT X\n"
    assert run("fourth", "--re-download")["part0/doc000.txt"] == "DOCUMENT 0\n"


@pytest.mark.parametrize(
    ("source_kind", "output_kind"), [("s3", "az"), ("gs", "gs")], ids=["s3-to-azure", "gcs-to-gcs"]
)
def test_extract_reads_documents_from_a_store_into_a_store(
    source_kind: str, output_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, output = (request.getfixturevalue(STORES[kind]) for kind in (source_kind, output_kind))
    files = Path(__file__).parent / "documents" / "files"
    for path in files.iterdir():
        source.put(f"docs/{path.name}", path.read_bytes())
    env = run_env({**source.env, **output.env})
    args = ["extract", source.url("docs"), "--output", output.url("elements"), "--no-progress"]
    run = _gristmill(*args, "--workers", "2", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert f"{len(list(files.iterdir()))} done, 0 failed" in run.stdout
    assert json.loads(output.read("elements/guide.md.json"))[0]["text"] == "Miller's Guide"
    again = _gristmill(*args, cwd=tmp_path, env=env)
    assert "this run: 0 done" in again.stdout  # resumed: nothing redone


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_extract_takes_one_file_of_a_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store: Store = request.getfixturevalue(kind)
    files = Path(__file__).parent / "documents" / "files"
    for name in ("guide.md", "guide.md.bak"):  # a sibling the file's name would match as a prefix
        store.put(f"docs/{name}", (files / "guide.md").read_bytes())
    args = ["extract", store.url("docs/guide.md"), "--output", str(tmp_path / "out"), "--no-progress"]
    run = _gristmill(*args, cwd=tmp_path, env=run_env(store.env))
    assert run.returncode == 0, run.stderr
    assert "1 done, 0 failed" in run.stdout
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")] == ["guide.md.json"]
    missing = _gristmill(
        "extract", store.url("docs/nothing.md"), "--output", "out2", cwd=tmp_path, env=run_env(store.env)
    )
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_big_tables_in_a_store_are_read_a_slice_at_a_time(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Range reads of CSV and JSON Lines slices from S3, Azure Blob and GCS, on real workers."""
    from gristmill import Pipeline
    from gristmill.executors import PoolExecutor
    from gristmill.sinks import ListSink
    from gristmill.sources import Tables
    from helpers import SumAmounts

    store: Store = request.getfixturevalue(kind)
    rows = [{"id": i, "amount": i % 10, "note": "two\nlines" if i % 5 == 0 else "one"} for i in range(600)]
    lines = ["id,amount,note"] + [f'{r["id"]},{r["amount"]},"{r["note"]}"' for r in rows]
    store.put("tables/orders.csv", ("\r\n".join(lines) + "\r\n").encode())
    store.put("tables/events.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in rows))
    if kind == "s3":
        options: dict[str, Any] = {"endpoint_url": store.env["AWS_ENDPOINT_URL"]}
        options["storage_options"] = {"key": "testing", "secret": "testing"}
    elif kind == "gcs":
        options = {"endpoint_url": store.env["STORAGE_EMULATOR_HOST"], "anonymous": True}
    else:
        options = {"storage_options": {"connection_string": store.env["AZURE_STORAGE_CONNECTION_STRING"]}}
    source = Tables(url=store.url("tables"), slice_bytes=900, **options)
    sink = ListSink()
    result = Pipeline(source, [SumAmounts()], sink).run(
        executor=PoolExecutor(workers=2), state=tmp_path / "state", progress=False
    )
    assert result.failed == 0
    totals: dict[str, list[int]] = {}
    for total in sink.samples:
        totals.setdefault(total.id.split("@")[0], []).append(total.rows)
    assert {name: sum(counts) for name, counts in totals.items()} == {"orders.csv": 600, "events.jsonl": 600}
    assert min(len(counts) for counts in totals.values()) > 5
    amounts = sum(total.amount for total in sink.samples)  # type: ignore[attr-defined]
    assert amounts == 2 * sum(r["amount"] for r in rows)


@pytest.mark.parametrize(
    ("source_kind", "output_kind"),
    [("s3", "az"), ("az", "gs"), ("gs", "s3")],
    ids=["s3-to-azure", "azure-to-gcs", "gcs-to-s3"],
)
def test_prune_deletes_the_outputs_of_objects_gone_from_the_source(
    source_kind: str, output_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, output = (request.getfixturevalue(STORES[kind]) for kind in (source_kind, output_kind))
    docs = _corpus(source, 9)
    args, env = _setup_run(tmp_path, source, output)
    assert _gristmill(*args, cwd=tmp_path, env=env).returncode == 0
    gone = ["part0/doc000.txt", "part1/doc004.txt", "part2/doc008.txt"]
    source.fs.rm([f"{source.name}/corpus/{path}" for path in gone])
    output.fs.rm_file(f"{output.name}/out/{gone[2]}.jsonl")  # already deleted by hand: no error
    pruned = _gristmill(*args, "--prune", cwd=tmp_path, env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "manifest: 0 added, 0 changed, 3 removed" in pruned.stdout
    _check_outputs(output, {path: data for path, data in docs.items() if path not in gone})
    processed = output.read("out/processed.manifest.jsonl").splitlines()
    assert sorted(orjson.loads(line)["id"] for line in processed) == sorted(set(docs) - set(gone))


def test_a_missing_gcs_bucket_stops_the_run_before_any_work(gcs: Store, tmp_path: Path) -> None:
    _corpus(gcs, 3)
    (tmp_path / "cloud.py").write_text(PIPELINE)
    env = run_env({**gcs.env, "MERGED": str(tmp_path / "all.jsonl")})
    missing = f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}"
    cases = [(f"{missing}/corpus", str(tmp_path / "out")), (gcs.url("corpus"), f"{missing}/out")]
    for source, output in cases:
        ran = _gristmill("run", "cloud.py", "--source", source, "--output", output, cwd=tmp_path, env=env)
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert "does not exist" in ran.stderr and missing in ran.stderr
        assert "Traceback" not in ran.stderr
    assert not any((tmp_path / "out").rglob("*.jsonl"))  # checked writable, nothing written


def test_a_processed_manifest_counts_only_what_these_processors_did(s3: Store, tmp_path: Path) -> None:
    from gristmill import Pipeline
    from gristmill.executors import InlineExecutor
    from gristmill.sinks import JsonlFiles
    from gristmill.sources import Range
    from helpers import Square

    def run(steps: list[Square], state: str) -> int:
        sink = JsonlFiles(
            folder=s3.url("out"),
            endpoint_url=s3.env["AWS_ENDPOINT_URL"],
            storage_options={"key": "testing", "secret": "testing"},
        )
        pipeline = Pipeline(Range(count=6), steps, sink, name="p")
        return pipeline.run(executor=InlineExecutor(), state=tmp_path / state, progress=False).done

    assert run([Square()], "first") == 6
    assert run([Square()], "second") == 0  # a fresh state carries on from the processed manifest
    assert run([Square(sleep=0.001)], "third") == 6  # other processors: their outputs are not these
