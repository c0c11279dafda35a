"""What a worker process does with processors that misbehave in ways the item tests do not
cover: outputs that cannot travel, exits raised as exceptions, a setup that never ends."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

import pytest

from conftest import ray_executor
from gristmill import BaseSample, ConfigError, Pipeline, Processor
from gristmill.executors import PoolExecutor
from gristmill.ledger import MemoryLedger, Status
from gristmill.sinks import ListSink
from gristmill.sources import Range


class Row(BaseSample):
    n: int
    extra: object = None


class OneLock(Processor):
    """Item 37's output holds a lock, which cannot be pickled."""

    def process(self, sample: BaseSample) -> Row:
        n = int(sample.id)
        return Row(id=sample.id, n=n, extra=threading.Lock() if n == 37 else None)


class Exits(Processor):
    """Raises what Ctrl-C and sys.exit() raise, on items 3 and 6."""

    def process(self, sample: BaseSample) -> BaseSample:
        if sample.id == "3":
            raise KeyboardInterrupt
        if sample.id == "6":
            raise SystemExit(5)
        return sample


class SlowSetup(Processor):
    def setup(self) -> None:
        time.sleep(3600)

    def process(self, sample: BaseSample) -> BaseSample:
        return sample


@pytest.mark.parametrize("executor", ["pool", "ray"])
def test_an_output_that_cannot_be_pickled_fails_its_item_alone(executor: str) -> None:
    ledger = MemoryLedger()
    sink = ListSink()
    chosen = PoolExecutor(workers=2, batch_size=50) if executor == "pool" else ray_executor(batch_size=50)
    result = Pipeline(Range(count=60), [OneLock()], sink).run(executor=chosen, ledger=ledger, progress=False)
    assert (result.done, result.failed) == (59, 1)
    (failed,) = ledger.records(status=Status.FAILED)
    assert failed.id == "37"
    assert failed.error_type == "ProcessingError"
    assert failed.message == (
        "its output could not be sent to the coordinator (it cannot be pickled): "
        "TypeError: cannot pickle '_thread.lock' object"
    )
    assert len(sink.by_item) == 59 and "37" not in sink.by_item


def test_keyboard_interrupt_and_system_exit_in_a_processor_fail_only_their_item(
    make_pool, capfd: pytest.CaptureFixture[str]
) -> None:
    """Workers ignore SIGINT (the user's Ctrl-C is the coordinator's to handle), so these
    come from processor code: an item's failure like any other, and the worker lives on."""
    executor = make_pool()
    ledger = MemoryLedger()
    result = Pipeline(Range(count=10), [Exits()], ListSink()).run(
        executor=executor, ledger=ledger, progress=False
    )
    assert (result.done, result.failed) == (8, 2)
    failed = {r.id: r for r in ledger.records(status=Status.FAILED)}
    assert failed["3"].error_type == "KeyboardInterrupt"
    assert "raise KeyboardInterrupt" in (failed["3"].traceback or "")
    assert (failed["6"].error_type, failed["6"].message) == ("SystemExit", "5")
    assert "raise SystemExit(5)" in (failed["6"].traceback or "")
    assert len({r.worker for r in ledger.records()}) <= 2  # no worker was replaced
    if isinstance(executor, PoolExecutor):
        assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("executor", ["pool", "ray"])
def test_a_setup_that_outlasts_the_timeout_stops_the_run(executor: str) -> None:
    ledger = MemoryLedger()
    started = time.monotonic()
    with pytest.raises(
        ConfigError,
        match=r"SlowSetup.setup\(\) did not finish within the timeout \(1 s\) in (Ray )?worker \w\d",
    ):
        Pipeline(Range(count=5), [SlowSetup()]).run(
            executor=PoolExecutor(workers=2, timeout=1.0)
            if executor == "pool"
            else ray_executor(timeout=1.0),
            ledger=ledger,
            progress=False,
        )
    assert time.monotonic() - started < 30  # not the setup's hour
    assert ledger.counts().done == ledger.counts().failed == 0


def test_more_workers_than_open_files_allow_is_said_before_any_starts() -> None:
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
        "from gristmill import Pipeline; from gristmill.ledger import MemoryLedger; "
        "from gristmill.sources import Range; "
        "Pipeline(Range(count=10), []).run(workers=200, ledger=MemoryLedger())"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.returncode != 0
    assert "200 workers need about 864 open files, and this process may open 256" in ran.stderr
    assert "--workers 48 at most" in ran.stderr and "EOFError" not in ran.stderr


class Sized(BaseSample):
    size: int


class OnlyBatches(Processor):
    """Written as the README shows batching: ``batch_size`` and ``process_batch`` alone."""

    batch_size: ClassVar[int | None] = 8

    def process_batch(self, samples: Sequence[BaseSample]) -> list[Sized]:
        return [Sized(id=sample.id, size=len(samples)) for sample in samples]


def test_a_processor_of_batches_only_gets_whole_batches_on_the_pool() -> None:
    sink = ListSink()
    result = Pipeline(Range(count=100), [OnlyBatches()], sink).run(
        ledger=MemoryLedger(), workers=2, progress=False
    )
    assert result.done == 100 and result.failed == 0
    sizes = sorted(sample.size for sample in sink.samples if isinstance(sample, Sized))
    assert sizes == [4] * 4 + [8] * 96  # twelve batches of 8, and the 4 left over


class ExitsOrInterrupts(Processor):
    raising: str

    def process(self, sample: BaseSample) -> BaseSample:
        if sample.id == "4":
            raise SystemExit(3) if self.raising == "exit" else KeyboardInterrupt
        return sample


def test_inline_a_system_exit_fails_its_item_and_a_keyboard_interrupt_stops_the_run() -> None:
    exits = Pipeline(Range(count=8), [ExitsOrInterrupts(raising="exit")], ListSink())
    result = exits.run(executor="inline", ledger=MemoryLedger(), progress=False)
    assert (result.done, result.failed, result.exit_code) == (7, 1, 1)
    interrupted = Pipeline(Range(count=8), [ExitsOrInterrupts(raising="interrupt")], ListSink())
    result = interrupted.run(executor="inline", ledger=MemoryLedger(), progress=False)
    assert result.interrupted and result.exit_code == 130  # in this process it is the user's Ctrl-C


class NeedsAModule(Processor):
    imports: ClassVar[tuple[str, ...]] = ("no_such_module_xyz",)

    def process(self, sample: BaseSample) -> BaseSample:
        return sample


def test_a_module_named_in_imports_that_is_missing_is_refused_first() -> None:
    with pytest.raises(ConfigError, match="imports name 'no_such_module_xyz', which is not installed here"):
        Pipeline(Range(count=3), [NeedsAModule()], ListSink()).run(
            ledger=MemoryLedger(), workers=1, progress=False
        )
