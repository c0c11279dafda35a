"""`gristmill report`'s figures, from a real run's ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gristmill import Pipeline
from gristmill.executors import PoolExecutor
from gristmill.report import report
from gristmill.sources import Range
from helpers import Pause, Square


def test_a_report_says_where_the_time_went_and_what_failed(tmp_path: Path) -> None:
    (tmp_path / "flaky").mkdir()
    steps = [
        Pause(slow=("5",), seconds=0.3, skip=("9",)),
        Square(fail=("3", "7"), flaky_folder=str(tmp_path / "flaky")),
    ]
    pipeline = Pipeline(Range(count=40), steps, name="report")
    result = pipeline.run(
        executor=PoolExecutor(workers=2), state=tmp_path / "state", backoff=0.001, progress=False
    )
    assert (result.done, result.failed, result.skipped) == (37, 2, 1)
    ledger = pipeline.open_ledger(tmp_path / "state")
    made = report(ledger, slowest=3)
    assert made.counts == {"pending": 0, "done": 37, "failed": 2, "skipped": 1, "total": 40}
    assert made.slowest[0][0] == "5"
    assert made.slowest[0][1] >= 0.3
    assert len(made.slowest) == 3
    assert made.median_seconds is not None and made.median_seconds < 0.3
    assert made.p95_seconds is not None and made.median_seconds <= made.p95_seconds <= made.slowest[0][1]
    assert sum(items for items, _ in made.workers.values()) == 40  # every item ran on one of them
    assert made.busy_seconds >= 0.3
    assert [(e.error_type, e.status, e.items) for e in made.errors] == [
        ("ValueError", "failed", 2),
        ("SkipItem", "skipped", 1),
    ]
    assert (made.errors[0].example_id, made.errors[0].example_message) == ("3", "cannot square 3")
    assert made.retried == 37  # every item that reached Square failed once, transiently
    text = "\n".join(made.lines())
    assert "items: 40: 37 done, 2 failed, 1 skipped, 0 pending" in text
    assert "  ValueError: 2 failed, e.g. 3: cannot square 3" in text


def test_a_report_before_any_item_ran(tmp_path: Path) -> None:
    pipeline = Pipeline(Range(count=3), [], name="nothing")
    ledger = pipeline.open_ledger(tmp_path / "state")
    pipeline.plan(ledger)
    made = report(ledger)
    assert made.counts["pending"] == 3
    assert made.lines()[-1] == "no item has run yet"


def test_the_time_of_each_step_on_every_executor(tmp_path: Path, make_executor: Any) -> None:
    steps = [Pause(slow=tuple(str(n) for n in range(0, 40, 4)), seconds=0.05), Square()]
    pipeline = Pipeline(Range(count=40), steps, name="steps")
    result = pipeline.run(executor=make_executor(), state=tmp_path / "state", progress=False)
    assert result.done == 40
    ledger = pipeline.open_ledger(tmp_path / "state")
    made = report(ledger)
    names = [name for name, _ in made.steps]
    assert names == ["Pause", "Square"]  # the slow step first
    assert 0.5 <= made.steps[0][1] < 5  # ten items of 0.05 s
    assert made.steps[1][1] < made.steps[0][1]
    assert any(line.startswith("time per step: Pause ") for line in made.lines())
    again = pipeline.run(executor=make_executor(), state=tmp_path / "state", progress=False, reprocess=True)
    assert again.done == 40
    assert report(ledger).steps[0][1] >= 2 * 0.5  # runs add up


def test_step_seconds_add_up_in_every_ledger(tmp_path: Path) -> None:
    from gristmill.ledger import MemoryLedger, SqliteLedger

    for ledger in (MemoryLedger(), SqliteLedger(tmp_path / "state")):
        ledger.add_step_seconds({"Partition": 1.5, "Chunk": 0.25})
        ledger.add_step_seconds({"Partition": 0.5})
        assert ledger.step_seconds() == {"Partition": 2.0, "Chunk": 0.25}


def test_quantiles_within_one_percent_in_bounded_memory() -> None:
    import random

    from gristmill.report import Durations

    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 1.5) for _ in range(20_000)] + [0.0] * 50
    durations = Durations()
    for value in values:
        durations.add(value)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.999):
        exact = ordered[int(q * len(ordered))]
        assert durations.quantile(q) == pytest.approx(exact, rel=0.01)
    assert durations.quantile(0.0) < 2 * Durations.FLOOR  # durations of 0 share the first bucket
    assert durations.quantile(1.0) == pytest.approx(max(values), rel=0.01)
    assert durations.quantile(1.0) <= max(values)  # never beyond what was seen
    assert len(durations.buckets) < 2_000  # buckets, not values: the same for a billion
    assert durations.total == pytest.approx(sum(values))
    assert Durations().quantile(0.5) is None
