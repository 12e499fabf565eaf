"""``attnflow_core.user_models``: the folder name of a user's fine-tuned counterpart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from attnflow_core.user_models import user_model_exists, user_model_name


def _rows(*sentences: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": [f"u{i}" for i in range(len(sentences))],
            "sentence": list(sentences),
            "label": ["positive", "negative"][: len(sentences)],
        }
    )


def test_same_rows_give_the_same_name() -> None:
    """The name must be stable, so a counterpart trained once is found again ("Use my counterpart")."""
    a = _rows("a good movie", "a bad film")
    assert user_model_name("sentiment", "file", "", a) == user_model_name("sentiment", "file", "", a.copy())


def test_other_rows_of_the_same_size_give_another_name() -> None:
    """Two different files with as many rows must not share (and overwrite) one counterpart."""
    a = user_model_name("sentiment", "file", "", _rows("a good movie", "a bad film"))
    b = user_model_name("sentiment", "file", "", _rows("a great movie", "a bad film"))
    relabelled = _rows("a good movie", "a bad film").assign(label=["negative", "positive"])
    c = user_model_name("sentiment", "file", "", relabelled)
    assert len({a, b, c}) == 3


def test_name_is_readable_and_safe() -> None:
    """Task, source, split and row count are readable in the name; characters unsafe in a folder name are replaced."""
    name = user_model_name("sentiment", "vader", "movie/reviews", _rows("a good movie", "a bad film"))
    assert name.startswith("sentiment-vader-movie-reviews-2-")
    assert "/" not in name
    assert user_model_name("sentiment", "demo", "", _rows("a good movie")).startswith("sentiment-demo-all-1-")


def test_a_counterpart_exists_only_once_saved_completely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "Use my counterpart" button is offered only when the training finished (its attnflow.json was written last)."""
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    assert not user_model_exists("sentiment-demo-all-1-abcdef01")
    folder = tmp_path / "models" / "sentiment-demo-all-1-abcdef01"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    assert not user_model_exists("sentiment-demo-all-1-abcdef01")
    (folder / "attnflow.json").write_text("{}")
    assert user_model_exists("sentiment-demo-all-1-abcdef01")


def test_the_apps_fine_tuning_keeps_checkpoints(
    tiny_base_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "fine-tune your own counterpart" button trains through ``finetune`` with its default checkpoints."""
    import json

    from attnflow_core import finetune as finetune_module
    from attnflow_core.finetune import FinetuneConfig
    from attnflow_core.user_models import finetune_user_model

    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))
    monkeypatch.setattr(finetune_module, "base_model_dir", lambda: tiny_base_dir)  # the tiny base, not MiniLM
    texts = ["a good movie", "a bad film", "i love it", "i hate it"] * 5
    df = pd.DataFrame(
        {"uid": [f"u{i}" for i in range(20)], "sentence": texts, "label": ["positive", "negative"] * 10}
    )
    config = FinetuneConfig.quick(max_steps=6, batch_size=4, max_length=16, lora_rank=2, lora_alpha=4)
    finetune_user_model("sentiment", df, "mine", config, lambda _f, _m: None)
    folder = tmp_path / "models" / "mine"
    steps = [c["step"] for c in json.loads((folder / "attnflow.json").read_text())["checkpoints"]]
    assert steps == [0, 1, 2, 4, 6]  # 6 steps at the default fractions 0, 1/12, 1/6, 1/3, 2/3, 1
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [f"step-000{s}" for s in steps[:-1]]
