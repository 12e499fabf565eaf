"""The trajectory over fine-tuning checkpoints: the reading's logic on hand-made trajectories (golden sentences),
the focus tokens, and the whole computation on a tiny fine-tuned run (the final checkpoint equals the overview)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_finetune import NEGATIVE, POSITIVE

from attnflow_core.checkpoints import Checkpoint
from attnflow_core.data.sources import Example
from attnflow_core.trajectory import (
    FRAME_COLUMNS,
    Trajectory,
    TrajectoryFileError,
    TrajectoryRequest,
    TrajectorySettings,
    compute_trajectory,
    crossing_step,
    focus_mask,
    focus_share,
    half_point,
    heads_changed_first,
    load_trajectory,
    save_trajectory,
    shipped_trajectory,
    trajectory_frame,
    trajectory_reading,
    trajectory_text,
)

# ---------------------------------------------------------------------------------------------------------------
# hand-made trajectories: K = 4 checkpoints (steps 0, 10, 20, 40), 2 layers × 2 heads

CHANGE = np.zeros((4, 2, 2))
CHANGE[:, 0, 0] = [
    0,
    0.10,
    0.10,
    0.10,
]  # reaches half early, but barely moves: not among "the heads that changed"
CHANGE[:, 1, 1] = [0, 0.30, 0.35, 0.40]  # half (0.2) at checkpoint 1
CHANGE[:, 1, 0] = [0, 0.05, 0.30, 0.40]  # half at checkpoint 2
CHANGE[:, 0, 1] = [0, 0.00, 0.10, 0.30]  # half (0.15) at checkpoint 3
STEPS = (0, 10, 20, 40)


def hand_made(heldout: tuple[float | None, ...], accuracy: tuple[float, ...] = (0.5,) * 4) -> Trajectory:
    records = tuple(
        Checkpoint(
            s, s / 40, s / 10, None if s == 0 else 0.5, a, "." if s == 40 else f"checkpoints/step-{s:04d}"
        )
        for s, a in zip(STEPS, heldout, strict=True)
    )
    return Trajectory(
        task="qa",
        base_ref="embedded:minilm",
        tuned_ref="embedded:qa",
        source="demo",
        split="",
        settings=TrajectorySettings(n=2),
        refs=tuple(f"embedded:qa@step-{s}" for s in STEPS[:-1]) + ("embedded:qa",),
        checkpoints=records,
        uids=("a", "b"),
        accuracy=np.array(accuracy),
        change=CHANGE,
        importance=None,
        focus=np.array([0.2, 0.25, 0.3, np.nan]),
        focus_base=0.2,
        focus_uniform=0.4,
        focus_examples=2,
        seconds=1.0,
        base_seconds=0.1,
        checkpoint_seconds=(0.2, 0.2, 0.2, 0.2),
    )


def test_half_point_golden() -> None:
    assert half_point(np.array([0, 0.1, 0.3, 0.4])) == 2  # 0.3 is the first value >= 0.2
    assert half_point(np.array([0.5, 0.5, 0.7, 0.9])) == 2  # gain 0.4 over the first value: 0.7 - 0.5 >= 0.2
    assert half_point(np.array([0.1, 0.3, 0.4]), baseline=0.0) == 1  # 0.1 < 0.2 = half of 0.4 <= 0.3
    assert half_point(np.array([0.6, 0.7, 0.5])) is None  # ended below where it started: nothing rose
    assert half_point(np.array([0.0, np.nan, 1.0])) is None
    assert half_point(np.array([])) is None


def test_heads_changed_first_skips_heads_that_barely_moved() -> None:
    # mean final change 0.3: head (0, 0) (final 0.1) is left out although it reaches its half at checkpoint 1
    assert heads_changed_first(CHANGE) == [(1, 1, 1), (1, 0, 2), (0, 1, 3)]
    assert heads_changed_first(CHANGE, k=1) == [(1, 1, 1)]
    assert heads_changed_first(np.zeros((3, 2, 2))) == []


def test_crossing_step_interpolates_between_the_checkpoints_around_the_half_point() -> None:
    steps = np.array(STEPS)
    # mean change 0, 0.1125, 0.2125, 0.3: half (0.15) between step 10 and 20, 37.5 % of the way -> 13.75
    assert crossing_step(steps, CHANGE.mean(axis=(1, 2)), 0.0) == pytest.approx(13.75)
    assert crossing_step(steps, np.array([0.5, 0.5, 0.9, 0.9])) == pytest.approx(
        15.0
    )  # 0.7 halfway 0.5 -> 0.9
    assert crossing_step(steps, np.array([0.9, 0.8, 0.7, 0.6])) is None


def test_reading_attention_before_accuracy() -> None:
    # mean change per checkpoint: 0, 0.1125, 0.2125, 0.3 -> half (0.15) at checkpoint 2 (step 20);
    # held-out accuracy 0.5, 0.5, 0.6, 0.9 -> half its gain (0.2) at checkpoint 3 (step 40)
    text = trajectory_reading(hand_made((0.5, 0.5, 0.6, 0.9)))
    assert text == (
        "The heads that changed first (half their final change reached earliest): L2 H1 by step 10 (25 % of "
        "training); L2 H0 by step 20 (50 % of training); L1 H1 by step 40 (100 % of training). By layer, layers 1 "
        "and 2 reached half their final change first, by step 20 (50 % of training); layer 2 changed most by the "
        "end. Attention changed before accuracy rose: the mean change reached half its final value at step 20 (50 % "
        "of training), the held-out accuracy half its final gain at step 40 (100 % of training)."
    )


def test_reading_attention_after_and_together_and_no_rise() -> None:
    after = trajectory_reading(hand_made((0.5, 0.9, 0.9, 0.9)))
    assert "Attention changed after accuracy rose" in after
    assert "the held-out accuracy half its final gain at step 10 (25 % of training)" in after
    same = trajectory_reading(hand_made((0.5, 0.5, 0.9, 0.9)))
    assert same.endswith(
        "Attention changed and the held-out accuracy rose between the same two checkpoints, step 10 and step 20 "
        "(25–50 % of training), too far apart to tell which came first; interpolating linearly, the mean change "
        "reached half its final value at about step 14 and the held-out accuracy half its final gain at about "
        "step 15."
    )
    flat = trajectory_reading(hand_made((0.8, 0.7, 0.8, 0.8)))
    assert "but the held-out accuracy did not rise over training, so the two cannot be ordered" in flat


def test_reading_falls_back_to_the_examples_accuracy() -> None:
    text = trajectory_reading(hand_made((None, None, None, None), accuracy=(0.5, 1.0, 1.0, 1.0)))
    assert "the accuracy on these examples half its final gain at step 10" in text


def test_focus_mask_golden() -> None:
    tokens = ["[CLS]", "what", "is", "?", "[SEP]", "paris", "is", ".", "[SEP]"]
    mask = focus_mask(
        "qa", tokens, [0, 0, 0, 0, 0, 1, 1, 1, 1], [0, 4, 8], [None, 0, 1, 2, None, 0, 1, 2, None]
    )
    assert mask.tolist() == [False] * 5 + [True, True, False, False]  # segment B, no punctuation, no [SEP]
    tokens = ["[CLS]", "un", "##quest", "##ion", "##ably", "great", "film", "[SEP]"]
    words = [None, 0, 0, 0, 0, 1, 2, None]
    mask = focus_mask("sentiment", tokens, [0] * 8, [0, 7], words, frozenset({"unquestionably", "great"}))
    assert mask.tolist() == [
        False,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]  # every piece of a lexicon word


def test_focus_share_golden() -> None:
    special = np.array([True, False, False, False])
    assert focus_share(np.array([0.5, 0.1, 0.2, 0.2]), np.array([False, True, False, False]), special) == 0.2
    assert np.isnan(focus_share(np.array([1.0, 0, 0, 0]), np.array([False, True, False, False]), special))


def test_the_shipped_sentiment_words_are_vader_words() -> None:
    from attnflow_core.data.vader import sentiment_words

    words = sentiment_words()
    assert len(words) > 5000
    assert {"great", "terrible", "boring", "love", "hate"} <= words
    assert not {"the", "movie", "film", "not"} & words


def test_file_round_trip_and_refusals(tmp_path: Path) -> None:
    t = hand_made((0.5, 0.5, 0.6, 0.9))
    path = save_trajectory(t, tmp_path / "t.json")
    back = load_trajectory(path)
    assert np.array_equal(back.change, t.change) and back.checkpoints == t.checkpoints and back.refs == t.refs
    assert np.isnan(back.focus[-1]) and back.focus[:3].tolist() == [0.2, 0.25, 0.3]
    assert trajectory_reading(back) == trajectory_reading(t)
    meta = json.loads(path.read_text())
    assert meta["schema"] == "attnflow.trajectory/1" and meta["arrays"]["focus"][-1] is None
    assert meta["reading"] == trajectory_reading(t) and meta["faithfulness"] is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**meta, "schema": "attnflow.overview/1"}))
    with pytest.raises(TrajectoryFileError, match="not an Attention Flows trajectory"):
        load_trajectory(bad)
    meta["arrays"]["change"] = meta["arrays"]["change"][:2]
    bad.write_text(json.dumps(meta))
    with pytest.raises(TrajectoryFileError, match="checkpoints × layers × heads"):
        load_trajectory(bad)
    with pytest.raises(TrajectoryFileError, match="not a readable"):
        load_trajectory(json.dumps({"schema": "attnflow.trajectory/1", "task": "qa"}).encode())


def test_the_download_is_the_saved_file_and_the_table_holds_every_number(tmp_path: Path) -> None:
    t = replace(hand_made((0.5, 0.5, 0.6, 0.9)), importance=CHANGE * 2)
    assert save_trajectory(t, tmp_path / "t.json").read_text() == trajectory_text(t)
    df = trajectory_frame(t)
    assert tuple(df.columns) == FRAME_COLUMNS and len(df) == 4 * 2 * 2
    row = df[(df["step"] == 20) & (df["layer"] == 2) & (df["head"] == 0)].iloc[0]  # checkpoint 2, L2 H0
    assert row["change"] == CHANGE[2, 1, 0] == 0.30 and row["importance"] == 0.60
    assert (row["heldout_accuracy"], row["fraction"], row["ref"]) == (0.6, 0.5, "embedded:qa@step-20")
    assert row["mean_change"] == pytest.approx(CHANGE[2].mean()) and row["focus"] == 0.3
    assert np.isnan(trajectory_frame(hand_made((0.5,) * 4))["importance"]).all()


def test_a_request_is_answered_only_by_a_trajectory_of_the_same_models_data_settings_and_examples() -> None:
    t = hand_made((0.5, 0.5, 0.6, 0.9))
    request = TrajectoryRequest(
        "embedded:minilm", "embedded:qa", None, "qa", "demo", "", TrajectorySettings(n=2)
    )
    assert request.answered_by(t, ["a", "b"])
    assert not request.answered_by(t, ["a", "c"])
    assert not replace(request, settings=TrajectorySettings(n=2, measure="attention")).answered_by(
        t, ["a", "b"]
    )
    assert not replace(request, source="glue").answered_by(t, ["a", "b"])
    assert not replace(request, tuned="embedded:nli").answered_by(t, ["a", "b"])
    assert not replace(request, labels=("no", "yes")).answered_by(t, ["a", "b"])


@pytest.mark.parametrize("task", ["qa", "sentiment", "nli"])
def test_the_shipped_trajectory_is_of_the_shipped_checkpoints_on_the_demo_set_at_the_defaults(
    task: str,
) -> None:
    """Each counterpart with checkpoints ships its trajectory on the first N demo examples at the page's default
    settings, so the page shows it at once; it must be of today's checkpoints (retrain: rewrite it, README.md in
    its folder)."""
    from attnflow_core.data.sources import load_examples
    from attnflow_core.models import EMBEDDED_BASE, embedded_ref, list_checkpoints

    t = shipped_trajectory(task)
    assert t is not None
    settings = TrajectorySettings()
    uids = load_examples(task, "demo", None)["uid"][: settings.n]
    request = TrajectoryRequest(EMBEDDED_BASE, embedded_ref(task), None, task, "demo", "", settings)
    assert request.answered_by(t, uids)
    shipped = list_checkpoints(embedded_ref(task))
    assert t.refs == tuple(ref for ref, _ in shipped) and t.checkpoints == tuple(c for _, c in shipped)
    assert t.importance is not None and t.faithfulness is None


def test_the_shipped_trajectory_matches_a_recomputation_of_its_first_and_last_checkpoints() -> None:
    """Recomputed here on the same 24 demo examples (the pre-trained model, step 0 and the final adapter): the
    shipped numbers of those checkpoints to 1e-6 (importance, a gradient, to a relative 1e-5)."""
    from attnflow_core.data.sources import load_examples, to_examples
    from attnflow_core.models import EMBEDDED_BASE, embedded_ref, list_checkpoints, load_model

    shipped = shipped_trajectory("qa")
    assert shipped is not None
    ends = [list_checkpoints(embedded_ref("qa"))[i] for i in (0, -1)]
    examples = to_examples(load_examples("qa", "demo", None), "qa")
    t = compute_trajectory(
        load_model(EMBEDDED_BASE), ends, examples, "qa", TrajectorySettings(), load_model, source="demo"
    )
    for name in ("change", "accuracy", "focus"):
        np.testing.assert_allclose(getattr(t, name), getattr(shipped, name)[[0, -1]], atol=1e-6, err_msg=name)
    assert t.importance is not None and shipped.importance is not None
    np.testing.assert_allclose(t.importance, shipped.importance[[0, -1]], rtol=1e-5, atol=1e-7)
    assert t.focus_base == pytest.approx(shipped.focus_base, abs=1e-6) and t.uids == shipped.uids


# ---------------------------------------------------------------------------------------------------------------
# the whole computation on a tiny fine-tuned run


def examples() -> list[Example]:
    texts = POSITIVE + NEGATIVE
    labels = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
    return [Example(f"e{i}", t, None, y) for i, (t, y) in enumerate(zip(texts, labels, strict=True))]


def test_tiny_trajectory_matches_the_overview(tiny_base_dir: Path, tiny_checkpointed_run: Path) -> None:
    """Step 0 has not changed attention; the final checkpoint's change map, accuracy and importance are the
    overview's of the (base, final adapter) pair; the pre-trained side ran once."""
    from attnflow_core.models import list_checkpoints, load_model, load_pair
    from attnflow_core.overview import OverviewSettings, compute_overview

    base = load_model(str(tiny_base_dir))
    loads: list[str] = []

    def load(ref: str):  # type: ignore[no-untyped-def]
        loads.append(ref)
        return load_model(ref)

    settings = TrajectorySettings(n=10, batch_size=4)
    t = compute_trajectory(
        base, list_checkpoints(str(tiny_checkpointed_run)), examples(), "sentiment", settings, load
    )
    assert loads == [
        f"{tiny_checkpointed_run}@step-0",
        f"{tiny_checkpointed_run}@step-2",
        f"{tiny_checkpointed_run}@step-4",
        str(tiny_checkpointed_run),
    ]
    assert t.steps.tolist() == [0, 2, 4, 8] and t.tuned_ref == str(tiny_checkpointed_run)
    assert t.change.shape == (4, 2, 2) and t.importance is not None and t.importance.shape == (4, 2, 2)
    assert np.all(t.change[0] == 0), "the untrained adapter leaves attention exactly as the base's"
    assert np.all(t.change[-1] > 0)
    ov = compute_overview(
        load_pair(str(tiny_base_dir), str(tiny_checkpointed_run)),
        examples(),
        "sentiment",
        OverviewSettings(n=10, batch_size=4, importance=True),
    )
    np.testing.assert_allclose(t.change[-1], ov.js_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t.importance[-1], ov.importance, rtol=1e-6, atol=1e-9)
    assert t.accuracy[-1] == pytest.approx(ov.examples["correct"].mean())
    assert (
        t.heldout_accuracy[-1]
        == json.loads((tiny_checkpointed_run / "attnflow.json").read_text())["eval_accuracy"]
    )
    # the sentiment words of these sentences (great, love, funny, like, terrible, hate, boring, bad, good)
    assert t.focus_examples == 10 and 0 < t.focus_uniform < 1
    assert 0 <= t.focus_base <= 1 and np.all((t.focus >= 0) & (t.focus <= 1))
    assert t.focus[0] == pytest.approx(t.focus_base), "step 0 flows as the base does"
    assert isinstance(t.reading(), str) and len(t.checkpoint_seconds) == 4


def test_no_checkpoints_is_a_user_error(tiny_base_dir: Path) -> None:
    from attnflow_core.models import load_model
    from attnflow_core.settings import SettingsError

    with pytest.raises(SettingsError, match="records no checkpoints"):
        compute_trajectory(
            load_model(str(tiny_base_dir)), [], examples(), "sentiment", TrajectorySettings(), load_model
        )
