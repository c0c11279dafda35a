"""--shard I/N: several machines split one corpus by item id, each with its own ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gristmill import ConfigError, Pipeline, Shard
from gristmill.ledger import MemoryLedger, SqliteLedger
from gristmill.sources import Files, Range
from test_cli import gristmill, write_pipeline


def shard_ids(pipeline: Pipeline, shard: Shard, *, how: str) -> set[str]:
    """The ids in one shard's manifest, made by a first run (listing streamed) or by a plan."""
    ledger = MemoryLedger()
    if how == "run":
        pipeline.run(executor="inline", ledger=ledger, progress=False, shard=shard)
    else:
        pipeline.plan(ledger, shard=shard)
    return {record.id for record in ledger.records()}


@pytest.mark.parametrize("how", ["run", "plan"])
def test_the_shards_split_the_listing_exactly(how: str) -> None:
    pipeline = Pipeline(Range(count=1000))
    parts = [shard_ids(pipeline, Shard(number, of=3), how=how) for number in (1, 2, 3)]
    assert set().union(*parts) == {str(n) for n in range(1000)}
    assert sum(len(part) for part in parts) == 1000  # no item in two shards
    assert all(len(part) > 200 for part in parts)
    assert shard_ids(pipeline, Shard(1, of=1), how=how) == set().union(*parts)


def test_added_items_move_no_item_to_another_shard(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(60):
        (corpus / f"doc{n}.txt").write_text(str(n))
    pipeline = Pipeline(Files(url=str(corpus)))

    def manifests(*, refresh: bool) -> list[set[str]]:
        parts = []
        for number in (1, 2, 3):
            ledger = SqliteLedger(tmp_path / f"state-{number}")
            pipeline.plan(ledger, refresh=refresh, shard=Shard(number, of=3))
            parts.append({record.id for record in ledger.records()})
            ledger.close()
        return parts

    before = manifests(refresh=False)
    for n in range(60, 100):
        (corpus / f"doc{n}.txt").write_text(str(n))
    after = manifests(refresh=True)
    added = {f"doc{n}.txt" for n in range(60, 100)}
    for old, new in zip(before, after, strict=True):
        assert old <= new
        assert new - old <= added
    assert set().union(*after) == {f"doc{n}.txt" for n in range(100)}
    assert sum(len(part) for part in after) == 100


def test_three_shards_from_the_cli_then_one_status(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=90)
    for number in (1, 2, 3):
        ran = gristmill(
            "run", "cubes.py", "--shard", f"{number}/3", "--workers", "2", "--no-progress", cwd=tmp_path
        )
        assert ran.returncode == 0, ran.stderr
    states = [f".gristmill/cubes/shard-{number}-of-3" for number in (1, 2, 3)]
    args = [arg for state in states for arg in ("--state", state)]
    report = json.loads(gristmill("status", *args, "--json", cwd=tmp_path).stdout)
    assert [entry["state"] for entry in report["states"]] == states
    assert all(0 < entry["done"] == entry["total"] < 90 for entry in report["states"])
    assert report["total"] == {"pending": 0, "done": 90, "failed": 0, "skipped": 0, "total": 90}
    text = gristmill("status", *args, cwd=tmp_path).stdout
    assert "source: Range(90) (shard 2/3)" in text
    assert text.splitlines()[-1] == "total: 90 done, 0 failed, 0 skipped, 0 pending (of 90)"
    outputs = sorted(path.stem for path in (tmp_path / "out" / "items").iterdir())
    assert outputs == sorted(str(n) for n in range(90))  # each item written once, by its shard
    # each shard merges its own items into a file of its own: one would overwrite the other's
    merged = [(tmp_path / "out" / f"all.shard-{n}-of-3.jsonl").read_text().splitlines() for n in (1, 2, 3)]
    assert sorted(len(lines) for lines in merged) == sorted(e["done"] for e in report["states"])
    assert not (tmp_path / "out" / "all.jsonl").exists()
    unsharded = gristmill("status", "cubes.py", cwd=tmp_path)
    assert (
        unsharded.returncode == 2
        and f"ran in shards, each with its state folder: give {' '.join(args)}" in unsharded.stderr
    )
    twice = gristmill("status", *args, "--state", states[0], cwd=tmp_path)
    assert twice.returncode == 2 and "given twice" in twice.stderr
    made = json.loads(gristmill("report", *args, "--json", cwd=tmp_path).stdout)
    assert made["states"] == states
    assert made["counts"]["done"] == 90
    workers = made["workers"]
    assert {name.split(":")[0] for name in workers} == {"1", "2", "3"}  # each shard's own workers
    assert sum(items for items, _ in workers.values()) == 90


def test_a_shard_refuses_the_state_folder_of_another(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=30)
    first = gristmill("run", "cubes.py", "--shard", "1/3", "--state", "s", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for other in (["--shard", "2/3"], []):
        refused = gristmill("run", "cubes.py", *other, "--state", "s", "--no-progress", cwd=tmp_path)
        assert refused.returncode == 2
        assert "holds the manifest of Range(30) (shard 1/3)" in refused.stderr
        forced = gristmill("run", "cubes.py", *other, "--state", "s", "--force-refresh", cwd=tmp_path)
        assert forced.returncode == 2  # not even --force-refresh mixes two shards in one folder
        assert "each shard keeps its own state folder" in forced.stderr
    again = gristmill("manifest", "generate", "cubes.py", "--shard", "1/3", "--state", "s", cwd=tmp_path)
    assert "manifest exists" in again.stdout


@pytest.mark.parametrize("command", [["run"], ["manifest", "generate"]], ids=["run", "generate"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("0/3", "there is no shard 0/3", id="zero"),
        pytest.param("4/3", "there is no shard 4/3", id="past-the-end"),
        pytest.param("1/0", "there is no shard 1/0", id="of-zero"),
        pytest.param("x/y", "--shard takes I/N, like 2/3; found 'x/y'", id="not-numbers"),
        pytest.param("2", "--shard takes I/N", id="no-slash"),
    ],
)
def test_bad_shards_exit_2_with_a_clear_message(
    tmp_path: Path, command: list[str], value: str, message: str
) -> None:
    write_pipeline(tmp_path, count=3)
    result = gristmill(*command, "cubes.py", "--shard", value, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / ".gristmill").exists()  # no state folder was made


def test_bad_shards_are_config_errors_in_the_api() -> None:
    with pytest.raises(ConfigError, match="there is no shard 4/3"):
        Pipeline(Range(count=3)).run(executor="inline", ledger=MemoryLedger(), shard=(4, 3))
    with pytest.raises(ConfigError, match="there is no shard 4/3"):
        Pipeline(Range(count=3)).run(executor="inline", ledger=MemoryLedger(), shard="4/3")


def test_a_shard_may_be_given_as_on_the_command_line() -> None:
    parts = [
        Pipeline(Range(count=30)).run(
            executor="inline", ledger=MemoryLedger(), shard=f"{n}/3", progress=False
        )
        for n in (1, 2, 3)
    ]
    assert sum(part.done for part in parts) == 30
