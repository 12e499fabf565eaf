"""Loading models and pairs: local checkpoints (safetensors and weights_only .bin), tokenizer checks, the registry
and its label names, Hub models from the local cache and the offline error, fingerprints, and the embedded LoRA
counterparts (slow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from attnflow_core import models
from attnflow_core.data.tasks import TASKS
from attnflow_core.models import (
    EMBEDDED_BASE,
    EMBEDDED_TASKS,
    OFFLINE_HINT,
    REGISTRY,
    IncompatibleTokenizers,
    ModelLoadError,
    PairSpec,
    embedded_adapter_dir,
    load_model,
    load_pair,
    model_fingerprint,
    registered_labels,
)


def test_safetensors_checkpoint_records_its_format(tiny_sentiment_dir: Path) -> None:
    assert (tiny_sentiment_dir / "model.safetensors").exists()
    m = load_model(str(tiny_sentiment_dir))
    assert m.weights_format == "safetensors"
    assert m.source == "local"
    assert m.label_names == ("negative", "positive")
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
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) <= 5 * 1024 * 1024
    # issue 18: at least 6 checkpoints (step 0 and the final one included), each a float16 adapter of the same
    # size as the final one (step 0: the head alone), all of them within 7 MB
    steps = [c["step"] for c in meta["checkpoints"]]
    assert (
        len(steps) >= 6
        and steps[0] == 0
        and steps[-1] == meta["steps"]
        and meta["checkpoints"][-1]["path"] == "."
    )
    stored = [folder / c["path"] / "adapter_model.safetensors" for c in meta["checkpoints"][:-1]]
    assert all(f.stat().st_size <= (folder / "adapter_model.safetensors").stat().st_size for f in stored)
    assert (
        sum(f.stat().st_size for f in (folder / "checkpoints").rglob("*") if f.is_file()) <= 7 * 1024 * 1024
    )


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


# ---------------------------------------------------------------- the registry and its label names


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.key)
def test_registered_pairs_name_a_task_and_its_labels(spec: PairSpec) -> None:
    """Every registered pair belongs to a known task, and label names it sets are that task's labels in the
    checkpoint's own output order (a permutation: predictions are then matched to the task by name)."""
    assert spec.task in TASKS
    if spec.label_names is not None:
        assert len(spec.label_names) == len(TASKS[spec.task].labels)
        assert sorted(spec.label_names) == sorted(TASKS[spec.task].labels)


def test_textattack_mnli_label_order() -> None:
    """textattack trained MNLI with ids (contradiction, entailment, neutral), not GLUE's order
    (QData/TextAttack#684); the embedded adapters carry their own names, so the registry gives none."""
    mnli = next(s for s in REGISTRY if s.tuned == "textattack/bert-base-uncased-MNLI")
    assert mnli.label_names == ("contradiction", "entailment", "neutral")
    assert registered_labels("textattack/bert-base-uncased-MNLI") == (
        "contradiction",
        "entailment",
        "neutral",
    )
    assert registered_labels(" textattack/bert-base-uncased-MNLI ") == mnli.label_names
    assert registered_labels("embedded:nli") is None
    assert registered_labels("attnflow-no-such-org/unregistered") is None


def test_load_pair_takes_the_registrys_label_names(
    tiny_base_dir: Path, tiny_sentiment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered fine-tuned model gets the registry's label names (not its config's) unless others are given:
    ``load_model`` applies them, so load_pair, evaluate and the CLIs all name classes alike."""
    spec = PairSpec(
        "tiny",
        "sentiment",
        "tiny",
        str(tiny_base_dir),
        str(tiny_sentiment_dir),
        True,
        ("positive", "negative"),
    )
    monkeypatch.setattr(models, "REGISTRY", (spec,))
    assert load_model(str(tiny_sentiment_dir)).label_names == ("positive", "negative")  # not the config's
    assert load_model(str(tiny_sentiment_dir), ("neg", "pos")).label_names == ("neg", "pos")
    pair = load_pair(str(tiny_base_dir), str(tiny_sentiment_dir))
    assert pair.tuned.label_names == ("positive", "negative")
    assert pair.base.label_names is None
    given = load_pair(str(tiny_base_dir), str(tiny_sentiment_dir), ("neg", "pos"))
    assert given.tuned.label_names == ("neg", "pos")


# ---------------------------------------------------------------- Hub models from the local cache


HUB_ID = "attnflow-test/tiny-cached"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def offline_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache folder with the Hub set offline.

    huggingface_hub copies HF_HUB_CACHE and HF_HUB_OFFLINE into ``huggingface_hub.constants`` when it is imported,
    and transformers reads those constants (found by experiment: with the environment alone, the cache folder is
    ignored), so both the environment (which ``models`` reads) and the constants are patched.
    """
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache


def _put_in_hub_cache(cache: Path, repo_id: str, files: Path) -> Path:
    """Lay out a model as huggingface_hub caches it: models--ORG--NAME/refs/main -> snapshots/<commit>/files."""
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for f in files.iterdir():
        shutil.copy(f, snapshot / f.name)
    return snapshot


def test_cached_hub_model_loads_offline(
    offline_hub_cache: Path, tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    """A Hub model downloaded once keeps loading without the network (weights format from the cache's files)."""
    _put_in_hub_cache(offline_hub_cache, HUB_ID, make_tiny(tmp_path / "tiny", with_head=True, seed=4))
    m = load_model(HUB_ID)
    assert m.weights_format == "safetensors"
    assert m.source == "hub (local cache)"
    assert m.display_name == HUB_ID and m.label_names == ("negative", "positive")
    assert (m.num_layers, m.num_heads) == (2, 2)


def test_uncached_hub_model_offline_names_the_offline_default(offline_hub_cache: Path) -> None:
    """The in-process twin of the fresh-process test above: not cached + offline -> ModelLoadError with the fix."""
    with pytest.raises(ModelLoadError) as info:
        load_model("attnflow-no-such-org/no-such-model-for-tests")
    assert "attnflow-no-such-org/no-such-model-for-tests" in str(info.value)
    assert OFFLINE_HINT in str(info.value)


# ---------------------------------------------------------------- fingerprints (keys of caches that outlive a run)


def test_fingerprint_of_a_hub_id_is_the_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no local folder of that name
    assert model_fingerprint("textattack/bert-base-uncased-SST-2") == "textattack/bert-base-uncased-SST-2"
    assert model_fingerprint(" bert-base-uncased ") == "bert-base-uncased"


def test_fingerprint_of_a_local_model_follows_its_files(
    tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    """A rewritten weights file (another size, or only another modification time) gives another fingerprint."""
    import os

    path = make_tiny(tmp_path / "tiny", with_head=True)
    first = model_fingerprint(str(path))
    assert first == model_fingerprint(str(path)) and first.startswith(str(path))
    weights = path / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, (stat.st_atime, stat.st_mtime + 10))
    touched = model_fingerprint(str(path))
    assert touched != first
    weights.write_bytes(weights.read_bytes() + b"\0")
    os.utime(weights, (stat.st_atime, stat.st_mtime + 10))  # same mtime as before: only the size differs
    assert model_fingerprint(str(path)) not in (first, touched)


# ---------------------------------------------------------------- refusals in the app's words (issue 12)


def test_checkpoint_without_weights_is_refused(tmp_path: Path, make_tiny: Callable[..., Path]) -> None:
    """A folder with config.json, tokenizer files and a weightless model.safetensors would run as a random model."""
    from safetensors.torch import save_file

    path = make_tiny(tmp_path / "empty", with_head=True)
    save_file({}, str(path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="lacks .* of its weights .*random weights"):
        load_model(str(path))


def test_checkpoint_missing_only_its_classifier_is_refused(
    tmp_path: Path, make_tiny: Callable[..., Path]
) -> None:
    from safetensors.torch import load_file, save_file

    path = make_tiny(tmp_path / "headless", with_head=True)
    tensors = {k: v for k, v in load_file(str(path / "model.safetensors")).items() if "classifier" not in k}
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"classifier"):
        load_model(str(path))


@pytest.mark.parametrize("ref", ["/no/such/folder", "./no-such-folder", "~/no-such-folder-attnflow", "a/b/c"])
def test_missing_folder_says_no_such_folder(ref: str) -> None:
    with pytest.raises(ModelLoadError, match="^no such folder: "):
        load_model(ref)
    assert model_fingerprint(ref) == ref, "a fingerprint never fails: the reference stands for itself"


def test_file_instead_of_folder_is_named(tiny_base_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="is a file, not a model folder"):
        load_model(str(tiny_base_dir / "config.json"))


def test_unsafe_pickle_is_refused_in_the_apps_words(tmp_path: Path, make_tiny: Callable[..., Path]) -> None:
    import torch

    path = make_tiny(tmp_path / "pickled", with_head=True)
    (path / "model.safetensors").unlink()
    torch.save({"x": _Unsafe()}, path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as info:
        load_model(str(path))
    message = str(info.value)
    assert "pickled weights are not loaded" in message and "convert them to safetensors" in message
    assert "pytorch.org" not in message and len(message) < 300


class _Unsafe:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_one_resolver_for_loading_and_fingerprints(tiny_base_dir: Path, tmp_path: Path) -> None:
    assert models.resolve_ref(EMBEDDED_BASE).kind == "embedded-base"
    assert models.resolve_ref("embedded:qa").kind == "embedded-adapter"
    assert models.resolve_ref(f"  {tiny_base_dir} ").kind == "checkpoint"
    assert models.resolve_ref("textattack/bert-base-uncased-SST-2").kind == "hub"
    with pytest.raises(ValueError, match="empty"):
        models.resolve_ref("   ")


@pytest.mark.slow
@pytest.mark.parametrize("task", EMBEDDED_TASKS)
def test_embedded_checkpoints_load_and_step_0_is_the_base(task: str) -> None:
    """Every shipped checkpoint loads by reference; step 0 (the head alone) attends exactly as the base does."""
    from attnflow_core.extract import forward_batch, tokenize_batch
    from attnflow_core.models import list_checkpoints

    listed = list_checkpoints(f"embedded:{task}")
    assert len(listed) >= 6 and listed[-1][0] == f"embedded:{task}"
    base = load_model(EMBEDDED_BASE)
    batch = dict(tokenize_batch(base, ["A man is playing a guitar on stage."], [None], 32))
    step0 = load_model(listed[0][0])
    assert np.array_equal(forward_batch(base, batch)[0], forward_batch(step0, batch)[0])
    middle = load_model(listed[2][0])
    assert middle.label_names == step0.label_names and middle.display_name.endswith(
        f"step {listed[2][1].step})"
    )


def test_refs_to_load_names_the_base_an_adapter_folder_reads(tmp_path: Path) -> None:
    """Issue 20: loading an adapter folder also reads the base its attnflow.json names; the page confirms that
    reference by name too."""
    import json
    import shutil

    from attnflow_core.models import EMBEDDED_BASE, embedded_adapter_dir, refs_to_load

    adapter = tmp_path / "adapter"
    shutil.copytree(embedded_adapter_dir("sentiment"), adapter)
    assert refs_to_load(str(adapter)) == (
        str(adapter),
        EMBEDDED_BASE,
    )  # the embedded base under any of its names
    meta = json.loads((adapter / "attnflow.json").read_text())
    (adapter / "attnflow.json").write_text(json.dumps({**meta, "base": str(tmp_path / "elsewhere")}))
    assert refs_to_load(str(adapter)) == (str(adapter), str(tmp_path / "elsewhere"), EMBEDDED_BASE)
    # issue 18: a checkpoint reads the base its run's attnflow.json names, by @step-N and by its folder alike
    for checkpoint in (f"{adapter}@step-67", str(adapter / "checkpoints" / "step-0067")):
        assert refs_to_load(checkpoint) == (checkpoint, str(tmp_path / "elsewhere"), EMBEDDED_BASE)
    inner = tmp_path / "inner"  # an adapter named as the base of another: followed
    shutil.copytree(adapter, inner)
    (adapter / "attnflow.json").write_text(json.dumps({**meta, "base": str(inner)}))
    assert refs_to_load(str(adapter)) == (
        str(adapter),
        str(inner),
        str(tmp_path / "elsewhere"),
        EMBEDDED_BASE,
    )
    assert refs_to_load("embedded:qa") == ("embedded:qa",) and refs_to_load("someone/model") == (
        "someone/model",
    )
    (adapter / "adapter_config.json").write_text(
        "[1, 2]"
    )  # unreadable: loading fails before any base is read
    assert refs_to_load(str(adapter)) == (str(adapter),)
