"""The project's user-error base class (the app and the CLI show its message; anything else is a bug) and the one
error of a setting that is out of range or unknown.

``library_text`` turns a third-party exception (transformers, torch, datasets) into text fit for a user message:
the libraries' own advice (``trust_remote_code=True``, ``weights_only=False``, ``pip install ...``) and their links
are left out, since following it would lower this project's guards or send the user to a wrong page.
"""

from __future__ import annotations

import re


class AttnflowError(Exception):
    """A mistake the user can fix; the message names the fix."""


class SettingsError(AttnflowError, ValueError):
    """A setting is out of range or unknown; the message names the valid values."""


#: A sentence or line of a library's message that gives the library's advice rather than the facts.
_ADVICE = re.compile(
    r"trust_remote_code|weights_only|pip install|https?://|hf\.co/|huggingface\.co/|torch\.load|"
    r"documentation|you can inspect|make sure|please |if you (were|are)|set the option|to allow",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
LIBRARY_TEXT_CHARS = 300


def library_text(err: BaseException) -> str:
    """``err``'s class and the first sentence of its message that gives no advice and no link, at most
    ``LIBRARY_TEXT_CHARS`` characters: e.g. ``ValueError: The checkpoint you are trying to load has model type
    `x` but Transformers does not recognize this architecture.``"""
    kept = [s.strip() for s in _SENTENCE.split(str(err)) if s.strip() and not _ADVICE.search(s)]
    text = kept[0] if kept else ""
    if len(text) > LIBRARY_TEXT_CHARS:
        text = text[: LIBRARY_TEXT_CHARS - 1].rstrip() + "…"
    return f"{err.__class__.__name__}: {text}" if text else err.__class__.__name__
