"""examples/books, both stages, as its README runs them: books → summaries and embeddings
(JSONL) → an OpenSearch index (the loopback stand-in)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from gristmill.testing import StandInOpenSearch

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.iterdir()))).hexdigest()


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """examples/books copied into a scratch folder, with 4 small books made there."""
    shutil.copytree(
        ROOT / "examples" / "books", tmp_path / "examples" / "books", ignore=shutil.ignore_patterns("corpus")
    )
    run([sys.executable, "examples/books/make_books.py", "--count", "4", "--size", "30000"], tmp_path)
    return tmp_path


def test_the_books_are_the_same_every_time(books: Path) -> None:
    corpus = books / "examples" / "books" / "corpus"
    assert sorted(p.name for p in corpus.iterdir()) == [f"book-0000{n}.md" for n in range(1, 5)]
    assert all(29_000 < p.stat().st_size < 33_000 for p in corpus.iterdir())
    again = books / "again"
    run(
        [
            sys.executable,
            "examples/books/make_books.py",
            "--count",
            "4",
            "--size",
            "30000",
            "--output",
            str(again),
        ],
        books,
    )
    assert digest(corpus) == digest(again)


@pytest.mark.opensearch
def test_books_summarised_embedded_and_indexed_resumably(books: Path) -> None:
    stage1 = [str(BIN / "gristmill"), "run", "examples/books/pipeline.py", "--no-progress", "--workers", "2"]
    first = run([*stage1, "--max-items", "2"], books)
    assert "this run: 2 done" in first.stderr + first.stdout
    second = run(stage1, books)
    assert "this run: 2 done" in second.stderr + second.stdout  # only the two not done yet
    outputs = sorted((books / "books-summaries").iterdir())
    assert [p.name for p in outputs] == [f"book-0000{n}.md.jsonl" for n in range(1, 5)]
    before = digest(books / "books-summaries")
    again = run([*stage1, "--reprocess"], books)  # redone from scratch: the same bytes (deterministic)
    assert "this run: 4 done" in again.stderr + again.stdout
    assert digest(books / "books-summaries") == before

    passages = [orjson.loads(line) for path in outputs for line in path.read_bytes().splitlines()]
    assert len(passages) > 4 * 10
    dims = len(passages[0]["embedding"])
    assert dims in (256, 384)  # the hashing embedder, or all-MiniLM-L6-v2 where installed
    for passage in passages:
        assert passage["summary"] and len(passage["summary"]) <= 400
        assert len(passage["embedding"]) == dims
        assert len(passage["text"]) <= 1500
    assert {p["title"] for p in passages if p["book"] == "book-00001.md"} == {passages[0]["title"]}

    with StandInOpenSearch() as server:
        stage2 = [str(BIN / "gristmill"), "index", "books-summaries", "--opensearch", server.url]
        stage2 += ["--index", "books", "--no-progress", "--workers", "2"]
        run(stage2, books)
        ids = server.ids("books")
        assert len(ids) == len(passages)
        assert sorted(ids) == sorted(
            f"{p.name}#{k}" for p in outputs for k in range(len(p.read_bytes().splitlines()))
        )
        with urllib.request.urlopen(f"{server.url}/books/_mapping") as answer:
            mapping = json.loads(answer.read())["books"]["mappings"]["properties"]
        assert mapping["embedding"] == {"type": "knn_vector", "dimension": dims}
        rerun = run(stage2, books)  # resumed: nothing left to send, the index unchanged
        assert "this run: 0 done" in rerun.stderr + rerun.stdout
        assert sorted(server.ids("books")) == sorted(ids)
