"""Processors: one step of a pipeline, and the ways to combine them.

A `Processor` is a pydantic model whose fields are its configuration. ``process(sample)``
returns a sample, ``None`` to drop it, or an iterable of samples to fan out. ``setup()``
runs once per worker before the first item (load a model, open a client); private
attributes (``PrivateAttr``) hold what it makes. ``process_batch`` is the vectorised form,
used when the class sets ``batch_size``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle
import orjson
from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic_core import to_jsonable_python

from gristmill._exceptions import ConfigError
from gristmill.samples import BaseSample

Result = BaseSample | Iterable[BaseSample] | None


class Processor(BaseModel):
    """One step. Subclass it, declare configuration as fields, implement ``process``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    #: Bump when ``process`` changes in a way that invalidates cached outputs.
    version: ClassVar[str] = "1"

    #: Fields that change how the step works, not what it makes (a rate limit, a timeout, a
    #: device): left out of its configuration, so that changing them redoes nothing. A model
    #: held in a field (an API client) may name its own.
    not_settings: ClassVar[frozenset[str]] = frozenset()

    @property
    def name(self) -> str:
        return type(self).__name__

    @cached_property
    def stamp(self) -> tuple[str, str]:
        """What this step appends to ``processing_history``: (name, configuration hash)."""
        return (self.name, self.config_hash())

    def config_hash(self) -> str:
        """A short, stable hash of the class, its version and its configuration."""
        payload = orjson.dumps([self.name, self.version, _setting(self)], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(payload).hexdigest()[:16]

    def checked_hash(self) -> str:
        """`config_hash`, or a ConfigError naming the field whose value is no setting (a
        function, a lock, a client): checked before a run, rather than failing every item."""
        try:
            return self.config_hash()
        except Exception:
            raise ConfigError(_not_a_setting(self)) from None

    def setup(self) -> None:
        """Runs once per worker before the first item."""

    def process(self, sample: Any) -> Result:
        raise NotImplementedError(f"{self.name} must implement process(sample)")

    def process_batch(self, samples: Sequence[Any]) -> Sequence[Result]:
        """The vectorised form: one result per sample, in order (a sample, None or several).

        Override it and set ``batch_size`` to have workers hand it that many samples at a
        time (an embedding model, a bulk API). If it raises, the worker falls back to
        processing that batch's items one by one, so only the bad item fails.
        """
        return [self.process(sample) for sample in samples]

    #: How many samples ``process_batch`` wants at once; None means one at a time.
    batch_size: ClassVar[int | None] = None

    def preferred_batch(self) -> int | None:
        return self.batch_size

    #: Modules every worker imports before its first item (a parser, a model's library). A
    #: pool imports them once, in the fork server its workers are forked from, so a worker
    #: (and one started later to replace another) begins with them loaded.
    imports: ClassVar[tuple[str, ...]] = ()

    def all_imports(self) -> tuple[str, ...]:
        return self.imports

    def take_step_seconds(self) -> dict[str, float]:
        """Seconds spent in each step since the last call, by step name (`Compose` keeps
        them; a lone processor's time is its items' time)."""
        return {}

    def __call__(self, sample: BaseSample) -> list[BaseSample]:
        """Run ``process`` and stamp the history of every sample it returns."""
        stamp = self.stamp
        if type(self).process is Processor.process:  # one sample for a processor of batches only
            (result,) = self._batch_results([sample])
        else:
            result = self.process(sample)
        outputs = _as_list(result, self.name)
        _stamp(outputs, stamp)
        return outputs

    def _batch_results(self, samples: Sequence[BaseSample]) -> list[Result]:
        results = list(self.process_batch(samples))  # a generator does too
        if len(results) != len(samples):
            raise TypeError(
                f"{self.name}.process_batch returned {len(results)} results for {len(samples)} samples; "
                "it must return one result (a sample, None or several) per sample"
            )
        return results

    def call_batch(self, samples: Sequence[BaseSample]) -> list[list[BaseSample]]:
        """Run ``process_batch``: the stamped outputs of each sample, in order."""
        if self.preferred_batch() is None:
            return [self(sample) for sample in samples]
        outputs = [_as_list(result, self.name) for result in self._batch_results(samples)]
        for group in outputs:
            _stamp(group, self.stamp)
        return outputs


def _setting(value: Any) -> Any:
    """VALUE as JSON for a configuration hash, the same in every process: a model (a step, a
    client) by its fields but its ``not_settings``, a set sorted (its order is the process's)."""
    if isinstance(value, BaseModel):
        skip: frozenset[str] = getattr(type(value), "not_settings", frozenset())
        return {f: _setting(getattr(value, f)) for f in type(value).model_fields if f not in skip}
    if isinstance(value, Mapping):
        return {str(key): _setting(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_setting(item) for item in value), key=orjson.dumps)
    if isinstance(value, list | tuple):
        return [_setting(item) for item in value]
    return to_jsonable_python(value)  # a path, a date, an enum…; a function or a lock raises


def _not_a_setting(processor: Processor) -> str:
    """Why PROCESSOR's configuration cannot be hashed, naming the field (in a nested step too)."""
    for field in type(processor).model_fields:
        value = getattr(processor, field)
        try:
            _setting(value)
        except Exception:
            for step in value if isinstance(value, tuple | list) else (value,):
                if isinstance(step, Processor) and not _hashes(step):
                    return _not_a_setting(step)
            return (
                f"{processor.name}.{field} holds a {type(value).__name__}, which cannot be a setting: a "
                "processor's fields are its configuration (written down, compared between runs, sent "
                "to each worker); make it in setup() and keep it in a private attribute "
                "(_client: Any = None) instead"
            )
    return f"{processor.name}'s configuration cannot be written down as JSON"


def _hashes(step: Processor) -> bool:
    try:
        step.config_hash()
    except Exception:
        return False
    return True


def _stamp(outputs: list[BaseSample], stamp: tuple[str, str]) -> None:
    """Add STAMP to each output's history, in a list of its own: copies made with
    ``model_copy`` share their original's list (and one sample may be returned twice)."""
    for out in {id(out): out for out in outputs}.values():
        out.processing_history = [*out.processing_history, stamp]


def _as_list(result: Result, name: str) -> list[BaseSample]:
    """RESULT of NAME's ``process`` as a list of samples; anything else, said plainly."""
    if result is None:
        return []
    if isinstance(result, BaseSample):
        return [result]
    expected = "expected a sample (a BaseSample), None (to drop it) or a list of samples"
    if isinstance(result, Iterable) and not isinstance(result, str | bytes | Mapping | BaseModel):
        outputs = list(result)
        bad = [type(o).__name__ for o in outputs if not isinstance(o, BaseSample)]
        if not bad:
            return outputs
        raise TypeError(f"{name}.process returned a {type(result).__name__} holding {bad[0]}; {expected}")
    hint = "; make its class a BaseSample" if isinstance(result, BaseModel) else ""
    raise TypeError(f"{name}.process returned {type(result).__name__}; {expected}{hint}")


class Compose(Processor):
    """Processors chained in order; a sample dropped by one step goes no further."""

    steps: tuple[Processor, ...]

    _step_seconds: dict[str, float] = PrivateAttr(default_factory=dict)

    def __init__(self, *steps: Processor | Sequence[Processor], **data: Any) -> None:
        if len(steps) == 1 and isinstance(steps[0], list | tuple):  # Compose([a, b]) as Compose(a, b)
            steps = tuple(steps[0])
        if steps:
            data["steps"] = tuple(steps)
        super().__init__(**data)

    @property
    def name(self) -> str:
        return "Compose(" + ", ".join(step.name for step in self.steps) + ")"

    def setup(self) -> None:
        for step in self.steps:
            step.setup()

    def preferred_batch(self) -> int | None:
        sizes = [size for step in self.steps if (size := step.preferred_batch()) is not None]
        return min(sizes) if sizes else None

    def all_imports(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(module for step in self.steps for module in step.all_imports()))

    def __call__(self, sample: BaseSample) -> list[BaseSample]:
        samples = [sample]
        for step in self.steps:
            clock = time.perf_counter()
            samples = [out for s in samples for out in step(s)]
            self._spent(step, clock)
            if not samples:
                break
        return samples

    def call_batch(self, samples: Sequence[BaseSample]) -> list[list[BaseSample]]:
        groups = [[sample] for sample in samples]
        for step in self.steps:
            flat = [sample for group in groups for sample in group]
            if not flat:
                break
            clock = time.perf_counter()
            outputs = iter(step.call_batch(flat))
            self._spent(step, clock)
            groups = [[out for _ in group for out in next(outputs)] for group in groups]
        return groups

    def _spent(self, step: Processor, since: float) -> None:
        seconds = self._step_seconds
        seconds[step.name] = seconds.get(step.name, 0.0) + time.perf_counter() - since

    def take_step_seconds(self) -> dict[str, float]:
        taken, self._step_seconds = Counter(self._step_seconds), {}
        for step in self.steps:
            inner = step.take_step_seconds()
            if inner:  # a step made of steps (a nested Compose): its steps, not its total
                del taken[step.name]
                taken.update(inner)
        return dict(taken)

    def process(self, sample: BaseSample) -> Result:
        return self(sample)

    def __iter__(self) -> Iterator[Processor]:  # type: ignore[override]
        return iter(self.steps)


class Cache(Processor):
    """Reuse a processor's stored outputs when the same input and configuration come again.

    Entries live under ``folder/<processor name>/`` keyed by a hash of the processor's
    configuration and of the input sample, so changing either recomputes. Outputs are
    stored with cloudpickle, so any sample type (NumPy fields included) round-trips.
    """

    processor: Processor
    folder: Path = Path(".gristmill/cache")

    @property
    def name(self) -> str:
        return f"Cache({self.processor.name})"

    def setup(self) -> None:
        self.processor.setup()

    def _key_path(self, sample: BaseSample) -> Path:
        digest = hashlib.sha256(self.processor.config_hash().encode())
        digest.update(cloudpickle.dumps(sample.model_dump(exclude={"processing_history"})))
        folder = self.folder / _safe_name(self.processor.name)
        return folder / digest.hexdigest()[:2] / f"{digest.hexdigest()}.pkl"

    def preferred_batch(self) -> int | None:
        return self.processor.preferred_batch()

    def all_imports(self) -> tuple[str, ...]:
        return self.processor.all_imports()

    def __call__(self, sample: BaseSample) -> list[BaseSample]:
        return self.call_batch([sample])[0]

    def call_batch(self, samples: Sequence[BaseSample]) -> list[list[BaseSample]]:
        from gristmill.atomic import atomic_write_bytes

        paths = [self._key_path(sample) for sample in samples]
        found: dict[int, list[BaseSample]] = {}
        for index, path in enumerate(paths):
            if path.exists():
                found[index] = cloudpickle.loads(path.read_bytes())
        missing = [index for index in range(len(samples)) if index not in found]
        if missing:
            computed = self.processor.call_batch([samples[index] for index in missing])
            for index, outputs in zip(missing, computed, strict=True):
                atomic_write_bytes(paths[index], cloudpickle.dumps(outputs))
                found[index] = outputs
        return [found[index] for index in range(len(samples))]

    def process(self, sample: BaseSample) -> Result:
        return self(sample)


class Save(Processor):
    """Store every sample that reaches this point as JSON, then pass it on unchanged.

    One file per sample, ``folder/<sample id>.json`` (the id's folders kept, as the sinks
    keep them), written atomically, so a redone item replaces its file.
    """

    folder: Path

    def __call__(self, sample: BaseSample) -> list[BaseSample]:
        from gristmill.atomic import atomic_write_bytes
        from gristmill.serialize import dumps
        from gristmill.sinks.files import mirrored

        atomic_write_bytes(self.folder.joinpath(*mirrored(sample.id, ".json").split("/")), dumps(sample))
        return [sample]

    def process(self, sample: BaseSample) -> Result:
        return self(sample)


def _safe_name(name: str) -> str:
    """A file name made from an id: path separators and odd characters replaced."""
    cleaned = re.sub(r"[^\w.\-()=,+ ]", "_", name).strip(". ")
    if not cleaned:
        raise ConfigError(f"cannot make a file name from {name!r}")
    return cleaned[:200]
