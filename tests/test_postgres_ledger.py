"""The PostgreSQL ledger that several coordinators share, against the real server.

Each test gets a schema of its own (the ledger's tables are made there through the URL's
search_path). Skipped, saying why, when no server answers, except under CI=true.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gristmill import Pipeline
from gristmill.ledger.base import Status
from gristmill.ledger.postgres import PostgresLedger
from gristmill.manifest import Item
from gristmill.sources import Range

GRISTMILL = [str(Path(sys.executable).parent / "gristmill")]


@pytest.fixture
def url(pg_schema: str) -> str:
    return pg_schema


def items(n: int) -> list[Item]:
    return [Item(str(i), 10, f"fp{i}") for i in range(n)]


def test_claims_records_and_counts(url: str) -> None:
    ledger = PostgresLedger(url, "r", claim=7)
    assert ledger.manifest_info() is None
    assert ledger.plan(items(20), source="twenty").added == 20
    info = ledger.manifest_info()
    assert info is not None and (info.items, info.total_size, info.source) == (20, 200, "twenty")
    claiming = ledger.todo()
    first = [next(claiming) for _ in range(4)]  # the first claim is small: 4 items
    other = PostgresLedger(url, "r")
    shared = other._claim(size=3)
    assert [t[1] for t in shared] == ["4", "5", "6"]  # so a second coordinator finds work at once
    other.record([(t[0], int(Status.DONE), 1, None, None, None, None, 0.0, 0.1, "w9") for t in shared])
    todo = first + list(claiming)  # then 8, then 7 (the most), in order, around the other's
    assert [t[1] for t in todo] == [str(i) for i in range(20) if i not in (4, 5, 6)]
    todo += shared
    assert other._claim(size=7) == []  # all claimed by the first, which is alive
    todo.sort()
    done = [(t[0], int(Status.DONE), 1, None, None, None, None, 0.0, 0.1, "w0") for t in todo[:15]]
    failed = [
        (t[0], int(Status.FAILED), 1, "ValueError", "bad", "tb", None, 0.0, 0.1, "w0") for t in todo[15:]
    ]
    ledger.record(done + failed)
    assert ledger.counts() == (0, 15, 5, 0)
    assert list(other.todo()) == []  # failed before `other` started: not retried by it
    assert [r.id for r in ledger.records(status=Status.FAILED)] == ["15", "16", "17", "18", "19"]
    later = PostgresLedger(url, "r")
    assert [t[1] for t in later.todo()] == ["15", "16", "17", "18", "19"]  # a later coordinator retries
    for each in (ledger, other, later):
        each.close()


def test_a_dead_coordinators_claims_expire(url: str) -> None:
    first = PostgresLedger(url, "r", lease=1.0)
    first.plan(items(10), source="ten")
    claimed = list(first.todo())
    first._db.close()  # dies without releasing its claims
    second = PostgresLedger(url, "r", lease=1.0)
    assert list(second.todo()) == []  # still claimed: todo never waits
    started = time.monotonic()
    assert second.wait_for_others(threading.Event())  # until the claims run out
    assert time.monotonic() - started >= 0.5
    taken = list(second.todo())
    assert [t[1] for t in taken] == [t[1] for t in claimed]
    second.record([(t[0], int(Status.DONE), 1, None, None, None, None, 0.0, 0.1, "w") for t in taken])
    assert not second.wait_for_others(threading.Event())  # nothing left to anyone
    second.close()


def test_a_refresh_merges_and_keeps_states(url: str) -> None:
    ledger = PostgresLedger(url, "r")
    ledger.plan(items(5), source="five")
    ledger.record([(t[0], int(Status.DONE), 1, None, None, None, None, 0.0, 0.1, "w") for t in ledger.todo()])
    later = PostgresLedger(url, "r")
    changed = [*items(3)[1:], Item("3", 11, "new"), Item("9", 1, "fp9")]  # 0 and 4 gone, 3 changed
    changes = later.plan(changed, source="five")
    assert (changes.added, changes.changed, changes.removed) == (1, 1, 2)
    assert later.counts() == (2, 2, 0, 0)
    ledger.close()
    later.close()


def test_a_pipeline_runs_on_a_shared_ledger_from_the_command_line(url: str, tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(
        "from gristmill import Pipeline\nfrom gristmill.sinks import JsonFiles\n"
        "from gristmill.sources import Range\n"
        "pipeline = Pipeline(Range(count=300), sink=JsonFiles(folder='out'), name='shared')\n"
    )
    command = [*GRISTMILL, "run", "p.py", "--state", url, "--workers", "2", "--no-progress"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "this run: 300 done" in first.stdout
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "this run: 0 done" in again.stdout
    status = subprocess.run(
        [*GRISTMILL, "status", "p.py", "--state", url], cwd=tmp_path, capture_output=True, text=True
    )
    assert "300 done, 0 failed" in status.stdout, status.stderr
    secret = url.replace("postgres@", "postgres:s3cret@")  # trust auth: the password is not checked
    status = subprocess.run(
        [*GRISTMILL, "status", "p.py", "--state", secret], cwd=tmp_path, capture_output=True, text=True
    )
    assert "300 done" in status.stdout and "s3cret" not in status.stdout + status.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 300


COORDINATOR = """
import os, sys, time
from pathlib import Path
from gristmill import BaseSample, Pipeline, Processor
from gristmill.ledger.postgres import PostgresLedger
from gristmill.sinks import JsonFiles
from gristmill.sources import Range


class Note(Processor):
    def process(self, sample: BaseSample) -> BaseSample:
        time.sleep(0.002)
        with open(f"log-{{os.environ['COORDINATOR']}}.txt", "a") as log:
            log.write(sample.id + "\\n")
        return sample


if __name__ == "__main__":
    os.environ["COORDINATOR"] = str(os.getpid())  # workers inherit it
    ledger = PostgresLedger({url!r}, "crowd", lease={lease}, claim=50)
    pipeline = Pipeline(Range(count={count}), [Note()], JsonFiles(folder="out"), name="crowd")
    result = pipeline.run(ledger=ledger, workers=1, progress=False)
    ledger.close()
    print(result.done, result.failed)
"""


def start(folder: Path, url: str, *, count: int, lease: float) -> subprocess.Popen[str]:
    script = folder / "coordinator.py"
    script.write_text(COORDINATOR.format(url=url, count=count, lease=lease))
    return subprocess.Popen(
        [sys.executable, str(script)], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def processed(folder: Path) -> dict[str, Counter[str]]:
    return {log.stem: Counter(log.read_text().split()) for log in folder.glob("log-*.txt")}


def test_two_coordinators_share_a_run_and_process_no_item_twice(url: str, tmp_path: Path) -> None:
    PostgresLedger(url, "crowd").close()  # the tables, before two coordinators race to make them
    first, second = (start(tmp_path, url, count=5000, lease=30) for _ in range(2))
    outputs = [proc.communicate(timeout=240) for proc in (first, second)]
    assert [proc.returncode for proc in (first, second)] == [0, 0], outputs
    done = sorted(int(out.split()[0]) for out, _ in outputs)
    assert sum(done) == 5000 and done[0] > 0, done  # both took part
    logs = processed(tmp_path)
    assert len(logs) == 2
    total = sum(logs.values(), Counter())
    assert len(total) == 5000 and max(total.values()) == 1  # every item once, none twice
    assert len(list((tmp_path / "out").glob("*.json"))) == 5000


def test_a_coordinator_killed_midway_leaves_its_items_to_the_other(url: str, tmp_path: Path) -> None:
    ledger = PostgresLedger(url, "crowd")
    Pipeline(Range(count=5000), name="crowd").plan(ledger)  # made before both start
    ledger.close()
    doomed = start(tmp_path, url, count=5000, lease=2)
    survivor = start(tmp_path, url, count=5000, lease=2)
    time.sleep(2.5)
    assert doomed.poll() is None, doomed.communicate()
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=30)
    _, err = survivor.communicate(timeout=240)
    assert survivor.returncode == 0, err
    check = PostgresLedger(url, "crowd")
    assert check.counts() == (0, 5000, 0, 0)
    check.close()
    logs = processed(tmp_path)
    total = sum(logs.values(), Counter())
    assert len(total) == 5000  # nothing lost
    assert max(logs[f"log-{survivor.pid}"].values()) == 1  # the survivor did nothing twice
    # what was done twice, the dead one had claimed and not recorded: its last second or so
    twice = {item for item, seen in total.items() if seen > 1}
    assert twice <= set(logs[f"log-{doomed.pid}"]) and len(twice) < 1000, len(twice)
    assert len(list((tmp_path / "out").glob("*.json"))) == 5000


def test_coordinators_add_up_their_step_seconds(url: str) -> None:
    first, second, elsewhere = (
        PostgresLedger(url, "r"),
        PostgresLedger(url, "r"),
        PostgresLedger(url, "other"),
    )
    first.add_step_seconds({"Partition": 1.5, "Chunk": 0.25})
    second.add_step_seconds({"Partition": 0.5})
    assert first.step_seconds() == second.step_seconds() == {"Partition": 2.0, "Chunk": 0.25}
    assert elsewhere.step_seconds() == {}  # another run's
    for each in (first, second, elsewhere):
        each.close()


def test_items_gone_are_handed_over_before_they_are_forgotten(url: str) -> None:
    first = PostgresLedger(url, "r")
    first.plan(items(5), source="five")
    first.close()

    def refuse(gone: object) -> None:
        raise OSError("the outputs cannot be removed now")

    failing = PostgresLedger(url, "r")
    with pytest.raises(OSError, match="cannot be removed"):  # the sink failed: the ledger keeps them
        failing.plan(items(2), source="five", gone=refuse)
    failing.close()
    later = PostgresLedger(url, "r")
    assert later.counts().pending == 5
    handed: list[list[str]] = []
    changes = later.plan(items(2), source="five", gone=lambda g: handed.append([i.id for i in g]))
    assert handed == [["2", "3", "4"]] and changes.removed == 3
    assert [r.id for r in later.records()] == ["0", "1"]
    assert later.plan(items(1), source="five").removed == 1  # refreshed again by the same one
    later.close()


def test_no_coordinator_changes_the_configuration_or_redoes_all_while_others_work(url: str) -> None:
    from gristmill import ConfigError
    from gristmill.sinks import ListSink
    from helpers import Square

    at_work = PostgresLedger(url, "shared")
    Pipeline(Range(count=10), [Square()], name="shared").plan(at_work)
    at_work.set_configuration(f"Square {Square().config_hash()}")
    claimed = at_work.todo()
    next(claimed)  # holds a claim, as a coordinator in the middle of its items does
    for steps, options in (([Square(sleep=0.01)], {}), ([Square()], {"reprocess": True})):
        joining = PostgresLedger(url, "shared")
        with pytest.raises(ConfigError, match="other coordinators are processing this run's items"):
            Pipeline(Range(count=10), steps, ListSink(), name="shared").run(
                executor="inline", ledger=joining, progress=False, **options
            )
        joining.close()
    at_work.close()
