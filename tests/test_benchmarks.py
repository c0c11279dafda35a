"""Each benchmark runs (its --quick form) and writes every figure it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_dispatch_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "dispatch.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dispatch.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
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
    out = tmp_path / "import.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "import.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    methods = [row["method"] for row in report["import"]["methods"]]
    assert methods == ["gristmill import", "raw psycopg binary COPY", "pandas to_sql(multi)"]
    assert all(row["rows_per_s"] > 0 for row in report["import"]["methods"])
    assert report["duplicates"]["refused"]["unique index"]["duplicates"] == 200


def test_ray_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "ray.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ray_executor.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rates = json.loads(out.read_text())["workloads"]["2ms"]["items_per_s"]
    assert set(rates) == {"pool", "ray", "ray.util Pool"} and min(rates.values()) > 0
    assert "gristmill on Ray ÷ gristmill pool" in result.stdout


def test_bulk_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bulk.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bulk.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
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
    out = tmp_path / "cloud.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cloud.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["objects"] == 40
    assert report["one_download_per_worker_s"] > 0 and report["default_s"] > 0
    assert "speedup" in result.stdout
