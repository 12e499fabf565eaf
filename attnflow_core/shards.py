"""Split an overview into k deterministic shards and merge their files into exactly the file one run writes.

Every overview statistic is a running sum over examples (``RunningSums``), so shards merge by addition:

- ``shard_range(n, i, k)``: shard i of k (1-based) is the contiguous slice ``[(i-1)·n//k, i·n//k)`` of the n
  examples a full run selects (the same source, split, data file and ``--n``), so shards are disjoint, cover every
  example once, and concatenated in shard order give the full run's example order (and so its ranking);
- ``merge_overviews(parts)`` adds the parts' sums, concatenates their example tables in shard order and derives the
  means exactly as ``compute_overview`` does (``RunningSums.statistics``); the mean head importance and the mean
  flow/saliency agreement are means over examples too, so each part's mean is weighted by its count (the part's
  examples; an agreement row's ``n``). Every field of ``Overview`` has its rule (``_MERGE_RULES``); a merge that
  cannot be exact (files of different runs, a shard missing or given twice, the same examples in two files) is
  refused with a ``ShardError``.

The merged head change map equals a single run's to floating-point rounding (well under 1e-6): the only
differences are the order of the additions and which examples share a padded batch, neither of which changes an
example's attention beyond float32 rounding.

CLI: ``python -m attnflow_core merge-overviews A B ... --out M`` (``.json`` or ``.parquet``, like ``overview``).
A Slurm array runs ``overview ... --shard $((SLURM_ARRAY_TASK_ID+1))/k --out part-$SLURM_ARRAY_TASK_ID.json`` and
then this command; ``attnflow_core.distributed`` does the same over Ray workers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, TypeVar, cast

import numpy as np
import pandas as pd

from attnflow_core.errors import AttnflowError


class ShardError(AttnflowError):
    """A shard specification or a set of overview files that cannot be merged; the message names the fix."""


@dataclass(frozen=True, eq=False)
class RunningSums:
    """The overview's statistics as sums over its ``n`` examples (model axis 0 = pre-trained, 1 = fine-tuned).

    ``js_sum``/``js_sq`` (L, H): sums of the per-example head JS and of its square; ``cross_sum`` (2, L, 2, 3) and
    ``cross_count`` (2, 2): attention shares summed over query tokens of segment A/B, and those token counts;
    ``sinks_sum`` (2, L, H, 3) and ``beh_sum`` (2, L, H, 5): per-example means summed over examples.
    """

    n: int
    js_sum: np.ndarray
    js_sq: np.ndarray
    cross_sum: np.ndarray
    cross_count: np.ndarray
    sinks_sum: np.ndarray
    beh_sum: np.ndarray

    @staticmethod
    def of_example(shift: np.ndarray, stats: Sequence[dict[str, np.ndarray]]) -> RunningSums:
        """One example's contribution: its head shift (L, H) and both models' ``overview.example_stats``."""
        return RunningSums(
            n=1,
            js_sum=shift,
            js_sq=shift**2,
            cross_sum=np.stack([st["cross"] for st in stats]),
            cross_count=np.stack([st["cross_count"] for st in stats]),
            sinks_sum=np.stack([st["sinks"] for st in stats]),
            beh_sum=np.stack([st["behaviour"] for st in stats]),
        )

    @staticmethod
    def zeros(n_layers: int, n_heads: int) -> RunningSums:
        return RunningSums(
            n=0,
            js_sum=np.zeros((n_layers, n_heads)),
            js_sq=np.zeros((n_layers, n_heads)),
            cross_sum=np.zeros((2, n_layers, 2, 3)),
            cross_count=np.zeros((2, 2)),
            sinks_sum=np.zeros((2, n_layers, n_heads, 3)),
            beh_sum=np.zeros((2, n_layers, n_heads, 5)),
        )

    def __add__(self, other: RunningSums) -> RunningSums:
        for f in fields(self)[1:]:
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a.shape != b.shape:
                raise ShardError(
                    f"the overviews have different model shapes ({f.name} {a.shape} vs {b.shape}); merge only "
                    "shards of one run"
                )
        return RunningSums(
            n=self.n + other.n,
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)[1:]},
        )

    def statistics(self) -> dict[str, Any]:
        """The means an ``Overview`` carries: js_mean, js_std (L, H), cross (2, L, 2, 3; NaN where a segment has
        no query token), sinks (2, L, H, 3), behaviour (2, L, H, 5)."""
        n = max(self.n, 1)
        js_mean = self.js_sum / n
        js_std = np.sqrt(np.maximum(self.js_sq / n - js_mean**2, 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            cross = self.cross_sum / self.cross_count[:, None, :, None]
        return {
            "js_mean": js_mean,
            "js_std": js_std,
            "cross": cross,
            "sinks": self.sinks_sum / n,
            "behaviour": self.beh_sum / n,
        }

    def to_json(self) -> dict[str, Any]:
        return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in fields(self)}

    @staticmethod
    def from_json(blob: dict[str, Any]) -> RunningSums:
        return RunningSums(
            n=int(blob["n"]),
            **{f.name: np.asarray(blob[f.name], dtype=np.float64) for f in fields(RunningSums)[1:]},
        )


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/k"`` (1 ≤ i ≤ k) -> (i, k)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ShardError(f"--shard takes i/k with 1 <= i <= k, e.g. 1/4 for the first of four; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_range(n: int, i: int, k: int) -> range:
    """The example indices of shard i of k (1-based) over n examples: contiguous, disjoint, covering 0..n-1."""
    if not 1 <= i <= k:
        raise ShardError(f"shard index must satisfy 1 <= i <= k; got {i}/{k}")
    return range((i - 1) * n // k, i * n // k)


def shard_examples(examples: Sequence[Any], n: int, i: int, k: int) -> list[Any]:
    """Shard i of k of the first ``n`` examples (the selection of a full run with ``--n n``)."""
    selected = list(examples)[:n]
    return [selected[j] for j in shard_range(len(selected), i, k)]


class _Part(Protocol):
    """What a merge reads of an ``overview.Overview`` dataclass (typed structurally: this module does not import
    ``overview``, which imports ``RunningSums`` from here)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def task(self) -> str: ...
    @property
    def base_ref(self) -> str: ...
    @property
    def tuned_ref(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def split(self) -> str: ...
    @property
    def settings(self) -> Any: ...
    @property
    def examples(self) -> pd.DataFrame: ...
    @property
    def seconds(self) -> float: ...
    @property
    def forward_seconds(self) -> float: ...
    @property
    def sums(self) -> RunningSums | None: ...
    @property
    def shard(self) -> tuple[int, int] | None: ...
    @property
    def importance(self) -> np.ndarray | None: ...
    @property
    def agreement(self) -> tuple[Any, ...] | None: ...


P = TypeVar("P", bound=_Part)


def _identity(ov: _Part) -> tuple[Any, ...]:
    return (ov.task, ov.base_ref, ov.tuned_ref, ov.source, ov.split, ov.settings)


def _check_parts(parts: Sequence[P]) -> list[P]:
    """The parts in shard order, after refusing what cannot be merged exactly: files without sums, different
    runs, a mix of shard and whole-run files, shards missing or repeated, a run given twice (two whole-run files,
    or the same examples in two files), sums that do not count the file's examples."""
    if not parts:
        raise ShardError("nothing to merge: give the overview files of the shards")
    if any(p.sums is None for p in parts):
        raise ShardError(
            "an overview file without running sums cannot be merged exactly (written before shards existed); "
            "recompute it with `python -m attnflow_core overview ... --shard i/k`"
        )
    first = parts[0]
    for p in parts[1:]:
        if _identity(p) != _identity(first):
            raise ShardError(
                "these overviews come from different runs (task, models, data or settings differ: "
                f"{_identity(first)} vs {_identity(p)}); merge only the shards of one run"
            )
    shards = [p.shard for p in parts]
    if all(s is not None for s in shards):
        ks = {s[1] for s in shards if s is not None}
        if len(ks) != 1:
            raise ShardError(
                f"the files are shards of different splits ({sorted(ks)} shards); use one --shard i/k"
            )
        k = ks.pop()
        got = sorted(s[0] for s in shards if s is not None)
        if got != list(range(1, k + 1)):
            absent = sorted(set(range(1, k + 1)) - set(got))
            twice = sorted({i for i in got if got.count(i) > 1})
            raise ShardError(
                f"a merge needs each of the {k} shards exactly once; missing {absent}, repeated {twice}: run "
                f"`overview ... --shard i/{k}` for the missing ones"
            )
        parts = sorted(parts, key=lambda p: p.shard[0] if p.shard else 0)
    elif any(s is not None for s in shards):
        raise ShardError("mix of shard files and whole-run files; merge only the shards of one run")
    elif len(parts) > 1:
        raise ShardError(
            f"these {len(parts)} files are whole runs of the same task, models, data and settings, not shards of "
            "one run: merging them would count the same examples more than once; merge only the files of "
            "`overview ... --shard i/k` runs"
        )
    for p in parts:
        assert p.sums is not None
        if p.sums.n != len(p.examples):
            raise ShardError(
                f"an overview file's running sums count {p.sums.n} examples but it holds {len(p.examples)}; the "
                "file was changed after it was written: recompute it"
            )
    seen: dict[str, int] = {}
    for i, p in enumerate(parts):
        for uid in dict.fromkeys(str(u) for u in p.examples["uid"]):
            if seen.setdefault(uid, i) != i:
                raise ShardError(
                    f"example {uid!r} is in more than one of the files: the same run or shard was given twice "
                    "(perhaps as .json and as .parquet); give each shard once (if your data repeats uids, give "
                    "each row its own uid)"
                )
    return list(parts)


def _mean_importance(parts: Sequence[_Part]) -> np.ndarray | None:
    """The mean head importance (L, H) over all the parts' examples: each part's mean weighted by its examples."""
    present = [p.importance is not None for p in parts]
    if not any(present):
        return None
    if not all(present):
        raise ShardError(
            "some of the files hold head importance and some do not; recompute the shards with the same "
            "--importance setting"
        )
    total = np.zeros_like(np.asarray(parts[0].importance, dtype=np.float64))
    for p in parts:
        imp = np.asarray(p.importance, dtype=np.float64)
        if imp.shape != total.shape:
            raise ShardError(
                f"the files' head importance maps differ in shape ({total.shape} vs {imp.shape}); merge only "
                "shards of one run"
            )
        assert p.sums is not None
        total = total + imp * p.sums.n
    return total / max(sum(p.sums.n for p in parts if p.sums is not None), 1)


def _mean_agreement(parts: Sequence[_Part]) -> tuple[Any, ...] | None:
    """The mean agreement rows over all the parts' examples (``agreement.merge_mean_agreement``)."""
    from attnflow_core.agreement import AgreementError, merge_mean_agreement

    present = [p.agreement is not None for p in parts]
    if not any(present):
        return None
    if not all(present):
        raise ShardError(
            "some of the files hold the flow/saliency agreement and some do not; recompute the shards with the "
            "same --agreement setting"
        )
    try:
        return tuple(merge_mean_agreement([p.agreement or () for p in parts]))
    except AgreementError as err:
        raise ShardError(f"{err}; merge only shards of one run") from err


def _same(name: str) -> Callable[[Sequence[_Part], RunningSums], Any]:
    """A field equal in every part (``_check_parts`` compares the run's identity)."""
    return lambda parts, _total: getattr(parts[0], name)


def _statistic(name: str) -> Callable[[Sequence[_Part], RunningSums], Any]:
    """A statistic derived from the added running sums, as ``compute_overview`` derives it."""
    return lambda _parts, total: total.statistics()[name]


#: How ``merge_overviews`` forms each field of an ``Overview`` from the parts (in shard order) and their added
#: running sums. Every field needs a rule here: a field without one makes merging refuse, so a field added later
#: is never merged by accident (e.g. taken from the first part).
_MERGE_RULES: dict[str, Callable[[Sequence[_Part], RunningSums], Any]] = {
    **{name: _same(name) for name in ("task", "base_ref", "tuned_ref", "source", "split", "settings")},
    **{name: _statistic(name) for name in ("js_mean", "js_std", "cross", "sinks", "behaviour")},
    "examples": lambda parts, _t: pd.concat([p.examples for p in parts], ignore_index=True),
    "seconds": lambda parts, _t: float(sum(p.seconds for p in parts)),
    "forward_seconds": lambda parts, _t: float(sum(p.forward_seconds for p in parts)),
    "sums": lambda _p, total: total,
    "shard": lambda _p, _t: None,
    "importance": lambda parts, _t: _mean_importance(parts),
    "agreement": lambda parts, _t: _mean_agreement(parts),
}


def merge_overviews(parts: Sequence[P]) -> P:
    """One ``Overview`` from the overviews of the shards of one run (any order): sums added, examples concatenated
    in shard order, statistics derived as ``compute_overview`` derives them, the mean head importance and the mean
    agreement weighted by their counts. The result carries no shard. Every field is merged by ``_MERGE_RULES``;
    anything that cannot be merged exactly raises ``ShardError``."""
    ordered = _check_parts(parts)
    total = ordered[0].sums
    assert total is not None
    for p in ordered[1:]:
        assert p.sums is not None
        total = total + p.sums
    names = [f.name for f in fields(ordered[0])]  # the fields of ``overview.Overview``, without importing it
    unknown = [name for name in names if name not in _MERGE_RULES]
    if unknown:
        raise ShardError(f"overview field(s) {', '.join(unknown)} cannot be merged exactly; merge is refused")
    make = cast(Callable[..., P], type(ordered[0]))
    return make(**{name: _MERGE_RULES[name](ordered, total) for name in names})
