"""`gristmill report`'s figures, from a real run's ledger."""

from __future__ import annotations

from pathlib import Path

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
