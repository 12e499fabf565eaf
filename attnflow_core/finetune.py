"""Fine-tune a LoRA counterpart of the embedded base model (all-MiniLM-L6-v2) on a classification task.

The recipe: ``BertForSequenceClassification`` built from the embedded base, LoRA adapters (peft) on the attention
and feed-forward linear layers of every transformer layer, the pooler and the classification head trained fully.
A plain torch loop (AdamW, linear warm-up then linear decay, gradient clipping) over length-bucketed batches keeps
CPU time low. Everything random is seeded (python, numpy, torch, the data order), torch runs with deterministic
algorithms and a fixed thread count, so the same data, seed and settings give the same adapter.

The output folder holds the peft adapter (``adapter_config.json`` + ``adapter_model.safetensors``), ``attnflow.json``
(label names, base, task, recipe, seed, data, sizes, accuracy, time, checkpoints) and a model card ``README.md``;
``models.load_model(str(out_dir))`` merges it into the base.

Checkpoints (``attnflow_core.checkpoints``): the adapter is also kept at a few points of training (by default 6,
step 0 and the final step included), each scored on the held-out rows, and written to ``checkpoints/step-N/``.
Taking one never perturbs training: it consumes no random numbers (scoring runs in eval mode, so no dropout), the
weights are rounded to the storage dtype only for the copy and the scoring and then restored exactly, the model is
put back in train mode, and the data order is untouched, so the final adapter is bit-for-bit the one a run without
checkpoints writes (``tests/test_finetune.py`` checks it).

CLI: ``python -m attnflow_core finetune --task T ...`` (``attnflow_core.cli.finetune``); the shipped counterparts'
recipes and training data are in ``attnflow_core.recipes``, the model card in ``attnflow_core.model_card``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.adapter_files import check_out_dir, save_adapter, save_checkpoint, write_output
from attnflow_core.checkpoints import (
    DEFAULT_CHECKPOINTS,
    Checkpoint,
    as_fractions,
    checkpoint_folder,
    checkpoint_steps,
)
from attnflow_core.data.errors import DataError
from attnflow_core.data.files import label_index
from attnflow_core.data.tasks import get_task
from attnflow_core.errors import AttnflowError
from attnflow_core.model_card import card_meta, write_card
from attnflow_core.models import base_model_dir
from attnflow_core.settings import SettingsError

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]

DEFAULT_TARGET_MODULES: tuple[str, ...] = (
    "query",
    "key",
    "value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


STORE_DTYPES = ("float16", "float32")


class FinetuneCancelled(AttnflowError, RuntimeError):
    """``should_stop()`` returned True; nothing was written to the output folder."""


def task_columns_and_labels(task: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(text columns, label names in GLUE order) of a task."""
    spec = get_task(task)
    return tuple(spec.text_columns), tuple(spec.labels)


@dataclass(frozen=True)
class FinetuneConfig:
    """The training recipe. ``epochs`` may be fractional; ``max_steps`` (if set) caps the number of steps."""

    epochs: float = 3.0
    max_steps: int | None = None
    max_examples: int | None = None  # use only the first N training rows (after the seeded shuffle)
    batch_size: int = 32
    lr: float = 5e-4  # LoRA matrices
    head_lr: float | None = None  # pooler + classifier; None = same as lr
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    grad_clip: float = 1.0
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    train_pooler: bool = True
    seed: int = 42
    num_threads: int = 2
    deterministic: bool = True
    store_dtype: str = "float16"  # adapter weights on disk: "float16" (half the size) or "float32"
    bucket_factor: int = 50  # length buckets: sort within chunks of bucket_factor * batch_size rows
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        problems = []
        if not (self.epochs > 0 and math.isfinite(self.epochs)):
            problems.append(f"epochs must be > 0 (got {self.epochs})")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps must be >= 1 or None (got {self.max_steps})")
        if self.max_examples is not None and self.max_examples < 1:
            problems.append(f"max_examples must be >= 1 or None (got {self.max_examples})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if not (0 < self.lr < 1):
            problems.append(f"lr must be in (0, 1) (got {self.lr})")
        if self.head_lr is not None and not (0 < self.head_lr < 1):
            problems.append(f"head_lr must be in (0, 1) (got {self.head_lr})")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0 (got {self.weight_decay})")
        if not (0 <= self.warmup_ratio < 1):
            problems.append(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        if not (8 <= self.max_length <= 512):
            problems.append(f"max_length must be in [8, 512] (got {self.max_length})")
        if self.grad_clip <= 0:
            problems.append(f"grad_clip must be > 0 (got {self.grad_clip})")
        if not (1 <= self.lora_rank <= 256):
            problems.append(f"lora_rank must be in [1, 256] (got {self.lora_rank})")
        if self.lora_alpha <= 0:
            problems.append(f"lora_alpha must be > 0 (got {self.lora_alpha})")
        if not (0 <= self.lora_dropout < 1):
            problems.append(f"lora_dropout must be in [0, 1) (got {self.lora_dropout})")
        if not self.target_modules:
            problems.append("target_modules must name at least one module")
        if self.num_threads < 1:
            problems.append(f"num_threads must be >= 1 (got {self.num_threads})")
        if self.store_dtype not in STORE_DTYPES:
            problems.append(f"store_dtype must be 'float16' or 'float32' (got {self.store_dtype!r})")
        if self.bucket_factor < 1:
            problems.append(f"bucket_factor must be >= 1 (got {self.bucket_factor})")
        if self.eval_batch_size < 1:
            problems.append(f"eval_batch_size must be >= 1 (got {self.eval_batch_size})")
        if problems:
            raise SettingsError("invalid fine-tuning config: " + "; ".join(problems))

    @classmethod
    def quick(cls, **overrides: Any) -> FinetuneConfig:
        """A preset for the app's "make your own counterpart" button: a few minutes on a laptop CPU.

        At most 1,000 training rows, 2 epochs, at most 150 steps of 16 rows of at most 96 tokens, rank 8.
        """
        base: dict[str, Any] = dict(
            epochs=2.0,
            max_steps=150,
            max_examples=1000,
            batch_size=16,
            lr=1e-3,
            max_length=96,
            lora_rank=8,
            lora_alpha=16,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SettingsError(f"unknown fine-tuning settings {unknown}; known: {sorted(known)}")
        kwargs = dict(d)
        if "target_modules" in kwargs:
            kwargs["target_modules"] = tuple(kwargs["target_modules"])
        return cls(**kwargs)


@dataclass(frozen=True)
class FinetuneResult:
    out_dir: Path
    task: str
    label_names: tuple[str, ...]
    steps: int
    epochs: float  # epochs actually run (steps * batch / rows)
    train_examples: int
    eval_examples: int
    eval_accuracy: float | None
    final_loss: float  # mean loss over the last 20 steps
    losses: tuple[float, ...] = field(repr=False)
    train_seconds: float
    adapter_bytes: int  # total size of the output folder (checkpoints included)
    checkpoints: tuple[Checkpoint, ...] = ()  # by step; the last is the final adapter (path ".")


# ----------------------------------------------------------------------------------------------------------------
# data


def _examples(ds: Any, task: str) -> tuple[list[str], list[str] | None, list[int]]:
    columns, labels = task_columns_and_labels(task)
    missing = [c for c in (*columns, "label") if c not in ds.column_names]
    if missing:
        raise DataError(
            f"the {task} data needs columns {[*columns, 'label']}; missing {missing} (has {ds.column_names})"
        )
    first = [str(x) for x in ds[columns[0]]]
    second = [str(x) for x in ds[columns[1]]] if len(columns) > 1 else None
    y = [label_index(v, task) for v in ds["label"]]
    return first, second, y


def _tokenize(
    tokenizer: Any, first: list[str], second: list[str] | None, max_length: int
) -> list[tuple[list[int], list[int]]]:
    enc = tokenizer(first, second, truncation=True, max_length=max_length)
    types = enc.get("token_type_ids") or [[0] * len(ids) for ids in enc["input_ids"]]
    return [(list(ids), list(tt)) for ids, tt in zip(enc["input_ids"], types, strict=True)]


def _batches(
    lengths: Sequence[int], batch_size: int, bucket_factor: int, rng: np.random.Generator
) -> list[list[int]]:
    """One epoch of batches: shuffle, sort by length within chunks, cut, shuffle the batch order."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * bucket_factor
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk].tolist(), key=lambda i: (lengths[i], i))
        batches.extend(part[k : k + batch_size] for k in range(0, len(part), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def _collate(rows: list[tuple[list[int], list[int]]], idx: Sequence[int], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(rows[i][0]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(idx), width), dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        a, t = rows[i]
        ids[r, : len(a)] = torch.tensor(a)
        types[r, : len(t)] = torch.tensor(t)
        mask[r, : len(a)] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


# ----------------------------------------------------------------------------------------------------------------
# training


def seed_everything(seed: int, num_threads: int, deterministic: bool = True) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seeds legacy global-state users (peft, transformers)
    torch.manual_seed(seed)
    torch.set_num_threads(num_threads)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def _seeded(config: FinetuneConfig) -> Iterator[None]:
    """``seed_everything`` for the run, then torch's thread count and determinism as they were before."""
    import torch

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    seed_everything(config.seed, config.num_threads, config.deterministic)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def build_model(label_names: Sequence[str], config: FinetuneConfig, base_dir: Path | None = None) -> Any:
    """The base classifier with fresh LoRA adapters (a peft model); the head is initialised from the seed."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(config.seed)  # the classifier head's initialisation
    base = BertForSequenceClassification.from_pretrained(
        str(base_dir or base_model_dir()),
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        attn_implementation="eager",
    )
    modules_to_save = ["classifier"] + (["pooler"] if config.train_pooler else [])
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        modules_to_save=modules_to_save,
        bias="none",
    )
    with warnings.catch_warnings():
        # peft asks transformers for `is_gradient_checkpointing`, deprecated in transformers 5 (a FutureWarning).
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(base, lora)


def _accuracy(
    model: Any, rows: list[tuple[list[int], list[int]]], y: list[int], pad_id: int, bs: int
) -> float:
    import torch

    from attnflow_core.device import model_device

    if not rows:
        return float("nan")
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    correct = 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), bs):
            idx = order[start : start + bs]
            batch = {k: v.to(model_device(model)) for k, v in _collate(rows, idx, pad_id).items()}
            logits = model(**batch).logits
            pred = logits.argmax(-1).tolist()
            correct += sum(int(p == y[i]) for p, i in zip(pred, idx, strict=True))
    return correct / len(rows)


def _round_trainable_to(model: Any, dtype_name: str) -> None:
    """Round the trained weights to the storage dtype so the recorded accuracy is that of the saved adapter."""
    import torch

    if dtype_name != "float16":
        return
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(p.to(torch.float16).to(p.dtype))


@contextlib.contextmanager
def _stored_precision(model: Any, dtype_name: str) -> Iterator[None]:
    """Within the block the trainable weights are rounded to the storage dtype (as ``_round_trainable_to``); after
    it they are exactly what they were (an exact copy is restored), so a checkpoint never perturbs training."""
    import torch

    saved = [(p, p.detach().clone()) for p in model.parameters() if p.requires_grad]
    _round_trainable_to(model, dtype_name)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in saved:
                p.copy_(value)


def _total_steps(n_rows: int, config: FinetuneConfig) -> int:
    """The number of optimiser steps of a run over ``n_rows`` training rows."""
    total = max(1, math.ceil(config.epochs * math.ceil(n_rows / config.batch_size)))
    return total if config.max_steps is None else min(total, config.max_steps)


def _train(
    model: Any,
    rows: list[tuple[list[int], list[int]]],
    y: list[int],
    config: FinetuneConfig,
    rng: np.random.Generator,
    pad_id: int,
    report: ProgressFn,
    stop: StopFn,
    on_step: Callable[[int, list[float]], None] | None = None,
) -> tuple[list[float], int, float]:
    """The training loop (AdamW, linear warm-up then decay, gradient clipping, length-bucketed batches):
    (losses per step, steps run, seconds). ``on_step(step, losses)`` runs after every step (checkpoints); it must
    leave the model in train mode and consume no random numbers."""
    import torch

    lengths = [len(r[0]) for r in rows]
    total = _total_steps(len(rows), config)
    warmup = int(round(config.warmup_ratio * total))

    lora_params = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    head_params = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    optimizer = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": config.lr},
            {"params": head_params, "lr": config.head_lr or config.lr},
        ],
        weight_decay=config.weight_decay,
    )

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = torch.nn.CrossEntropyLoss()
    dev = next(model.parameters()).device
    y_t = torch.tensor(y, dtype=torch.long, device=dev)
    losses: list[float] = []
    step = 0
    epoch = 0
    t_train = time.perf_counter()
    model.train()
    while step < total:
        for idx in _batches(lengths, config.batch_size, config.bucket_factor, rng):
            if step >= total:
                break
            if stop():
                raise FinetuneCancelled(f"fine-tuning stopped by the user after {step} of {total} steps")
            batch = {k: v.to(dev) for k, v in _collate(rows, idx, pad_id).items()}
            logits = model(**batch).logits
            loss = loss_fn(logits, y_t[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora_params + head_params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            step += 1
            if on_step is not None:
                on_step(step, losses)
            recent = losses[-20:]
            elapsed = time.perf_counter() - t_train
            eta = elapsed / step * (total - step)
            report(
                0.02 + 0.9 * step / total,
                f"step {step}/{total} (epoch {epoch + 1}), loss {sum(recent) / len(recent):.3f}, "
                f"about {eta:.0f} s left",
            )
        epoch += 1
    return losses, step, time.perf_counter() - t_train


def _subsample(
    first: list[str],
    second: list[str] | None,
    y: list[int],
    max_examples: int | None,
    rng: np.random.Generator,
) -> tuple[list[str], list[str] | None, list[int]]:
    """At most ``max_examples`` of the examples, drawn with ``rng`` and kept in their order (all when None)."""
    if max_examples is None or len(y) <= max_examples:
        return first, second, y
    keep = sorted(rng.permutation(len(y))[:max_examples].tolist())
    return (
        [first[i] for i in keep],
        [second[i] for i in keep] if second is not None else None,
        [y[i] for i in keep],
    )


Rows = list[tuple[list[int], list[int]]]


@dataclass(frozen=True)
class _ScoringSets:
    """The tokenised rows a model is scored on: the held-out rows and each named extra evaluation set."""

    held_out: tuple[Rows, list[int]]
    extra: dict[str, tuple[Rows, list[int]]]


def _scoring_sets(
    tokenizer: Any,
    task: str,
    held_out: Any | None,
    extra_evals: Mapping[str, Any] | None,
    config: FinetuneConfig,
) -> _ScoringSets:
    """The held-out rows (none when ``held_out`` is None or empty) and each extra evaluation set, tokenised once."""

    def tokenised(ds: Any) -> tuple[Rows, list[int]]:
        first, second, y = _examples(ds, task)
        return _tokenize(tokenizer, first, second, config.max_length), y

    empty: tuple[Rows, list[int]] = ([], [])
    held = tokenised(held_out) if held_out is not None and len(held_out) > 0 else empty
    return _ScoringSets(held, {name: tokenised(ds) for name, ds in (extra_evals or {}).items()})


def _score(
    model: Any, sets: _ScoringSets, config: FinetuneConfig, pad_id: int, report: ProgressFn
) -> tuple[float | None, dict[str, float]]:
    """The model's accuracy on the tokenised held-out rows (None without any) and on each named extra evaluation
    set. Leaves the model in eval mode."""
    eval_rows, eval_y = sets.held_out
    accuracy: float | None = None
    if eval_rows:
        report(0.93, f"scoring {len(eval_rows)} held-out rows")
        accuracy = _accuracy(model, eval_rows, eval_y, pad_id, config.eval_batch_size)
    extra_accuracy: dict[str, float] = {}
    for name, (x_rows, x_y) in sets.extra.items():
        report(0.95, f"scoring {len(x_rows)} rows of {name}")
        extra_accuracy[name] = _accuracy(model, x_rows, x_y, pad_id, config.eval_batch_size)
    return accuracy, extra_accuracy


@dataclass
class _Checkpointer:
    """Takes one run's checkpoints (see the module docstring) at ``fractions`` of its ``total`` steps, before the
    final one: each is scored and its adapter tensors kept in memory (a few MB) until the folder is written."""

    model: Any
    fractions: tuple[float, ...]
    total: int
    n_rows: int
    sets: _ScoringSets
    config: FinetuneConfig
    pad_id: int
    taken: list[tuple[Checkpoint, dict[str, Any]]] = field(default_factory=list)
    last_step: int = 0

    def __call__(self, step: int, losses: list[float]) -> None:
        if step not in checkpoint_steps(self.fractions, self.total) or step >= self.total:
            return
        import torch
        from peft import get_peft_model_state_dict

        dtype = torch.float16 if self.config.store_dtype == "float16" else torch.float32
        with _stored_precision(self.model, self.config.store_dtype):
            # step 0 without its LoRA tensors: B starts at zero, so the untrained adapter is the head alone
            tensors = {
                k: v.detach().to("cpu", dtype).clone()
                for k, v in get_peft_model_state_dict(self.model).items()
                if step > 0 or "lora_" not in k
            }
            accuracy, extra = _score(self.model, self.sets, self.config, self.pad_id, lambda _f, _m: None)
        self.model.train()
        self.taken.append(
            (self.record(step, losses, accuracy, extra, checkpoint_folder(step, self.total)), tensors)
        )

    def records(
        self, total: int, losses: list[float], accuracy: float | None, extra: dict[str, float]
    ) -> list[Checkpoint]:
        """Every checkpoint's record, the final adapter's last (its scores ``accuracy`` and ``extra``)."""
        return [c for c, _ in self.taken] + [self.record(total, losses, accuracy, extra, ".")]

    def save(self, out_dir: Path) -> None:
        """Write the checkpoints taken into ``out_dir`` (after the final adapter: they copy its config)."""
        for checkpoint, tensors in self.taken:
            save_checkpoint(tensors, out_dir / checkpoint.path, out_dir / "adapter_config.json")

    def record(
        self, step: int, losses: list[float], accuracy: float | None, extra: dict[str, float], path: str
    ) -> Checkpoint:
        """The record of the checkpoint at ``step`` (the loss: mean over the steps since the previous one)."""
        since = losses[self.last_step : step]
        self.last_step = step
        return Checkpoint(
            step=step,
            fraction=step / self.total,
            epoch=step * self.config.batch_size / self.n_rows,
            train_loss=float(np.mean(since)) if since else None,
            eval_accuracy=accuracy,
            path=path,
            extra_accuracy=extra,
        )


def finetune(
    task: str,
    train: Any,
    eval: Any | None,
    config: FinetuneConfig,
    out_dir: Path,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    data_description: str = "",
    base_dir: Path | None = None,
    extra_meta: dict[str, Any] | None = None,
    extra_evals: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    checkpoints: int | Sequence[float] = DEFAULT_CHECKPOINTS,
) -> FinetuneResult:
    """Train a LoRA counterpart for ``task`` on ``train`` (a ``datasets.Dataset`` in the task's columns, labels as
    GLUE integers or names), score it on ``eval`` if given, and write it to ``out_dir``.

    ``progress(fraction, message)`` is called while loading, after every step and while saving;
    ``should_stop()`` is polled before every step and raises ``FinetuneCancelled`` (nothing is written) when
    True. The folder is written to a temporary sibling and moved in place at the end, so a half-trained model is
    never visible. ``base_dir`` replaces the embedded base (tests use a tiny model). ``extra_evals`` maps names to
    more evaluation sets (never trained on), scored and recorded in ``attnflow.json``'s ``extra_accuracy``.
    ``out_dir`` must be new, empty or an earlier output unless ``overwrite`` (see ``check_out_dir``, run first).
    ``device`` ("auto", "cpu", "cuda"; ``attnflow_core.device``) is where training runs; the adapter is saved from
    the CPU either way. ``checkpoints`` is how many checkpoints to keep (``checkpoints.checkpoint_fractions``; step 0
    and the final step included) or the fractions of training at which to take them; 0 or () for none.
    """

    from attnflow_core.device import resolve_device

    dev = resolve_device(device)

    config.validate()
    out_dir = Path(out_dir).expanduser()
    check_out_dir(out_dir, overwrite)
    report: ProgressFn = progress or (lambda _f, _m: None)
    stop: StopFn = should_stop or (lambda: False)
    _columns, labels = task_columns_and_labels(task)
    t_start = time.perf_counter()
    report(0.0, "preparing data")
    fractions = as_fractions(checkpoints)

    first, second, y = _examples(train, task)
    if not y:
        raise DataError("the training data is empty")
    rng = np.random.default_rng(config.seed)
    first, second, y = _subsample(first, second, y, config.max_examples, rng)

    with _seeded(config):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(base_dir or base_model_dir()))
        pad_id = int(tokenizer.pad_token_id or 0)
        rows = _tokenize(tokenizer, first, second, config.max_length)
        sets = _scoring_sets(tokenizer, task, eval, extra_evals, config)

        report(0.01, "building the model")
        model = build_model(labels, config, base_dir).to(dev)
        keep = _Checkpointer(
            model, fractions, _total_steps(len(rows), config), len(rows), sets, config, pad_id
        )
        keep(0, [])
        losses, step, train_seconds = _train(model, rows, y, config, rng, pad_id, report, stop, keep)

        model = model.to("cpu")  # rounding, scoring and saving as on a CPU-only machine
        _round_trainable_to(model, config.store_dtype)
        accuracy, extra_accuracy = _score(model, sets, config, pad_id, report)
        records = keep.records(step, losses, accuracy, extra_accuracy) if fractions else []
        if stop():
            raise FinetuneCancelled("fine-tuning stopped by the user before saving")

        report(0.97, "saving the adapter")
        final_loss = float(np.mean(losses[-20:]))

        def fill(tmp: Path) -> None:
            save_adapter(model, tmp, config.store_dtype, base_dir)
            keep.save(tmp)
            weights = (tmp / "adapter_model.safetensors").stat().st_size
            meta = card_meta(
                task,
                labels,
                config,
                base_dir,
                data_description,
                len(rows),
                len(sets.held_out[0]),
                accuracy,
                extra_accuracy,
                step,
                final_loss,
                weights,
                train_seconds,
                time.perf_counter() - t_start,
            )
            if records:
                meta["checkpoints"] = [c.to_json() for c in records]
            write_card(tmp, {**meta, **(extra_meta or {})})

        size = write_output(out_dir, fill, overwrite)
    report(
        1.0,
        f"done: {step} steps in {train_seconds:.0f} s" + (f", accuracy {accuracy:.3f}" if accuracy else ""),
    )
    return FinetuneResult(
        out_dir=out_dir,
        task=task,
        label_names=tuple(labels),
        steps=step,
        epochs=step * config.batch_size / len(rows),
        train_examples=len(rows),
        eval_examples=len(sets.held_out[0]),
        eval_accuracy=accuracy,
        final_loss=final_loss,
        losses=tuple(losses),
        train_seconds=train_seconds,
        adapter_bytes=size,
        checkpoints=tuple(records),
    )


# ----------------------------------------------------------------------------------------------------------------
# data sources
