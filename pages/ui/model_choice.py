"""Which models the pages compare, beyond the pair's menu: the fine-tuned model's checkpoint slider, and the
confirmation a custom pair (a folder or Hub id named by a link) needs before anything is loaded."""

from __future__ import annotations

import streamlit as st

from attnflow_core.checkpoints import checkpoint_choice, checkpoint_tick, split_checkpoint_ref
from attnflow_core.models import (
    CUSTOM_PAIR,
    PairSpec,
    at_checkpoint,
    is_embedded_ref,
    is_registered_ref,
    model_fingerprint,
    refs_to_load,
)
from attnflow_core.urlstate import Dropped, parse_step
from pages.ui import state
from pages.ui.boundary import md_escape, notice
from pages.ui.loaders import get_checkpoints

CHECKPOINT_HELP = (
    "Fine-tuning was saved at several points of training. Move the slider to compare the pre-trained model with an "
    "earlier point: step 0 is the pre-trained encoder with the untrained classifier head, the last the fine-tuned "
    "model itself. Each point says its share of training and its accuracy on the held-out rows."
)


def checkpoint_control(spec: PairSpec) -> PairSpec:
    """The fine-tuned model's checkpoint slider, under the model pair, when that model records checkpoints; returns
    the pair the pages compare: its fine-tuned reference ``REF@step-N`` for an earlier checkpoint, the pair itself
    for the final one (so the default URL and every cache are the plain pair's). A link's step that is not one of
    the model's is dropped (notice)."""
    if split_checkpoint_ref(spec.tuned)[1] is not None:  # a custom reference names its checkpoint itself
        return spec
    found = get_checkpoints(spec.tuned, model_fingerprint(spec.tuned))
    steps = [c.step for _, c in found]
    raw = str(state.CHECKPOINT.raw() or "")
    if raw:
        step = parse_step(raw, steps)
        if step is None:
            have = (
                ", ".join(str(s) for s in steps)
                if steps
                else "none: this fine-tuned model records no checkpoints"
            )
            notice(Dropped("step", f"a checkpoint step of this model ({have})"))
        state.CHECKPOINT.set("" if step is None or step == steps[-1] else str(step))
    if len(found) < 2:
        return spec
    records = {str(c.step): c for _, c in found}
    records[""] = found[-1][1]
    st.select_slider(
        "Fine-tuning checkpoint",
        [str(s) for s in steps[:-1]] + [""],
        **state.bind(state.CHECKPOINT),
        format_func=lambda k: checkpoint_tick(records[k]),
        help=CHECKPOINT_HELP,
    )
    chosen = state.CHECKPOINT.get()
    st.caption(
        f"**{checkpoint_choice(records[chosen])}**. The flow view, head differences and interventions (and every "
        "page) compare the pre-trained model with this point of fine-tuning; step 0 is the pre-trained encoder with "
        "the untrained head."
    )
    return at_checkpoint(spec, int(chosen) if chosen else None, steps[-1])


def forget_checkpoint() -> None:
    """Another fine-tuned model: its slider starts at its final checkpoint."""
    state.CHECKPOINT.set("")


def custom_pair_confirmed(spec: PairSpec) -> bool:
    """Whether the models of a custom pair may be loaded: references the server offers itself always may; any other
    (a folder or Hub id named by a link or an overview file) only after the person at the page confirms it."""
    if spec.key != CUSTOM_PAIR:
        return True
    # an adapter folder also loads the base its attnflow.json names: that one is confirmed by name too
    refs = list(dict.fromkeys((spec.base, spec.tuned, *refs_to_load(spec.base), *refs_to_load(spec.tuned))))
    if all(is_embedded_ref(r) or is_registered_ref(r) for r in refs) or state.CUSTOM_CONFIRMED.get() == refs:
        return True
    hidden = "".join(f"and the base an adapter folder names: **{md_escape(r)}**  \n" for r in refs[2:])
    st.info(
        "This link names models to load from a folder or the Hub:  \n"
        f"pre-trained **{md_escape(spec.base)}**  \nfine-tuned **{md_escape(spec.tuned)}**  \n{hidden}"
        "Nothing is loaded until you confirm.",
        icon=":material/help:",
    )
    if st.button("Load these models", key="confirm_custom", type="primary"):
        state.CUSTOM_CONFIRMED.set(refs)
        st.rerun()
    return False
