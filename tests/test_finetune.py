"""Fine-tuning: config validation, the deterministic split and batching, and the LoRA recipe on a few steps
(tiny random base: fast; the real embedded base: slow)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from attnflow_core.finetune import (
    FinetuneCancelled,
    FinetuneConfig,
    FinetuneResult,
    _batches,
    finetune,
)
from attnflow_core.models import load_model
from attnflow_core.recipes import EMBEDDED_RECIPES

POSITIVE = ["the movie was great", "i love this film", "a funny story", "great music", "i like it all"]
NEGATIVE = ["the movie was terrible", "i hate this film", "a boring story", "bad music", "not good at all"]


def sentiment_rows(repeat: int = 2) -> datasets.Dataset:
    texts = (POSITIVE + NEGATIVE) * repeat
    labels = ([1] * len(POSITIVE) + [0] * len(NEGATIVE)) * repeat
    return datasets.Dataset.from_dict({"sentence": texts, "label": labels, "idx": list(range(len(texts)))})


def tiny_config(**kw: object) -> FinetuneConfig:
    base: dict[str, object] = dict(
        epochs=1.0, max_steps=3, batch_size=4, lr=1e-2, lora_rank=4, lora_alpha=8, max_length=16, seed=7
    )
    base.update(kw)
    return FinetuneConfig(**base)  # type: ignore[arg-type]


def adapter_tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


# ---------------------------------------------------------------------------------------------------------------
# config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0.0, "epochs"),
        ("max_steps", 0, "max_steps"),
        ("max_examples", 0, "max_examples"),
        ("batch_size", 0, "batch_size"),
        ("lr", 0.0, "lr"),
        ("lr", 2.0, "lr"),
        ("warmup_ratio", 1.0, "warmup_ratio"),
        ("max_length", 4, "max_length"),
        ("lora_rank", 0, "lora_rank"),
        ("lora_dropout", 1.0, "lora_dropout"),
        ("target_modules", (), "target_modules"),
        ("store_dtype", "bfloat16", "store_dtype"),
        ("num_threads", 0, "num_threads"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(**{field: value})  # type: ignore[arg-type]


def test_config_lists_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as info:
        FinetuneConfig(epochs=-1, batch_size=0)
    assert "epochs" in str(info.value) and "batch_size" in str(info.value)


def test_quick_preset_is_small_and_overridable() -> None:
    q = FinetuneConfig.quick()
    assert q.max_steps is not None and q.max_steps <= 200
    assert q.max_examples is not None and q.max_examples <= 1000
    assert q.max_length <= 128
    assert FinetuneConfig.quick(seed=3).seed == 3
    with pytest.raises(ValueError, match="lr"):
        FinetuneConfig.quick(lr=-1.0)


def test_config_round_trips_through_a_dict() -> None:
    cfg = FinetuneConfig(lora_rank=8, target_modules=("query", "value"))
    d = json.loads(json.dumps(cfg.to_dict()))
    assert FinetuneConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="unknown fine-tuning settings"):
        FinetuneConfig.from_dict({"learning_rate": 1e-3})


@pytest.mark.parametrize("task", sorted(EMBEDDED_RECIPES))
def test_embedded_recipes_are_valid(task: str) -> None:
    cfg = FinetuneConfig.from_dict(EMBEDDED_RECIPES[task]["config"])
    assert 0 < EMBEDDED_RECIPES[task]["heldout_fraction"] < 1
    assert cfg.lora_rank >= 8


# ---------------------------------------------------------------------------------------------------------------
# data helpers


def test_length_buckets_cover_every_row_once_and_are_seeded() -> None:
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 60, size=103)]
    batches = _batches(lengths, 8, 4, np.random.default_rng(5))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(103))
    assert all(len(b) <= 8 for b in batches)
    assert batches == _batches(lengths, 8, 4, np.random.default_rng(5))
    # within a bucket chunk, batches are length-sorted: the spread inside a batch is small on average
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < np.ptp(lengths) / 2


def test_missing_columns_are_named() -> None:
    ds = datasets.Dataset.from_dict({"text": ["a"], "label": [0]})
    with pytest.raises(ValueError, match="sentence"):
        finetune("sentiment", ds, None, tiny_config(), Path("/nonexistent/never-written"))


# ---------------------------------------------------------------------------------------------------------------
# the recipe on a tiny random base


def test_tiny_run_writes_a_loadable_adapter_and_reports_progress(tiny_base_dir: Path, tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []
    out = tmp_path / "run"
    result = finetune(
        "sentiment",
        sentiment_rows(),
        sentiment_rows(1),
        tiny_config(),
        out,
        progress=lambda f, m: calls.append((f, m)),
        data_description="ten tiny sentences",
        base_dir=tiny_base_dir,
    )
    assert isinstance(result, FinetuneResult)
    assert result.steps == 3 and len(result.losses) == 3
    assert result.train_examples == 20 and result.eval_examples == 10
    assert result.eval_accuracy is not None and 0.0 <= result.eval_accuracy <= 1.0
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("step 3/3" in m for _, m in calls)
    for name in ("adapter_config.json", "adapter_model.safetensors", "attnflow.json", "README.md"):
        assert (out / name).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")], "temporary folder left behind"
    meta = json.loads((out / "attnflow.json").read_text())
    assert meta["label_names"] == ["negative", "positive"]
    assert meta["task"] == "sentiment"
    assert meta["seed"] == 7
    assert meta["recipe"]["lora_rank"] == 4
    assert meta["data"] == "ten tiny sentences"
    assert meta["train_examples"] == 20 and meta["eval_accuracy"] == result.eval_accuracy
    assert {v.dtype for v in adapter_tensors(out).values()} == {np.dtype("float16")}
    assert result.adapter_bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert "Limitations" in (out / "README.md").read_text()

    loaded = load_model(str(out))
    assert loaded.label_names == ("negative", "positive")
    assert loaded.weights_format.startswith("LoRA adapter")
    assert loaded.source == "local"


def test_same_seed_gives_identical_weights_and_losses(tiny_base_dir: Path, tmp_path: Path) -> None:
    runs = [
        finetune("sentiment", sentiment_rows(), None, tiny_config(), tmp_path / name, base_dir=tiny_base_dir)
        for name in ("a", "b")
    ]
    assert runs[0].losses == runs[1].losses
    wa, wb = adapter_tensors(tmp_path / "a"), adapter_tensors(tmp_path / "b")
    assert wa.keys() == wb.keys()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    other = finetune(
        "sentiment", sentiment_rows(), None, tiny_config(seed=8), tmp_path / "c", base_dir=tiny_base_dir
    )
    wc = adapter_tensors(tmp_path / "c")
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)
    assert other.eval_accuracy is None


def test_adapter_changes_the_model_and_merges_as_trained(tiny_base_dir: Path, tmp_path: Path) -> None:
    """The held-out accuracy recorded at training equals the accuracy of the saved (float16) adapter reloaded."""
    from attnflow_core.evaluate import evaluate

    held = sentiment_rows(1)
    result = finetune(
        "sentiment", sentiment_rows(3), held, tiny_config(max_steps=8), tmp_path / "m", base_dir=tiny_base_dir
    )
    reloaded = evaluate(str(tmp_path / "m"), held, "sentiment")
    assert reloaded.accuracy == result.eval_accuracy
    lora = [k for k in adapter_tensors(tmp_path / "m") if "lora_B" in k]
    assert lora and any(np.abs(adapter_tensors(tmp_path / "m")[k]).max() > 0 for k in lora)


def test_pair_task_and_label_names(tiny_base_dir: Path, tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict(
        {
            "premise": [
                "a man is playing guitar",
                "a dog runs",
                "a cat is sleeping",
                "a woman is playing music",
            ],
            "hypothesis": ["a man is playing music", "a cat runs", "a cat is sleeping", "the stage"],
            "label": ["entailment", "contradiction", "entailment", "neutral"],
        }
    )
    result = finetune(
        "nli", ds, ds, tiny_config(max_steps=2, batch_size=2), tmp_path / "nli", base_dir=tiny_base_dir
    )
    assert result.label_names == ("entailment", "neutral", "contradiction")
    assert load_model(str(tmp_path / "nli")).label_names == ("entailment", "neutral", "contradiction")


def test_max_examples_limits_the_rows(tiny_base_dir: Path, tmp_path: Path) -> None:
    result = finetune(
        "sentiment",
        sentiment_rows(),
        None,
        tiny_config(max_examples=6, max_steps=2),
        tmp_path / "x",
        base_dir=tiny_base_dir,
    )
    assert result.train_examples == 6


def test_should_stop_cancels_and_writes_nothing(tiny_base_dir: Path, tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(FinetuneCancelled, match="after 2 of 3 steps"):
        finetune(
            "sentiment",
            sentiment_rows(),
            None,
            tiny_config(),
            tmp_path / "out",
            should_stop=stop,
            base_dir=tiny_base_dir,
        )
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []
    assert torch.get_num_threads() == threads, "the thread count is restored"


# ---------------------------------------------------------------------------------------------------------------
# checkpoints


def _predictions(folder: str, rows: datasets.Dataset) -> np.ndarray:
    """(N, C) class probabilities of the adapter ``folder`` (a reference) on ``rows``."""
    from attnflow_core.extract import predict_many

    loaded = load_model(folder)
    preds = predict_many(loaded, list(rows["sentence"]))
    return np.array([[p for _, p in pred.probabilities] for pred in preds if pred is not None])


def test_checkpoints_do_not_perturb_training(tiny_base_dir: Path, tmp_path: Path) -> None:
    """Taking, scoring and keeping checkpoints consumes no random numbers and leaves the model training as before:
    the final adapter is bit-for-bit the one a run without checkpoints writes (dropout is on, so a consumed random
    number or a model left in eval mode would show)."""
    held = sentiment_rows(1)
    cfg = tiny_config(max_steps=6, lora_dropout=0.2)
    plain = finetune(
        "sentiment", sentiment_rows(3), held, cfg, tmp_path / "plain", base_dir=tiny_base_dir, checkpoints=0
    )
    kept = finetune("sentiment", sentiment_rows(3), held, cfg, tmp_path / "kept", base_dir=tiny_base_dir)
    assert plain.losses == kept.losses
    wa, wb = adapter_tensors(tmp_path / "plain"), adapter_tensors(tmp_path / "kept")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert np.array_equal(
        _predictions(str(tmp_path / "plain"), held), _predictions(str(tmp_path / "kept"), held)
    )
    assert plain.checkpoints == () and not (tmp_path / "plain" / "checkpoints").exists()
    assert "checkpoints" not in json.loads((tmp_path / "plain" / "attnflow.json").read_text())
    # 6 steps at the default fractions 0, 1/12, 1/6, 1/3, 2/3, 1: steps 0, 1 (twice), 2, 4, 6
    assert [c.step for c in kept.checkpoints] == [0, 1, 2, 4, 6]
    assert kept.checkpoints[-1].eval_accuracy == kept.eval_accuracy and kept.checkpoints[-1].path == "."


def test_checkpoints_are_recorded_and_load_by_reference(tiny_base_dir: Path, tmp_path: Path) -> None:
    """Each checkpoint's recorded accuracy is that of its saved adapter reloaded by ``FOLDER@step-N``; the losses
    are means since the previous checkpoint; the model card lists them; step 0 is the untrained model."""
    from attnflow_core.evaluate import evaluate
    from attnflow_core.models import list_checkpoints

    held = sentiment_rows(1)
    out = tmp_path / "run"
    result = finetune(
        "sentiment",
        sentiment_rows(3),
        held,
        tiny_config(max_steps=8),
        out,
        base_dir=tiny_base_dir,
        checkpoints=(0, 0.5, 1),
    )
    listed = list_checkpoints(str(out))
    assert [c.step for _, c in listed] == [0, 4, 8]
    assert [ref for ref, _ in listed] == [f"{out}@step-0", f"{out}@step-4", str(out)]
    assert [c.train_loss for _, c in listed][1:] == pytest.approx(
        [np.mean(result.losses[:4]), np.mean(result.losses[4:])], abs=1e-4
    )  # recorded to 4 decimals
    assert listed[0][1].train_loss is None and listed[1][1].epoch == pytest.approx(4 * 4 / 30, abs=1e-4)
    for ref, c in listed:
        assert evaluate(ref, held, "sentiment").accuracy == c.eval_accuracy
    assert (out / "checkpoints" / "step-0004" / "adapter_model.safetensors").is_file()
    step0 = adapter_tensors(out / "checkpoints" / "step-0000")
    assert step0 and not [k for k in step0 if "lora_" in k], (
        "step 0 stores the head only (LoRA's B starts at 0)"
    )
    assert {v.dtype for v in step0.values()} == {np.dtype("float16")}
    card = (out / "README.md").read_text()
    assert "## Checkpoints" in card and "| 4 | 50.0 % |" in card
    # the untrained adapter changes nothing but the head: the encoder's attention equals the base's
    from attnflow_core.extract import forward_batch, tokenize_batch

    base, step0_model = load_model(str(tiny_base_dir)), load_model(f"{out}@step-0")
    batch = tokenize_batch(base, ["the movie was great"], [None], 16)
    assert np.array_equal(forward_batch(base, dict(batch))[0], forward_batch(step0_model, dict(batch))[0])


def test_checkpoint_references_name_what_exists(tiny_base_dir: Path, tmp_path: Path) -> None:
    from attnflow_core.models import ModelLoadError, list_checkpoints, resolve_ref

    out = tmp_path / "run"
    finetune(
        "sentiment",
        sentiment_rows(),
        None,
        tiny_config(max_steps=4),
        out,
        base_dir=tiny_base_dir,
        checkpoints=(0, 1),
    )
    where = resolve_ref(f"{out}@step-0")
    assert where.kind == "adapter" and where.step == 0 and where.card == out
    assert where.path == out / "checkpoints" / "step-0000"
    assert resolve_ref(f"{out}@step-4").path == out
    direct = resolve_ref(str(out / "checkpoints" / "step-0000"))  # the folder itself, as a plain path
    assert direct.card == out and load_model(direct.ref).label_names == ("negative", "positive")
    with pytest.raises(ModelLoadError, match="steps 0, 4"):
        resolve_ref(f"{out}@step-2")
    with pytest.raises(ModelLoadError, match="only a fine-tuned LoRA adapter"):
        resolve_ref(f"{tiny_base_dir}@step-0")
    assert list_checkpoints(str(tiny_base_dir)) == ()
    assert list_checkpoints(f"{out}@step-0") == list_checkpoints(str(out))


def test_a_checkpoint_of_a_registered_counterpart_is_registered() -> None:
    """A link or file may name a shipped counterpart's checkpoint without confirmation (it lives in its folder)."""
    from attnflow_core.models import is_registered_ref

    assert is_registered_ref("embedded:qa@step-57") and is_registered_ref("embedded:sentiment@step-0")
    assert not is_registered_ref("/etc@step-1") and not is_registered_ref("someone/any-model@step-3")


def test_cli_refuses_recipe_flags_with_embedded_and_needs_a_data_source(tmp_path: Path) -> None:
    from attnflow_core.__main__ import main

    assert main(["finetune", "--task", "qa", "--embedded", "--lr", "0.1", "--out", str(tmp_path / "x")]) == 2
    assert main(["finetune", "--task", "qa", "--out", str(tmp_path / "y")]) == 2
    assert main(["finetune", "--task", "qa", "--data", "glue-files", "--out", str(tmp_path / "z")]) == 2
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------------
# the real embedded base (slow)


@pytest.mark.slow
def test_real_base_two_steps_are_deterministic_and_load(tmp_path: Path) -> None:
    cfg = FinetuneConfig(max_steps=2, batch_size=4, max_length=32, seed=11)
    a = finetune("sentiment", sentiment_rows(), sentiment_rows(1), cfg, tmp_path / "a")
    b = finetune("sentiment", sentiment_rows(), sentiment_rows(1), cfg, tmp_path / "b")
    assert a.losses == b.losses
    wa, wb = adapter_tensors(tmp_path / "a"), adapter_tensors(tmp_path / "b")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert a.adapter_bytes < 5 * 1024 * 1024
    meta = json.loads((tmp_path / "a" / "attnflow.json").read_text())
    assert meta["base"] == "embedded:minilm"
    loaded = load_model(str(tmp_path / "a"))
    assert (loaded.num_layers, loaded.num_heads) == (6, 12)
    assert loaded.label_names == ("negative", "positive")


@pytest.mark.slow
def test_cli_trains_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnflow_core.__main__ import main

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sentiment_rows(2).to_list()))
    out = tmp_path / "cli"
    rc = main(
        [
            "finetune",
            "--task",
            "sentiment",
            "--data",
            str(data),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 2 and printed["heldout_examples"] == 2 and printed["train_examples"] == 18
    meta = json.loads((out / "attnflow.json").read_text())
    assert meta["rebuild"] == {"data": str(data), "heldout_fraction": 0.1}
    assert load_model(str(out)).label_names == ("negative", "positive")
