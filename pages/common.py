"""Shared Streamlit plumbing for the pages: cached loaders, the shared sidebar, URL state, Bokeh rendering.

Not a page itself (``app.py`` lists the pages explicitly). Caching lives here, at the page boundary:
``st.cache_resource`` for models keyed by reference strings, ``st.cache_data`` (bounded) for per-example results.
``st.session_state`` holds widget values only; the current selection is mirrored into the URL query string so a
view can be shared and reloaded.
"""

from __future__ import annotations

import html
import logging
import math
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
from attnflow_core.extract import ExampleResult, extract, predict_many
from attnflow_core.measures import DEFAULT_MEASURE, MEASURE_LABELS, MEASURES
from attnflow_core.models import (
    EMBEDDED_BASE,
    IncompatibleModels,
    ModelLoadError,
    ModelPair,
    PairSpec,
    get_pair_spec,
    load_pair,
    pairs_for_task,
)
from attnflow_core.settings import (
    DEFAULTS,
    UNITS,
    SettingsError,
    as_measure,
    as_method,
    as_special,
    as_unit,
    format_layers,
    parse_heads,
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
MAX_LENGTH = 128  # tokens per example in the app: keeps every view interactive on a laptop CPU

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


@st.cache_data(show_spinner=False, max_entries=4)
def get_user_file(
    data: bytes, filename: str, task: str, mapping: tuple[tuple[str, str], ...], split: str
) -> pd.DataFrame:
    """The user's uploaded file, validated as a whole (nothing half-loaded); ``split`` only keys the cache."""
    from attnflow_core.data.userfile import load_user_file

    given = {k: v.strip() for k, v in mapping if v.strip() and v.strip() != k}
    return load_user_file(data, task, mapping=given or None, filename=filename).to_pandas()


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


@st.cache_data(show_spinner=False, max_entries=64)
def get_predictions(
    base_ref: str,
    tuned_ref: str,
    tuned_labels: tuple[str, ...] | None,
    texts: tuple[str, ...],
    text_pairs: tuple[str | None, ...],
) -> list[tuple[str, float] | None]:
    pair = get_pair(base_ref, tuned_ref, tuned_labels)
    preds = predict_many(pair.tuned, list(texts), list(text_pairs), max_length=MAX_LENGTH)
    return [None if p is None else (p.label, p.confidence) for p in preds]


def load_pair_with_status(spec: PairSpec) -> ModelPair | None:
    """The spec's models from the resource cache; the first load shows progress. None (and a message) on error."""
    key = (spec.base, spec.tuned, spec.label_names)
    try:
        if key in loaded_pairs():
            return get_pair(*key)
        with st.status(f"Loading {spec.title} …", expanded=False) as status:
            pair = get_pair(*key)
            status.update(
                label=f"Loaded {spec.title}",
                state="complete",
            )
            status.caption(
                f"Pre-trained: {pair.base.display_name} ({pair.base.weights_format}). "
                f"Fine-tuned: {pair.tuned.display_name} ({pair.tuned.weights_format})."
            )
        loaded_pairs().add(key)
        return pair
    except IncompatibleModels as err:
        st.error(f"**These two models cannot be compared.** {err}", icon=":material/warning:")
    except ModelLoadError as err:
        st.error(f"**The models could not be loaded.** {err}", icon=":material/cloud_off:")
    except DeviceUnavailable as err:
        st.error(f"**The models could not be loaded.** {err}", icon=":material/memory:")
    except Exception as err:  # noqa: BLE001 - e.g. a malformed Hub id: a message, never a traceback
        st.error(
            f"**The models could not be loaded.** {err} Check the model names (a Hub id such as "
            "`bert-base-uncased`, a local folder, or `embedded:minilm`).",
            icon=":material/error:",
        )
    return None


def progress_to(bar: Any) -> Callable[[float, str], None]:
    """A ``progress(fraction, message)`` callback for the core that moves an ``st.progress`` bar."""

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return update


def friendly(fn: Callable[[], T]) -> T | None:
    """Run ``fn``; show expected errors as a message that names the fix instead of a traceback.

    Anything unexpected is shown as a short message too (the traceback goes to the server log), so that no Python
    traceback ever reaches the page.
    """
    try:
        return fn()
    except (AttnflowError, ValueError, RuntimeError, FileNotFoundError) as err:
        st.error(str(err), icon=":material/warning:")
    except Exception as err:  # noqa: BLE001 - see the docstring
        LOG.exception("unexpected error while rendering")
        st.error(
            f"Something went wrong ({err.__class__.__name__}: {err}). Try other settings or another example; "
            "the server log has the details.",
            icon=":material/error:",
        )
    return None


# ---------------------------------------------------------------- URL state


def init_state() -> None:
    """Once per session, seed the selection from the URL query string (so shared links reopen the same view).

    A URL with ``preset=<key>`` (the preset links, ``attnflow_core.presets``) replaces the selection in a running
    session too; ``sync_url`` then drops the ``preset`` parameter.
    """
    ss = st.session_state
    params = st.query_params
    # setdefault: a key is seeded from the URL only when the session does not have it yet (its first run).
    put = ss.__setitem__ if "preset" in params else ss.setdefault
    for key, (param, default) in URL_KEYS.items():
        put(key, params.get(param, default))
    special = params.get("special", "keep")
    put("hide_special", special in ("exclude", "renormalise"))
    put("special_mode", special if special in ("exclude", "renormalise") else "renormalise")


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
        if value not in (default, "", implicit.get(key)):
            wanted[param] = value
    if ss.get("hide_special"):
        wanted["special"] = str(ss.get("special_mode", "renormalise"))
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


# ---------------------------------------------------------------- sidebar


def bind(key: str, then: Callable[[], None] | None = None) -> dict[str, Any]:
    """Widget kwargs that keep ``key``'s value across pages.

    A widget's identity includes its page, so the same ``key`` drawn on another page would start from its default.
    The value therefore lives under ``key`` and the widget under ``_w_<key>``, seeded from it on every run and
    copied back when the user changes it.
    """
    wkey = f"_w_{key}"
    st.session_state[wkey] = st.session_state.get(key)

    def store() -> None:
        st.session_state[key] = st.session_state[wkey]
        if then is not None:
            then()

    return {"key": wkey, "on_change": store}


def _parse_layers(value: Any, num_layers: int) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        a, b = int(value[0]), int(value[1])
    else:
        try:
            a, b = parse_layers(str(value)) or (1, num_layers)
        except SettingsError:
            a, b = 1, num_layers
    a = min(max(a, 1), num_layers)
    b = min(max(b, a), num_layers)
    return a, b


def _parse_heads(value: Any, num_heads: int) -> list[int]:
    if isinstance(value, (list, tuple)):
        items = [int(v) for v in value]
    else:
        try:
            items = list(parse_heads(str(value)) or ())
        except SettingsError:
            items = []
    items = sorted({h for h in items if 0 <= h < num_heads})
    return items


def _as_float(value: Any, default: float, lo: float, hi: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    if not math.isfinite(x):
        return default
    return min(max(x, lo), hi)


CUSTOM = "custom"


def current_pair_spec() -> PairSpec:
    task = st.session_state.get("task", DEFAULT_TASK)
    options = pairs_for_task(task)
    key = st.session_state.get("pair", "")
    if key == CUSTOM:
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
        return "", custom_text, (pair_text or None) if len(task.text_columns) > 1 else None, None
    source, split = ss.get("source", "demo"), ss.get("split", "")
    try:
        df = get_examples(task.name, source, split)
    except Exception as err:  # noqa: BLE001 - an unreachable source falls back to the demo set, with a note
        st.warning(
            f"The data source **{source}** is not available ({err}); showing the demo set instead. "
            "Pick another source on the Examples page.",
            icon=":material/cloud_off:",
        )
        df = get_examples(task.name, "demo", "")
    if df.empty:
        df = get_examples(task.name, "demo", "")
    uid = str(ss.get("example", ""))
    rows = df[df["uid"] == uid]
    if uid and not len(rows):
        st.warning(
            f"Example **{uid}** is not in this source and split; showing its first example instead.",
            icon=":material/search_off:",
        )
    row = rows.iloc[0] if len(rows) else df.iloc[0]
    text = str(row[task.text_columns[0]])
    text_pair = str(row[task.text_columns[1]]) if len(task.text_columns) > 1 else None
    gold = str(row["label"]) or None
    return str(row["uid"]), text, text_pair, gold


def sidebar() -> Selection | None:
    """Draw the controls shared by every page and return the current selection (None if models failed)."""
    ss = st.session_state
    with st.sidebar:
        task_names = list(TASKS)
        if ss.get("task") not in task_names:
            ss["task"] = DEFAULT_TASK
        st.selectbox(
            "Task",
            task_names,
            **bind("task", _on_task_change),
            format_func=lambda t: TASKS[t].title,
            help="QA validity (QNLI), natural-language inference, or sentiment.",
        )
        specs = pairs_for_task(ss["task"])
        keys = [s.key for s in specs] + [CUSTOM]
        if ss.get("pair") not in keys:
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
                "Pre-trained model", **bind("custom_base"), placeholder="bert-base-uncased or a folder"
            )
            st.text_input(
                "Fine-tuned model", **bind("custom_tuned"), placeholder="textattack/bert-base-uncased-SST-2"
            )
        spec = current_pair_spec()
        pair = load_pair_with_status(spec)
        if pair is None:
            return None
        uid, text, text_pair, gold = current_example()
        result = friendly(lambda: get_result(spec.base, spec.tuned, spec.label_names, text, text_pair))
        if result is None:
            return None

        st.divider()
        st.caption("Flow settings")
        n_layers, n_heads = result.num_layers, result.num_heads
        if ss.get("method") not in METHODS:
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
        a, b = _parse_layers(ss.get("layers", ""), n_layers)
        ss["layers"] = (a, b)
        st.slider(
            "Layer range", 1, n_layers, **bind("layers"), help="Trace only through these transformer layers."
        )
        heads = _parse_heads(ss.get("heads", ""), n_heads)
        ss["heads"] = heads
        st.multiselect(
            "Heads (none selected = all)",
            list(range(n_heads)),
            **bind("heads"),
            help="Restrict the flow to a subset of attention heads.",
        )
        ss["tau"] = _as_float(ss.get("tau"), DEFAULTS.threshold, 0.0, 1.0)
        st.slider(
            "Threshold τ", 0.0, 1.0, step=0.01, **bind("tau"), help="Trace keeps edges with weight ≥ τ."
        )
        ss["alpha"] = _as_float(ss.get("alpha"), DEFAULTS.decay, 0.05, 1.0)
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
        unit_options = UNITS
        if ss.get("unit") not in unit_options:
            ss["unit"] = DEFAULTS.unit
        st.radio(
            "Units",
            unit_options,
            **bind("unit"),
            format_func=lambda u: "WordPiece tokens" if u == "token" else "Whole words",
            horizontal=True,
        )
        labels = result.encoding.words if ss["unit"] == "word" else result.encoding.tokens
        src = int(_as_float(ss.get("src"), 0, 0, len(labels) - 1))
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
            if ss.get("special_mode") not in ("exclude", "renormalise"):
                ss["special_mode"] = "renormalise"
            st.radio(
                "How to hide",
                ("renormalise", "exclude"),
                **bind("special_mode"),
                format_func=SPECIAL_LABELS.__getitem__,
            )
        special = str(ss["special_mode"]) if ss["hide_special"] else "keep"
    settings = FlowSettings(
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
        num_layers=n_layers,
    )


def presets_menu() -> None:
    """Sidebar links to the built-in views (``attnflow_core.presets``); each opens its page with its URL state."""
    from attnflow_core.presets import PRESETS

    with st.sidebar.expander("Presets: the paper's teaser and two findings"):
        for p in PRESETS:
            st.page_link(f"pages/{p.page}.py", label=p.title, query_params=p.query_dict, help=p.explanation)


def _on_task_change() -> None:
    ss = st.session_state
    for key in ("pair", "example", "custom_text", "custom_pair", "split"):
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

    return friendly(run)


def example_header(selection: Selection, result: ExampleResult) -> None:
    """The example's text, the fine-tuned prediction beside the gold label, and a truncation note."""
    task = get_task(selection.task)
    cols = task.text_columns
    lines = [f"**{cols[0].capitalize()}:** {html.escape(selection.text)}"]
    if selection.text_pair is not None and len(cols) > 1:
        lines.append(f"**{cols[1].capitalize()}:** {html.escape(selection.text_pair)}")
    st.markdown("  \n".join(lines))
    pred = result.prediction_tuned
    c1, c2, c3 = st.columns(3)
    if pred is not None:
        c1.metric("Fine-tuned prediction", pred.label, f"confidence {pred.confidence:.0%}", delta_color="off")
    else:
        c1.metric(
            "Fine-tuned prediction", "—", "the tuned model has no classification head", delta_color="off"
        )
    c2.metric("Gold label", selection.gold or "—")
    ok = is_correct(pred.label if pred is not None else None, selection.gold)
    if ok is not None:
        c3.metric("Verdict", "correct ✓" if ok else "wrong ✗")
    st.caption(
        f"Pre-trained: `{result.base_ref}` ({result.base_weights or 'weights format unknown'}) · fine-tuned: "
        f"`{result.tuned_ref}` ({result.tuned_weights or 'weights format unknown'}) · attention measure: "
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
    init_state()
    selection = sidebar()
    sync_url(selection)
    return selection


# ---------------------------------------------------------------- the user's own counterparts


def user_model_name(task: str, source: str, split: str, df: pd.DataFrame) -> str:
    """A readable, stable folder name for a counterpart trained on one data set: same rows -> same name, and two
    different files with as many rows get different names (a digest of the labelled rows is part of it)."""
    import hashlib

    cols = [c for c in (*get_task(task).text_columns, "label") if c in df.columns]
    digest = hashlib.sha256(pd.util.hash_pandas_object(df[cols], index=False).values.tobytes()).hexdigest()[
        :8
    ]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{task}-{source}-{split or 'all'}")
    return f"{safe}-{len(df)}-{digest}"


def user_model_exists(name: str) -> bool:
    from attnflow_core.paths import user_models_dir

    return (user_models_dir() / name / "attnflow.json").exists()


def finetune_user_model(
    task: str, df: pd.DataFrame, name: str, config: Any, progress: Callable[[float, str], None]
) -> float:
    """Train a quick LoRA counterpart on the labelled rows of ``df``; returns its held-out accuracy (nan if none)."""
    import datasets

    from attnflow_core.data.files import split_heldout
    from attnflow_core.finetune import finetune
    from attnflow_core.paths import user_models_dir

    cols = [*get_task(task).text_columns, "label"]
    labelled = df[df["label"].astype(str) != ""][cols].reset_index(drop=True)
    ds = datasets.Dataset.from_pandas(labelled, preserve_index=False)
    train, held = split_heldout(ds, 0.1, config.seed)
    result = finetune(
        task,
        train,
        held if len(held) else None,
        config,
        user_models_dir() / name,
        progress=progress,
        data_description=f"{len(labelled)} labelled rows of {name} (fine-tuned from the app)",
    )
    return float("nan") if result.eval_accuracy is None else float(result.eval_accuracy)


# ---------------------------------------------------------------- dataset overview


def open_overview_example(ov: Any, row: pd.Series) -> None:
    """Select an overview's example for the Attention flow page: its task, its model pair and the example itself
    (by id when the overview's source and split are the current ones, else as custom text)."""
    ss = st.session_state
    same_data = (ov.task, ov.source, ov.split) == (ss.get("task"), ss.get("source"), ss.get("split", ""))
    if ov.task != ss.get("task"):
        ss.update(task=ov.task, source="demo", split="")
    match = [s for s in pairs_for_task(ov.task) if (s.base, s.tuned) == (ov.base_ref, ov.tuned_ref)]
    if match:
        ss["pair"] = match[0].key
    else:
        ss.update(pair=CUSTOM, custom_base=ov.base_ref, custom_tuned=ov.tuned_ref)
    ss["src"] = 0
    if same_data:
        ss.update(example=str(row["uid"]), custom_text="", custom_pair="")
    else:
        text_pair = row.get("text_pair")
        ss.update(
            example="",
            custom_text=str(row["text"]),
            custom_pair="" if text_pair is None or pd.isna(text_pair) else str(text_pair),
        )


@st.cache_data(show_spinner=False, max_entries=8)
def read_overview(path: str, mtime: float) -> Any:
    """An overview file from the disk cache, None when unreadable (``mtime`` keys the cache so a rewritten file is
    re-read)."""
    from attnflow_core.overview import read_cached_overview

    return read_cached_overview(path)


@st.cache_data(show_spinner=False, max_entries=4)
def read_uploaded_overview(data: bytes, filename: str) -> Any:
    from attnflow_core.overview import load_overview

    return load_overview(data, filename)
