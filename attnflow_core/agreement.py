"""How far flow scores agree with saliency: Spearman ρ per flow method × measure and saliency method.

Abnar & Zuidema (2020) argued for rollout and max-flow by this evaluation. Ranks are compared over the non-special
units (the [CLS]/[SEP] sinks would dominate any flow ranking). Agreement is evidence that a flow tracks what the
prediction depends on, not proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from attnflow_core.errors import AttnflowError
from attnflow_core.extract import ExampleResult
from attnflow_core.flows import DEFAULT_THRESHOLD
from attnflow_core.measures import MEASURES, RAW_WEIGHTS, Captured, measure_attention
from attnflow_core.methods import METHODS, FlowKey
from attnflow_core.pipeline import available_measures, model_attention, solve
from attnflow_core.saliency import saliency_title
from attnflow_core.settings import FlowSettings


@dataclass(frozen=True)
class AgreementRow:
    method: str  # flow method
    measure: str
    saliency: str
    rho: float  # Spearman ρ (nan when either side is constant or fewer than 3 units)
    n: int  # units compared


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ of two (n,) arrays; nan when n < 3 or either is constant."""
    from scipy.stats import spearmanr

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def flow_scores_by_method(
    attn: np.ndarray, source: int = 0, threshold: float = DEFAULT_THRESHOLD, measure: str = RAW_WEIGHTS
) -> dict[tuple[str, str], np.ndarray]:
    """{(method, measure): (n,) flow scores} for every flow method on one model's attention (L, H, n, n), which
    is already under ``measure`` (it labels the scores, and its residual is not added twice)."""
    m = MEASURES.get(measure)
    layers = (1, int(np.asarray(attn).shape[0]))
    return {
        (method, m): solve(attn, m, FlowKey.of(method, source, layers, None, threshold)).scores()
        for method in METHODS
    }


def measured_flows(
    attn: np.ndarray,
    vnorm: np.ndarray | None,
    source: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[tuple[str, str], np.ndarray]:
    """{(method, measure): (n,) flow scores} for every flow method × every measure the capture allows.

    ``attn`` (L, H, n, n) holds one model's raw attention weights, ``vnorm`` (L, H, n) its value-vector norms
    ‖f^h_l(x_i)‖ (``measures.norm_weighted``); a measure whose needs are missing (the norm measure without norms)
    is left out, so every key names the measure its scores were really computed under.
    """
    captured = Captured(attn, vnorm)
    out: dict[tuple[str, str], np.ndarray] = {}
    for measure in available_measures(captured):
        out |= flow_scores_by_method(measure_attention(captured, measure), source, threshold, measure)
    return out


def settings_flows(result: ExampleResult, settings: FlowSettings) -> dict[tuple[str, str], np.ndarray]:
    """{(method, measure): (n,) flow scores} of the fine-tuned model for every flow method × measure, under the
    rest of ``settings`` (units, special tokens, source, threshold, layers, heads, decay) through the same pipeline
    stages as ``analyse``, so the row of the page's own method and measure equals its flow scores. Measures the
    extraction lacks the inputs of are left out. n = units."""
    captured = result.captured("tuned")
    out: dict[tuple[str, str], np.ndarray] = {}
    for measure in available_measures(captured):
        example = replace(settings.example, measure=measure)
        attn = model_attention(captured, result.encoding, example)[1]
        for method in METHODS:
            key = replace(settings, method=method).flow_key(result.num_layers)
            if not measure.per_head:
                key = replace(key, heads=None)
            out[(method, measure)] = solve(attn, measure, key).scores()
    return out


def agreement(
    flows: Mapping[tuple[str, str], np.ndarray],
    saliencies: Mapping[str, np.ndarray],
    special_positions: Sequence[int] = (),
) -> list[AgreementRow]:
    """Spearman ρ between every flow (n,) and every saliency magnitude (n,), over the non-special units."""
    rows = []
    for (method, measure), f in flows.items():
        keep = np.ones(len(f), dtype=bool)
        keep[list(special_positions)] = False
        for sal, s in saliencies.items():
            rows.append(
                AgreementRow(method, measure, sal, spearman(f[keep], np.abs(s)[keep]), int(keep.sum()))
            )
    return rows


def best(rows: Sequence[AgreementRow]) -> AgreementRow | None:
    """The row with the highest ρ (None when every ρ is nan)."""
    finite = [r for r in rows if np.isfinite(r.rho)]
    return max(finite, key=lambda r: r.rho) if finite else None


def agreement_sentence(rows: Sequence[AgreementRow], averaged: bool = False) -> str:
    """One plain sentence naming which flow agrees best with which saliency, and what that means. ``averaged``:
    the rows are ``mean_agreement`` rows (ρ averaged over examples; ``n`` counts examples, not tokens)."""
    top = best(rows)
    if top is None:
        return "Too few tokens to rank: no agreement can be measured here."
    where, stat, unit = (
        ("Over these examples", "mean Spearman ρ", "examples")
        if averaged
        else ("Here", "Spearman ρ", "tokens")
    )
    return (
        f"{where}, {top.method} ({top.measure}) agrees best with {saliency_title(top.saliency)} ({stat} = {top.rho:.2f} over "
        f"{top.n} {unit}).{_by_measure(rows)} Agreement is evidence that a flow follows what the prediction "
        "depends on, not proof."
    )


def _by_measure(rows: Sequence[AgreementRow]) -> str:
    """ " Under the raw weights the best is …; under the norm-weighted measure …" when rows span measures."""
    measures = [m for m in MEASURES if any(r.measure == m for r in rows)]
    if len(measures) < 2:
        return ""
    parts = []
    for m in measures:
        top = best([r for r in rows if r.measure == m])
        label = m.short
        parts.append(
            f"{label}: no finite ρ"
            if top is None
            else f"{label}: {top.method} with {saliency_title(top.saliency)} (ρ = {top.rho:.2f})"
        )
    return " Best per measure — " + "; ".join(parts) + "."


def mean_agreement(per_example: Sequence[Sequence[AgreementRow]]) -> list[AgreementRow]:
    """ρ averaged over examples (nan ignored) per (method, measure, saliency); ``n`` = examples with a finite ρ."""
    acc: dict[tuple[str, str, str], list[float]] = {}
    for rows in per_example:
        for r in rows:
            acc.setdefault((r.method, r.measure, r.saliency), []).append(r.rho)
    out = []
    for (m, me, s), vals in acc.items():
        v = np.asarray(vals)
        ok = v[np.isfinite(v)]
        out.append(AgreementRow(m, me, s, float(ok.mean()) if ok.size else float("nan"), int(ok.size)))
    return out


class AgreementError(AttnflowError, ValueError):
    """Agreement tables that cannot be merged exactly (a table repeats a row)."""


def merge_mean_agreement(tables: Sequence[Sequence[AgreementRow]]) -> list[AgreementRow]:
    """``mean_agreement`` over the union of the examples behind several ``mean_agreement`` tables (disjoint sets of
    examples): per (method, measure, saliency), ρ = Σ ρ_k·n_k / Σ n_k over the tables where n_k > 0 (a mean over
    n_k finite values times n_k is their sum), n = Σ n_k; nan where no table has a finite ρ. Rows in order of first
    appearance. A table that repeats a key raises ``AgreementError``."""
    sums: dict[tuple[str, str, str], list[float]] = {}
    for rows in tables:
        keys = [(r.method, r.measure, r.saliency) for r in rows]
        if len(set(keys)) != len(keys):
            raise AgreementError("an agreement table repeats a (method, measure, saliency) row")
        for key, r in zip(keys, rows, strict=True):
            acc = sums.setdefault(key, [0.0, 0])
            if r.n > 0 and np.isfinite(r.rho):
                acc[0] += float(r.rho) * int(r.n)
                acc[1] += int(r.n)
    return [
        AgreementRow(m, me, s, total / count if count else float("nan"), int(count))
        for (m, me, s), (total, count) in sums.items()
    ]


#: The saliencies the overview's ``--agreement`` averages over (gradient × input is cheap but noisy; IG and
#: occlusion are the two Abnar & Zuidema-style references).
OVERVIEW_SALIENCIES = ("ig", "occlusion")


def example_agreement(
    model: object,
    input_ids: Sequence[int],
    segment_ids: Sequence[int],
    special_positions: Sequence[int],
    attn: np.ndarray,
    pad_id: int = 0,
    saliencies: Sequence[str] = OVERVIEW_SALIENCIES,
    vnorm: np.ndarray | None = None,
) -> list[AgreementRow]:
    """Agreement rows of one example: the tuned torch classifier ``model``'s saliency against the flows of its own
    raw attention ``attn`` (L, H, n, n) traced from [CLS], under every measure (``measured_flows``: the norm
    measure only when its value norms ``vnorm`` (L, H, n) are given)."""
    from attnflow_core.saliency import all_saliencies

    sal = all_saliencies(model, input_ids, segment_ids, special_positions, pad_id=pad_id, methods=saliencies)
    flows = measured_flows(attn, vnorm)
    return agreement(flows, {k: v.scores for k, v in sal.items()}, special_positions)


def agreement_table(rows: Sequence[AgreementRow]) -> list[dict[str, object]]:
    """Rows as plain dicts (for JSON files and tables)."""
    return [
        {"method": r.method, "measure": r.measure, "saliency": r.saliency, "rho": r.rho, "n": r.n}
        for r in rows
    ]
