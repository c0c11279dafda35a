"""Both ledgers keep the same promises: counts add up, refresh merges, records round-trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gristmill import ConfigError, Item
from gristmill.ledger import Ledger, MemoryLedger, SqliteLedger, Status
from gristmill.ledger.base import failure, pack


@pytest.fixture(params=["sqlite", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    return SqliteLedger(tmp_path) if request.param == "sqlite" else MemoryLedger()


def items(*ids: str, size: int = 1) -> list[Item]:
    return [Item(i, size, f"fp-{i}") for i in ids]


def done(seq: int, worker: str = "w0", duration: float = 0.5, outputs: str | None = None) -> tuple:
    return (seq, int(Status.DONE), 1, None, None, None, outputs, 1000.0 + seq, duration, worker)


def test_plan_then_todo_in_manifest_order(ledger: Ledger) -> None:
    assert ledger.manifest_info() is None
    ledger.plan(items("a", "b", "c"), source="test")
    info = ledger.manifest_info()
    assert info is not None
    assert (info.items, info.total_size, info.source) == (3, 3, "test")
    assert [t[1] for t in ledger.todo()] == ["a", "b", "c"]
    assert ledger.counts().pending == 3


def test_duplicate_ids_are_refused(ledger: Ledger) -> None:
    with pytest.raises(ConfigError, match="listed the item 'a' twice"):
        ledger.plan(items("a", "b", "a"), source="test")


def test_record_and_counts_add_up(ledger: Ledger) -> None:
    ledger.plan(items(*"abcd"), source="test")
    seqs = [t[0] for t in ledger.todo()]
    ledger.record(
        [
            done(seqs[0]),
            failure(seqs[1], "ValueError", "bad", traceback="tb"),
            failure(seqs[2], "SkipItem", "empty", status=Status.SKIPPED),
        ]
    )
    counts = ledger.counts()
    assert counts == (1, 1, 1, 1)
    assert counts.total == 4
    assert [t[1] for t in ledger.todo()] == ["b", "d"]  # failed ones are retried
    (failed,) = ledger.records(status=Status.FAILED)
    assert (failed.id, failed.error_type, failed.message, failed.traceback) == (
        "b",
        "ValueError",
        "bad",
        "tb",
    )
    assert [r.id for r in ledger.records(status="failed")] == ["b"]  # type: ignore[arg-type]
    ledger.redo_all()  # --reprocess
    assert ledger.counts() == (4, 0, 0, 0)
    assert len(list(ledger.todo())) == 4


def test_long_runs_of_successes_keep_per_item_timings(ledger: Ledger) -> None:
    ids = [f"i{n:03d}" for n in range(100)]
    ledger.plan(items(*ids), source="test")
    seqs = [t[0] for t in ledger.todo()]
    ledger.record([done(seq, duration=0.001 * n) for n, seq in enumerate(seqs)])
    records = list(ledger.records())
    assert [r.status for r in records] == [Status.DONE] * 100
    assert [round(r.duration or 0, 6) for r in records] == [round(0.001 * n, 6) for n in range(100)]
    assert {r.worker for r in records} == {"w0"}
    assert records[0].attempts == 1
    ledger.record([done(seqs[5], outputs='["x"]')])  # redone alone later: its own row wins
    redone = list(ledger.records())[5]
    assert (redone.outputs, redone.attempts) == ('["x"]', 2)


def test_runs_of_successes_read_back_item_by_item(ledger: Ledger) -> None:
    ledger.plan(items(*(f"i{n:03d}" for n in range(300))), source="test")
    seqs = [t[0] for t in ledger.todo()]
    durations = [0.001 * (n % 7) for n in range(300)]
    for w in range(3):  # three workers' batches of a hundred items, each sent as one run
        batch = [done(seqs[n], worker=f"w{w}", duration=durations[n]) for n in range(100 * w, 100 * w + 100)]
        singles, runs = pack(batch)
        assert len(runs) == 1 and not singles
        ledger.record(singles, runs)
    records = ledger.records()
    first = next(records)  # streamed: the rest are read as they are wanted
    assert (first.id, first.status, first.worker) == ("i000", Status.DONE, "w0")
    every = [first, *records]
    assert [r.duration for r in every] == durations
    assert [r.worker for r in every[99:101]] == ["w0", "w1"]
    for n in (0, 150, 299):  # its run's start, plus the time of the items before it in the run
        run_start = n - n % 100
        expected = 1000.0 + seqs[run_start] + sum(durations[run_start:n])
        assert every[n].started == pytest.approx(expected)
    assert [r.id for r in ledger.records(limit=2)] == ["i000", "i001"]


def test_refresh_adds_resets_changed_and_removes_vanished(ledger: Ledger) -> None:
    ledger.plan(items("a", "b", "c"), source="test")
    ledger.record([done(t[0]) for t in ledger.todo()])
    changes = ledger.plan([Item("a", 1, "fp-a"), Item("b", 2, "fp-b2"), Item("d", 1, "fp-d")], source="test")
    assert tuple(changes) == (1, 1, 1)
    assert [t[1] for t in ledger.todo()] == ["b", "d"]
    assert ledger.counts() == (2, 1, 0, 0)


def test_items_gone_are_handed_over_before_they_are_forgotten(ledger: Ledger) -> None:
    ledger.plan(items("a", "b", "c", "d"), source="test")
    ledger.record([done(t[0]) for t in ledger.todo()])

    def refuse(gone: object) -> None:
        raise OSError("the outputs cannot be removed now")

    with pytest.raises(OSError, match="cannot be removed"):  # the sink failed: the ledger keeps them
        ledger.plan(items("a", "c"), source="test", gone=refuse)
    assert ledger.counts().done == 4
    handed: list[list[str]] = []
    changes = ledger.plan(items("a", "c"), source="test", gone=lambda g: handed.append([i.id for i in g]))
    assert handed == [["b", "d"]]
    assert (changes.removed, ledger.counts().done) == (2, 2)
    assert ledger.plan(items("a", "c"), source="test", gone=handed.append).removed == 0
    assert len(handed) == 1  # nothing gone: not called


def test_sqlite_ledger_survives_reopening(tmp_path: Path) -> None:
    first = SqliteLedger(tmp_path)
    first.plan(items("a", "b"), source="test")
    first.record([done(1)])
    first.close()
    again = SqliteLedger(tmp_path)
    assert again.counts() == (1, 1, 0, 0)
    assert [t[1] for t in again.todo()] == ["b"]


def test_unwritable_state_folder_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot use the state folder"):
        SqliteLedger(tmp_path / "file" / "state")


def test_a_long_listing_is_stored_whole_and_in_order(ledger: Ledger) -> None:
    ids = [f"doc{n:05d}" for n in range(12_345)]
    ledger.plan([Item(i, n, f"fp{n}") for n, i in enumerate(ids)], source="test")
    todo = list(ledger.todo())
    assert [t[1] for t in todo] == ids
    assert todo[-1] == (12_345, "doc12344", 12_344, "fp12344", 0)


def test_a_state_folder_that_cannot_be_locked_is_used_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))  # as NFS without its lock daemon

    monkeypatch.setattr(fcntl, "flock", no_locks)
    ledger = SqliteLedger(tmp_path)
    ledger.lock()
    ledger.close()
    assert "cannot be locked (No locks available): make sure no other run uses it" in caplog.text
