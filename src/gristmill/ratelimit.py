"""A rate limit shared by every process of a run on one machine.

Workers start by forkserver or spawn and get their configuration pickled through a pipe,
so a ``multiprocessing`` lock or shared value cannot reach them (those travel only by
inheritance). The shared state is therefore a tiny file read and written under ``flock``:
the next free moment of an even spacing (GCRA's "theoretical arrival time"), then one
slot per request a window allows, holding when that request ended (a sliding window). Anything
that unpickles the same `RateLimit` (every worker, the coordinator's sink) uses the same
file, and so the same budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import re
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from gristmill._exceptions import ConfigError

UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_CLOCK = struct.Struct("d")
MAX_SLOTS = 1024  # beyond this many requests a window, even spacing alone does the work
LEASE = 60.0  # a held grant whose holder died is taken back after this long
_THREADS = threading.Lock()
POLL = 0.02  # how often to look again while every slot is held
MAX_BACKOFF = 30.0
#: the longest a ``Retry-After`` is honoured: past it (an hour, a day: a quota reset) a worker
#: would sit idle and silent; waiting this long and asking again costs one more request
MAX_RETRY_AFTER = 300.0

log = logging.getLogger("gristmill")


def _folder() -> Path:
    shm = Path("/dev/shm")  # memory-backed where there is one: no disk writes per request
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class RateLimit(BaseModel):
    """At most ``rate`` units (requests, tokens) per ``per`` seconds, across processes.

    ``RateLimit("10/s")``, ``RateLimit("90000/min")`` or ``RateLimit(rate=10, per=1)``.
    Grants are spaced evenly (``per / rate`` apart; ``burst`` lets that many go at once)
    and, for up to 1,024 requests a window, never more than ``rate + burst - 1`` fall in
    any ``per`` seconds; ``with limit.hold():`` around a request counts it until it ends,
    which keeps that true where the server counts, however late requests reach it.
    ``acquire(units)`` draws several units at once (tokens per minute). Every
    copy of one `RateLimit` shares the budget: make it in the coordinator, give it to
    processors or sinks as a field, and all workers of the run draw on it. Two limits with
    the same ``name`` share it too (two runs against the same API key, say).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    rate: float = Field(gt=0)
    per: float = Field(default=1.0, gt=0)
    burst: int = Field(default=1, ge=1)
    # not configuration: left out of dumps, so a processor's config hash (and Cache) stays put
    name: str = Field(default_factory=lambda: uuid.uuid4().hex, exclude=True)

    _fd: int | None = PrivateAttr(default=None)
    _pid: int = PrivateAttr(default=0)

    def __init__(self, spec: str | None = None, /, **data: Any) -> None:
        if spec is not None:
            data.update(_parse(spec))
        super().__init__(**data)

    @model_validator(mode="after")
    def _safe_name(self) -> RateLimit:
        if not re.fullmatch(r"[\w.\-]{1,100}", self.name):
            raise ValueError(f"a rate limit's name must be letters, digits, '.', '-' or '_': {self.name!r}")
        return self

    def __repr__(self) -> str:
        return f"RateLimit({self.rate:g}/{self.per:g}s, name={self.name!r})"

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_fd": None, "_pid": 0}  # each process opens its own
        return state

    @property
    def path(self) -> Path:
        return _folder() / f"gristmill-ratelimit-{os.getuid()}-{self.name}"

    @property
    def interval(self) -> float:
        return self.per / self.rate

    def acquire(
        self,
        units: float = 1.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> float:
        """Wait until ``units`` may go; returns the seconds waited.

        The wall clock (not the monotonic one) is shared: every process reads the same one.
        """
        waited, _ = self._wait(units, False, clock, sleep)
        return waited

    @contextlib.contextmanager
    def hold(
        self, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
    ) -> Iterator[None]:
        """Wait for a grant and hold it while the request is under way.

        A grant's place in the window is then taken from when the request *ended*, not
        when it was granted, so even if requests reach the server late and unevenly (a
        busy machine, a slow network), the server never sees more than ``rate`` of them
        in any ``per`` seconds.
        """
        _, slot = self._wait(1.0, True, clock, sleep)
        try:
            yield
        finally:
            if slot is not None:
                self._release(slot, clock())

    def _wait(
        self, units: float, held: bool, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> tuple[float, int | None]:
        waited = 0.0
        while True:
            wait, slot, booked = self.reserve(units, clock(), held=held)
            if wait > 0:
                sleep(wait)
                waited += wait
            if booked:
                return waited, slot

    def reserve(self, units: float, now: float, *, held: bool = False) -> tuple[float, int | None, bool]:
        """Book ``units`` at the earliest free moment: (seconds from ``now`` until then,
        the window slot taken, whether it was booked). Not booked means every slot is
        held by a request under way: wait that long and ask again."""
        if units <= 0:
            return 0.0, None, True
        fd = self._file()
        slots = self._slots() if units == 1 else 0
        cost = self.interval * units
        slack = self.interval * (self.burst - 1)
        with _locked(fd):
            raw = os.pread(fd, _CLOCK.size * (1 + slots), 0)
            raw += bytes(_CLOCK.size * (1 + slots) - len(raw))
            tat, *marks = struct.unpack(f"{1 + slots}d", raw)
            start = max(now, tat - slack)  # the moment this grant may go, by even spacing
            slot = None
            if slots:
                # a mark >= 0: that slot's request ended then; < 0: under way since -mark
                free = [m + self.per if m >= 0 else -m + LEASE + self.per for m in marks]
                slot = min(range(slots), key=free.__getitem__)
                if marks[slot] < 0 and free[slot] > start:
                    return min(POLL, free[slot] - now), None, False
                start = max(start, free[slot])
                os.pwrite(fd, _CLOCK.pack(-start if held else start), _CLOCK.size * (1 + slot))
            os.pwrite(fd, _CLOCK.pack(max(tat, now) + cost), 0)
        return start - now, slot, True

    def _slots(self) -> int:
        """Window slots kept (one per request allowed in a window), when few enough."""
        count = self.rate + self.burst - 1
        return int(count) if count == int(count) and count <= MAX_SLOTS else 0

    def _release(self, slot: int, now: float) -> None:
        fd = self._file()
        with _locked(fd):
            os.pwrite(fd, _CLOCK.pack(now), _CLOCK.size * (1 + slot))

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(f"{self!r}: cannot open its shared state {self.path}: {exc}") from exc
            self._pid = os.getpid()
        return self._fd

    def reset(self) -> None:
        """Forget the booked moments (a new run with a named limit, tests)."""
        fd = self._file()
        with _locked(fd):
            os.ftruncate(fd, 0)


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """Exclusive use of the shared file: flock between processes, a lock between threads
    (flock alone does not exclude two threads sharing one descriptor)."""
    with _THREADS:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _parse(spec: str) -> dict[str, float]:
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]*)\s*([a-z]+)\s*", spec)
    if found is None or found.group(3) not in UNITS:
        raise ConfigError(f"a rate limit looks like '10/s', '600/min' or '5/2s'; found {spec!r}")
    count = float(found.group(2) or 1)
    return {"rate": float(found.group(1)), "per": count * UNITS[found.group(3)]}


def backoff_delay(
    base: float,
    attempt: int,
    retry_after: float | None = None,
    cap: float = MAX_BACKOFF,
    *,
    asker: str = "a server",
) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After.

    Retry-After is honoured up to `MAX_RETRY_AFTER`, with a warning naming ``asker`` when a
    server asks for more: every retry loop (workers, the search client, the API clients)
    waits here, so none of them can sleep for an hour unseen.
    """
    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
        log.warning(
            "%s asks to wait %g s before trying again; waiting %g s instead (the most gristmill waits)",
            asker,
            retry_after,
            MAX_RETRY_AFTER,
        )
        retry_after = MAX_RETRY_AFTER
    return max(random.uniform(0, min(cap, base * 2 ** (attempt - 1))), retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header; None when absent or an HTTP date (rare from
    APIs; the backoff alone will do)."""
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None
