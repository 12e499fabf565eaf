"""Split an overview into k deterministic shards and merge their files into exactly the file one run writes.

Every overview statistic is a running sum over examples (``RunningSums``), so shards merge by addition:

- ``shard_range(n, i, k)``: shard i of k (1-based) is the contiguous slice ``[(i-1)·n//k, i·n//k)`` of the n
  examples a full run selects (the same source, split, data file and ``--n``), so shards are disjoint, cover every
  example once, and concatenated in shard order give the full run's example order (and so its ranking);
- ``merge_overviews(parts)`` adds the parts' sums (and their faithfulness sums, ``faithfulness.FaithfulnessSums``),
  concatenates their example tables in shard order and derives the means exactly as ``compute_overview`` does
  (``RunningSums.statistics``).

The merged head change map equals a single run's to floating-point rounding (well under 1e-6): the only
differences are the order of the additions and which examples share a padded batch, neither of which changes an
example's attention beyond float32 rounding.

CLI: ``python -m attnflow_core merge-overviews A B ... --out M`` (``.json`` or ``.parquet``, like ``overview``).
A Slurm array runs ``overview ... --shard $((SLURM_ARRAY_TASK_ID+1))/k --out part-$SLURM_ARRAY_TASK_ID.json`` and
then this command; ``attnflow_core.distributed`` does the same over Ray workers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Protocol, TypeVar

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
    def faithfulness(self) -> Any: ...


P = TypeVar("P", bound=_Part)


def _identity(ov: _Part) -> tuple[Any, ...]:
    return (ov.task, ov.base_ref, ov.tuned_ref, ov.source, ov.split, ov.settings)


def merge_overviews(parts: Sequence[P]) -> P:
    """One ``Overview`` from the overviews of the shards of one run (any order): sums added, examples concatenated
    in shard order, statistics derived as ``compute_overview`` derives them. The result carries no shard."""
    if not parts:
        raise ShardError("nothing to merge: give the overview files of the shards")
    missing_sums = [i for i, p in enumerate(parts) if p.sums is None]
    if missing_sums:
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
    total = parts[0].sums
    assert total is not None
    for p in parts[1:]:
        assert p.sums is not None
        total = total + p.sums
    examples = pd.concat([p.examples for p in parts], ignore_index=True)
    faithfulness = None
    if all(p.faithfulness is not None for p in parts):  # faithfulness.FaithfulnessSums add exactly
        faithfulness = sum((p.faithfulness for p in parts[1:]), start=parts[0].faithfulness)
    return replace(
        first,
        examples=examples,
        faithfulness=faithfulness,
        seconds=float(sum(p.seconds for p in parts)),
        forward_seconds=float(sum(p.forward_seconds for p in parts)),
        sums=total,
        shard=None,
        **total.statistics(),
    )
