"""Each benchmark runs (its --quick form) and writes every figure it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def quick(benchmark: str, folder: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run benchmarks/BENCHMARK.py --quick in FOLDER; its output and its JSON file."""
    out = folder / f"{benchmark}.json"
    command = [sys.executable, str(ROOT / "benchmarks" / f"{benchmark}.py"), "--quick", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 0, result.stderr
    return result, out


def test_dispatch_benchmark_quick(tmp_path: Path) -> None:
    result, out = quick("dispatch", tmp_path)
    report = json.loads(out.read_text())
    for workload in ("noop", "cpu2ms"):
        methods = {row["method"]: row for row in report["workloads"][workload]["methods"]}
        assert {"gristmill", "gristmill (manifest made)", "multiprocessing.Pool"} <= set(methods)
        assert all(row["items_per_s"] > 0 for row in methods.values())
        assert "gristmill ÷" in result.stdout
    assert report["memory"]["resume"]["seconds"] > 0


def test_import_benchmark_quick(tmp_path: Path) -> None:
    from test_sql import PG_URL, _postgres_answers

    problem = _postgres_answers()
    if problem is not None:
        import os

        import pytest

        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must answer under CI=true: {problem}")
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}: {problem}")
    _, out = quick("import", tmp_path)
    report = json.loads(out.read_text())
    methods = [row["method"] for row in report["import"]["methods"]]
    assert methods == ["gristmill import", "raw psycopg binary COPY", "pandas to_sql(multi)"]
    assert all(row["rows_per_s"] > 0 for row in report["import"]["methods"])
    assert report["duplicates"]["refused"]["unique index"]["duplicates"] == 200


def test_ray_benchmark_quick(tmp_path: Path) -> None:
    result, out = quick("ray_executor", tmp_path)
    rates = json.loads(out.read_text())["workloads"]["2ms"]["items_per_s"]
    assert set(rates) == {"pool", "ray", "ray.util Pool"} and min(rates.values()) > 0
    assert "gristmill on Ray ÷ gristmill pool" in result.stdout


def test_bulk_benchmark_quick(tmp_path: Path) -> None:
    result, out = quick("bulk", tmp_path)
    report = json.loads(out.read_text())
    methods = [row["method"] for row in report["methods"]]
    assert methods == ["gristmill OpenSearchSink", "opensearch-py helpers.bulk"]
    assert all(rate > 0 for row in report["methods"] for rate in row["docs_per_s"])
    assert report["ratio_median"] > 0
    assert "gristmill ÷ helpers.bulk" in result.stdout


def test_cloud_benchmark_quick(tmp_path: Path) -> None:
    from cloud_servers import missing_emulator

    problem = missing_emulator("s3")
    if problem is not None:
        import pytest

        pytest.skip(problem)
    result, out = quick("cloud", tmp_path)
    report = json.loads(out.read_text())
    assert report["objects"] == 40
    assert report["one_download_per_worker_s"] > 0 and report["default_s"] > 0
    assert "speedup" in result.stdout


def test_extract_benchmark_quick(tmp_path: Path) -> None:
    result, out = quick("extract", tmp_path)
    report = json.loads(out.read_text())
    assert report["files"] > 60 and report["speedup"] > 0
    assert all(rate > 0 for rate in report["documents_per_s"].values())
    assert "speed-up, " in result.stdout and "fixed cost of a run" in result.stdout
    assert all(seconds > 0 for rounds in report["empty_folder_seconds"].values() for seconds in rounds)


def test_tables_benchmark_quick(tmp_path: Path) -> None:
    result, out = quick("tables", tmp_path)
    report = json.loads(out.read_text())
    for workload in ("sum", "per-row"):
        figures = report["workloads"][workload]
        assert {figure["rows"] for figure in figures.values()} == {report["rows"]}
        assert any(name.startswith("gristmill Tables") for name in figures)
    assert "gristmill ÷ this" in result.stdout
