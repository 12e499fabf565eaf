"""Loading models and pairs: local checkpoints (safetensors and weights_only .bin), tokenizer checks, the Hub
offline error, and the embedded LoRA counterparts (slow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from attnflow_core.models import (
    EMBEDDED_BASE,
    EMBEDDED_TASKS,
    OFFLINE_HINT,
    IncompatibleTokenizers,
    embedded_adapter_dir,
    load_model,
    load_pair,
)


def test_safetensors_checkpoint_records_its_format(tiny_sentiment_dir: Path) -> None:
    assert (tiny_sentiment_dir / "model.safetensors").exists()
    m = load_model(str(tiny_sentiment_dir))
    assert m.weights_format == "safetensors"
    assert m.source == "local"
    assert m.label_names == ("negative", "positive")
    assert m.has_head
    assert (m.num_layers, m.num_heads) == (2, 2)
    assert m.model.training is False


def _to_pytorch_bin(path: Path) -> Path:
    """Replace a checkpoint's model.safetensors by a pickled pytorch_model.bin (transformers 5 writes no .bin)."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(path / "model.safetensors"))
    torch.save(state, str(path / "pytorch_model.bin"))
    (path / "model.safetensors").unlink()
    return path


def test_pytorch_bin_only_checkpoint_loads_through_weights_only(
    tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    path = _to_pytorch_bin(make_tiny(tmp_path / "bin", with_head=True))
    assert (path / "pytorch_model.bin").exists()
    assert not (path / "model.safetensors").exists()
    m = load_model(str(path))
    assert m.weights_format == "pytorch_model.bin (torch weights_only)"
    assert m.label_names == ("negative", "positive")


def test_same_weights_from_bin_and_safetensors(tmp_path: Path, make_tiny: Callable[..., Path]) -> None:
    import torch

    a = load_model(str(make_tiny(tmp_path / "st", with_head=True, seed=5)))
    b = load_model(str(_to_pytorch_bin(make_tiny(tmp_path / "bin", with_head=True, seed=5))))
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_tokenizer_knows_its_words(tiny_base_dir: Path) -> None:
    m = load_model(str(tiny_base_dir))
    assert m.tokenizer.tokenize("the movie was great") == ["the", "movie", "was", "great"]


def test_base_without_head_has_no_label_names(tiny_base_dir: Path) -> None:
    m = load_model(str(tiny_base_dir))
    assert m.label_names is None
    assert not m.has_head


def test_pair_with_different_vocabularies_names_both_and_the_first_difference(
    tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    a = make_tiny(tmp_path / "zebra", with_head=False, extra_vocab=("zebra",))
    b = make_tiny(tmp_path / "yak", with_head=True, extra_vocab=("yak",))
    with pytest.raises(IncompatibleTokenizers) as info:
        load_pair(str(a), str(b))
    message = str(info.value)
    assert str(a) in message and str(b) in message
    assert "'zebra'" in message  # the first token that differs


def test_pair_with_different_vocabulary_sizes_is_refused(
    tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    a = make_tiny(tmp_path / "small", with_head=False)
    b = make_tiny(tmp_path / "big", with_head=True, extra_vocab=("zebra", "yak"))
    with pytest.raises(IncompatibleTokenizers, match="vocabulary sizes"):
        load_pair(str(a), str(b))


def test_compatible_pair_loads(tiny_base_dir: Path, tiny_sentiment_dir: Path) -> None:
    pair = load_pair(str(tiny_base_dir), str(tiny_sentiment_dir))
    assert pair.base.label_names is None
    assert pair.tuned.label_names == ("negative", "positive")


def test_label_names_override_must_match_the_head(tiny_sentiment_dir: Path) -> None:
    m = load_model(str(tiny_sentiment_dir), label_names=("neg", "pos"))
    assert m.label_names == ("neg", "pos")
    with pytest.raises(ValueError, match="2 output classes"):
        load_model(str(tiny_sentiment_dir), label_names=("a", "b", "c"))


def test_unreachable_hub_id_offline_names_the_offline_default() -> None:
    # huggingface_hub reads HF_HUB_OFFLINE when it is imported, so the user's situation is a fresh process.
    import os
    import subprocess
    import sys

    code = (
        "from attnflow_core.models import load_model, ModelLoadError\n"
        "try:\n"
        "    load_model('attnflow-no-such-org/no-such-model-for-tests')\n"
        "except ModelLoadError as err:\n"
        "    print('ModelLoadError:', err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    message = out.stdout
    assert message.startswith("ModelLoadError:")
    assert "attnflow-no-such-org/no-such-model-for-tests" in message
    assert OFFLINE_HINT in message
    assert EMBEDDED_BASE in message


def test_empty_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        load_model("  ")


@pytest.mark.parametrize("task", EMBEDDED_TASKS)
def test_embedded_adapter_is_committed_small_and_labelled(task: str) -> None:
    import json

    folder = embedded_adapter_dir(task)
    for name in ("adapter_config.json", "adapter_model.safetensors", "attnflow.json", "README.md"):
        assert (folder / name).is_file(), f"{folder / name} is missing"
    meta = json.loads((folder / "attnflow.json").read_text())
    assert meta["task"] == task
    assert meta["base"] == EMBEDDED_BASE
    expected = {
        "sentiment": ["negative", "positive"],
        "qa": ["entailment", "not_entailment"],
        "nli": ["entailment", "neutral", "contradiction"],
    }[task]
    assert meta["label_names"] == expected
    assert "python -m attnflow_core finetune" in meta["rebuild_command"]
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 5 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "text", "pair"),
    [
        ("sentiment", "a gorgeous , witty , seductive movie .", None),
        ("qa", "What is the capital of France?", "Paris is the capital and most populous city of France."),
        ("nli", "A man is playing a guitar on stage.", "A man is performing music."),
    ],
)
def test_embedded_pair_extracts_attention_and_predicts(task: str, text: str, pair: str | None) -> None:
    from attnflow_core.extract import extract

    loaded = load_pair(EMBEDDED_BASE, f"embedded:{task}")
    assert loaded.tuned.weights_format.startswith("LoRA adapter")
    assert loaded.tuned.source == "embedded"
    result = extract(loaded, text, pair)
    n = result.encoding.n
    assert result.attn_base.shape == (6, 12, n, n)
    assert result.attn_tuned.shape == (6, 12, n, n)
    np.testing.assert_allclose(result.attn_tuned.sum(-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(result.attn_base.sum(-1), 1.0, atol=1e-4)
    assert not np.allclose(result.attn_base, result.attn_tuned), "the adapter changed no attention"
    assert result.prediction_base is None
    assert result.prediction_tuned is not None
    assert result.prediction_tuned.label in loaded.tuned.label_names
    assert sum(p for _, p in result.prediction_tuned.probabilities) == pytest.approx(1.0, abs=1e-5)
