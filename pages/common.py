"""Shared Streamlit plumbing for the pages: cached loaders, the shared sidebar, URL state, Bokeh rendering.

Not a page itself (``app.py`` lists the pages explicitly). Caching lives here, at the page boundary:
``st.cache_resource`` for models keyed by reference strings, ``st.cache_data`` (bounded) for per-example results.
``st.session_state`` holds widget values only; the current selection is mirrored into the URL query string so a
view can be shared and reloaded.
"""

from __future__ import annotations

import logging
import os
import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from attnflow_core.analysis import METHODS, Analysis, FlowSettings, analyse
from attnflow_core.data.sources import load_examples
from attnflow_core.data.tasks import DEFAULT_TASK, TASKS, get_task, is_correct
from attnflow_core.device import DeviceUnavailable
from attnflow_core.errors import AttnflowError
from attnflow_core.extract import ExampleResult, extract
from attnflow_core.measures import DEFAULT_MEASURE, MEASURE_LABELS, MEASURES
from attnflow_core.models import (
    EMBEDDED_BASE,
    REGISTRY,
    IncompatibleModels,
    ModelLoadError,
    ModelPair,
    PairSpec,
    get_pair_spec,
    load_pair,
    pairs_for_task,
    refs_to_load,
)
from attnflow_core.settings import (
    ALLOW_CUSTOM_ENV,
    DEFAULTS,
    HIDE_MODES,
    UNITS,
    allow_custom_models,
    as_measure,
    as_method,
    as_special,
    as_unit,
    format_layers,
)
from attnflow_core.urlstate import (
    MAX_REF_CHARS,
    Dropped,
    bounded_params,
    max_chars,
    parse_choice,
    parse_float,
    parse_heads,
    parse_int,
    parse_layers,
)

T = TypeVar("T")
LOG = logging.getLogger("attnflow.app")

METHOD_LABELS = {
    "trace": "Trace (paper: thresholded edges)",
    "rollout": "Attention rollout",
    "maxflow": "Attention max-flow",
}
SPECIAL_LABELS = {
    "keep": "keep",
    "exclude": "hide (drop, no renormalising)",
    "renormalise": "hide and renormalise rows",
}
APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
HISTORY_JS = Path(__file__).with_name("history.js")
BOKEH_GC_JS = Path(__file__).with_name("bokeh_gc.js")
MAX_LENGTH = 128  # tokens per example in the app: keeps every view interactive on a laptop CPU
LONG_TEXT_CHARS = 600  # longer example texts are collapsed (an expander) above the figures

# Widget keys whose values travel in the URL: key -> (query parameter, default)
URL_KEYS: dict[str, tuple[str, str]] = {
    "task": ("task", DEFAULT_TASK),
    "pair": ("pair", ""),
    "source": ("source", "demo"),
    "split": ("split", ""),
    "example": ("ex", ""),
    "custom_text": ("text", ""),
    "custom_pair": ("text_pair", ""),
    "custom_base": ("base", ""),
    "custom_tuned": ("tuned", ""),
    "method": ("method", DEFAULTS.method),
    "layers": ("layers", ""),
    "heads": ("heads", ""),
    "tau": ("tau", str(DEFAULTS.threshold)),
    "alpha": ("alpha", str(DEFAULTS.decay)),
    "src": ("src", str(DEFAULTS.source)),
    "unit": ("unit", DEFAULTS.unit),
    "per_head": ("per_head", "False"),
    "differences": ("diff", "True"),
    "measure": ("measure", DEFAULTS.measure),
}


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


# ---------------------------------------------------------------- showing untrusted text

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$:&=@])")
_MD_ORDERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# GFM turns bare URLs, www.hosts and e-mail addresses into links after parsing (so backslashes do not stop it): a
# WORD JOINER (invisible, U+2060) inside each such pattern keeps it text.
_AUTOLINK = re.compile(r"((?:https?|ftp|mailto|www)(?=\\?[:.])|(?=\\@))", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """``text`` for a Markdown element (markdown, caption, metric, error, ...), shown literally: every ASCII
    punctuation character that Markdown, Streamlit's directives (``:red[..]``, ``:emoji:``) or LaTeX (``$``) could
    read is backslash-escaped, bare URLs get an invisible word joiner (GFM would link them), and line breaks
    become Markdown line breaks. Texts from data, files and URLs go
    through here, so they can never add a link, an image or formatting."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text))
    escaped = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _MD_ORDERED.sub(r"\1\\.", escaped))
    return "  \n".join(escaped.splitlines()) if "\n" in escaped else escaped


def notice(dropped: Dropped) -> None:
    """A one-line notice that a link's value was not used."""
    st.caption(f":material/link_off: {dropped.notice()}")


def custom_models_allowed() -> bool:
    """Whether visitors may name their own models (Hub ids, folders): ``settings.allow_custom_models`` (fails
    closed: anything but unset or an explicit on value turns them off)."""
    return allow_custom_models(os.environ.get(ALLOW_CUSTOM_ENV))


def _trusted_ref(ref: str) -> bool:
    """References the server offers itself (embedded models, registered pairs, the user's own counterparts)."""
    if ref.startswith("embedded:"):
        return True
    if any(ref in (spec.base, spec.tuned) for spec in REGISTRY):
        return True
    from attnflow_core.models import user_pairs

    return any(ref == spec.tuned for spec in user_pairs())


# ---------------------------------------------------------------- cached loaders (the page boundary)


@st.cache_resource(show_spinner=False, max_entries=4)
def get_pair(base_ref: str, tuned_ref: str, tuned_labels: tuple[str, ...] | None) -> ModelPair:
    from attnflow_core.device import device_from_env

    return load_pair(base_ref, tuned_ref, tuned_labels, device=device_from_env())  # ATTNFLOW_DEVICE


@st.cache_resource(show_spinner=False)
def loaded_pairs() -> set[tuple[str, str, tuple[str, ...] | None]]:
    """The pairs this server has loaded (shared by all sessions): the first load of a pair shows its progress."""
    return set()


@st.cache_data(show_spinner=False, max_entries=32)
def get_examples(task: str, source: str, split: str) -> pd.DataFrame:
    ds = load_examples(task, source, split or None)
    return ds.to_pandas()


@st.cache_data(show_spinner=False, max_entries=32)
def example_positions(task: str, source: str, split: str) -> dict[str, int]:
    """Row position of each example id in ``get_examples(task, source, split)``: O(1) lookup of ``?ex=``."""
    df = get_examples(task, source, split)
    positions: dict[str, int] = {}
    for i, uid in enumerate(df["uid"].astype(str)):
        positions.setdefault(uid, i)
    return positions


@st.cache_data(show_spinner=False, max_entries=16)
def get_result(
    base_ref: str, tuned_ref: str, tuned_labels: tuple[str, ...] | None, text: str, text_pair: str | None
) -> ExampleResult:
    pair = get_pair(base_ref, tuned_ref, tuned_labels)
    return extract(pair, text, text_pair, max_length=MAX_LENGTH)


@st.cache_data(show_spinner=False, max_entries=24)
def get_analysis(
    base_ref: str,
    tuned_ref: str,
    tuned_labels: tuple[str, ...] | None,
    text: str,
    text_pair: str | None,
    settings: FlowSettings,
) -> Analysis:
    result = get_result(base_ref, tuned_ref, tuned_labels, text, text_pair)
    return analyse(result, settings)


def load_pair_with_status(spec: PairSpec) -> ModelPair | None:
    """The spec's models from the resource cache; the first load shows progress. None (and a message) on error."""
    key = (spec.base, spec.tuned, spec.label_names)
    try:
        if key in loaded_pairs():
            return get_pair(*key)
        title = md_escape(spec.title)
        with st.status(f"Loading {title} …", expanded=False) as status:
            pair = get_pair(*key)
            status.update(
                label=f"Loaded {title}",
                state="complete",
            )
            status.caption(
                f"Pre-trained: {md_escape(pair.base.display_name)} ({pair.base.weights_format}). "
                f"Fine-tuned: {md_escape(pair.tuned.display_name)} ({pair.tuned.weights_format})."
            )
        loaded_pairs().add(key)
        return pair
    except IncompatibleModels as err:
        st.error(f"**These two models cannot be compared.** {md_escape(str(err))}", icon=":material/warning:")
    except ModelLoadError as err:
        st.error(f"**The models could not be loaded.** {md_escape(str(err))}", icon=":material/cloud_off:")
    except DeviceUnavailable as err:
        st.error(f"**The models could not be loaded.** {md_escape(str(err))}", icon=":material/memory:")
    except Exception as err:  # noqa: BLE001 - e.g. a malformed Hub id: a message, never a traceback
        LOG.warning("model loading failed", exc_info=True)
        st.error(
            f"**The models could not be loaded.** {md_escape(str(err))} Check the model names (a Hub id such as "
            f"`bert-base-uncased`, a local folder, or `{EMBEDDED_BASE}`).",
            icon=":material/error:",
        )
    return None


def progress_to(bar: Any) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback for the core that moves an ``st.progress`` bar."""

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return update


def friendly(fn: Callable[[], T]) -> T | None:
    """Run ``fn``; show a user mistake (an ``AttnflowError``) as its message, which names the fix.

    Anything else is a bug: a short apology on the page and the traceback in the server log (``apologise``), so
    that no Python traceback ever reaches the page.
    """
    try:
        return fn()
    except AttnflowError as err:
        st.error(md_escape(str(err)), icon=":material/warning:")
    except Exception as err:  # noqa: BLE001 - see the docstring
        apologise(err)
    return None


def apologise(err: BaseException) -> None:
    """The page boundary for a bug: a short apology on the page, the traceback in the server log."""
    LOG.error("unexpected error while rendering", exc_info=err)
    st.error(
        f"Something went wrong ({err.__class__.__name__}). Try other settings or another example; "
        "the server log has the details.",
        icon=":material/error:",
    )


# ---------------------------------------------------------------- URL state


def init_state() -> None:
    """Once per session, seed the selection from the URL query string (so shared links reopen the same view).

    A URL with ``preset=<key>`` (the preset links, ``attnflow_core.presets``) replaces the selection in a running
    session too; ``sync_url`` then drops the ``preset`` parameter.
    """
    ss = st.session_state
    # seeded already: the session's own values win over the URL (a preset link replaces them)
    if "task" in ss and "preset" not in st.query_params:
        return
    known = {param for param, _ in URL_KEYS.values()} | {"special", "preset"}
    params, dropped = bounded_params({k: st.query_params.get(k, "") for k in st.query_params}, known)
    for item in dropped:
        notice(item)
    # setdefault: a key is seeded from the URL only when the session does not have it yet (its first run).
    put = ss.__setitem__ if "preset" in params else ss.setdefault
    for key, (param, default) in URL_KEYS.items():
        put(key, params.get(param, default))
    special = params.get("special", "keep")
    put("hide_special", special in HIDE_MODES)
    put("special_mode", special if special in HIDE_MODES else HIDE_MODES[0])


def sync_url(selection: Selection | None = None) -> None:
    """Mirror the selection into the URL so the view can be shared; only non-default values are written (the
    task's first model pair and the full layer range count as defaults too)."""
    ss = st.session_state
    wanted = {}
    implicit: dict[str, str] = {}
    if selection is not None:
        implicit["pair"] = pairs_for_task(selection.task)[0].key
        implicit["layers"] = format_layers((1, selection.num_layers))
    for key, (param, default) in URL_KEYS.items():
        value = ss.get(key, default)
        if key == "layers" and isinstance(value, (list, tuple)):
            value = format_layers((value[0], value[1]))
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        value = str(value)
        if len(value) > max_chars(param):
            continue  # a long pasted text stays in the session; a link cannot carry it
        if value not in (default, "", implicit.get(key)):
            wanted[param] = value
    if ss.get("hide_special"):
        wanted["special"] = str(ss.get("special_mode", HIDE_MODES[0]))
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


# ---------------------------------------------------------------- sidebar


def _page_id() -> str:
    """The page being run (its script hash), or "" outside a running app."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return str(getattr(ctx, "page_script_hash", "") or "") if ctx is not None else ""


def bind(key: str, then: Callable[[], None] | None = None) -> dict[str, Any]:
    """Widget kwargs that keep ``key``'s value across pages.

    A widget's identity includes its page, so the same ``key`` drawn on another page would start from its default.
    The value therefore lives under ``key`` and the widget under ``_w_<key>``, seeded from it on every run and
    copied back when the user changes it. The callback (``then``) must stay light: heavy work belongs to the run.
    """
    wkey, pkey = f"_w_{key}", f"_p_{key}"
    # Seed the widget only on a new page or when the app changed the value: assigning a widget's state on every
    # run makes Streamlit push that value back to the browser, which overwrote quick arrow-key steps on a slider
    # made while a rerun was under way. (``_p_<key>`` records the page the widget was last drawn on.)
    page = _page_id()
    ss = st.session_state
    if ss.get(pkey) != page or wkey not in ss or ss[wkey] != ss.get(key):
        ss[wkey] = ss.get(key)
    ss[pkey] = page

    def store() -> None:
        st.session_state[key] = st.session_state[wkey]
        if then is not None:
            then()

    return {"key": wkey, "on_change": store}


CUSTOM = "custom"


def current_pair_spec() -> PairSpec:
    task = st.session_state.get("task", DEFAULT_TASK)
    options = pairs_for_task(task)
    key = st.session_state.get("pair", "")
    if key == CUSTOM and custom_models_allowed():
        base = str(st.session_state.get("custom_base", "") or "").strip() or EMBEDDED_BASE
        tuned = str(st.session_state.get("custom_tuned", "") or "").strip() or f"embedded:{task}"
        return PairSpec(CUSTOM, task, f"{base} → {tuned}", base, tuned, offline=False)
    try:
        spec = get_pair_spec(key)
        if spec.task == task:
            return spec
    except ValueError:
        pass
    return options[0]


def current_example() -> tuple[str, str, str | None, str | None]:
    """(uid, text, text_pair, gold label) of the chosen example; the first demo example when none is chosen."""
    ss = st.session_state
    task = get_task(ss.get("task", DEFAULT_TASK))
    custom_text = str(ss.get("custom_text", "") or "").strip()
    if custom_text and not ss.get("example"):
        pair_text = str(ss.get("custom_pair", "") or "").strip()
        gold = (
            str(ss.get("custom_gold", "") or "") or None
        )  # a row chosen from an uploaded file keeps its label
        return "", custom_text, (pair_text or None) if len(task.text_columns) > 1 else None, gold
    source, split = str(ss.get("source", "demo")), str(ss.get("split", ""))
    from attnflow_core.data.sources import list_sources

    known = {s.key: s for s in list_sources(task.name, include_file=True)}
    if source not in known or (split and split not in known[source].splits):
        notice(Dropped("source" if source not in known else "split", "not a data source of this task"))
        ss["source"], ss["split"] = "demo", ""
        source, split = "demo", ""
    if source == "file":
        # An uploaded file lives in the browser session: its chosen row travels as custom text (above). Until a
        # row is chosen, the demo set stands in, without a warning (the Examples page shows the uploader).
        source, split = "demo", ""
    try:
        df = get_examples(task.name, source, split)
    except Exception as err:  # noqa: BLE001 - an unreachable source falls back to the demo set, with a note
        st.warning(
            f"The data source **{md_escape(source)}** is not available ({md_escape(str(err))}); showing the "
            "demo set instead. "
            "Pick another source on the Examples page.",
            icon=":material/cloud_off:",
        )
        source, split = "demo", ""
        df = get_examples(task.name, source, split)
    if df.empty:
        source, split = "demo", ""
        df = get_examples(task.name, source, split)
    uid = str(ss.get("example", ""))
    position = example_positions(task.name, source, split).get(uid) if uid else None
    if uid and position is None:
        st.warning(
            f"Example **{md_escape(uid[:100])}** is not in this source and split; showing its first example "
            "instead.",
            icon=":material/search_off:",
        )
    row = df.iloc[position if position is not None and position < len(df) else 0]
    text = str(row[task.text_columns[0]])
    text_pair = str(row[task.text_columns[1]]) if len(task.text_columns) > 1 else None
    gold = str(row["label"]) or None
    return str(row["uid"]), text, text_pair, gold


def sidebar() -> Selection | None:
    """Draw the controls shared by every page and return the current selection (None if models failed)."""
    ss = st.session_state
    with st.sidebar:
        spec = _pair_controls()
        if not custom_pair_confirmed(spec):
            return None
        pair = load_pair_with_status(spec)
        if pair is None:
            return None
        uid, text, text_pair, gold = current_example()
        result = friendly(lambda: get_result(spec.base, spec.tuned, spec.label_names, text, text_pair))
        if result is None:
            return None
        settings = _flow_controls(result)
    presets_menu()
    return Selection(
        task=str(ss["task"]),
        pair=spec,
        source=str(ss.get("source", "demo")),
        split=str(ss.get("split", "")),
        example_uid=uid,
        text=text,
        text_pair=text_pair,
        gold=gold,
        settings=settings,
        num_layers=result.num_layers,
    )


def _pair_controls() -> PairSpec:
    """The task and model-pair pickers (and a custom pair's two references); returns the chosen pair."""
    ss = st.session_state
    task_names = list(TASKS)
    if ss.get("task") not in task_names:
        if ss.get("task"):
            notice(Dropped("task", f"choose one of {', '.join(task_names)}"))
        ss["task"] = DEFAULT_TASK
    st.selectbox(
        "Task",
        task_names,
        **bind("task", _on_task_change),
        format_func=lambda t: TASKS[t].title,
        help="QA validity (QNLI), natural-language inference, or sentiment.",
    )
    specs = pairs_for_task(ss["task"])
    keys = [s.key for s in specs] + ([CUSTOM] if custom_models_allowed() else [])
    if ss.get("pair") not in keys:
        if ss.get("pair"):
            notice(Dropped("pair", "not a model pair of this task on this server"))
        ss["pair"] = keys[0]
    st.selectbox(
        "Model pair (pre-trained → fine-tuned)",
        keys,
        **bind("pair"),
        format_func=lambda k: (
            "Custom pair (Hub ids or local folders) …" if k == CUSTOM else get_pair_spec(k).title
        ),
        help="Hub pairs need the network the first time; the embedded pairs work offline.",
    )
    if ss["pair"] == CUSTOM:
        st.text_input(
            "Pre-trained model",
            **bind("custom_base", _confirm_custom),
            placeholder="bert-base-uncased or a folder",
            max_chars=MAX_REF_CHARS,
        )
        st.text_input(
            "Fine-tuned model",
            **bind("custom_tuned", _confirm_custom),
            placeholder="textattack/bert-base-uncased-SST-2",
            max_chars=MAX_REF_CHARS,
        )
    return current_pair_spec()


def _flow_controls(result: ExampleResult) -> FlowSettings:
    """The flow settings' widgets (method, measure, layers, heads, τ, α, units, source, special tokens), each
    value checked first and dropped with a notice if it does not fit this model and example."""
    ss = st.session_state
    st.divider()
    st.caption("Flow settings")
    _method_controls()
    _range_controls(result.num_layers, result.num_heads)
    src, special = _trace_controls(result)
    return FlowSettings(
        method=as_method(str(ss["method"])),
        source=src,
        threshold=float(ss["tau"]),
        layers=(int(ss["layers"][0]), int(ss["layers"][1])),
        heads=tuple(int(h) for h in ss["heads"]) or None,
        decay=float(ss["alpha"]),
        special=as_special(special),
        unit=as_unit(str(ss["unit"])),
        measure=as_measure(str(ss["measure"])),
    )


def _method_controls() -> None:
    """The method and attention-measure radios."""
    ss = st.session_state
    if ss.get("method") not in METHODS:
        if ss.get("method"):
            notice(Dropped("method", f"choose one of {', '.join(METHODS)}"))
        ss["method"] = DEFAULTS.method
    st.radio("Method", METHODS, **bind("method"), format_func=METHOD_LABELS.__getitem__, horizontal=False)
    if ss.get("measure") not in MEASURES:
        ss["measure"] = DEFAULT_MEASURE
    st.radio(
        "Attention measure",
        sorted(MEASURES, key=lambda m: m != DEFAULT_MEASURE),  # the default first
        **bind("measure"),
        format_func=MEASURE_LABELS.__getitem__,
        help="Norm-weighted: how much each token's vector actually contributes to a head's output, ‖α·f(x)‖; "
        "attention to [CLS]/[SEP] carries small vectors, so those sinks shrink. Raw weights: the paper's α. "
        "Every method, the graph, the head differences and the exports use the chosen measure (About page).",
    )


def _range_controls(n_layers: int, n_heads: int) -> None:
    """The layer range and head subset, then the threshold τ and decay α sliders."""
    ss = st.session_state
    layers = parse_layers(ss.get("layers", ""), n_layers)
    if layers is None and ss.get("layers"):
        notice(Dropped("layers", f"write a range such as 1:{n_layers} within 1..{n_layers}"))
    ss["layers"] = layers or (1, n_layers)
    st.slider(
        "Layer range", 1, n_layers, **bind("layers"), help="Trace only through these transformer layers."
    )
    heads = parse_heads(ss.get("heads", ""), n_heads)
    if heads is None:
        notice(Dropped("heads", f"write head numbers such as 0,3,5 within 0..{n_heads - 1}"))
    ss["heads"] = list(heads or ())
    st.multiselect(
        "Heads (none selected = all)",
        list(range(n_heads)),
        **bind("heads"),
        help="Restrict the flow to a subset of attention heads.",
    )
    tau = parse_float(ss.get("tau"), 0.0, 1.0)
    if tau is None:
        notice(Dropped("tau", "a number from 0 to 1"))
    ss["tau"] = DEFAULTS.threshold if tau is None else tau
    st.slider("Threshold τ", 0.0, 1.0, step=0.01, **bind("tau"), help="Trace keeps edges with weight ≥ τ.")
    alpha = parse_float(ss.get("alpha"), 0.05, 1.0)
    if alpha is None:
        notice(Dropped("alpha", "a number from 0.05 to 1"))
    ss["alpha"] = DEFAULTS.decay if alpha is None else alpha
    st.slider(
        "Decay α per layer",
        0.05,
        1.0,
        step=0.05,
        **bind("alpha"),
        help="Trace influence is multiplied by α for every layer it travels: node markers further from the "
        "source shrink, and heads near the source weigh more in the head grid. The sentence view's scores are "
        "normalised, so α does not change them.",
    )


def _trace_controls(result: ExampleResult) -> tuple[int, str]:
    """The units radio, the source token and the special-token toggle; returns (source index, special mode)."""
    ss = st.session_state
    unit_options = UNITS
    if parse_choice(ss.get("unit"), unit_options) is None:
        if ss.get("unit"):
            notice(Dropped("unit", "choose token or word"))
        ss["unit"] = DEFAULTS.unit
    st.radio(
        "Units",
        unit_options,
        **bind("unit"),
        format_func=lambda u: "WordPiece tokens" if u == "token" else "Whole words",
        horizontal=True,
    )
    labels = result.encoding.words if ss["unit"] == "word" else result.encoding.tokens
    src = parse_int(ss.get("src"))
    if src is None or not 0 <= src < len(labels):
        notice(Dropped("src", f"a token position from 0 to {len(labels) - 1}"))
        src = 0
    ss["src"] = src
    st.selectbox(
        "Trace from",
        list(range(len(labels))),
        **bind("src"),
        format_func=lambda i: f"{labels[i]}  (#{i})",
        help="The token at the deepest layer where the trace starts ([CLS] by default). "
        "Clicking a token node in the flow graph sets it here (and in the URL).",
    )
    st.toggle(
        "Hide [CLS]/[SEP] attention",
        **bind("hide_special"),
        help="Attention to special tokens often acts as a no-op sink (Clark et al. 2019).",
    )
    if ss["hide_special"]:
        if ss.get("special_mode") not in HIDE_MODES:
            ss["special_mode"] = HIDE_MODES[0]
        st.radio(
            "How to hide",
            HIDE_MODES,
            **bind("special_mode"),
            format_func=SPECIAL_LABELS.__getitem__,
        )
    special = str(ss["special_mode"]) if ss["hide_special"] else "keep"
    return src, special


def presets_menu() -> None:
    """Sidebar links to the built-in views (``attnflow_core.presets``); each opens its page with its URL state."""
    from attnflow_core.presets import PRESETS

    with st.sidebar.expander("Presets: the paper's teaser and two findings"):
        for p in PRESETS:
            st.page_link(f"pages/{p.page}.py", label=p.title, query_params=p.query_dict, help=p.explanation)


def custom_pair_confirmed(spec: PairSpec) -> bool:
    """Whether the models of a custom pair may be loaded: references the server offers itself always may; any other
    (a folder or Hub id named by a link or an overview file) only after the person at the page confirms it."""
    if spec.key != CUSTOM:
        return True
    # an adapter folder also loads the base its attnflow.json names: that one is confirmed by name too
    refs = [spec.base, spec.tuned]
    for r in (*refs_to_load(spec.base), *refs_to_load(spec.tuned)):
        if r not in refs:
            refs.append(r)
    if all(_trusted_ref(r) for r in refs):
        return True
    if st.session_state.get("custom_confirmed") == refs:
        return True
    hidden = "".join(f"and the base an adapter folder names: **{md_escape(r)}**  \n" for r in refs[2:])
    st.info(
        "This link names models to load from a folder or the Hub:  \n"
        f"pre-trained **{md_escape(spec.base)}**  \nfine-tuned **{md_escape(spec.tuned)}**  \n{hidden}"
        "Nothing is loaded until you confirm.",
        icon=":material/help:",
    )
    if st.button("Load these models", key="confirm_custom", type="primary"):
        st.session_state["custom_confirmed"] = refs
        st.rerun()
    return False


def _confirm_custom() -> None:
    """The person typed a model reference into the sidebar: that is their confirmation."""
    ss = st.session_state
    ss["custom_confirmed"] = [
        str(ss.get("custom_base", "") or "").strip() or EMBEDDED_BASE,
        str(ss.get("custom_tuned", "") or "").strip() or f"embedded:{ss.get('task', DEFAULT_TASK)}",
    ]


def _on_task_change() -> None:
    ss = st.session_state
    for key in ("pair", "example", "custom_text", "custom_pair", "custom_gold", "split"):
        ss[key] = ""
    ss["source"] = "demo"
    ss["src"] = 0


# ---------------------------------------------------------------- the chosen example


def current_analysis(selection: Selection) -> tuple[ExampleResult, Analysis] | None:
    """The extracted example and its analysis under the current settings (cached); None after an error."""
    spec = selection.pair

    def run() -> tuple[ExampleResult, Analysis]:
        result = get_result(spec.base, spec.tuned, spec.label_names, selection.text, selection.text_pair)
        analysis = get_analysis(
            spec.base, spec.tuned, spec.label_names, selection.text, selection.text_pair, selection.settings
        )
        return result, analysis

    with st.spinner("Computing the flows …"):
        return friendly(run)


def example_header(selection: Selection, result: ExampleResult) -> None:
    """The example's text, the fine-tuned prediction beside the gold label, and a truncation note."""
    task = get_task(selection.task)
    cols = task.text_columns
    parts = [(cols[0], selection.text)]
    if selection.text_pair is not None and len(cols) > 1:
        parts.append((cols[1], selection.text_pair))
    lines = [f"**{name.capitalize()}:** {md_escape(text)}" for name, text in parts]
    if sum(len(text) for _, text in parts) > LONG_TEXT_CHARS:
        with st.expander(
            f"{cols[0].capitalize()} ({sum(len(t.split()) for _, t in parts):,} words): show the text"
        ):
            st.markdown("  \n".join(lines))
    else:
        st.markdown("  \n".join(lines))
    pred = result.prediction_tuned
    c1, c2, c3 = st.columns(3)
    if pred is not None:
        c1.metric(
            "Fine-tuned prediction",
            md_escape(pred.label),
            f"confidence {pred.confidence:.0%}",
            delta_color="off",
        )
    else:
        c1.metric(
            "Fine-tuned prediction", "—", "the tuned model has no classification head", delta_color="off"
        )
    c2.metric("Gold label", md_escape(selection.gold) if selection.gold else "—")
    ok = is_correct(pred.label if pred is not None else None, selection.gold)
    if ok is not None:
        c3.metric("Verdict", "correct ✓" if ok else "wrong ✗")
    st.caption(
        f"Pre-trained: {md_escape(result.base_ref)} ({result.base_weights or 'weights format unknown'}) · "
        f"fine-tuned: {md_escape(result.tuned_ref)} ({result.tuned_weights or 'weights format unknown'}) · attention measure: "
        f"{MEASURE_LABELS[selection.settings.measure]}"
    )
    from attnflow_core.presets import TEASER_ATTRIBUTION, TEASER_UID

    if selection.example_uid == TEASER_UID:
        st.caption(f"Source: {TEASER_ATTRIBUTION}")
    if result.encoding.truncated:
        st.warning(
            f"This example has {result.encoding.n_untruncated} tokens; the app analyses the first {result.encoding.n} "
            f"(limit {MAX_LENGTH}). The CLI takes --max-length up to the model's 512.",
            icon=":material/content_cut:",
        )


def render_bokeh(layout: Any, key: str) -> None:
    """Render one (linked) Bokeh layout. Linked figures must share one call: one Bokeh document.

    The builders size their layouts (``plots.theme.fit``); stretching to the container would rescale the height
    from the width and let the figures overlap what follows.
    """
    from streamlit_bokeh import streamlit_bokeh

    streamlit_bokeh(layout, use_container_width=False, key=key)


def ensure_navigation() -> None:
    """Make sure the page runs inside ``app.py``'s ``st.navigation``, even on a fresh server's first request.

    Streamlit (1.67) decides per server process whether the app uses the old ``pages/`` folder discovery: until some
    run has called ``st.navigation``, a request for a sub-page URL (a shared link such as ``/flow?task=qa`` opened
    right after ``streamlit run``) runs ``pages/<page>.py`` on its own, under an automatic menu that lists every file
    in ``pages/`` (``common`` included) and without ``app.py``'s page config. When that happens, run ``app.py``
    here instead: its ``st.navigation`` switches the discovery off and runs this same page inside the app, and the
    stand-alone run stops. (No rerun: a rerun would drop the button press that started this run.)
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the flag has no such fallback either
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        runpy.run_path(str(APP_PATH), run_name="__main__")
        st.stop()


def page_setup() -> Selection | None:
    """Every page starts here: state from the URL (once), the shared sidebar, then the URL mirrors the selection."""
    ensure_navigation()
    replace_history_for_settings()
    init_state()
    with st.spinner("Updating …"):
        selection = sidebar()
    sync_url(selection)
    return selection


def replace_history_for_settings() -> None:
    """Make setting changes replace the browser's history entry instead of pushing one (``history.js``), so that
    Back goes to the previous page rather than to the same view with a previous slider value; and drop Bokeh
    documents whose figures have left the page (``bokeh_gc.js``). Both scripts are the project's own files."""
    scripts = "\n".join(path.read_text(encoding="utf-8") for path in (HISTORY_JS, BOKEH_GC_JS))
    st.html(f"<script>{scripts}</script>", unsafe_allow_javascript=True)
