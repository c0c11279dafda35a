"""The command line as a user meets it: real subprocesses, real signals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from conftest import local_ray

GRISTMILL = [sys.executable, "-m", "gristmill"]

PIPELINE = """
from gristmill import BaseSample, Pipeline, Processor
from gristmill.sinks import JsonlFiles
from gristmill.sources import Range
import time

class Cube(Processor):
    sleep: float = {sleep}
    def process(self, sample):
        time.sleep(self.sleep)
        if sample.id == "{bad}":
            raise ValueError("bad input in " + sample.id)
        return BaseSample(id=sample.id + "^3=" + str(int(sample.id) ** 3))

sink = JsonlFiles(folder="out/items", merged="out/all.jsonl")
pipeline = Pipeline(Range(count={count}), [Cube()], sink, name="cubes")
"""


def write_pipeline(folder: Path, *, count: int, sleep: float = 0.0, bad: str = "none") -> Path:
    path = folder / "cubes.py"
    path.write_text(textwrap.dedent(PIPELINE.format(count=count, sleep=sleep, bad=bad)))
    return path


def gristmill(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRISTMILL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(params=["pool", "ray"])
def executor(request: pytest.FixtureRequest) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The arguments and environment of a run on the local pool, or on the session's Ray."""
    if request.param == "pool":
        yield ["--workers", "2"], dict(os.environ)
    else:
        yield ["--executor", "ray", "--ray-address", local_ray(), "--workers", "2"], dict(os.environ)


def merged(cwd: Path) -> list[str]:
    return [orjson.loads(line)["id"] for line in (cwd / "out" / "all.jsonl").read_bytes().splitlines()]


def test_run_status_and_failures(tmp_path: Path, executor: tuple[list[str], dict[str, str]]) -> None:
    write_pipeline(tmp_path, count=30, bad="4")
    args, env = executor
    ran = gristmill("run", "cubes.py", *args, "--no-progress", cwd=tmp_path, env=env)
    assert ran.returncode == 1, ran.stderr
    assert "29 done, 1 failed" in ran.stdout
    assert "gristmill failures" in ran.stderr
    status = json.loads(gristmill("status", "--state", ".gristmill/cubes", "--json", cwd=tmp_path).stdout)
    assert (status["done"], status["failed"], status["total"]) == (29, 1, 30)
    failures = json.loads(gristmill("failures", "cubes.py", "--json", cwd=tmp_path).stdout)
    assert failures[0]["id"] == "4"
    assert failures[0]["message"] == "bad input in 4"
    assert "Traceback" in failures[0]["traceback"]
    made = json.loads(gristmill("report", "cubes.py", "--json", cwd=tmp_path).stdout)
    assert made["counts"]["done"] == 29
    assert made["errors"][0]["error_type"] == "ValueError"
    assert made["errors"][0]["example_id"] == "4"
    assert sum(items for items, _ in made["workers"].values()) == 30
    text = gristmill("report", "--state", ".gristmill/cubes", cwd=tmp_path).stdout
    assert "ValueError: 1 failed, e.g. 4: bad input in 4" in text
    report = gristmill("manifest", "report", "cubes.py", cwd=tmp_path)
    assert "items: 30" in report.stdout and "failed: 1" in report.stdout


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """`gristmill report ... | head`: no traceback, no error line, the shell's SIGPIPE code."""
    write_pipeline(tmp_path, count=3000)
    assert gristmill("run", "cubes.py", "--workers", "2", "--no-progress", cwd=tmp_path).returncode == 0
    command = [*GRISTMILL, "report", "cubes.py", "--slowest", "3000"]  # some 100 KB: more than a pipe holds
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(100).startswith(b"state: ")
        proc.stdout.close()
        assert proc.stderr.read() == b""
        assert proc.wait(timeout=60) == 141


def texts_project(folder: Path, names: str | tuple[str, ...], sink: str = "") -> Path:
    """A corpus of small text files and ``texts.py``, a pipeline over it (into SINK, if given)."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for name in names:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_text(name)
    (folder / "texts.py").write_text(
        "from gristmill import Pipeline\nfrom gristmill.sinks import JsonlFiles\n"
        "from gristmill.sources import Files\n"
        f"pipeline = Pipeline(Files(url='corpus'), [], {sink or 'None'}, name='texts')\n"
    )
    return corpus


def test_manifest_is_frozen_until_refreshed(tmp_path: Path) -> None:
    corpus = texts_project(tmp_path, ("a.txt", "b.txt", "c.txt"))
    made = gristmill("manifest", "generate", "texts.py", cwd=tmp_path)
    assert made.returncode == 0 and "3 items" in made.stdout
    (corpus / "d.txt").write_text("d")
    (corpus / "a.txt").write_text("changed")
    again = gristmill("manifest", "generate", "texts.py", cwd=tmp_path)
    assert "manifest exists (3 items)" in again.stdout
    refreshed = gristmill("manifest", "generate", "texts.py", "--force-refresh", cwd=tmp_path)
    assert "4 items" in refreshed.stdout and "1 added, 1 changed, 0 removed" in refreshed.stdout


def test_prune_deletes_the_outputs_of_files_gone_and_nothing_else(tmp_path: Path) -> None:
    names = ("a.txt", "old/b.txt", "old/deeper/c.txt", "keep/d.txt", "keep/e.txt")
    corpus = texts_project(tmp_path, names, "JsonlFiles(folder='out', merged='all.jsonl')")
    out = tmp_path / "out"
    command = ["run", "texts.py", "--keep-local", "copy", "--no-progress"]
    assert gristmill(*command, cwd=tmp_path).returncode == 0
    (out / "keep" / "mine.txt").write_text("not gristmill's")  # a user's file in the output folder
    (corpus / "a.txt").unlink()
    refreshed = gristmill(*command, "--force-refresh", cwd=tmp_path)
    assert "0 added, 0 changed, 1 removed" in refreshed.stdout
    assert (out / "a.txt.jsonl").exists()  # without --prune, outputs stay
    for name in ("old/b.txt", "old/deeper/c.txt", "keep/d.txt"):
        (corpus / name).unlink()
    pruned = gristmill(*command, "--prune", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "0 added, 0 changed, 3 removed" in pruned.stdout
    for folder in (out, tmp_path / "copy"):
        left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        expected = ["a.txt.jsonl", "keep", "keep/e.txt.jsonl"] + (["keep/mine.txt"] if folder == out else [])
        assert left == sorted(expected)  # the folders emptied went too, not the user's file
    merged = [json.loads(line)["id"] for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert merged == ["keep/e.txt"]
    (corpus / "keep" / "e.txt").unlink()
    (corpus / "new.txt").write_text("new")
    listed = gristmill("manifest", "generate", "texts.py", "--prune", cwd=tmp_path)
    assert "(1 added, 0 changed, 1 removed)" in listed.stdout, listed.stdout + listed.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["a.txt.jsonl", "keep", "mine.txt"]


def test_prune_refuses_a_source_that_lists_nothing(tmp_path: Path) -> None:
    corpus = texts_project(tmp_path, ("a.txt", "b.txt", "c.txt"), "JsonlFiles(folder='out')")
    assert gristmill("run", "texts.py", "--no-progress", cwd=tmp_path).returncode == 0
    for path in corpus.iterdir():  # emptied (a mount gone, a sync half done)
        path.unlink()
    pruned = gristmill("run", "texts.py", "--prune", "--no-progress", cwd=tmp_path)
    assert pruned.returncode == 2
    assert "lists no items now: --prune would delete the outputs of all 3 items" in pruned.stderr
    assert len(list((tmp_path / "out").glob("*.jsonl"))) == 3  # nothing deleted
    status = gristmill("status", "texts.py", cwd=tmp_path)
    assert "3 done" in status.stdout  # and the ledger still has them


BAD_INPUT = [
    pytest.param(["run", "missing.py"], "does not exist", id="missing-pipeline-file"),
    pytest.param(["run", "empty.py"], "defines no Pipeline", id="file-without-pipeline"),
    pytest.param(["run", "cubes.py:nothing"], "no attribute 'nothing'", id="unknown-name"),
    pytest.param(["run", "broken.py"], "failed to load: SyntaxError", id="broken-pipeline-file"),
    pytest.param(["run", "files.py", "--source", "no/such/folder"], "does not exist", id="missing-source"),
    pytest.param(
        ["run", "cubes.py", "--state", "afile/state"], "cannot use the state folder", id="unwritable-state"
    ),
    pytest.param(["run", "cubes.py", "--workers", "0"], "--workers", id="zero-workers"),
    pytest.param(["run", "cubes.py", "--bogus"], "No such option", id="unknown-flag"),
    pytest.param(["status"], "give the pipeline or --state", id="status-without-run"),
    pytest.param(
        ["run", "cubes.py", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
        "cannot reach the Ray cluster at 127.0.0.1:1",
        id="ray-cluster-not-there",
    ),
    pytest.param(["run", "cubes.py", "--threads", "4"], "are for --executor ray", id="threads-on-the-pool"),
    pytest.param(
        ["run", "cubes.py", "--state", "postgresql://nobody@127.0.0.1:5432/test"],
        "cannot use the ledger at postgresql://nobody@127.0.0.1:5432/test",
        id="ledger-database-refuses",
    ),
    pytest.param(
        ["run", "cubes.py", "--state", "postgresql://postgres:secret@127.0.0.1:5999/test"],
        'postgres:***@127.0.0.1:5999/test: connection failed: connection to server at "127.0.0.1", port 5999 '
        "failed: Connection refused; Is the server running",
        id="ledger-database-not-there",
    ),
    pytest.param(
        ["run", "cubes.py", "--source", "."],
        "--source applies to a pipeline whose source has a url (Files, Tables); this one's is Range",
        id="source-of-a-source-without-url",
    ),
    pytest.param(
        ["run", "files.py", "--manifest", "listed.txt"],
        "--manifest listed.txt: no such file",
        id="manifest-missing",
    ),
    pytest.param(
        ["run", "cubes.py", "--keep-local", "afile/keep"],
        "cannot write to the --keep-local folder afile/keep",
        id="keep-local-unwritable",
    ),
    pytest.param(["run", "cubes.py", "--timeout", "nan"], "not nan", id="timeout-nan"),
    pytest.param(
        ["run", "files.py", "--download-dir", "dl"],
        "--download-dir applies to a source in a store; . is a local folder",
        id="download-dir-of-a-local-source",
    ),
    pytest.param(
        ["run", "files.py", "--source", "sftp://h/x"], 'requires "paramiko"', id="sftp-needs-a-package"
    ),
    pytest.param(["run", "/tmp"], "'/tmp' is a folder; give the pipeline's file", id="pipeline-is-a-folder"),
    pytest.param(
        ["run", "files.py", "--source", "bogus://x/y"],
        "does not know bogus:// URLs; give a local",
        id="unknown-scheme",
    ),
    pytest.param(
        ["run", "files.py", "--source", "http://127.0.0.1:1/x"],
        "does not answer (Cannot connect to host 127.0.0.1:1",  # and no word of AWS
        id="http-source-not-there",
    ),
    pytest.param(
        ["import", "rows.csv", "--table", "t", "--db", "sqlite:///t.db", "--bad-rows", "nofolder/bad.csv"],
        "cannot write --bad-rows nofolder/bad.csv: the folder nofolder does not exist",
        id="bad-rows-in-a-missing-folder",
    ),
    pytest.param(
        ["import", "rows.csv", "--table", "t", "--db", "sqlite:///t.db", "--bad-rows", "."],
        "cannot write --bad-rows .: it is a folder",
        id="bad-rows-on-a-folder",
    ),
    pytest.param(
        ["import", "rows.csv", "--table", "t", "--db", "sqlite:///afile"],
        "file is not a database",
        id="import-into-a-file-that-is-no-database",
    ),
    pytest.param(
        ["import", "rows.csv", "--table", "t", "--delimiter", ""],
        "--delimiter is empty",
        id="empty-delimiter",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_exits_2_with_a_clear_message(tmp_path: Path, args: list[str], message: str) -> None:
    write_pipeline(tmp_path, count=3)
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "files.py").write_text(
        "from gristmill import Pipeline\nfrom gristmill.sources import Files\n"
        "pipeline = Pipeline(Files(url='.'))\n"
    )
    result = gristmill(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()  # nothing was processed


def test_a_second_run_on_a_busy_state_folder_is_refused(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=200, sleep=0.02)
    first = subprocess.Popen(
        [*GRISTMILL, "run", "cubes.py", "--workers", "1", "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / ".gristmill" / "cubes" / "run.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = gristmill("run", "cubes.py", "--workers", "1", "--no-progress", cwd=tmp_path)
    assert second.returncode == 2, second.stderr
    assert f"another run (process {first.pid}) is using the state folder" in second.stderr
    status = gristmill("status", "cubes.py", cwd=tmp_path)  # reading is never refused
    assert status.returncode == 0, status.stderr
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    ids = merged(tmp_path)
    assert len(ids) == 200 == len(set(ids))
    assert (
        gristmill("run", "cubes.py", "--no-progress", cwd=tmp_path).returncode == 0
    )  # the lock went with it


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_exits_130_quickly_and_a_rerun_completes(
    tmp_path: Path, signum: int, executor: tuple[list[str], dict[str, str]]
) -> None:
    write_pipeline(tmp_path, count=400, sleep=0.02)
    args, env = executor
    proc = subprocess.Popen(
        [*GRISTMILL, "run", "cubes.py", *args, "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    assert proc.poll() is None
    proc.send_signal(signum)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 130, err
    assert "interrupted" in err
    rerun = gristmill("run", "cubes.py", *args, "--no-progress", cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    ids = merged(tmp_path)
    assert len(ids) == 400 == len(set(ids))


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), proc.communicate(timeout=30)


def test_sigterm_before_the_run_starts_exits_130(tmp_path: Path) -> None:
    """The run's own handler is not there yet while the pipeline file loads."""
    write_pipeline(tmp_path, count=10)
    slow = "import pathlib, time\npathlib.Path('loading').touch()\ntime.sleep(30)\n"
    (tmp_path / "cubes.py").write_text(slow + (tmp_path / "cubes.py").read_text())
    proc = subprocess.Popen(
        [*GRISTMILL, "run", "cubes.py", "--no-progress"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    _wait_for(tmp_path / "loading", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().endswith("gristmill: error: interrupted")


def test_ctrl_c_while_the_fork_server_imports_exits_130(tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to the whole process group, the fork server too, which may
    still be importing what the workers need; it ended it, and the run with an EOFError."""
    (tmp_path / "slow_import.py").write_text(
        "import pathlib, time\npathlib.Path('importing').touch()\ntime.sleep(2)\n"
    )
    pipeline = PIPELINE.format(count=50, sleep=0.0, bad="none").replace(
        "class Cube(Processor):", "class Cube(Processor):\n    imports = ('slow_import',)"
    )
    (tmp_path / "cubes.py").write_text(pipeline)
    proc = subprocess.Popen(
        [*GRISTMILL, "run", "cubes.py", "--workers", "2", "--start-method", "forkserver", "--no-progress"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_for(tmp_path / "importing", proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "EOFError" not in err


def test_a_fork_server_that_dies_is_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "fatal_import.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    pipeline = PIPELINE.format(count=5, sleep=0.0, bad="none").replace(
        "class Cube(Processor):", "class Cube(Processor):\n    imports = ('fatal_import',)"
    )
    (tmp_path / "cubes.py").write_text(pipeline)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    ran = gristmill("run", "cubes.py", "--start-method", "forkserver", "--no-progress", cwd=tmp_path, env=env)
    assert ran.returncode == 1, ran.stderr
    assert "gristmill: error: a worker process could not be started" in ran.stderr
    assert "run the same command again to continue" in ran.stderr


def test_coordinator_killed_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, executor: tuple[list[str], dict[str, str]]
) -> None:
    args, env = executor
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    for folder in (clean_dir, crash_dir):
        folder.mkdir()
        write_pipeline(folder, count=2000, sleep=0.004)  # ~4 s of work: each kill lands mid-run
    clean = gristmill("run", "cubes.py", "--workers", "2", "--no-progress", cwd=clean_dir)
    assert clean.returncode == 0, clean.stderr
    rng = random.Random(20261123)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(
            [*GRISTMILL, "run", "cubes.py", *args, "--no-progress"],
            cwd=crash_dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(30)
    progress = gristmill("status", "cubes.py", "--json", cwd=crash_dir).stdout
    assert kills >= 3, f"only {kills} runs were still going when killed; status: {progress}"
    final = gristmill("run", "cubes.py", *args, "--no-progress", cwd=crash_dir, env=env)
    assert final.returncode == 0, final.stdout + final.stderr
    status = json.loads(gristmill("status", "cubes.py", "--json", cwd=crash_dir).stdout)
    assert status["done"] == status["total"] == 2000, (status, progress)
    assert status["pending"] + status["failed"] + status["skipped"] == 0
    ids = merged(crash_dir)
    assert len(ids) == 2000 == len(set(ids))
    assert (crash_dir / "out" / "all.jsonl").read_bytes() == (clean_dir / "out" / "all.jsonl").read_bytes()


def test_settings_come_from_flags_then_environment_then_dotenv_then_toml(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=50)
    (tmp_path / "gristmill.toml").write_text("[run]\nmax-items = 7\nworkers = 1\nprogress = false\n")

    def done_by(*args: str, **env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GRISTMILL_")} | env
        result = subprocess.run(
            [*GRISTMILL, "run", "cubes.py", "--reprocess", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split("this run: ")[1].split(" done")[0]

    assert done_by() == "7"
    (tmp_path / ".env").write_text("# local settings\nGRISTMILL_MAX_ITEMS=5\n")
    assert done_by() == "5"
    assert done_by(GRISTMILL_MAX_ITEMS="4") == "4"
    assert done_by("--max-items", "3", GRISTMILL_MAX_ITEMS="4") == "3"
    (tmp_path / "gristmill.toml").write_text("[run]\nprogress = false\n[status]\njson = true\n")
    assert json.loads(gristmill("status", "cubes.py", cwd=tmp_path).stdout)["done"] > 0  # named as its flag
    (tmp_path / "gristmill.toml").write_text("[run\n")
    broken = gristmill("run", "cubes.py", cwd=tmp_path)
    assert broken.returncode == 2
    assert "gristmill.toml is not valid TOML" in broken.stderr


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[run]\ntimout = 3\n", "[run] has no setting 'timout'; it has: anonymous, batch-size"),
        ("[runn]\nworkers = 3\n", "there is no command [runn]; commands: extract"),
        (
            "[manifest.generate]\nforce-refresh = 1\nprune = 1\nwhatever = 1\n",
            "[manifest.generate] has no setting",
        ),
        ("max-items = 1\n[run]\nworkers = 1\n", "'max-items' outside any section; put settings under"),
    ],
)
def test_a_mistyped_setting_in_gristmill_toml_is_refused(tmp_path: Path, toml: str, message: str) -> None:
    write_pipeline(tmp_path, count=5)
    (tmp_path / "gristmill.toml").write_text(toml)
    refused = gristmill("run", "cubes.py", "--no-progress", cwd=tmp_path)
    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert not (tmp_path / "out").exists()


def test_a_script_without_a_main_guard_runs_on_the_pool(tmp_path: Path) -> None:
    """Workers get the pipeline by cloudpickle and never import the script again."""
    (tmp_path / "script.py").write_text(
        textwrap.dedent(
            """
            from gristmill import BaseSample, Pipeline, Processor
            from gristmill.ledger import MemoryLedger
            from gristmill.sources import Range

            print("top level ran")

            class Twice(Processor):
                def process(self, sample):
                    return BaseSample(id=sample.id * 2)

            for method in ("forkserver", "spawn"):
                result = Pipeline(Range(count=50), [Twice()]).run(
                    workers=2, start_method=method, ledger=MemoryLedger(), progress=False
                )
                print(method, result.done, result.failed)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["top level ran", "forkserver 50 0", "spawn 50 0"]


def test_reports_read_a_state_folder_on_read_only_media(tmp_path: Path) -> None:
    """An archived run, or a shard's state brought from another machine, may sit where
    nothing can be written; status and the reports still read it."""
    write_pipeline(tmp_path, count=20, bad="4")
    assert gristmill("run", "cubes.py", "--workers", "1", "--no-progress", cwd=tmp_path).returncode == 1
    media = tmp_path / "media"
    media.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(media)]
    mounted = subprocess.run(mount, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["cp", "-r", str(tmp_path / ".gristmill" / "cubes"), str(media)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        state = str(media / "cubes")
        status = gristmill("status", "--state", state, "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["failed"] == 1
        for command in (["failures"], ["report"], ["manifest", "report"]):
            shown = gristmill(*command, "--state", state, cwd=tmp_path)
            assert shown.returncode == 0, (command, shown.stderr)
        assert "bad input in 4" in gristmill("failures", "--state", state, cwd=tmp_path).stdout
        assert gristmill("status", "--state", "cubes", cwd=media).returncode == 0  # a relative path too
    finally:
        subprocess.run(["umount", str(media)], check=False)


def test_output_moves_the_merged_file_too_and_a_missing_merge_place_is_refused_first(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=30)
    assert gristmill("run", "cubes.py", "--no-progress", cwd=tmp_path).returncode == 0
    assert len(merged(tmp_path)) == 30
    elsewhere = [
        "--output",
        "elsewhere/items",
        "--state",
        "elsewhere-state",
        "--max-items",
        "5",
        "--no-progress",
    ]
    assert gristmill("run", "cubes.py", *elsewhere, cwd=tmp_path).returncode == 0
    assert len(merged(tmp_path)) == 30  # the first run's merged file is left as it was
    assert len((tmp_path / "elsewhere" / "items.jsonl").read_text().splitlines()) == 5
    (tmp_path / "cubes.py").write_text(
        (tmp_path / "cubes.py").read_text().replace('"out/all.jsonl"', '"afile/all.jsonl"')
    )
    (tmp_path / "afile").write_text("a file, not a folder")
    refused = gristmill("run", "cubes.py", "--state", "third", "--no-progress", cwd=tmp_path)
    assert refused.returncode == 2 and "afile" in refused.stderr, refused.stderr
    assert "0 done, 0 failed" in gristmill("status", "--state", "third", cwd=tmp_path).stdout  # nothing ran


def test_a_processed_manifest_url_that_names_no_file_is_refused(tmp_path: Path) -> None:
    write_pipeline(tmp_path, count=3)
    refused = gristmill("run", "cubes.py", "--processed-manifest", "out/", "--no-progress", cwd=tmp_path)
    assert refused.returncode == 2 and "names a folder, not a file" in refused.stderr, refused.stderr


SECRET = "Secr3tPw"
LEAKY_INPUT = [
    pytest.param(
        ["run", "cubes.py", "--state", f"postgresql://u:{SECRET}/x@127.0.0.1:5432/test"],
        "postgresql://u:***@127.0.0.1:5432/test is not a valid URL: its password holds a raw '/' or '@'; "
        "percent-encode them",
        id="state-password-with-a-slash",
    ),
    pytest.param(
        ["run", "cubes.py", "--state", f"postgresql://:{SECRET}@127.0.0.1:5999/test"],
        "postgresql://:***@127.0.0.1:5999/test: connection failed",
        id="state-with-an-empty-user-name",
    ),
    pytest.param(
        ["run", "cubes.py", "--state", f"host=127.0.0.1 password={SECRET}"],
        "--state takes a folder or a postgresql:// URL",
        id="state-as-a-libpq-string",
    ),
    pytest.param(
        ["status", "cubes.py", "--state", f"mysql://u:{SECRET}@127.0.0.1/db"],
        "--state takes a folder or a postgresql:// URL, not 'mysql://u:***@127.0.0.1/db'",
        id="state-as-another-database",
    ),
    pytest.param(
        ["run", "files.py", "--source", f"s3://AKIAKEY:{SECRET}/x@corpus/letters"],
        "--source s3://AKIAKEY:***@corpus/letters: credentials do not go in the URL",
        id="source-with-credentials",
    ),
    pytest.param(
        ["run", "cubes.py", "--endpoint-url", f"http://admin:{SECRET}@127.0.0.1:1"],
        "credentials do not go in the endpoint",
        id="endpoint-with-credentials",
    ),
    pytest.param(
        ["import", "rows.csv", "--table", "t", "--db", f"postgresql://u:{SECRET}@x@127.0.0.1:5432/test"],
        "percent-encode them",
        id="import-password-with-an-at",
    ),
    pytest.param(
        ["index", "docs", "--index", "b", "--opensearch", f"http://admin:{SECRET}/x@127.0.0.1:9200"],
        "--opensearch http://admin:***@127.0.0.1:9200 is not a valid URL",
        id="opensearch-password-with-a-slash",
    ),
    pytest.param(
        ["index", "docs", "--index", "b", "--opensearch", f"admin:{SECRET}@127.0.0.1:9200"],
        "found 'admin:***@127.0.0.1:9200'",
        id="opensearch-url-without-a-scheme",
    ),
    pytest.param(
        ["status"], ".env:2: expected GRISTMILL_OPENSEARCH_API_KEY=VALUE", id="dotenv-line-without-equals"
    ),
]


@pytest.mark.parametrize(("args", "message"), LEAKY_INPUT)
def test_a_refusal_never_shows_the_secret(tmp_path: Path, args: list[str], message: str) -> None:
    write_pipeline(tmp_path, count=3)
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "files.py").write_text(
        "from gristmill import Pipeline\nfrom gristmill.sources import Files\n"
        "pipeline = Pipeline(Files(url='.'))\n"
    )
    if args == ["status"]:
        (tmp_path / ".env").write_text(f"OTHER_TOOL {SECRET}\nGRISTMILL_OPENSEARCH_API_KEY: {SECRET}\n")
    result = gristmill(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not [path for path in tmp_path.rglob("*") if SECRET in path.name]  # no folder named after a URL


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(".env", b"\xff\xfeGRISTMILL_WORKERS=2\n", ".env is not UTF-8 text", id="dotenv"),
        pytest.param("gristmill.toml", b"\xff\xfe[run]", "gristmill.toml is not UTF-8 text", id="toml"),
    ],
)
def test_a_settings_file_that_is_not_utf8_is_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    refused = gristmill("status", cwd=tmp_path)
    assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr


def test_dotenv_lines_of_other_tools_are_left_alone(tmp_path: Path) -> None:
    """A .env is often shared: a PEM key over several lines, or another tool's syntax."""
    write_pipeline(tmp_path, count=5)
    (tmp_path / ".env").write_text(
        'TLS_KEY="-----BEGIN PRIVATE KEY-----\nGRISTMILL_MAX_ITEMS=1\nMIIEvQIBADANBg\n'
        '-----END PRIVATE KEY-----"\n'
        "OTHER_TOOL sk-not-ours\nexport GRISTMILL_MAX_ITEMS=2\n"
    )
    ran = gristmill("run", "cubes.py", "--no-progress", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "this run: 2 done" in ran.stdout


def test_help_does_not_show_secrets_from_gristmill_toml(tmp_path: Path) -> None:
    (tmp_path / "gristmill.toml").write_text(
        f'[index]\napi-key = "{SECRET}"\nopensearch = "http://admin:{SECRET}@127.0.0.1:1"\n'
        f'[run]\nstate = "postgresql://u:{SECRET}@127.0.0.1:5432/test"\n'
    )
    env = {**os.environ, "COLUMNS": "300"}
    for command in ("index", "run"):
        shown = gristmill(command, "--help", cwd=tmp_path, env=env)
        assert shown.returncode == 0 and SECRET not in shown.stdout, shown.stdout
    assert (
        "[default: http://admin:***@127.0.0.1:1]"
        in gristmill("index", "--help", cwd=tmp_path, env=env).stdout
    )


def test_usage_lines_name_the_arguments_in_capitals(tmp_path: Path) -> None:
    for command, argument in (
        ("run", "PIPELINE"),
        ("status", "PIPELINE"),
        ("import", "FILE"),
        ("index", "SOURCE"),
    ):
        usage = gristmill(command, "--help", cwd=tmp_path).stdout
        assert f"gristmill {command} [OPTIONS] " in usage and argument in usage.split("\n\n")[0], usage


def test_a_processor_logging_a_password_in_a_worker_is_masked(tmp_path: Path) -> None:
    """Spawned workers do not inherit the coordinator's logging: each sets up its own."""
    (tmp_path / "talk.py").write_text(
        textwrap.dedent(
            f"""
            import logging
            from gristmill import Pipeline, Processor
            from gristmill.sources import Range

            class Talk(Processor):
                def process(self, sample):
                    logging.getLogger("gristmill.user").warning("to postgresql://u:{SECRET}@db/x")
                    return sample

            pipeline = Pipeline(Range(count=2), [Talk()])
            """
        )
    )
    ran = gristmill(
        "run", "talk.py", "--workers", "1", "--start-method", "spawn", "--no-progress", cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert "WARNING to postgresql://u:***@db/x" in ran.stderr and SECRET not in ran.stderr


def test_a_database_state_as_sqlalchemy_writes_it_and_names_the_failures_command(
    tmp_path: Path, pg_schema: str
) -> None:
    write_pipeline(tmp_path, count=3, bad="1")
    state = pg_schema.replace("postgresql://", "postgresql+psycopg://")
    ran = gristmill("run", "cubes.py", "--state", state, "--no-progress", cwd=tmp_path)
    assert ran.returncode == 1, ran.stderr
    assert "see the failures with: gristmill failures PIPELINE --state <your database URL>" in ran.stderr
    assert "bad input in 1" in gristmill("failures", "cubes.py", "--state", state, cwd=tmp_path).stdout
    assert not (tmp_path / "postgresql+psycopg:").exists()  # in the database, not in a folder
