"""The Fine-tuning trajectory page (AppTest, embedded models): the shipped trajectory at once, a computation for
other settings, the bounds of N, and a pair without checkpoints said plainly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from attnflow_core.models import EMBEDDED_DIR
from tests.app.test_pages import bokeh_docs, named, open_page, titles

PAGE = "pages/trajectory.py"


@pytest.fixture(autouse=True)
def _offline(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path_factory.getbasetemp() / "attnflow-cache"))


def reading(at: object) -> str:
    found = [m.value for m in at.markdown if m.value.startswith("**Reading.**")]  # type: ignore[attr-defined]
    assert len(found) == 1, found
    return str(found[0])


def test_the_shipped_trajectory_shows_at_once_with_its_sentence_figures_and_downloads() -> None:
    at = open_page(PAGE, task="qa")
    assert not at.error, [e.value for e in at.error]
    assert "The heads that changed first" in reading(at) and "accuracy" in reading(at)
    assert not [b for b in at.button if b.label == "Compute"], "shipped: nothing to wait for"
    assert any(m.label == "Computed in" and "shipped" in str(m.proto.delta) for m in at.metric)
    docs = bokeh_docs(at)
    for name in ("trajectory_curves", "trajectory_change_maps", "trajectory_importance_maps"):
        assert sum(1 for d in docs if _has(d, name)) == 1, name
    shown = [t for d in docs for t in titles(d)]
    assert "Flow from [CLS] to the answer sentence" in shown
    assert "step 339 (100 % of training)" in shown
    labels = {b.proto.label for b in at.get("download_button")}
    assert labels == {"Download (json)", "Download (csv)"}
    n = at.number_input(key="tr_n")
    assert (n.value, n.min, n.max) == (24, 1, 20_000)  # the overview's bounds


def _has(doc: dict[str, object], name: str) -> bool:
    try:
        named(doc, name)
    except AssertionError:
        return False
    return True


def test_other_settings_compute_with_a_button_and_are_kept() -> None:
    at = open_page(PAGE, timeout=600, task="sentiment")
    at.number_input(key="tr_n").set_value(3).run()
    (info,) = [i.value for i in at.info if "Compute" in i.value]
    assert "each of the 6 checkpoints over 3 examples" in info
    at.button(key="tr_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "The heads that changed first" in reading(at) or "No head's attention changed" in reading(at)
    assert any(m.label == "Examples" and m.value == "3" for m in at.metric)
    named(next(d for d in bokeh_docs(at) if _has(d, "trajectory_curves")), "trajectory_focus")
    at.switch_page("pages/overview.py").run()
    at.switch_page(PAGE).run()
    at.number_input(key="tr_n").set_value(3).run()  # asked again: kept on the server, no button
    assert any(m.label == "Examples" and m.value == "3" for m in at.metric)
    assert not [b for b in at.button if b.label == "Compute"]


def test_a_pair_without_checkpoints_says_so_and_names_the_pairs_that_have_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A counterpart trained before checkpoints were kept (the embedded QA adapter without its record of them),
    offered as the user's own."""
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    old = tmp_path / "models" / "old-qa"
    old.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(EMBEDDED_DIR / "qa" / name, old / name)
    meta = json.loads((EMBEDDED_DIR / "qa" / "attnflow.json").read_text())
    meta.pop("checkpoints")
    (old / "attnflow.json").write_text(json.dumps(meta))
    at = open_page(PAGE, task="qa", pair="user:old-qa")
    assert not at.error, [e.value for e in at.error]
    (info,) = [i.value for i in at.info if "checkpoints" in i.value]
    assert "records no fine-tuning checkpoints" in info and "QNLI LoRA" in info  # the pair that has them
    assert not bokeh_docs(at) and not [m for m in at.markdown if m.value.startswith("**Reading.**")]
