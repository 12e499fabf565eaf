"""How a fine-tuning checkpoint is named to a student (``checkpoints``: the slider's options, the step note;
``extract.model_labels``: titles and legends) and how the app's pair compares one (``models.at_checkpoint``)."""

from __future__ import annotations

import pytest

from attnflow_core.checkpoints import Checkpoint, checkpoint_choice, step_note, training_share, with_note
from attnflow_core.extract import MODEL_LABELS, model_labels
from attnflow_core.models import _checkpoint_note, at_checkpoint, get_pair_spec, resolve_ref


def _checkpoint(step: int, fraction: float, accuracy: float | None) -> Checkpoint:
    return Checkpoint(step, fraction, 3 * fraction, None, accuracy, f"checkpoints/step-{step:04d}")


@pytest.mark.parametrize(
    ("fraction", "words"),
    [
        (0.0, "before training"),
        (0.082596, "1/12 of training"),  # 28 of 339 steps: within half a percent of 1/12
        (0.168142, "1/6 of training"),
        (0.333333, "1/3 of training"),
        (0.666667, "2/3 of training"),
        (0.5, "1/2 of training"),
        (0.41, "41 % of training"),  # no simple fraction (denominator ≤ 16) within half a percent
        (1.0, "end of training"),
    ],
)
def test_training_share_reads_as_a_simple_fraction_or_a_percentage(fraction: float, words: str) -> None:
    assert training_share(fraction) == words


def test_the_slider_names_step_share_and_held_out_accuracy() -> None:
    assert (
        checkpoint_choice(_checkpoint(113, 0.333333, 0.7825)) == "step 113 (1/3 of training) · held-out 0.78"
    )
    assert checkpoint_choice(_checkpoint(0, 0.0, 0.49)) == "step 0 (before training) · held-out 0.49"
    assert checkpoint_choice(_checkpoint(339, 1.0, None)) == "step 339 (end of training)"  # no held-out rows


def test_the_step_note_names_checkpoints_before_the_end_only() -> None:
    assert step_note(113, 339) == "step 113 of 339"
    assert step_note(0, 339) == "step 0 of 339"
    assert step_note(339, 339) == ""  # the final checkpoint is the fine-tuned model itself
    assert step_note(None, 339) == step_note(5, None) == ""
    assert with_note("fine-tuned", "step 113 of 339") == "fine-tuned (step 113 of 339)"
    assert with_note("fine-tuned", "") == "fine-tuned"


def test_model_labels_name_the_checkpoint_and_default_to_the_plain_labels() -> None:
    assert model_labels() == MODEL_LABELS == {"base": "pre-trained", "tuned": "fine-tuned"}
    assert model_labels("step 0 of 339") == {"base": "pre-trained", "tuned": "fine-tuned (step 0 of 339)"}


def test_a_checkpoint_reference_knows_its_step_note() -> None:
    """A loaded checkpoint says which it is (``LoadedModel.checkpoint``), read from its run's record."""
    assert _checkpoint_note(resolve_ref("embedded:qa@step-113")) == "step 113 of 339"
    assert _checkpoint_note(resolve_ref("embedded:qa@step-339")) == ""
    assert _checkpoint_note(resolve_ref("embedded:qa")) == ""
    assert _checkpoint_note(resolve_ref("embedded:minilm")) == ""


def test_the_pair_at_a_checkpoint_compares_its_reference_and_the_final_one_is_the_pair() -> None:
    spec = get_pair_spec("embedded-qa")
    early = at_checkpoint(spec, 113, 339)
    assert early.tuned == "embedded:qa@step-113" and early.base == spec.base
    assert early.key == spec.key and early.title == f"{spec.title} · step 113 of 339"
    assert at_checkpoint(spec, 0, 339).tuned == "embedded:qa@step-0"
    assert at_checkpoint(spec, 339, 339) is spec  # links and caches of the default stay the plain pair's
    assert at_checkpoint(spec, None, 339) is spec
