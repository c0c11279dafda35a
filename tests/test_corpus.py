"""examples/corpus/make_corpus.py: every format, the broken files, the same bytes on every run."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "examples" / "corpus" / "make_corpus.py"
EXTENSIONS = {
    ".txt",
    ".md",
    ".html",
    ".htm",
    ".xml",
    ".pdf",
    ".docx",
    ".pptx",
    ".xlsx",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".eml",
    ".bin",
}
BROKEN = {
    "truncated.pdf",
    "encrypted.pdf",
    "invalid.xml",
    "xxe.xml",
    "bomb.xml",
    "zipbomb.docx",
    "zipbomb.xlsx",
    "garbage.txt",
    "empty.txt",
    "huge.txt",
}


def make(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), "--out", str(out), "--count", "40", *extra]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    return {
        path.relative_to(root).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
def test_corpus_is_complete_and_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert make(first).stdout.startswith("made ")
    files = [path for path in first.rglob("*") if path.is_file()]
    assert {path.suffix for path in files} >= EXTENSIONS
    assert any(path.suffix == "" and path.name != ".corpus.json" for path in files)
    assert {path.name for path in (first / "broken").iterdir()} == BROKEN
    assert (first / "broken" / "empty.txt").stat().st_size == 0
    assert (first / "broken" / "huge.txt").stat().st_size > 2 * 1024 * 1024
    assert (first / "notes" / "résumé.txt").exists()
    assert (first / "legacy" / "notes_utf16.txt").read_bytes().startswith(b"\xff\xfe")
    assert {path.parent.relative_to(first).as_posix().count("/") for path in files} >= {0, 1, 2}

    make(second)
    assert fingerprint(first) == fingerprint(second)

    again = make(first)  # same count and version: nothing to do
    assert "up to date" in again.stdout
    assert fingerprint(first) == fingerprint(second)


def test_corpus_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    args = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--count", "3", "--force"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_extract_reads_every_format_of_the_corpus_and_fails_only_the_broken_files(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    make(corpus)
    out, state = tmp_path / "out", tmp_path / "state"
    command = [sys.executable, "-m", "gristmill", "extract", str(corpus), "--output", str(out)]
    run = subprocess.run(
        [*command, "--state", str(state), "--max-file-size", "1MB", "--workers", "2", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr  # the broken files fail; the run itself does not
    documents = [p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert f"{len(documents) - len(BROKEN)} done, {len(BROKEN)} failed" in run.stdout
    written = {p.relative_to(out).as_posix()[: -len(".json")] for p in out.rglob("*.json")}
    assert {
        Path(name).name for name in {p.relative_to(corpus).as_posix() for p in documents} - written
    } == BROKEN
    assert {Path(name).suffix for name in written} >= EXTENSIONS  # every format, read


def test_the_demo_does_what_the_readme_says(tmp_path: Path) -> None:
    corpus = tmp_path / "files"
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(corpus)], check=True, capture_output=True)
    command = [sys.executable, "-m", "gristmill", "extract", str(corpus), "--output", str(tmp_path / "out")]
    run = subprocess.run(
        [*command, "--state", str(tmp_path / "state"), "--max-file-size", "1MB", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "309 done, 10 failed" in run.stdout, run.stdout + run.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "a corpus of 319 documents" in readme and "the other 309 are" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert "gristmill extract examples/corpus/files" in makefile and "--max-file-size 1MB" in makefile
