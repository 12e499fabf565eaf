"""Where the project keeps downloads, trained counterparts and cached results on the user's machine."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from attnflow_core.errors import AttnflowError


class WriteError(AttnflowError):
    """An output file or folder cannot be written (a folder in the way, no permission, a full disk)."""


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


def check_writable_file(path: str | Path) -> Path:
    """Check before long work that ``path`` can be written as a file (not a folder, its folder exists and is
    writable); returns it, else WriteError naming the fix."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise WriteError(f"{path} is a folder; name a file inside it, e.g. {path / ('out' + path.suffix)}")
    if not path.parent.is_dir():
        raise WriteError(f"no such folder: {path.parent}; create it first or choose another output path")
    if not os.access(path.parent, os.W_OK):
        raise WriteError(f"cannot write in {path.parent} (no permission); choose another output folder")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write a file all at once: ``write(tmp)`` fills a temporary file in the same folder, which then replaces
    ``path`` (``os.replace``), so a crash or a full disk never leaves a half-written ``path``.

    Raises WriteError naming the path and the fix when ``path`` is a folder or the write fails.
    """
    path = check_writable_file(path)
    folder = path.parent
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise WriteError(
            f"cannot write in {folder}: {err.strerror or err}; choose another output folder"
        ) from err
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes 0600 files; a saved file should read like any other
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise WriteError(
            f"could not write {path}: {err.strerror or err}; free some space or choose another output folder"
        ) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
