"""Fine-tuning checkpoints: when ``finetune`` takes them, how they are recorded, and how a reference names one.

**When.** ``checkpoint_fractions(k)`` places k checkpoints along training: step 0 (the untrained adapter with its
initial classifier head), a few early points, then evenly spaced points up to the final step. With ``m =
ceil((k - 1) / 2)`` evenly spaced points ``1/m, 2/m, ..., 1`` and ``k - 1 - m`` early points halving below the first
of them, the default k = 6 gives 0, 1/12, 1/6, 1/3, 2/3, 1 (and k = 8: 0, 1/32, 1/16, 1/8, 1/4, 1/2, 3/4, 1).
``checkpoint_steps`` turns fractions into distinct steps of a run of ``total`` steps (the final step always
included).

**Where.** Inside the counterpart's folder: ``checkpoints/step-0120/`` holds a peft adapter
(``adapter_config.json`` + ``adapter_model.safetensors``, in the run's storage dtype). The final checkpoint is the
folder's own adapter (its ``path`` is ``"."``), so nothing is stored twice. Step 0 stores only the classifier head
and pooler: LoRA's B matrices start at zero, so B·A = 0 whatever A is, and a LoRA tensor the file lacks stays at
that zero start when it is loaded (``models`` says so to peft), so the merged step-0 model is exactly the
untrained one in 0.3 MB instead of 1.6 MB.

**Record.** ``attnflow.json`` lists them under ``"checkpoints"`` (``Checkpoint.to_json``): step, fraction of the
steps, epoch, training loss (mean over the steps since the previous checkpoint; None at step 0), held-out accuracy
and the accuracy on each extra evaluation set, and the folder.

**Reference.** ``REF@step-N`` names checkpoint N of the adapter ``REF`` (``embedded:qa@step-120``,
``my-folder@step-120``); ``models.resolve_ref`` reads it, ``split_checkpoint_ref``/``checkpoint_ref`` are the one
definition of the syntax.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from attnflow_core.errors import SettingsError

#: How many checkpoints ``finetune`` takes by default (step 0 and the final step included).
DEFAULT_CHECKPOINTS = 6
#: The sub-folder of a counterpart's folder that holds its checkpoints.
CHECKPOINTS_DIR = "checkpoints"
#: The files of one checkpoint folder.
CHECKPOINT_FILES = frozenset({"adapter_config.json", "adapter_model.safetensors"})
#: The suffix of a model reference that names a checkpoint: ``REF@step-N``.
_SUFFIX = re.compile(r"^(?P<ref>.+)@step-(?P<step>[0-9]{1,9})$")
_FOLDER = re.compile(r"^step-[0-9]{1,9}$")


def checkpoint_fractions(k: int = DEFAULT_CHECKPOINTS) -> tuple[float, ...]:
    """k fractions of training in [0, 1], increasing, 0 first and 1 last (k = 1: the final step only; see the
    module docstring for the rule)."""
    if k < 1:
        raise SettingsError(f"the number of checkpoints must be at least 1 (the final step); got {k}")
    if k == 1:
        return (1.0,)
    even = max(1, math.ceil((k - 1) / 2))
    early = k - 1 - even
    first = 1.0 / even
    return (
        0.0,
        *(first / 2**j for j in range(early, 0, -1)),
        *(i / even for i in range(1, even + 1)),
    )


def as_fractions(checkpoints: int | Sequence[float]) -> tuple[float, ...]:
    """``finetune``'s ``checkpoints`` argument as fractions: a count k (``checkpoint_fractions(k)``; 0 = none) or
    the fractions themselves."""
    if isinstance(checkpoints, int):
        return checkpoint_fractions(checkpoints) if checkpoints else ()
    return tuple(float(f) for f in checkpoints)


def parse_checkpoint_spec(text: str) -> tuple[float, ...]:
    """The CLI's ``--checkpoints``: a count K (``checkpoint_fractions(K)``), a comma-separated list of fractions in
    [0, 1] (the final step is added when missing), or ``none``/``0`` (no checkpoints: ())."""
    value = str(text).strip().lower()
    if value in {"none", "0"}:
        return ()
    if re.fullmatch(r"[0-9]{1,4}", value):
        return checkpoint_fractions(int(value))
    try:
        fractions = sorted({float(part) for part in value.split(",") if part.strip()})
    except ValueError:
        fractions = []
    if not fractions or not all(0.0 <= f <= 1.0 for f in fractions):
        raise SettingsError(
            f"--checkpoints takes a count (e.g. {DEFAULT_CHECKPOINTS}), fractions of training in [0, 1] such as "
            f"0,0.1,0.5,1, or none; got {text!r}"
        )
    return tuple(fractions) if fractions[-1] == 1.0 else (*fractions, 1.0)


def checkpoint_steps(fractions: Sequence[float], total: int) -> tuple[int, ...]:
    """The distinct steps (increasing, in 0..total) at ``fractions`` of a ``total``-step run; the final step is
    always among them unless ``fractions`` is empty."""
    if not fractions:
        return ()
    steps = {min(total, max(0, math.floor(f * total + 0.5))) for f in fractions}
    return tuple(sorted(steps | {total}))


def checkpoint_folder(step: int, total: int) -> str:
    """The folder of checkpoint ``step`` relative to the counterpart's folder, zero-padded to sort by step."""
    width = max(4, len(str(total)))
    return f"{CHECKPOINTS_DIR}/step-{step:0{width}d}"


@dataclass(frozen=True)
class Checkpoint:
    """One recorded checkpoint of a fine-tuning run (see the module docstring)."""

    step: int
    fraction: float  # step / total steps
    epoch: float  # training rows seen / training rows
    train_loss: float | None  # mean loss over the steps since the previous checkpoint; None at step 0
    eval_accuracy: float | None  # held-out accuracy (None without held-out rows)
    path: str  # the adapter folder relative to the counterpart's folder ("." for the final one)
    extra_accuracy: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "fraction": round(self.fraction, 6),
            "epoch": round(self.epoch, 4),
            "train_loss": None if self.train_loss is None else round(self.train_loss, 4),
            "eval_accuracy": self.eval_accuracy,
            "extra_accuracy": dict(self.extra_accuracy),
            "path": self.path,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Checkpoint:
        loss, acc = d.get("train_loss"), d.get("eval_accuracy")
        return cls(
            step=int(d["step"]),
            fraction=float(d["fraction"]),
            epoch=float(d["epoch"]),
            train_loss=None if loss is None else float(loss),
            eval_accuracy=None if acc is None else float(acc),
            path=str(d["path"]),
            extra_accuracy={str(k): float(v) for k, v in (d.get("extra_accuracy") or {}).items()},
        )


def read_checkpoints(folder: Path) -> tuple[Checkpoint, ...]:
    """The checkpoints recorded in ``folder/attnflow.json``, by step; () when it records none (a counterpart
    trained before checkpoints existed). SettingsError when the record is malformed."""
    path = Path(folder) / "attnflow.json"
    try:
        meta = json.loads(path.read_text()) if path.exists() else {}
        items = [Checkpoint.from_json(d) for d in meta.get("checkpoints") or ()]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SettingsError(
            f"{path} has an unreadable checkpoint record ({err.__class__.__name__}: {err}); retrain the "
            "counterpart with `python -m attnflow_core finetune`"
        ) from err
    return tuple(sorted(items, key=lambda c: c.step))


def split_checkpoint_ref(ref: str) -> tuple[str, int | None]:
    """``'embedded:qa@step-120'`` -> ``('embedded:qa', 120)``; a reference without the suffix -> ``(ref, None)``."""
    m = _SUFFIX.fullmatch(ref.strip())
    if m is None:
        return ref.strip(), None
    return m.group("ref"), int(m.group("step"))


def checkpoint_ref(ref: str, step: int) -> str:
    """The reference of checkpoint ``step`` of the adapter ``ref`` (the inverse of ``split_checkpoint_ref``)."""
    return f"{split_checkpoint_ref(ref)[0]}@step-{int(step)}"


def is_checkpoints_folder(path: Path) -> bool:
    """Whether ``path`` is a ``checkpoints`` folder ``finetune`` wrote: only ``step-N`` folders holding only
    ``CHECKPOINT_FILES`` (so replacing it deletes nothing else)."""
    path = Path(path)
    if not path.is_dir():
        return False
    for sub in path.iterdir():
        if not (sub.is_dir() and _FOLDER.fullmatch(sub.name)):
            return False
        if not {p.name for p in sub.iterdir()} <= CHECKPOINT_FILES:
            return False
    return True


def step_note(step: int | None, total: int | None) -> str:
    """How a model's label names checkpoint ``step`` of a ``total``-step run: ``'step 113 of 339'``; ``""`` for
    the final checkpoint (it is the fine-tuned model itself) and for a model that is not a checkpoint."""
    if step is None or total is None or step >= total:
        return ""
    return f"step {step} of {total}"


def with_note(label: str, note: str) -> str:
    """``'fine-tuned'`` + ``'step 113 of 339'`` -> ``'fine-tuned (step 113 of 339)'`` (the label alone without a
    note): how titles, legends and exports name a checkpoint."""
    return f"{label} ({note})" if note else label


def training_share(fraction: float) -> str:
    """A fraction of training in words a student reads: ``'1/3 of training'`` when a simple fraction (denominator
    at most 16) is within half a percent, else a percentage (``'8 % of training'``); ``'before training'`` at 0 and
    ``'end of training'`` at 1."""
    if fraction <= 0:
        return "before training"
    if fraction >= 1:
        return "end of training"
    simple = Fraction(fraction).limit_denominator(16)
    if abs(float(simple) - fraction) < 0.005 and simple.numerator > 0:
        return f"{simple.numerator}/{simple.denominator} of training"
    return f"{fraction:.0%} of training".replace("%", " %")


def checkpoint_tick(c: Checkpoint) -> str:
    """A checkpoint on the app's slider: ``'step 113'`` (short: the slider also writes its two ends under it; the
    caption under it says the rest, ``checkpoint_choice``)."""
    return f"step {c.step}"


def checkpoint_choice(c: Checkpoint) -> str:
    """A checkpoint as the app's slider names it: ``'step 113 (1/3 of training) · held-out 0.78'`` (the held-out
    accuracy left out when the run had no held-out rows)."""
    accuracy = "" if c.eval_accuracy is None else f" · held-out {c.eval_accuracy:.2f}"
    return f"step {c.step} ({training_share(c.fraction)}){accuracy}"
