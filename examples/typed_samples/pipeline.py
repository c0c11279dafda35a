"""Typed samples on the pool: a sample with a NumPy field, three processors, Cache and Save.

Run it with ``python examples/typed_samples/pipeline.py`` or
``gristmill run examples/typed_samples/pipeline.py``; outputs go under
``examples-output/typed_samples/`` in the current folder. Run it again and nothing is redone;
add ``--reprocess`` and the cached smoothing step is reused instead of recomputed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gristmill import BaseSample, Cache, Item, Pipeline, Processor, Save
from gristmill.sinks import JsonlFiles
from gristmill.sources import Source

OUT = Path("examples-output/typed_samples")


class Signal(BaseSample):
    """A noisy random walk: any field type works, NumPy arrays included."""

    values: np.ndarray


class Summary(BaseSample):
    length: int
    mean: float
    peak: float


class Signals(Source):
    """``count`` reproducible signals; each is generated in the worker that processes it."""

    count: int = 200
    length: int = 1024

    def list(self) -> Iterator[Item]:
        for index in range(self.count):
            yield Item(f"signal-{index:04d}", size=self.length)

    def open(self, item: Item) -> Signal:
        rng = np.random.default_rng(int(item.id.rsplit("-", 1)[1]))
        return Signal(id=item.id, values=rng.normal(size=self.length).cumsum())


class Normalize(Processor):
    def process(self, sample: Signal) -> Signal:
        std = float(sample.values.std()) or 1.0
        sample.values = (sample.values - sample.values.mean()) / std
        return sample


class Smooth(Processor):
    window: int = 16

    def process(self, sample: Signal) -> Signal:
        kernel = np.ones(self.window) / self.window
        sample.values = np.convolve(sample.values, kernel, mode="valid")
        return sample


class Describe(Processor):
    def process(self, sample: Signal) -> Summary:
        return Summary(
            id=sample.id,
            processing_history=sample.processing_history,
            length=len(sample.values),
            mean=round(float(sample.values.mean()), 6),
            peak=round(float(np.abs(sample.values).max()), 6),
        )


pipeline = Pipeline(
    Signals(),
    [
        Normalize(),
        Cache(processor=Smooth(window=16), folder=OUT / "cache"),  # under cache/Smooth/
        Save(folder=OUT / "smoothed"),  # every smoothed signal as JSON
        Describe(),
    ],
    JsonlFiles(folder=OUT / "summaries", merged=OUT / "summaries.jsonl"),
    name="typed_samples",
)

if __name__ == "__main__":
    import sys

    result = pipeline.run(workers=2, reprocess="--reprocess" in sys.argv)
    print(f"{result.done} done, {result.failed} failed in {result.seconds:.1f} s")
    sys.exit(result.exit_code)
