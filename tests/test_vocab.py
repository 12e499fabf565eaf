"""The vocabularies (``attnflow_core.vocab``): entries are their keys, one validation per name, and each registry is
what the CLI, the settings and the URL read."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest

from attnflow_core.encoding import UNITS
from attnflow_core.errors import SettingsError
from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.interventions import INTERVENTIONS
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS, FlowKey
from attnflow_core.saliency import SALIENCY_METHODS
from attnflow_core.settings import ExampleSettings, FlowSettings
from attnflow_core.vocab import Choice, Registry

REGISTRIES = (METHODS, MEASURES, SPECIAL_MODES, UNITS, SALIENCY_METHODS, INTERVENTIONS)


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.name)
def test_every_entry_has_its_words_and_is_its_key(registry: Registry) -> None:
    assert len(registry) >= 2 and registry.default in registry
    for entry in registry:
        assert entry == entry.key and hash(entry) == hash(entry.key) and f"{entry}" == entry.key
        assert entry.label, (registry.name, entry)
        assert registry.get(entry.key) is entry and registry.find(str(entry)) is entry
        assert pickle.loads(pickle.dumps(entry)) is entry and copy.deepcopy(entry) is entry
        assert json.dumps({"k": entry}) == f'{{"k": "{entry}"}}'


def test_an_unknown_name_is_one_settings_error_naming_the_choices() -> None:
    with pytest.raises(
        SettingsError, match=r"method must be one of \('trace', 'rollout', 'maxflow'\); got 'x'"
    ):
        METHODS.get("x")
    with pytest.raises(SettingsError, match="special-token mode must be one of"):
        SPECIAL_MODES.get("drop", "special-token mode")
    assert METHODS.find("x") is None and MEASURES.find(None) is None and MEASURES.find(3) is None
    assert "x" not in METHODS and "norm" in MEASURES


def test_entries_are_read_only_and_need_their_fields() -> None:
    with pytest.raises(AttributeError, match="read-only"):
        METHODS.default.label = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="needs label"):
        Choice("x")
    with pytest.raises(TypeError, match="no field"):
        Choice("x", label="X", colour="red")


def test_a_registry_refuses_a_taken_key_and_keeps_its_default() -> None:
    with pytest.raises(ValueError, match="already registered"):
        METHODS.register(METHODS.default)
    with pytest.raises(ValueError, match="cannot be removed"):
        MEASURES.unregister(str(MEASURES.default))


def test_settings_hold_entries_and_serialise_as_keys() -> None:
    s = FlowSettings(
        method="rollout", measure="attention", unit="word", special="renormalise", heads=(3, 1, 3)
    )
    assert s.method is METHODS.get("rollout") and s.measure is MEASURES.get("attention")
    assert s.heads == (1, 3)
    assert json.loads(json.dumps(dataclasses.asdict(s)))["special"] == "renormalise"
    assert s.example == ExampleSettings("attention", "word", "renormalise")
    with pytest.raises(SettingsError, match="threshold must be in"):
        FlowSettings(threshold=2.0)


def test_a_flow_key_keeps_tau_and_alpha_only_for_the_methods_that_read_them() -> None:
    """A τ or α step under rollout or max-flow is the same key: nothing to recompute (issue 16)."""
    for method in METHODS:
        a = FlowKey.of(method, 0, (1, 6), None, threshold=0.1, decay=1.0)
        b = FlowKey.of(method, 0, (1, 6), None, threshold=0.3, decay=0.5)
        assert (a == b) == (not method.uses_threshold and not method.uses_decay), method
        assert bool(method.unused("threshold")) == (not method.uses_threshold)
    assert FlowSettings(method="maxflow", threshold=0.3).flow_key(6) == FlowSettings(
        method="maxflow"
    ).flow_key(6)


def test_the_cli_offers_each_registry() -> None:
    from attnflow_core.cli import build_parser

    parser = build_parser("compare")
    sub = next(a for a in parser._actions if a.dest == "command")
    compare = sub.choices["compare"]  # type: ignore[index]
    choices = {a.dest: tuple(a.choices) for a in compare._actions if a.choices}
    assert choices["method"] == METHODS.keys() and choices["measure"] == MEASURES.keys()
    assert choices["special"] == SPECIAL_MODES.keys() and choices["saliency"] == SALIENCY_METHODS.keys()


def test_presets_name_registered_choices() -> None:
    from attnflow_core.presets import PRESETS

    for p in PRESETS:
        query = dict(p.query)
        for param, registry in (("method", METHODS), ("measure", MEASURES), ("unit", UNITS)):
            if param in query:
                registry.get(query[param])
