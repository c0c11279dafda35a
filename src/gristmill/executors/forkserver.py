"""The pool's fork server: one per coordinator, started as early as it can be.

Workers are forked from it, so what it imported before the first fork (gristmill's worker
code, the libraries the processors name in ``imports``) every worker has without importing
it again, and so has every worker started later to replace one. A command line run starts it
before loading its own modules, so the two imports run side by side on two cores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing import forkserver, resource_tracker
from typing import Any

# The worker's own code, and what unpickling a file pipeline's source and sink imports (a
# filesystem of fsspec, which brings asyncio): some 25 ms each worker would spend before its
# first item.
PRELOAD = ("gristmill.executors.pool", "gristmill.sinks.files", "fsspec.implementations.local")


def available() -> bool:
    return "forkserver" in mp.get_all_start_methods()


def start(imports: Sequence[str] = ()) -> None:
    """Start the fork server (if it is not running) importing ``imports``; it returns at once,
    the imports go on in the server. Modules named after it started are imported by each
    worker as it needs them."""
    if not available():
        return
    forkserver.set_forkserver_preload([*PRELOAD, *imports])
    with main_module_hidden():
        resource_tracker.ensure_running()  # first: starting, it unblocks Ctrl-C (see below)
        with _ctrl_c_held():
            forkserver.ensure_running()


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Start the server with Ctrl-C blocked: it ignores Ctrl-C only once its imports are
    done, and one sent to the process group meanwhile would end it (the coordinator then
    failing to start workers, instead of stopping as asked). The server and the workers
    forked from it keep it blocked (they ignore it anyway); this process gets a Ctrl-C sent
    while the server started as soon as it has, not losing it as ignoring it would. (The
    standard library starts its resource tracker so, for the same reason: bpo-33613.)"""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no fork server either
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def stop() -> None:
    """End the fork server now, for a process about to exit: left to notice that by itself,
    it takes a few tenths of a second to unload all it imported, holding this process's
    standard output open all the while (a caller reading it to the end waits that long)."""
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """Keep multiprocessing from importing the parent's ``__main__`` script in the server and
    in each worker.

    Workers get all they need through cloudpickle; importing the script again costs every
    worker its start-up imports, and re-runs any top-level code not behind
    ``if __name__ == "__main__"``.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        key: main.__dict__[key] for key in ("__file__", "__spec__") if key in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
