"""The shipped counterparts' recipes and where fine-tuning data comes from (the Hub, GLUE-schema files, VADER, a file).

``embedded_recipe(task)`` is the recipe ``finetune --embedded`` rebuilds a shipped counterpart with;
``training_data(...)`` reads and splits the training rows for a ``--data`` choice; ``run_metadata(...)`` records
how to rebuild and measure the result in its model card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnflow_core.data.files import GLUE_FILE_NAMES, read_data_file, split_heldout
from attnflow_core.models import embedded_adapter_dir, embedded_ref
from attnflow_core.settings import SettingsError

#: Where training rows can come from, besides a data FILE (see ``training_data``).
DATA_CHOICES = ("hub", "glue-files", "vader")
#: FinetuneConfig fields the CLI can set one by one (``--batch-size`` sets ``batch_size``, ...).
RECIPE_FLAGS: tuple[str, ...] = (
    "seed",
    "epochs",
    "max_steps",
    "max_examples",
    "batch_size",
    "lr",
    "head_lr",
    "weight_decay",
    "warmup_ratio",
    "max_length",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "store_dtype",
)
DEFAULT_HELDOUT = 0.1

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
        "heldout_fraction": DEFAULT_HELDOUT,
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
        "heldout_fraction": DEFAULT_HELDOUT,
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
        "heldout_fraction": DEFAULT_HELDOUT,
        "decontamination_threshold": 0.8,
    },
}


def default_data(task: str) -> str:
    """The data a shipped counterpart is trained on: VADER snippets for sentiment, GLUE-schema files otherwise."""
    return "vader" if task == "sentiment" else "glue-files"


def embedded_recipe(task: str) -> dict[str, Any]:
    """The shipped counterpart's recipe: the recorded one if the repository has it, else EMBEDDED_RECIPES."""
    meta_path = embedded_adapter_dir(task) / "attnflow.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if "rebuild" in meta and "recipe" in meta:
            return {"config": meta["recipe"], **meta["rebuild"]}
    recipe = EMBEDDED_RECIPES[task]
    return {**recipe, "config": {"seed": 42, **recipe["config"]}}


def hub_glue(task: str, split: str) -> Any:
    """GLUE rows of ``task`` from the Hub (``data.hub``'s spec, its columns and label names)."""
    from attnflow_core.data.hub import load_hub

    return load_hub(task, "hub", split)


def hub_eval_split(task: str) -> str:
    """The Hub split a counterpart trained on the Hub is scored on (GLUE's first validation split)."""
    from attnflow_core.data.hub import hub_spec

    return hub_spec(task, "hub").splits[0]


@dataclass(frozen=True)
class TrainingData:
    """The rows to train on, the held-out rows (None: none), named extra evaluation sets and what to record."""

    train: Any
    heldout: Any | None
    extra_evals: dict[str, Any]
    description: str
    extra_meta: dict[str, Any] = field(default_factory=dict)


def _report_text(report: Any, threshold: float) -> str:
    summary = getattr(report, "summary", None)
    return str(summary()) if callable(summary) else f"word-overlap threshold {threshold}: {report}"


def training_data(
    task: str,
    data: str,
    heldout: float,
    seed: int,
    threshold: float | None = None,
    train_file: str | None = None,
    eval_file: str | None = None,
    embedded: bool = False,
) -> TrainingData:
    """Read the training rows for ``data`` (one of DATA_CHOICES or a file), hold out ``heldout`` of them (seeded),
    and read the extra evaluation set (``eval_file``; for vader also the sentences to decontaminate against)."""
    extra_meta: dict[str, Any] = {}
    eval_ds = read_data_file(eval_file, task) if eval_file else None
    if data == "hub":
        from attnflow_core.data.hub import hub_spec

        rows = hub_glue(task, "train")
        desc = f"GLUE {hub_spec(task, 'hub').config} train split from the Hugging Face Hub ({len(rows)} rows)"
        if eval_ds is None:
            eval_ds = hub_glue(task, hub_eval_split(task))
    elif data == "glue-files":
        if not train_file:
            raise SettingsError("--data glue-files needs --train-file FILE (rows in GLUE's schema)")
        rows = read_data_file(train_file, task)
        desc = f"{len(rows)} rows of {Path(train_file).name}"
        if embedded and task in GLUE_FILE_NAMES:
            desc = f"{GLUE_FILE_NAMES[task]} ({len(rows)} rows of {Path(train_file).name})"
    elif data == "vader":
        if task != "sentiment":
            raise SettingsError("--data vader is sentiment data; use it with --task sentiment")
        from attnflow_core.data.decontaminate import DECONTAMINATION_THRESHOLD, decontaminate
        from attnflow_core.data.vader import load_vader

        if eval_ds is None:
            eval_ds = hub_glue(task, "validation")
        snippets = load_vader("movie")
        thr = DECONTAMINATION_THRESHOLD if threshold is None else threshold
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
    extra: dict[str, Any] = {}
    if eval_ds is not None:
        name = "sst2_validation" if task == "sentiment" else Path(eval_file or "hub_validation").stem
        extra[name] = eval_ds
    return TrainingData(train, held, extra, desc, extra_meta)


def run_metadata(
    task: str,
    data: str,
    heldout: float,
    seed: int,
    threshold: float | None,
    train_file: str | None,
    eval_file: str | None,
    embedded: bool,
) -> dict[str, Any]:
    """What the model card records so the run can be repeated (``rebuild``) and, for a shipped counterpart, the
    exact rebuild and measure commands and its limitations."""
    meta: dict[str, Any] = {"rebuild": {"data": data, "heldout_fraction": heldout}}
    if threshold is not None or data == "vader":
        meta["rebuild"]["decontamination_threshold"] = 0.8 if threshold is None else threshold
    if not embedded:
        return meta
    rebuild = ["python -m attnflow_core finetune", f"--task {task}", "--embedded"]
    if data != default_data(task):
        rebuild.append(f"--data {data}")
    if train_file:
        rebuild.append(f"--train-file {train_file}")
    if eval_file:
        rebuild.append(f"--eval-file {eval_file}")
    meta["rebuild_command"] = " ".join(rebuild)
    meta["limitations"] = EMBEDDED_LIMITATIONS[task]
    measure = f"python -m attnflow_core evaluate --task {task} --model {embedded_ref(task)}"
    if task == "sentiment" and eval_file:
        measure += f" --data-file {eval_file}"
    elif train_file:
        measure += f" --data-file {train_file} --heldout {heldout} --seed {seed}"
    meta["measure_command"] = measure
    return meta
