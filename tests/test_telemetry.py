"""OpenTelemetry: a run's items as metrics and the run as a span, through the real SDK.

Each test runs in its own process: OpenTelemetry's providers are set once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip(
    "opentelemetry.sdk", reason="the OpenTelemetry SDK is not installed (pip install -e '.[dev]')"
)

SCRIPT = """
import json, sys
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
spans = InMemorySpanExporter()
tracing = TracerProvider()
tracing.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracing)

sys.path.insert(0, {tests!r})
from gristmill import Pipeline
from gristmill.executors import PoolExecutor
from gristmill.sources import Range
from helpers import Pause, Square

steps = [Pause(skip=("9",)), Square(fail=("3", "7"))]
result = Pipeline(Range(count=100), steps, name="squares").run(
    executor=PoolExecutor(workers=2), state="state", progress=False
)
points = []
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                points.append([metric.name, dict(point.attributes), value, getattr(point, "count", None)])
finished = [[span.name, dict(span.attributes)] for span in spans.get_finished_spans()]
print(json.dumps({{"points": points, "spans": finished}}))
"""


def test_items_are_counted_and_timed_by_status_and_the_run_is_a_span(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    ran = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.splitlines()[-1])
    items = {
        (attributes["gristmill.status"], attributes.get("gristmill.error_type")): value
        for name, attributes, value, _ in seen["points"]
        if name == "gristmill.items"
    }
    assert items == {("done", None): 97, ("failed", "ValueError"): 2, ("skipped", "SkipItem"): 1}
    timed = sum(count for name, _, _, count in seen["points"] if name == "gristmill.item.duration")
    assert timed == 100
    assert all(a["gristmill.pipeline"] == "squares" for _, a, _, _ in seen["points"])
    [(name, attributes)] = seen["spans"]
    assert name == "gristmill.run"
    assert attributes["gristmill.executor"] == "PoolExecutor"
    assert (
        attributes["gristmill.done"],
        attributes["gristmill.failed"],
        attributes["gristmill.skipped"],
    ) == (97, 2, 1)


def test_the_command_line_under_opentelemetry_instrument(tmp_path: Path) -> None:
    (tmp_path / "squares.py").write_text(
        textwrap.dedent(
            """
            from gristmill import BaseSample, Pipeline, Processor
            from gristmill.sources import Range

            class Square(Processor):
                def process(self, sample):
                    return BaseSample(id=str(int(sample.id) ** 2))

            pipeline = Pipeline(Range(count=50), [Square()], name="squares")
            """
        )
    )
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "gristmill-test",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
    }
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    command = [
        str(instrument),
        sys.executable,
        "-m",
        "gristmill",
        "run",
        "squares.py",
        "--workers",
        "2",
        "--no-progress",
    ]
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "50 done" in ran.stdout
    assert '"name": "gristmill.run"' in ran.stdout  # the span, printed by the console exporter
    assert '"name": "gristmill.items"' in ran.stdout  # the metrics, flushed at exit
    assert '"gristmill.status": "done"' in ran.stdout
