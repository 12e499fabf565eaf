"""The pages' one error idiom and the showing of untrusted text.

``friendly(fn)`` runs a piece of page work: a user mistake (``AttnflowError``) is shown as its message, which names
the fix (escaped, after an optional heading); anything else is a bug: a short apology on the page and the traceback
in the server log (``apologise``), so no Python traceback ever reaches the page. Texts from data, files and URLs go
through ``md_escape`` before they reach a Markdown element.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Literal, TypeVar

import streamlit as st

from attnflow_core.errors import AttnflowError
from attnflow_core.urlstate import Dropped

T = TypeVar("T")
LOG = logging.getLogger("attnflow.app")

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$:&=@])")
_MD_ORDERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# GFM turns bare URLs, www.hosts and e-mail addresses into links after parsing (so backslashes do not stop it): a
# WORD JOINER (invisible, U+2060) inside each such pattern keeps it text.
_AUTOLINK = re.compile(r"((?:https?|ftp|mailto|www)(?=\\?[:.])|(?=\\@))", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """``text`` for a Markdown element (markdown, caption, metric, error, ...), shown literally: every ASCII
    punctuation character that Markdown, Streamlit's directives (``:red[..]``, ``:emoji:``) or LaTeX (``$``) could
    read is backslash-escaped, bare URLs get an invisible word joiner (GFM would link them), and line breaks
    become Markdown line breaks. Texts from data, files and URLs go
    through here, so they can never add a link, an image or formatting."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text))
    escaped = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _MD_ORDERED.sub(r"\1\\.", escaped))
    return "  \n".join(escaped.splitlines()) if "\n" in escaped else escaped


def notice(dropped: Dropped) -> None:
    """A one-line notice that a link's value was not used."""
    st.caption(f":material/link_off: {dropped.notice()}")


def friendly(
    fn: Callable[[], T],
    heading: str | Callable[[AttnflowError], str] = "",
    level: Literal["error", "warning"] = "error",
) -> T | None:
    """Run ``fn``; None after an error. A user mistake (an ``AttnflowError``) is shown as its escaped message (after
    ``heading``, in bold; a function of the error gives one per kind) as an error or a ``warning``; anything else
    is a bug: ``apologise``."""
    try:
        return fn()
    except AttnflowError as err:
        title = heading(err) if callable(heading) else heading
        text = (f"**{title}** " if title else "") + md_escape(str(err))
        show = st.warning if level == "warning" else st.error
        show(text, icon=":material/warning:")
    except Exception as err:  # noqa: BLE001 - see the docstring
        apologise(err)
    return None


def apologise(err: BaseException) -> None:
    """The page boundary for a bug: a short apology on the page, the traceback in the server log."""
    LOG.error("unexpected error while rendering", exc_info=err)
    st.error(
        f"Something went wrong ({err.__class__.__name__}). Try other settings or another example; "
        "the server log has the details.",
        icon=":material/error:",
    )
