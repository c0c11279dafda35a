"""Processors and pipelines the tests share. Shipped to workers by value (see conftest)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import orjson
from pydantic import PrivateAttr

from gristmill import BaseSample, Document, Item, Pipeline, Processor, RateLimit, SkipItem, TransientError
from gristmill.ledger import MemoryLedger
from gristmill.ledger.base import Outcome, Run, Status
from gristmill.sinks import JsonlFiles
from gristmill.sources import Files, Range


class Numbered(BaseSample):
    value: int = 0


class Square(Processor):
    """Squares the item's number; misbehaves on the ids it is told to."""

    fail: tuple[str, ...] = ()
    die: tuple[str, ...] = ()
    hang: tuple[str, ...] = ()
    flaky_folder: str | None = None  # ids fail once with a transient error, marked by a file here
    broken_folder: str | None = None  # ids fail while a file of their name is here (a bug, then fixed)
    sleep: float = 0.0

    def process(self, sample: BaseSample) -> BaseSample:
        if sample.id in self.fail:
            raise ValueError(f"cannot square {sample.id}")
        if self.broken_folder is not None and (Path(self.broken_folder) / sample.id).exists():
            raise ValueError(f"cannot square {sample.id} yet")
        if sample.id in self.die:
            os.kill(os.getpid(), signal.SIGKILL)
        if sample.id in self.hang:
            time.sleep(3600)
        if self.flaky_folder is not None:
            marker = Path(self.flaky_folder) / sample.id
            if not marker.exists():
                marker.touch()
                raise TransientError("rate limited, try later", retry_after=0.01)
        if self.sleep:
            time.sleep(self.sleep)
        number = int(sample.id)
        return Numbered(id=sample.id, value=number * number)


class ReadText(Processor):
    def process(self, doc: Document) -> Document:
        assert doc.content is not None
        doc.text = doc.content.decode("utf-8")
        doc.content = None
        return doc


def squares(count: int, output: Path, **square: object) -> Pipeline:
    return Pipeline(
        Range(count=count),
        [Square(**square)],
        JsonlFiles(folder=output / "items", merged=output / "all.jsonl"),
        name="squares",
    )


def texts(folder: Path, output: Path) -> Pipeline:
    return Pipeline(Files(url=str(folder)), [ReadText()], JsonlFiles(folder=output), name="texts")


class Locked(BaseSample):
    lock: object


class AddLock(Processor):
    """Makes samples that cannot be pickled: a lock travels nowhere."""

    def process(self, sample: BaseSample) -> Locked:
        import threading

        return Locked(id=sample.id, lock=threading.Lock())


class Sized(BaseSample):
    batch: int


class BatchSquare(Processor):
    """Vectorised: records how many samples each call received; id "13" poisons its batch."""

    batch_size: ClassVar[int | None] = 4

    def process_batch(self, samples: Sequence[BaseSample]) -> list[BaseSample]:
        if any(s.id == "13" for s in samples):
            raise ValueError("13 is unlucky")
        return [Sized(id=s.id, batch=len(samples)) for s in samples]

    def process(self, sample: BaseSample) -> BaseSample:
        return self.process_batch([sample])[0]


class NeedsModel(Processor):
    """Its setup fails, as loading a missing model would."""

    def setup(self) -> None:
        raise FileNotFoundError("model weights not found at /models/big.bin")

    def process(self, sample: BaseSample) -> BaseSample:
        return sample


class Part(BaseSample):
    n: int
    part: int
    value: object = None


class Parts(Processor):
    """Item n fans out to ``n % modulo`` documents; ``bad`` ids get a value a mapping refuses."""

    modulo: int = 3
    bad: tuple[str, ...] = ()

    def process(self, sample: BaseSample) -> list[Part]:
        n = int(sample.id)
        value = "not a number" if sample.id in self.bad else n * n
        return [Part(id=f"{n}.{k}", n=n, part=k, value=value) for k in range(n % self.modulo)]


class PostDoc(Processor):
    """Indexes its sample as one document through the single-document API, under a shared
    rate limit; a 429 becomes a `TransientError` the worker retries (Retry-After honoured)."""

    url: str
    index: str
    limit: RateLimit

    def process(self, sample: BaseSample) -> BaseSample:
        import http.client
        from urllib.parse import urlsplit

        where = urlsplit(self.url)
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
        body = orjson.dumps({"n": int(sample.id)})
        with self.limit.hold():  # counted until the answer is in: what the server sees
            conn.request("PUT", f"/{self.index}/_doc/{sample.id}", body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
        conn.close()
        if answer.status == 429:
            raise TransientError("throttled", retry_after=float(answer.getheader("Retry-After") or 0))
        if answer.status >= 300:
            raise ValueError(f"HTTP {answer.status}")
        return sample


class FlushWatched(JsonlFiles):
    """Notes beside each output whether its worker flushed that file to disk itself, and,
    in the coordinator, each ``flush`` among the ledger's writes (see `FlushWatchedLedger`)."""

    _events: list[str] = PrivateAttr(default_factory=list)

    def write(self, item: Item, samples: Sequence[BaseSample]) -> list[str]:
        keys = super().write(item, samples)
        (Path(self.folder) / f"{keys[0]}.flushed-each").write_text(str(self.output.durable))
        return keys

    def flush(self) -> None:
        super().flush()
        self._events.append("flush")


class FlushWatchedLedger(MemoryLedger):
    def __init__(self, sink: FlushWatched) -> None:
        super().__init__()
        self.sink = sink

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run] = ()) -> None:
        done = sum(run.length for run in runs) + sum(1 for o in outcomes if o[1] == Status.DONE)
        if done:
            self.sink._events.append(f"record {done} done")
        super().record(outcomes, runs)


class Total(BaseSample):
    rows: int
    amount: float


class SumAmounts(Processor):
    """A slice of a table (`Rows`) → how many rows, and the sum of their ``amount``."""

    def process(self, sample: BaseSample) -> Total:
        rows = sample.rows  # type: ignore[attr-defined]
        return Total(id=sample.id, rows=len(rows), amount=sum(float(row["amount"]) for row in rows))


class Pause(Processor):
    """Sleeps on the ids in ``slow``; skips those in ``skip``."""

    slow: tuple[str, ...] = ()
    seconds: float = 0.2
    skip: tuple[str, ...] = ()

    def process(self, sample: BaseSample) -> BaseSample:
        if sample.id in self.skip:
            raise SkipItem("nothing to do here")
        if sample.id in self.slow:
            time.sleep(self.seconds)
        return sample
