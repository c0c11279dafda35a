"""What a run costs before its first item: what workers import, where, and how often."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "script.py").write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, "script.py"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_processors_imports_are_imported_once_in_the_fork_server(tmp_path: Path) -> None:
    """Every worker starts with them loaded; none imports them itself (the marker module
    notes the process that imports it)."""
    (tmp_path / "marker.py").write_text("import os\nopen('imported-by', 'a').write(f'{os.getpid()}\\n')\n")
    result = run_python(
        """
        import os, sys
        from gristmill import BaseSample, Pipeline, Processor
        from gristmill.ledger import MemoryLedger
        from gristmill.sinks import ListSink
        from gristmill.sources import Range

        class Where(Processor):
            imports = ("marker",)

            def process(self, sample):
                return BaseSample(id=f"{os.getpid()} {'marker' in sys.modules}")

        sink = ListSink()
        Pipeline(Range(count=40), [Where()], sink).run(workers=2, ledger=MemoryLedger(), progress=False)
        print(os.getpid())
        for line in sorted({sample.id for sample in sink.samples}):
            print(line)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    coordinator, *workers = result.stdout.split("\n")[:-1]
    assert len(workers) == 2 and all(line.endswith(" True") for line in workers), workers
    importers = (tmp_path / "imported-by").read_text().split()
    assert len(importers) == 1  # once, by the fork server
    assert importers[0] not in {coordinator, *(line.split()[0] for line in workers)}


def test_extract_starts_its_fork_server_before_loading_its_commands(tmp_path: Path) -> None:
    result = run_python(
        """
        import sys
        from multiprocessing import forkserver
        from gristmill.cli import start_workers_early

        server = forkserver._forkserver
        start_workers_early(["extract", "docs", "--output", "out", "--executor", "inline"])
        start_workers_early(["extract", "docs", "--output", "out"], {"extract": {"executor": "ray"}})
        start_workers_early(["extract", "docs", "--start-method=spawn"])
        print(server._forkserver_pid is None)
        start_workers_early(["--verbose", "extract", "docs", "--output", "out"])
        print(server._forkserver_pid is not None, "docx" in server._preload_modules)
        print("pydantic" in sys.modules, "docx" in sys.modules)  # this process imported neither
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == ["True", "True True", "False False"]


def test_importing_gristmill_and_writing_json_stay_light(tmp_path: Path) -> None:
    """``import gristmill`` loads its names on use; JSON output does not import NumPy."""
    result = run_python(
        """
        import sys
        import gristmill
        print("gristmill.pipeline" in sys.modules)
        from gristmill.serialize import dumps
        print(dumps({"a": [1, 2]}).decode(), "numpy" in sys.modules)
        print(gristmill.Pipeline.__name__, "gristmill.pipeline" in sys.modules)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == ["False", '{"a":[1,2]} False', "Pipeline True"]


def test_steps_add_up_what_their_workers_import() -> None:
    from gristmill import Compose
    from gristmill.documents import IMPORTS, Chunk, Partition
    from gristmill.enrich import BedrockEmbedder, Embed, HashingEmbedder

    steps = Compose(Partition(), Chunk(), Embed(client=BedrockEmbedder()), Embed(client=HashingEmbedder()))
    assert steps.all_imports() == (*IMPORTS, "boto3")
