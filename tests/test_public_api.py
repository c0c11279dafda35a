"""Every public name is exported, once, in sorted order (httpx keeps itself honest this way)."""

from __future__ import annotations

import importlib

import pytest

import gristmill

MODULES = [
    "gristmill",
    "gristmill.sources",
    "gristmill.sinks",
    "gristmill.executors",
    "gristmill.ledger",
    "gristmill.sql",
    "gristmill.testing",
    "gristmill.storage",
    "gristmill.enrich",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    for attribute in exported:
        assert hasattr(module, attribute), attribute
    public = {
        key for key, value in vars(module).items() if not key.startswith("_") and hasattr(value, "__module__")
    }
    public = {key for key in public if getattr(vars(module)[key], "__module__", "").startswith("gristmill")}
    assert public <= set(exported), public - set(exported)


def test_every_error_is_a_gristmill_error() -> None:
    errors = [
        getattr(gristmill, name) for name in gristmill.__all__ if name.endswith(("Error", "Died", "Timeout"))
    ]
    errors += [gristmill.SkipItem]
    assert all(issubclass(error, gristmill.GristmillError) for error in errors)
    error = gristmill.ProcessingError("bad page", item_id="a/b.pdf", processor="Partition")
    assert str(error) == "bad page (item 'a/b.pdf')"
    assert error.processor == "Partition"
