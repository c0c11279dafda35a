"""Processors: history, dropping, fan-out, Compose, Cache, Save, NumPy samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import orjson
import pydantic
import pytest

from gristmill import BaseSample, Cache, Compose, Pipeline, Processor, Save
from gristmill.ledger import MemoryLedger
from gristmill.sinks import ListSink
from gristmill.sources import Range


class Vector(BaseSample):
    values: np.ndarray


class MakeVector(Processor):
    length: int = 4

    def process(self, sample: BaseSample) -> Vector:
        return Vector(
            id=sample.id,
            processing_history=sample.processing_history,
            values=np.arange(self.length) * int(sample.id),
        )


class Double(Processor):
    calls: ClassVar[list[str]] = []  # counts calls within this process

    def process(self, sample: Vector) -> Vector:
        Double.calls.append(sample.id)
        sample.values = sample.values * 2
        return sample


class Split(Processor):
    def process(self, sample: Vector) -> Iterator[Vector]:
        for part, values in enumerate(np.array_split(sample.values, 2)):
            yield Vector(
                id=f"{sample.id}.{part}", processing_history=list(sample.processing_history), values=values
            )


class DropOdd(Processor):
    def process(self, sample: BaseSample) -> BaseSample | None:
        return None if int(sample.id) % 2 else sample


def run_inline(processors: list[Processor], count: int = 4) -> ListSink:
    sink = ListSink()
    Pipeline(Range(count=count), processors, sink).run(
        executor="inline", ledger=MemoryLedger(), progress=False
    )
    return sink


def test_history_records_each_step_and_its_configuration() -> None:
    sink = run_inline([MakeVector(length=3), Double()])
    sample = sink.by_item["2"][0]
    assert sample.processing_history == [
        ("MakeVector", MakeVector(length=3).config_hash()),
        ("Double", Double().config_hash()),
    ]
    assert MakeVector(length=3).config_hash() != MakeVector(length=4).config_hash()
    assert Compose(MakeVector(length=3)).config_hash() != Compose(MakeVector(length=4)).config_hash()
    assert np.array_equal(sample.values, np.array([0, 4, 8]))  # type: ignore[attr-defined]


def test_none_drops_and_iterables_fan_out() -> None:
    assert sorted(run_inline([DropOdd()]).by_item.get("1", [])) == []
    split = run_inline([MakeVector(), Split()]).by_item["3"]
    assert [s.id for s in split] == ["3.0", "3.1"]
    assert all(s.processing_history[-1][0] == "Split" for s in split)


class Copies(Processor):
    """Fans out with pydantic's own idiom: shallow copies, sharing the input's history list."""

    def process(self, sample: BaseSample) -> list[BaseSample]:
        return [sample.model_copy(update={"id": f"{sample.id}.{k}"}) for k in range(3)] + [sample, sample]


def test_each_output_gets_its_own_history_once() -> None:
    given = BaseSample(id="7", processing_history=[("Before", "0")])
    outputs = Copies()(given)
    stamp = ("Copies", Copies().config_hash())
    assert [out.processing_history for out in outputs] == [[("Before", "0"), stamp]] * 5
    (batched,) = Copies().call_batch([BaseSample(id="8", processing_history=[("Before", "0")])])
    assert [out.processing_history for out in batched] == [[("Before", "0"), stamp]] * 5


def test_compose_is_a_processor() -> None:
    composed = Compose(MakeVector(), Double())
    assert composed.name == "Compose(MakeVector, Double)"
    assert [s.id for s in composed(BaseSample(id="5"))] == ["5"]


def test_a_nested_compose_times_its_own_steps() -> None:
    composed = Compose(MakeVector(), DropOdd(), Compose(Double(), Split()))
    composed(BaseSample(id="2"))
    composed.call_batch([BaseSample(id="4"), BaseSample(id="6")])
    seconds = composed.take_step_seconds()
    assert sorted(seconds) == ["Double", "DropOdd", "MakeVector", "Split"]  # not "Compose(Double, Split)"
    assert all(value > 0 for value in seconds.values())
    assert composed.take_step_seconds() == {}  # taken: the next call starts from nothing


def test_a_bad_return_value_fails_the_item_clearly() -> None:
    class Wrong(Processor):
        def process(self, sample: BaseSample) -> BaseSample:
            return "not a sample"  # type: ignore[return-value]

    ledger = MemoryLedger()
    Pipeline(Range(count=1), [Wrong()]).run(executor="inline", ledger=ledger, progress=False)
    (record,) = ledger.records()
    assert record.error_type == "TypeError"
    assert "expected a sample" in (record.message or "")


def test_cache_reuses_outputs_for_same_input_and_configuration(tmp_path: Path) -> None:
    Double.calls.clear()
    steps: list[Processor] = [MakeVector(), Cache(processor=Double(), folder=tmp_path)]
    first = run_inline(steps)
    assert len(Double.calls) == 4
    second = run_inline([MakeVector(), Cache(processor=Double(), folder=tmp_path)])
    assert len(Double.calls) == 4  # all four came from the cache
    for item in first.by_item:
        assert np.array_equal(first.by_item[item][0].values, second.by_item[item][0].values)  # type: ignore[attr-defined]
    assert sorted(p.parent.parent.name for p in tmp_path.rglob("*.pkl")) == ["Double"] * 4
    run_inline([MakeVector(length=5), Cache(processor=Double(), folder=tmp_path)])
    assert len(Double.calls) == 8  # a different input is computed again


def test_save_writes_each_sample_with_its_numpy_field(tmp_path: Path) -> None:
    run_inline([MakeVector(), Save(folder=tmp_path)])
    saved = orjson.loads((tmp_path / "3.json").read_bytes())
    assert saved["values"] == [0, 3, 6, 9]


@pytest.mark.parametrize("length", [1, 1000])
def test_numpy_samples_cross_process_boundaries(length: int, make_pool) -> None:  # type: ignore[no-untyped-def]
    sink = ListSink()
    Pipeline(Range(count=6), [MakeVector(length=length), Double()], sink).run(
        executor=make_pool(), ledger=MemoryLedger(), progress=False
    )
    assert np.array_equal(sink.by_item["5"][0].values, np.arange(length) * 10)  # type: ignore[attr-defined]


class Plain(pydantic.BaseModel):
    x: int = 1


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ({"id": "0"}, "Wrong.process returned dict; expected a sample"),
        (Plain(), "Wrong.process returned Plain; expected a sample .*; make its class a BaseSample"),
        ([BaseSample(id="0"), None], "Wrong.process returned a list holding NoneType; expected a sample"),
    ],
    ids=["dict", "plain model", "list with None"],
)
def test_a_wrong_result_names_the_processor_and_what_it_returned(returned: object, message: str) -> None:
    class Wrong(Processor):
        def process(self, sample: BaseSample) -> object:
            return returned

    with pytest.raises(TypeError, match=message):
        Wrong()(BaseSample(id="0"))


class Named(Processor):
    def process(self, sample: BaseSample) -> BaseSample:
        return BaseSample(id=["sub/x.txt", "sub_x.txt", "a:b"][int(sample.id)])


def test_save_keeps_apart_ids_that_differ_only_in_their_folders(tmp_path: Path) -> None:
    Pipeline(Range(count=3), [Named(), Save(folder=tmp_path)], ListSink()).run(
        executor="inline", ledger=MemoryLedger(), progress=False
    )
    saved = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.json"))
    assert saved == ["a:b.json", "sub/x.txt.json", "sub_x.txt.json"]


def test_compose_takes_its_steps_as_a_list_too() -> None:
    assert Compose([Named(), Save(folder=Path("x"))]).steps == Compose(Named(), Save(folder=Path("x"))).steps
