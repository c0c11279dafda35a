"""Every example and every README snippet runs, as a user would run it."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_readme_starts_with_the_two_setup_commands() -> None:
    first = blocks("bash")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_snippets_run(tmp_path: Path) -> None:
    snippets = blocks("python")
    assert snippets
    outputs = []
    for index, code in enumerate(snippets):
        script = tmp_path / f"snippet{index}.py"
        script.write_text(code)
        result = run([sys.executable, str(script)], tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.split())
    assert outputs[0] == ["100", "0", "0"]
    assert ["2", "0", "100"] in outputs  # the typed samples
    assert ["100", "0"] in outputs  # on Ray
    assert ["2", "0", "2"] in outputs  # documents: one chunk per document
    assert ["6", "100000", "250000.0"] in outputs  # big tables: every row once, in 6 slices
    assert len((tmp_path / "counts.jsonl").read_text().splitlines()) == 99  # the empty letter is dropped


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """examples/demo copied into a scratch folder, its corpus made there."""
    shutil.copytree(
        ROOT / "examples" / "demo", tmp_path / "examples" / "demo", ignore=shutil.ignore_patterns("corpus")
    )
    made = run([sys.executable, "examples/demo/make_corpus.py"], tmp_path)
    assert made.returncode == 0, made.stderr
    return tmp_path


README_DB = "postgresql://postgres@127.0.0.1:5432/test"


def test_readme_cli_commands_run(demo_copy: Path, pg_schema: str) -> None:
    lines = [line for block in blocks("bash")[1:] for line in block.splitlines() if line.strip()]
    # the README's database, in a schema of this test's own
    commands = [shlex.split(line.replace(README_DB, pg_schema), comments=True) for line in lines]
    assert all(command[0] == "gristmill" for command in commands)
    for command in commands:
        result = run([str(BIN / "gristmill"), *command[1:]], demo_copy)
        assert result.returncode in (0, 1), f"{command}: {result.stderr}"  # 1: the demo's broken file
        assert "Traceback (most recent call last)" not in result.stderr


def test_demo_does_what_the_readme_says(demo_copy: Path) -> None:
    result = run([str(BIN / "gristmill"), "run", "examples/demo/pipeline.py", "--no-progress"], demo_copy)
    assert result.returncode == 1
    assert "303 done, 1 failed, 2 skipped" in result.stdout
    failures = json.loads(
        run([str(BIN / "gristmill"), "failures", "examples/demo/pipeline.py", "--json"], demo_copy).stdout
    )
    assert [f["id"] for f in failures] == ["broken/truncated.json"]
    assert "invalid JSON at line 1" in failures[0]["message"]
    latin = json.loads((demo_copy / "demo-output" / "notes" / "latin-1.txt.json").read_text())[0]
    assert latin["text"] == "Smörgåsbord à la façon du meunier.\n"
    again = run([str(BIN / "gristmill"), "run", "examples/demo/pipeline.py", "--no-progress"], demo_copy)
    assert "this run: 0 done, 1 failed" in again.stdout  # only the failure is retried


def test_typed_samples_example(tmp_path: Path) -> None:
    script = ROOT / "examples" / "typed_samples" / "pipeline.py"
    first = run([sys.executable, str(script)], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "200 done, 0 failed" in first.stdout
    out = tmp_path / "examples-output" / "typed_samples"
    summaries = [orjson.loads(line) for line in (out / "summaries.jsonl").read_bytes().splitlines()]
    assert len(summaries) == 200
    assert [step for step, _ in summaries[0]["processing_history"]] == ["Normalize", "Smooth", "Describe"]
    assert summaries[0]["length"] == 1024 - 16 + 1
    cached = sorted((out / "cache" / "Smooth").rglob("*.pkl"))
    assert len(cached) == 200
    saved = orjson.loads((out / "smoothed" / "signal-0000.json").read_bytes())
    assert len(saved["values"]) == 1009  # the NumPy array was written as a JSON list
    before = [p.stat().st_mtime_ns for p in cached]
    again = run([sys.executable, str(script), "--reprocess"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert [p.stat().st_mtime_ns for p in cached] == before  # cache hits: nothing rewritten
    assert (out / "summaries.jsonl").read_bytes().splitlines() == [orjson.dumps(s) for s in summaries]


def test_typed_samples_example_from_the_cli(tmp_path: Path) -> None:
    script = ROOT / "examples" / "typed_samples" / "pipeline.py"
    result = run([str(BIN / "gristmill"), "run", str(script), "--workers", "2", "--no-progress"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "this run: 200 done" in result.stdout
