"""The Ray executor on a real two-node Ray cluster, both nodes on this machine.

The behaviour tests every executor passes (failures, timeouts, dead workers, resume, exit
codes) run with Ray in test_pipeline.py and test_cli.py; here, what only a cluster shows: a
node lost in the middle of a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray")

from conftest import ray_executor
from gristmill import BaseSample, Pipeline, Processor
from gristmill.ledger import MemoryLedger
from gristmill.sinks import ListSink
from gristmill.sources import Range

GRISTMILL = [sys.executable, "-m", "gristmill"]
MB = 1024 * 1024

PIPELINE = """
import time
import ray
from gristmill import BaseSample, Pipeline, Processor
from gristmill.sinks import JsonFiles
from gristmill.sources import Range


class Where(BaseSample):
    node: str


class Slow(Processor):
    def process(self, sample: BaseSample) -> Where:
        time.sleep(0.02)
        return Where(id=sample.id, node=ray.get_runtime_context().get_node_id())


pipeline = Pipeline(Range(count=600), [Slow()], JsonFiles(folder="out"), name="nodes")
"""


@pytest.fixture
def two_nodes() -> Iterator[tuple[Any, Any]]:
    """A head node with one CPU and a worker node with two: real raylets, started here
    with Ray's own cluster utility (the one Ray tests itself with)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"  # loopback: the coordinator joins without a token
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * MB})
    worker = cluster.add_node(num_cpus=2, object_store_memory=80 * MB)
    cluster.wait_for_nodes()
    yield cluster, worker
    cluster.shutdown()


def test_a_node_lost_mid_run_loses_and_duplicates_nothing(two_nodes: tuple[Any, Any], tmp_path: Path) -> None:
    cluster, worker = two_nodes
    (tmp_path / "nodes.py").write_text(PIPELINE)
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    run = subprocess.Popen(
        [*GRISTMILL, "run", "nodes.py", "--executor", "ray", "--workers", "3", "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = tmp_path / "out"
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.json"))) < 100 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
    nodes = {json.loads(p.read_text())[0]["node"] for p in out.glob("*.json")}
    assert worker.node_id in nodes, "the worker node took no part before it was killed"
    cluster.remove_node(worker, allow_graceful=False)  # its raylet and actors die at once
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stdout + stderr
    assert "this run: 600 done" in stdout
    written = sorted(int(p.stem) for p in out.glob("*.json"))
    assert written == list(range(600))  # every output, once (one file per item id)
    status = subprocess.run(
        [*GRISTMILL, "status", "nodes.py", "--json"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    counts = json.loads(status.stdout)
    assert (counts["done"], counts["failed"], counts["pending"]) == (600, 0, 0)
    after = [json.loads(p.read_text())[0]["node"] for p in out.glob("*.json")]
    assert after.count(worker.node_id) < 600  # the head finished what the lost node left


class Crowd(BaseSample):
    alongside: int  # items in progress in the same actor when this one started


class Waits(Processor):
    """Waits as a step waiting on the network would, noting how many items wait with it."""

    _lock: Any = None
    _busy: int = 0

    def setup(self) -> None:
        import threading

        self._lock = threading.Lock()

    def process(self, sample: BaseSample) -> Crowd:
        with self._lock:
            self._busy += 1
            alongside = self._busy
        time.sleep(0.05)
        with self._lock:
            self._busy -= 1
        return Crowd(id=sample.id, alongside=alongside)


@pytest.mark.parametrize("batch_size", [8, None], ids=["batches-of-8", "sized-by-gristmill"])
def test_threads_process_several_items_at_once_in_each_actor(batch_size: int | None) -> None:
    sink = ListSink()
    executor = ray_executor(workers=1, threads=4, batch_size=batch_size)
    result = Pipeline(Range(count=24), [Waits()], sink).run(
        executor=executor, ledger=MemoryLedger(), progress=False
    )
    assert result.done == 24
    crowd = [s.alongside for s in sink.samples]  # type: ignore[attr-defined]
    assert max(crowd) == 4  # four threads, never more
