"""The sidebar every page shares: task, model pair, the chosen example, the flow settings and the presets."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from attnflow_core.browse import example_fields
from attnflow_core.data.tasks import DEFAULT_TASK, TASKS, get_task
from attnflow_core.errors import AttnflowError
from attnflow_core.models import (
    CUSTOM_PAIR,
    IncompatibleModels,
    ModelPair,
    PairSpec,
    custom_pair_spec,
    get_pair_spec,
    pairs_for_task,
)
from attnflow_core.settings import ALLOW_CUSTOM_ENV, FlowSettings, allow_custom_models, format_layers
from attnflow_core.urlstate import MAX_REF_CHARS, Dropped
from pages.ui import state
from pages.ui.boundary import friendly, md_escape, notice
from pages.ui.controls import flow_controls
from pages.ui.loaders import (
    example_positions,
    extraction_key,
    get_examples,
    get_pair,
    get_result,
    loaded_pairs,
)
from pages.ui.model_choice import checkpoint_control, custom_pair_confirmed, forget_checkpoint


@dataclass(frozen=True)
class Selection:
    """What the user picked: task, model pair, the example and the analysis settings."""

    task: str
    pair: PairSpec
    source: str
    split: str
    example_uid: str  # "" for custom input
    text: str
    text_pair: str | None
    gold: str | None
    settings: FlowSettings
    num_layers: int  # of the models (for the layer-range default)

    @property
    def url_defaults(self) -> dict[str, str]:
        """Values that count as defaults in this selection's URL: the task's first pair, the full layer range."""
        return {"pair": pairs_for_task(self.task)[0].key, "layers": format_layers((1, self.num_layers))}


def custom_models_allowed() -> bool:
    """Whether visitors may name their own models (Hub ids, folders): ``settings.allow_custom_models`` (fails
    closed: anything but unset or an explicit on value turns them off)."""
    return allow_custom_models(os.environ.get(ALLOW_CUSTOM_ENV))


def _load_heading(err: AttnflowError) -> str:
    return (
        "These two models cannot be compared."
        if isinstance(err, IncompatibleModels)
        else "The models could not be loaded."
    )


def load_pair_with_status(spec: PairSpec) -> ModelPair | None:
    """The spec's models from the resource cache; the first load shows progress. None (and a message) on error."""
    key = (spec.base, spec.tuned, spec.label_names)
    if key in loaded_pairs():
        return friendly(lambda: get_pair(*key), _load_heading)

    def load() -> ModelPair:
        title = md_escape(spec.title)
        with st.status(f"Loading {title} …", expanded=False) as status:
            pair = get_pair(*key)
            status.update(label=f"Loaded {title}", state="complete")
            status.caption(
                f"Pre-trained: {md_escape(pair.base.display_name)} ({pair.base.weights_format}). "
                f"Fine-tuned: {md_escape(pair.tuned.display_name)} ({pair.tuned.weights_format})."
            )
        loaded_pairs().add(key)
        return pair

    return friendly(load, _load_heading)


def current_pair_spec() -> PairSpec:
    task = state.TASK.get()
    if state.PAIR.get() == CUSTOM_PAIR and custom_models_allowed():
        return custom_pair_spec(task, state.CUSTOM_BASE.text(), state.CUSTOM_TUNED.text())
    try:
        spec = get_pair_spec(state.PAIR.get())
        if spec.task == task:
            return spec
    except ValueError:
        pass
    return pairs_for_task(task)[0]


def current_example() -> tuple[str, str, str | None, str | None]:
    """(uid, text, text_pair, gold label) of the chosen example; the first demo example when none is chosen."""
    task = get_task(state.TASK.get())
    custom_text = state.CUSTOM_TEXT.text()
    if custom_text and not state.EXAMPLE.get():
        pair_text = state.CUSTOM_PAIR.text() if task.is_pair else ""
        return (
            "",
            custom_text,
            pair_text or None,
            state.CUSTOM_GOLD.get() or None,
        )  # a file row keeps its label
    source, split = str(state.SOURCE.get()), str(state.SPLIT.get())
    from attnflow_core.data.sources import list_sources

    known = {s.key: s for s in list_sources(task, include_file=True)}
    if source not in known or (split and split not in known[source].splits):
        notice(Dropped("source" if source not in known else "split", "not a data source of this task"))
        state.update({"source": "demo", "split": ""})
        source, split = "demo", ""
    if source == "file":
        # An uploaded file lives in the browser session: its chosen row travels as custom text (above). Until a
        # row is chosen, the demo set stands in, without a warning (the Examples page shows the uploader).
        source, split = "demo", ""
    df = friendly(
        lambda: get_examples(task.name, source, split),
        f"The data source {source} is not available; showing the demo set instead (pick another source on the "
        "Examples page).",
        "warning",
    )
    if df is None or df.empty:
        source, split = "demo", ""
        df = get_examples(task.name, source, split)
    uid = str(state.EXAMPLE.get())
    position = example_positions(task.name, source, split).get(uid) if uid else None
    if uid and position is None:
        st.warning(
            f"Example **{md_escape(uid[:100])}** is not in this source and split; showing its first example "
            "instead.",
            icon=":material/search_off:",
        )
    return example_fields(df.iloc[position if position is not None and position < len(df) else 0], task)


def sidebar() -> Selection | None:
    """Draw the controls shared by every page and return the current selection (None if models failed)."""
    with st.sidebar:
        spec = _pair_controls()
        if not custom_pair_confirmed(spec):
            return None
        spec = checkpoint_control(spec)
        if load_pair_with_status(spec) is None:
            return None
        uid, text, text_pair, gold = current_example()
        result = friendly(lambda: get_result(extraction_key(spec, text, text_pair)))
        if result is None:
            return None
        settings = flow_controls(result)
    presets_menu()
    return Selection(
        task=str(state.TASK.get()),
        pair=spec,
        source=str(state.SOURCE.get()),
        split=str(state.SPLIT.get()),
        example_uid=uid,
        text=text,
        text_pair=text_pair,
        gold=gold,
        settings=settings,
        num_layers=result.num_layers,
    )


def _pair_controls() -> PairSpec:
    """The task and model-pair pickers (and a custom pair's two references); returns the chosen pair."""
    task_names = list(TASKS)
    if state.TASK.get() not in task_names:
        if state.TASK.get():
            notice(Dropped("task", f"choose one of {', '.join(task_names)}"))
        state.TASK.set(DEFAULT_TASK)
    st.selectbox(
        "Task",
        task_names,
        **state.bind(state.TASK, _on_task_change),
        format_func=lambda t: TASKS[t].title,
        help="QA validity (QNLI), natural-language inference, or sentiment.",
    )
    keys = [s.key for s in pairs_for_task(state.TASK.get())] + (
        [CUSTOM_PAIR] if custom_models_allowed() else []
    )
    if state.PAIR.get() not in keys:
        if state.PAIR.get():
            notice(Dropped("pair", "not a model pair of this task on this server"))
        state.PAIR.set(keys[0])
    st.selectbox(
        "Model pair (pre-trained → fine-tuned)",
        keys,
        **state.bind(state.PAIR, forget_checkpoint),
        format_func=lambda k: (
            "Custom pair (Hub ids or local folders) …" if k == CUSTOM_PAIR else get_pair_spec(k).title
        ),
        help="Hub pairs need the network the first time; the embedded pairs work offline.",
    )
    if state.PAIR.get() == CUSTOM_PAIR:
        for field, label, example in (
            (state.CUSTOM_BASE, "Pre-trained model", "bert-base-uncased or a folder"),
            (state.CUSTOM_TUNED, "Fine-tuned model", "textattack/bert-base-uncased-SST-2"),
        ):
            st.text_input(
                label, **state.bind(field, _confirm_custom), placeholder=example, max_chars=MAX_REF_CHARS
            )
    return current_pair_spec()


def presets_menu() -> None:
    """Sidebar buttons for the built-in views (``attnflow_core.presets``); each opens its page with its URL state.

    Buttons, not page links: a page link is drawn highlighted when it points at the current page (every flow
    preset looked chosen on the flow page) and clips its label to one line."""
    from attnflow_core.presets import PRESETS

    with st.sidebar.expander("Presets: the paper's teaser and two findings"):
        for p in PRESETS:
            if st.button(p.title, key=f"preset_{p.key}", help=p.explanation, width="stretch", wrap=True):
                st.switch_page(f"pages/{p.page}.py", query_params=p.query_dict)


def _confirm_custom() -> None:
    """The person typed a model reference into the sidebar: that is their confirmation."""
    spec = custom_pair_spec(state.TASK.get(), state.CUSTOM_BASE.text(), state.CUSTOM_TUNED.text())
    state.CUSTOM_CONFIRMED.set([spec.base, spec.tuned])
    forget_checkpoint()


def _on_task_change() -> None:
    """A new task starts at its first example, on every page: the chosen example is forgotten, and so are the
    Examples table's page, search, label filter (and, by ``tables.table_key``, its selected row)."""
    state.update(
        {"pair": "", "example": "", "custom_text": "", "custom_pair": "", "custom_gold": "", "split": ""}
    )
    forget_checkpoint()
    state.update({"source": "demo", "src": 0})
    for field in state.TABLE_WIDGETS:
        field.pop()
