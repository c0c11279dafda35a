"""``gristmill extract`` as a user runs it: what a rerun picks up, single files, bad flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GRISTMILL = [sys.executable, "-m", "gristmill"]


def extract(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*GRISTMILL, "extract", *args, "--no-progress", "--workers", "1"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_rerun_extracts_new_and_changed_documents_and_skips_the_rest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("First words.\n")
    (docs / "b.txt").write_text("Second words.\n")
    assert "this run: 2 done" in extract(tmp_path, "docs", "-o", "out").stdout
    (docs / "b.txt").write_text("Second words, revised at length.\n")
    (docs / "c.txt").write_text("Third words.\n")
    again = extract(tmp_path, "docs", "-o", "out")
    assert again.returncode == 0, again.stderr
    assert "this run: 2 done" in again.stdout  # b (changed) and c (new); a untouched
    assert "revised" in json.loads((tmp_path / "out" / "b.txt.json").read_text())[0]["text"]
    assert "this run: 0 done" in extract(tmp_path, "docs", "-o", "out").stdout


def test_single_files_of_one_folder_each_keep_their_own_state(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "docs" / name).write_text(f"Text of {name}.\n")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "docs" / "a.txt")
    for name in ("docs/a.txt", "docs/b.txt", "alias.txt"):
        run = extract(tmp_path, name, "-o", "out")
        assert run.returncode == 0 and "this run: 1 done" in run.stdout, (name, run.stdout, run.stderr)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.txt.json",
        "alias.txt.json",
        "b.txt.json",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--chunk", "--max-characters", "10", "--overlap", "10"],
            "overlap must be smaller than max_characters",
        ),
        (["--chunk", "--new-after-n-chars", "0"], "Invalid value for '--new-after-n-chars'"),
        (["--max-file-size", "1.2.3"], "--max-file-size '1.2.3' is not a size"),
        (["--max-file-size", "1e999"], "is not a size"),
    ],
)
def test_bad_settings_exit_2_with_a_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Words.\n")
    run = extract(tmp_path, "docs", "-o", "out", *args)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "unexpected" not in run.stderr and "Traceback" not in run.stderr


def test_new_after_n_chars_closes_a_chunk_early(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("First paragraph.\n\nSecond paragraph.\n\nThird paragraph.\n")
    run = extract(tmp_path, "docs", "-o", "out", "--chunk", "--new-after-n-chars", "30")
    assert run.returncode == 0, run.stderr
    chunks = json.loads((tmp_path / "out" / "a.txt.json").read_text())
    assert [c["text"] for c in chunks] == ["First paragraph.\n\nSecond paragraph.", "Third paragraph."]


def test_failures_lists_skipped_items_and_escapes_names(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fine.txt").write_text("Words.\n")
    (docs / "noise.bin").write_bytes(bytes(range(256)) * 8)
    (docs / "evil\nother.txt: ProcessingError: fake.txt").write_text("")  # empty: fails
    run = extract(tmp_path, "docs", "-o", "out", "--state", "state", "--skip-unsupported")
    assert run.returncode == 1 and "1 done, 1 failed, 1 skipped" in run.stdout, run.stdout + run.stderr
    failed = subprocess.run(
        [*GRISTMILL, "failures", "--state", "state"], cwd=tmp_path, capture_output=True, text=True
    )
    assert failed.stdout.count("\n") == 1 and failed.stdout.startswith(
        "evil\\nother.txt: ProcessingError: fake.txt: "
    )
    skipped = subprocess.run(
        [*GRISTMILL, "failures", "--state", "state", "--skipped"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert skipped.stdout.startswith("noise.bin: SkipItem: not a supported document format"), skipped.stdout


def test_status_without_a_state_finds_the_only_run_or_lists_them(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Words.\n")

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GRISTMILL, "status"], cwd=tmp_path, capture_output=True, text=True)

    assert "give the pipeline or --state FOLDER" in status().stderr  # no run yet
    extract(tmp_path, "docs", "-o", "out")
    assert "1 done" in status().stdout
    extract(tmp_path, "docs", "-o", "chunks", "--chunk")
    listed = status()
    assert listed.returncode == 2 and "the runs here, latest first: .gristmill/extract-" in listed.stderr


def test_a_link_in_the_source_to_the_output_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Words.\n")
    (tmp_path / "docs" / "outputs").symlink_to(tmp_path / "out")
    for _ in range(2):  # the first run's outputs are there for the second to find
        run = extract(tmp_path, "docs", "-o", "out")
        assert run.returncode == 0 and "all items: 1 done" in run.stdout, run.stdout + run.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.txt.json"]


def test_prune_deletes_nothing_when_a_folder_could_not_be_read(tmp_path: Path) -> None:
    """Unreadable, a folder's files look gone: --prune must not delete their outputs. Run
    without the capability that lets root read anything (this suite may run as root)."""
    setpriv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    setpriv += ["--inh-caps", "-dac_override,-dac_read_search"]
    if subprocess.run([*setpriv, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop the capabilities here")
    (tmp_path / "docs" / "locked").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text("Words.\n")
    (tmp_path / "docs" / "locked" / "b.txt").write_text("More words.\n")
    assert "this run: 2 done" in extract(tmp_path, "docs", "-o", "out").stdout
    (tmp_path / "docs" / "locked").chmod(0)
    try:
        command = [*setpriv, *GRISTMILL, "extract", "docs", "-o", "out", "--prune", "--no-progress"]
        pruned = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    finally:
        (tmp_path / "docs" / "locked").chmod(0o755)
    assert pruned.returncode == 2 and "could not be listed whole" in pruned.stderr, pruned.stderr
    assert (tmp_path / "out" / "locked" / "b.txt.json").exists()
