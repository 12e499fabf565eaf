"""Where the project keeps downloads, trained counterparts and cached results on the user's machine."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$ATTNFLOW_CACHE``, else ``$XDG_CACHE_HOME/attnflow``, else ``~/.cache/attnflow``; sub-folders created."""
    root = os.environ.get("ATTNFLOW_CACHE")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "attnflow"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    """Counterparts fine-tuned by the user (from the app or the CLI's default output)."""
    return cache_dir("models")
