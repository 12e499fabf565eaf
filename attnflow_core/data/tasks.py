"""The three sentence tasks the dashboard compares models on, with their input columns and label names.

Every data source maps its rows onto one of these tasks, so the rest of the project can rely on fixed column names
(``text_columns``) and on labels always being one of ``labels``.
"""

from __future__ import annotations

from dataclasses import dataclass

from attnflow_core.data.errors import DataError


@dataclass(frozen=True)
class Task:
    """A sentence(-pair) classification task: its input columns, label names (in GLUE's index order) and meaning."""

    name: str
    title: str
    text_columns: tuple[str, ...]
    labels: tuple[str, ...]
    description: str

    @property
    def is_pair(self) -> bool:
        """Whether the task classifies a pair of texts (QA, NLI) rather than a single sentence."""
        return len(self.text_columns) > 1


TASKS: dict[str, Task] = {
    "sentiment": Task(
        name="sentiment",
        title="Sentiment (SST-2)",
        text_columns=("sentence",),
        labels=("negative", "positive"),
        description="Is the sentence's sentiment negative or positive?",
    ),
    "qa": Task(
        name="qa",
        title="QA validity (QNLI)",
        text_columns=("question", "sentence"),
        labels=("entailment", "not_entailment"),
        description="Does the sentence answer the question? entailment: the sentence answers the question.",
    ),
    "nli": Task(
        name="nli",
        title="Natural-language inference (MNLI, RTE, SNLI)",
        text_columns=("premise", "hypothesis"),
        labels=("entailment", "neutral", "contradiction"),
        description="Does the premise entail the hypothesis, contradict it, or neither (neutral)?",
    ),
}

#: The task the app opens on and the CLI defaults to.
DEFAULT_TASK = "qa"


def is_correct(prediction: str | None, gold: str | None) -> bool | None:
    """Whether a prediction matches a gold label; None when either is missing.

    Binary NLI data (gold ``not_entailment``, as in RTE) against a three-way model counts ``neutral`` and
    ``contradiction`` as ``not_entailment``, the rule ``evaluate`` scores by.
    """
    if not gold or not prediction:
        return None
    if gold == "not_entailment":
        return prediction != "entailment"
    return prediction == gold


#: How every table and the example header say whether a prediction matches the gold label.
VERDICTS = {True: "✓ correct", False: "✗ wrong"}


def verdict(correct: bool | None) -> str:
    """``VERDICTS``' word for ``is_correct``'s answer ("" when it is None: no gold label or no prediction)."""
    return "" if correct is None else VERDICTS[bool(correct)]


def get_task(name: str | Task) -> Task:
    """The task called ``name`` (a Task is returned as is); a ValueError lists the valid names."""
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
