"""Fine-tuning trajectory: when did attention change? Every checkpoint of the fine-tuning run against the
pre-trained model, on N examples of the sidebar's data."""

from __future__ import annotations

import numpy as np
import streamlit as st

from attnflow_core.data.tasks import get_task
from attnflow_core.models import PairSpec, list_checkpoints, pairs_for_task
from attnflow_core.overview import OVERVIEW_SPECIAL_MODES
from attnflow_core.plots.trajectory import build_change_maps, build_curves_layout, build_importance_maps
from attnflow_core.trajectory import (
    FOCUS_RULES,
    Trajectory,
    TrajectoryRequest,
    TrajectorySettings,
    trajectory_frame,
    trajectory_text,
)
from pages.ui.bokeh_host import render_bokeh
from pages.ui.boundary import friendly, md_escape
from pages.ui.loaders import MAX_EXAMPLES, MAX_LENGTH
from pages.ui.page import page_setup, progress_to
from pages.ui.trajectories import get_shipped_trajectory, get_trajectory, trajectories, trajectory_examples

#: Seconds per example and checkpoint, and to load a checkpoint, on this project's 2-core machine with head
#: importance, one thread, under load (README, Performance: 12–13 s for the page's compute at the default N = 24).
SECONDS_PER_EXAMPLE, LOAD_SECONDS = 0.06, 1.0


def has_checkpoints(spec: PairSpec) -> bool:
    return bool(friendly(lambda: list_checkpoints(spec.tuned)))


def no_checkpoints(spec: PairSpec, task: str) -> None:
    """Say plainly that this pair has no trajectory, and which pairs of the task have one."""
    have = [p.title for p in pairs_for_task(task) if has_checkpoints(p)]
    where = (
        f"Pairs of this task that have them: {', '.join(f'**{md_escape(t)}**' for t in have)}."
        if have
        else "No pair of this task has them yet."
    )
    st.info(
        f"**{md_escape(spec.title)}** records no fine-tuning checkpoints, so it has no trajectory to show (a Hub "
        "model, or a counterpart trained before checkpoints were kept). Only counterparts fine-tuned with this "
        f"app keep them. {where} Fine-tune your own on the Examples page, or with "
        "`python -m attnflow_core finetune`: checkpoints are kept by default.",
        icon=":material/timeline:",
    )


def compute(request: TrajectoryRequest) -> None:
    """Run the pre-trained model once and every checkpoint over the examples, the bar naming the checkpoint."""
    bar = st.progress(0.0, text="Starting …")

    def waiting() -> None:
        bar.progress(0.0, text="Another computation is running on this server; yours starts when it ends …")

    if friendly(lambda: get_trajectory(request, progress_to(bar), waiting)) is not None:
        st.rerun()


def compute_controls(request: TrajectoryRequest, k: int, available: int) -> None:
    n = min(request.settings.n, available)
    seconds = max(1, round(k * (LOAD_SECONDS + n * SECONDS_PER_EXAMPLE)))
    if st.button("Compute", type="primary", key="tr_run"):
        compute(request)
    else:
        st.info(
            f"Press **Compute** to run the pre-trained model once and each of the {k} checkpoints over "
            f"{n} examples, with head importance: about {seconds} s on a 2-core CPU (longer while other people "
            "use this server). The result is kept on this server, so the next visit is instant.",
            icon=":material/timeline:",
        )


def show(t: Trajectory, shipped: bool) -> None:
    """The reading, the curves and strips, the small multiples and the downloads."""
    with st.container(border=True):
        # the reading is the project's own sentences about numbers (no user text)
        st.markdown(f"**Reading.** {t.reading()}")
        st.caption(
            'L5 H3 = layer 5, head 3 (layers from 1, heads from 0, as in the maps). "Changed": a head\'s attention '
            "differs from the pre-trained model's (mean Jensen–Shannon divergence over the examples); a head "
            "changed first when it reached half its final change earliest."
        )
    held = t.heldout_accuracy
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Checkpoints", f"{len(t.checkpoints)}", f"steps {t.steps[0]}–{t.steps[-1]}", delta_color="off",
              delta_arrow="off")  # fmt: skip
    m2.metric("Examples", f"{len(t.uids)}")
    recorded = np.isfinite(held[[0, -1]]).all()
    m3.metric(
        "Held-out accuracy",
        f"{held[-1]:.1%}" if recorded else "—",
        f"from {held[0]:.1%} at step {t.steps[0]}" if recorded else None,
        delta_color="off",
        delta_arrow="off",
    )
    m4.metric("Computed in", f"{t.seconds:.0f} s", "shipped with the app" if shipped else None, delta_color="off",
              delta_arrow="off")  # fmt: skip
    if shipped:
        st.caption(
            f"Shown at once: the trajectory shipped for this pair on its demo set, written by `python -m "
            f"attnflow_core overview --trajectory --task {t.task} --n {len(t.uids)}`; any other N, measure or "
            "data source is computed here."
        )
    render_bokeh(build_curves_layout(t), key="trajectory_curves")
    task = get_task(t.task)
    st.caption(
        f"**Left:** the held-out accuracy recorded during training, the accuracy on these {len(t.uids)} examples, "
        "and the mean change of all heads as a share of its final value. **Right:** the share of the flow from "
        f"[CLS] (rollout, {t.settings.measure.label.lower()}) into the sentence's tokens that reaches the focus "
        f"tokens, {md_escape(FOCUS_RULES[task.name])}; {t.focus_examples} of the {len(t.uids)} examples have "
        "such tokens. **Below:** the mean change of each layer's heads at each checkpoint, and the same as a "
        "share of the layer's final change. Hao et al. (2020) found that fine-tuning changes the last layers "
        "most, and mostly late: the top rows darkest on the left, and dark only in the last columns on the right."
    )
    st.subheader("Head change per checkpoint")
    st.caption(
        "Each head's mean Jensen–Shannon divergence from the pre-trained model, one map per checkpoint, on one "
        f"colour scale (0 to {float(t.change.max()):.3f}), so growth from one checkpoint to the next shows."
    )
    render_bokeh(build_change_maps(t), key="trajectory_change_maps")
    importance = build_importance_maps(t)
    if importance is not None:
        st.subheader("Head importance per checkpoint")
        st.caption(
            "How much each checkpoint's prediction depends on each head (|∂L/∂ξ|, Michel et al. 2019), averaged "
            "over the examples, on one colour scale across checkpoints."
        )
        render_bokeh(importance, key="trajectory_importance_maps")
    d1, d2, _ = st.columns([1, 1, 2])
    name = f"trajectory-{t.task}-n{len(t.uids)}"
    d1.download_button(
        "Download (json)",
        trajectory_text(t),
        file_name=f"{name}.json",
        mime="application/json",
        key="tr_json",
    )
    d2.download_button(
        "Download (csv)",
        trajectory_frame(t).to_csv(index=False),
        file_name=f"{name}.csv",
        mime="text/csv",
        key="tr_csv",
    )
    st.caption(
        "The JSON file is the one `python -m attnflow_core overview --trajectory` writes (schema "
        "attnflow.trajectory/1); the CSV has a row per checkpoint, layer and head."
    )


selection = page_setup()
st.title("Fine-tuning trajectory")
st.caption(
    "When did attention change? Every checkpoint saved while the counterpart was fine-tuned, compared with the "
    "pre-trained model on N examples: which heads changed first, which layers most and when, and whether "
    "attention changed before or after accuracy rose."
)
if selection is None:
    st.stop()
spec = selection.pair
checkpoints = friendly(lambda: list_checkpoints(spec.tuned))
if checkpoints is None:
    st.stop()
if not checkpoints:
    no_checkpoints(spec, selection.task)
    st.stop()
c1, c2 = st.columns([1, 3])
n = int(
    c1.number_input(
        "Examples (N)",
        min_value=1,
        max_value=MAX_EXAMPLES,
        value=TrajectorySettings().n,
        step=8,
        key="tr_n",
    )
)
renorm = c2.toggle(
    "Hide [CLS]/[SEP] attention (renormalise rows)",
    key="tr_special",
    help="Attention to special tokens is often a no-op sink; hiding it shows where the rest goes.",
)
settings = TrajectorySettings(
    n=n,
    max_length=MAX_LENGTH,
    special=next(m for m in OVERVIEW_SPECIAL_MODES if m.hides == renorm),
    measure=selection.settings.measure,  # the sidebar's attention measure
)
steps = ", ".join(str(c.step) for _, c in checkpoints)
st.caption(
    f"Data: **{md_escape(selection.source)}** / {md_escape(selection.split or 'default split')} (change it on the "
    f"Examples page) · models: {md_escape(spec.title)} · attention measure: {settings.measure.label} · "
    f"{len(checkpoints)} checkpoints, at steps {steps}"
)
request = TrajectoryRequest(
    spec.base, spec.tuned, spec.label_names, selection.task, selection.source, selection.split, settings
)
examples = friendly(lambda: trajectory_examples(request), "The data source is not available.")
if not examples:
    if examples is not None:
        st.info(
            "This source has no examples. Pick another source on the Examples page.",
            icon=":material/folder_off:",
        )
    st.stop()
if len(examples) < n:
    st.info(
        f"This source has {len(examples)} examples; the trajectory uses all of them.", icon=":material/info:"
    )
task_name = selection.task
shipped = friendly(lambda: get_shipped_trajectory(task_name))
if shipped is not None and request.answered_by(shipped, [e.uid for e in examples]):
    show(shipped, shipped=True)
else:
    found = trajectories().get(request)
    if found is None:
        compute_controls(request, len(checkpoints), len(examples))
    else:
        show(found, shipped=False)
