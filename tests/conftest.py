from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest

# gcsfs's experimental gRPC calls wait a minute each on the GCS emulator (test_cloud.py);
# read once, when gcsfs is first imported, so set before any test can import it.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

sys.path.insert(0, str(Path(__file__).parent))
import helpers
from gristmill.executors import InlineExecutor, PoolExecutor, RayExecutor

# Workers started by spawn/forkserver may not find the tests folder: ship helpers by value.
cloudpickle.register_pickle_by_value(helpers)


def local_ray() -> str:
    """A Ray instance on this machine, started once for the whole session; its address."""
    import ray

    # Loopback only: the coordinators these tests start join without Ray's auth token.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, logging_level="WARNING")
    return str(ray.get_runtime_context().gcs_address)


def ray_executor(**options: object) -> RayExecutor:
    local_ray()
    return RayExecutor(**{"workers": 2, **options})


def pytest_sessionfinish() -> None:
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


EXECUTORS = [
    pytest.param(InlineExecutor, id="inline"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="forkserver"), id="pool-forkserver"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="spawn"), id="pool-spawn"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="fork"), id="pool-fork"),
    pytest.param(ray_executor, id="ray"),
]
POOLS = EXECUTORS[1:]


@pytest.fixture(params=EXECUTORS)
def make_executor(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture(params=POOLS)
def make_pool(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small folder of text files, nested, with a non-ASCII name."""
    root = tmp_path / "corpus"
    for index in range(12):
        path = root / f"part{index % 3}" / f"doc{index:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"document {index}\n", encoding="utf-8")
    (root / "naïve résumé.txt").write_text("accents\n", encoding="utf-8")
    return root


PG_URL = os.environ.get("GRISTMILL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """PG_URL pointed at a schema of the test's own (through search_path), dropped after.
    Skipped, saying why, when no server answers, except under CI=true."""
    import uuid

    from gristmill.sql import connect

    try:
        admin = connect(PG_URL)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must answer under CI=true: {exc}")
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}: {exc}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    admin.close()
