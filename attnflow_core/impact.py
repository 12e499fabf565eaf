"""Does the change matter? What the pages show after an intervention on heads, and the agreement tables.

- ``intervention_summary``: an intervention's ``Reprediction`` beside the analysis it started from — the
  probability of the label predicted before, before and after, the label after, and the fine-tuned model's flow
  scores before and after under the same settings (the pipeline's stages on the intervened model's capture).
- ``agreement_frame``: agreement rows as the method × measure by saliency table the pages show.
- head names for the head picker (``L3 H9``: layer 1-based, head 0-based).

Pure functions, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from attnflow_core.agreement import AgreementRow
from attnflow_core.analysis import Analysis, drawn_graph
from attnflow_core.encoding import Encoding
from attnflow_core.graph import edges_within_budget
from attnflow_core.interventions import INTERVENTIONS, Head, Reprediction
from attnflow_core.measures import Captured, Measure, measure_for
from attnflow_core.pipeline import model_attention, solve
from attnflow_core.saliency import saliency_title

__all__ = [
    "InterventionSummary",
    "agreement_frame",
    "head_name",
    "head_names",
    "intervention_summary",
    "parse_head_name",
]


def head_name(layer: int, head: int) -> str:
    """The picker's name of a head: layer 1-based, head 0-based (``L3 H9``)."""
    return f"L{layer} H{head}"


def head_names(n_layers: int, n_heads: int) -> list[str]:
    """Every head's name, layer by layer."""
    return [head_name(layer, h) for layer in range(1, n_layers + 1) for h in range(n_heads)]


def parse_head_name(name: str) -> Head:
    """``"L3 H9"`` -> (2, 9): 0-based layer and head, as the interventions take them."""
    layer, head = name.split()
    return int(layer[1:]) - 1, int(head[1:])


#: How many heads a starting point picks.
START_HEADS = 3


def strongest_heads(values: np.ndarray, k: int = START_HEADS) -> list[str]:
    """The names of the k heads with the largest values of an (L, H) map (most first): a starting point for zeroing
    or patching — the most changed heads (JS divergence) or the most important ones (head importance)."""
    from attnflow_core.importance import top_heads

    return [head_name(layer + 1, head) for layer, head in top_heads(np.asarray(values), k)]


@dataclass(frozen=True)
class Metric:
    """One figure to show: its label, value, the change beside it and how to colour that change."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "normal"  # "normal", "inverse" or "off"
    help: str | None = None


@dataclass(frozen=True, eq=False)
class InterventionSummary:
    """An intervention's result: ``metrics`` (before, after, the label after), the flow table (unit, flow before,
    flow after, change) and the sentence that reads it."""

    metrics: tuple[Metric, Metric, Metric]
    table: pd.DataFrame
    caption: str


def _flows_after(
    analysis: Analysis, encoding: Encoding, rep: Reprediction
) -> tuple[np.ndarray, int, Measure]:
    """The intervened fine-tuned model's flow scores (n,) under the analysis's settings, the number of edges the flow
    graph would draw for it under the analysis's method (the count the picture shows) and the measure applied."""
    s = analysis.settings
    captured = Captured(rep.attn_after, rep.vnorm_after)
    example = replace(s.example, measure=measure_for(s.measure, captured))  # the one policy (``measures``)
    attn = model_attention(captured, encoding, example)[1]
    key = s.flow_key(int(attn.shape[0]))
    if not example.measure.per_head:
        key = replace(key, heads=None)
    solution = solve(attn, example.measure, key)
    drawn = edges_within_budget(solution.masses, solution.node, solution.stopped, key.source, key.layers)
    return solution.scores(), drawn.n_edges, example.measure


def intervention_summary(
    analysis: Analysis, encoding: Encoding, rep: Reprediction, mode: str, heads: Sequence[str]
) -> InterventionSummary:
    """What ``rep`` (``interventions.intervene`` with ``mode`` on the heads named ``heads``) changed, beside the
    ``analysis`` of the same example (``encoding``: its tokens)."""
    how = INTERVENTIONS.get(mode)
    before, after = rep.confidence("before"), rep.confidence("after")
    flipped = rep.label_after != rep.label_before
    metrics = (
        Metric(f"Before: P({rep.label_before})", f"{before:.1%}", help="The fine-tuned model's prediction."),
        Metric(
            f"After ({how.short} {', '.join(heads)}): P({rep.label_before})",
            f"{after:.1%}",
            f"{(after - before) * 100:+.1f} points",
            help=f"The same label's probability once the heads are {how.short}.",
        ),
        Metric(
            "Label after",
            rep.label_after,
            f"changed from {rep.label_before}" if flipped else "unchanged",
            "inverse" if flipped else "off",
            help=f"confidence {max(rep.after):.1%}",
        ),
    )
    scores_after, edges_after, measure = _flows_after(analysis, encoding, rep)
    table = pd.DataFrame(
        {
            "unit": analysis.labels,
            "flow before": np.round(analysis.scores_tuned, 4),
            "flow after": np.round(scores_after, 4),
        }
    )
    table["change"] = (table["flow after"] - table["flow before"]).round(4)
    top = int(np.argmax(np.abs(table["change"].to_numpy())))
    s = analysis.settings
    drawn_before = drawn_graph(analysis).tuned.n_edges
    caption = (
        f"How the flow changes: the fine-tuned model's {s.method.phrase.lower()} scores ({measure.phrase}, from "
        f"{analysis.labels[s.source]!r} #{s.source}) before and after; the flow graph draws {drawn_before} of its "
        f"edges before and {edges_after} after, and the largest change is at {analysis.labels[top]!r} "
        f"({table['change'].iloc[top]:+.4f})."
    )
    return InterventionSummary(metrics=metrics, table=table, caption=caption)


def agreement_frame(rows: Sequence[AgreementRow]) -> pd.DataFrame:
    """Agreement rows as a table: one row per (flow method, measure), one column per saliency (its title), ρ to
    two decimals."""
    table = pd.DataFrame(
        [
            {
                "flow method": r.method,
                "measure": r.measure,
                "saliency": saliency_title(r.saliency),
                "ρ": r.rho,
            }
            for r in rows
        ]
    )
    return table.pivot(index=["flow method", "measure"], columns="saliency", values="ρ").round(2)
