from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import helpers
from gristmill.executors import InlineExecutor, PoolExecutor

# Workers started by spawn/forkserver may not find the tests folder: ship helpers by value.
cloudpickle.register_pickle_by_value(helpers)

EXECUTORS = [
    pytest.param(InlineExecutor, id="inline"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="forkserver"), id="pool-forkserver"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="spawn"), id="pool-spawn"),
    pytest.param(lambda: PoolExecutor(workers=2, start_method="fork"), id="pool-fork"),
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
