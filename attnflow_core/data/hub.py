"""GLUE and SNLI from the Hugging Face Hub, mapped to the tasks' columns and label names.

``from_glue_rows`` holds the whole mapping (column renames, integer labels to names, SNLI's -1 rows dropped), so
it can be exercised on local files in the GLUE schema (``load_hub(..., data_files=...)``) exactly as on Hub data.
RTE is binary: its source ``hub-rte`` keeps the labels entailment / not_entailment (evaluation against a 3-way
model merges neutral and contradiction into not_entailment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets

from attnflow_core.data.errors import OFFLINE_SOURCES_HINT, DataError, SourceUnavailable
from attnflow_core.data.files import LabelError, normalise_label
from attnflow_core.data.glue import GLUE_LABELS
from attnflow_core.data.tasks import Task, get_task


@dataclass(frozen=True)
class HubSpec:
    """Where a Hub source lives, its splits, and which GLUE-style dataset schema its rows follow."""

    path: str
    config: str | None
    dataset_name: str
    splits: tuple[str, ...]
    license: str


HUB_SPECS: dict[tuple[str, str], HubSpec] = {
    ("sentiment", "hub"): HubSpec(
        "nyu-mll/glue",
        "sst2",
        "sst2",
        ("validation", "train", "test"),
        "SST: no explicit license (research use)",
    ),
    ("qa", "hub"): HubSpec(
        "nyu-mll/glue", "qnli", "qnli", ("validation", "train", "test"), "QNLI/SQuAD: CC BY-SA 4.0"
    ),
    ("nli", "hub"): HubSpec(
        "nyu-mll/glue",
        "mnli",
        "mnli",
        ("validation_matched", "validation_mismatched", "train"),
        "MultiNLI: mostly OANC (free), see the MultiNLI paper",
    ),
    ("nli", "hub-rte"): HubSpec(
        "nyu-mll/glue", "rte", "rte", ("validation", "train", "test"), "RTE: research use"
    ),
    ("nli", "hub-snli"): HubSpec(
        "stanfordnlp/snli", None, "snli", ("validation", "test", "train"), "SNLI: CC BY-SA 4.0"
    ),
}

#: Column renames from each GLUE-schema dataset to its task's text columns.
GLUE_COLUMNS: dict[str, dict[str, str]] = {
    "sst2": {"sentence": "sentence"},
    "qnli": {"question": "question", "sentence": "sentence"},
    "mnli": {"premise": "premise", "hypothesis": "hypothesis"},
    "rte": {"sentence1": "premise", "sentence2": "hypothesis"},
    "snli": {"premise": "premise", "hypothesis": "hypothesis"},
}
GLUE_TASK: dict[str, str] = {"sst2": "sentiment", "qnli": "qa", "mnli": "nli", "rte": "nli", "snli": "nli"}


def hub_spec(task: str | Task, source: str) -> HubSpec:
    """The Hub dataset behind ``source`` for ``task``; a ValueError lists the Hub sources of that task."""
    t = get_task(task)
    try:
        return HUB_SPECS[(t.name, source)]
    except KeyError:
        valid = ", ".join(s for (name, s) in HUB_SPECS if name == t.name)
        raise DataError(f"no Hub source {source!r} for task {t.name!r}; choose one of {valid}") from None


def _label_name(value: Any, dataset_name: str, row: int) -> str:
    """A GLUE/SNLI label id → the task's label name, through the one label parser (RTE is binary NLI)."""
    names = GLUE_LABELS[dataset_name]
    try:
        return normalise_label(value, GLUE_TASK[dataset_name], binary_nli=dataset_name == "rte")
    except LabelError:
        raise LabelError(
            f"{dataset_name} row {row}: label {value!r} is not a {dataset_name} label id "
            f"({', '.join(f'{i}={n}' for i, n in enumerate(names))}, or -1 for none)"
        ) from None


def from_glue_rows(
    task: str | Task, dataset_name: str, ds: datasets.Dataset, split: str = ""
) -> datasets.Dataset:
    """Map a Dataset in the Hugging Face GLUE/SNLI schema to (uid, the task's text columns, label name).

    ``dataset_name`` is one of sst2, qnli, mnli, rte, snli. Integer labels become names (-1, GLUE's hidden test
    label, becomes ""); SNLI rows with label -1 (no gold label) are dropped. uids are ``{dataset}-{split}-{idx}``
    (``idx`` column when present, else the row number), stable across loads.
    """
    t = get_task(task)
    if dataset_name not in GLUE_COLUMNS:
        raise DataError(f"unknown GLUE-style dataset {dataset_name!r}; use one of {', '.join(GLUE_COLUMNS)}")
    if GLUE_TASK[dataset_name] != t.name:
        raise DataError(
            f"{dataset_name} rows belong to task {GLUE_TASK[dataset_name]!r}, not {t.name!r}; "
            f"pass task={GLUE_TASK[dataset_name]!r}"
        )
    renames = GLUE_COLUMNS[dataset_name]
    missing = [c for c in [*renames, "label"] if c not in ds.column_names]
    if missing:
        raise DataError(
            f"{dataset_name} rows lack column(s) {', '.join(missing)}; available columns: {', '.join(ds.column_names)}"
        )
    labels = [_label_name(v, dataset_name, i) for i, v in enumerate(ds["label"])]
    ids = ds["idx"] if "idx" in ds.column_names else list(range(len(ds)))
    keep = [i for i, lab in enumerate(labels) if lab or dataset_name != "snli"]
    prefix = f"{dataset_name}-{split}-" if split else f"{dataset_name}-"
    out: dict[str, list[str]] = {"uid": [f"{prefix}{ids[i]}" for i in keep]}
    for src, dst in renames.items():
        col = ds[src]
        out[dst] = [str(col[i]).strip() for i in keep]
    out["label"] = [labels[i] for i in keep]
    columns = ["uid", *t.text_columns, "label"]
    features = datasets.Features({c: datasets.Value("string") for c in columns})
    return datasets.Dataset.from_dict({c: out[c] for c in columns}, features=features)


def load_hub(
    task: str | Task,
    source: str = "hub",
    split: str | None = None,
    limit: int | None = None,
    data_files: str | list[str] | dict[str, str] | None = None,
) -> datasets.Dataset:
    """A Hub source's split mapped by ``from_glue_rows``; with ``data_files`` (local JSON/JSONL in the same schema)
    those files are read instead of the Hub. An unreachable Hub raises ``SourceUnavailable`` naming offline sources.
    """
    spec = hub_spec(task, source)
    split = split or spec.splits[0]
    if data_files is not None:
        raw = datasets.load_dataset("json", data_files=data_files, split="train")
    else:
        if split not in spec.splits:
            raise DataError(
                f"{spec.path}/{spec.config or ''} has no split {split!r}; choose one of {', '.join(spec.splits)}"
            )
        hf_split = f"{split}[:{limit}]" if limit is not None and spec.dataset_name != "snli" else split
        try:
            raw = datasets.load_dataset(spec.path, spec.config, split=hf_split)
        except Exception as exc:  # noqa: BLE001 - any Hub failure (offline, DNS, missing cache) means "unavailable"
            raise SourceUnavailable(
                f"the Hugging Face Hub can't be reached to load {spec.path}"
                f"{'/' + spec.config if spec.config else ''} ({type(exc).__name__}: {exc}). {OFFLINE_SOURCES_HINT}"
            ) from exc
    if not isinstance(raw, datasets.Dataset):  # split= always gives a Dataset; this narrows the type
        raise TypeError(f"expected one split as a Dataset; got {type(raw).__name__}")
    ds = from_glue_rows(task, spec.dataset_name, raw, split)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds
