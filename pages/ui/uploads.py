"""The user's uploaded example file on the Examples page: read once (cached), and kept across page visits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from attnflow_core.data.userfile import DataFileError
from pages.ui import state

#: The uploader's widget key.
UPLOAD_KEY = "upload"


@st.cache_data(show_spinner=False, max_entries=4)
def get_user_file(
    data: bytes, filename: str, task: str, mapping: tuple[tuple[str, str], ...], split: str
) -> pd.DataFrame:
    """The user's uploaded file, validated as a whole (nothing half-loaded); ``split`` only keys the cache."""
    from attnflow_core.data.userfile import load_user_file

    given = {k: v.strip() for k, v in mapping if v.strip() and v.strip() != k}
    return load_user_file(data, task, mapping=given or None, filename=filename).to_pandas()


@st.cache_data(show_spinner=False, max_entries=8)
def kept_upload(digest: str, filename: str, _data: bytes | None = None) -> bytes | None:
    """The bytes of an uploaded file by digest (``_data`` is not part of the key): a later run, on another page
    visit, finds the file again after the uploader widget forgot it. Bounded: the 8 newest files."""
    return _data


def remembered_upload(upload: Any) -> tuple[bytes, str] | None:
    """(bytes, file name) of the uploaded file: the uploader's, else the one this session uploaded before."""
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        kept_upload(digest, upload.name, data)
        state.UPLOAD_DIGEST.set(digest)
        state.UPLOAD_NAME.set(upload.name)
        return data, upload.name
    digest, name = state.UPLOAD_DIGEST.text(), state.UPLOAD_NAME.text()
    if not digest or not name:
        return None
    kept = kept_upload(digest, name)
    return None if kept is None else (kept, name)


def forget_upload_unless_new() -> None:
    """The person removed the file from the uploader: forget it (a new file replaces it in ``remembered_upload``)."""
    if st.session_state.get(UPLOAD_KEY) is None:
        state.UPLOAD_DIGEST.pop()
        state.UPLOAD_NAME.pop()


def column_error_points_at_the_boxes(load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A missing-column error names the column boxes under the uploader instead of an API argument."""
    try:
        return load()
    except DataFileError as err:
        message = re.sub(r"\s*Rename it or pass mapping=.*$", "", str(err))
        if message != str(err):
            message += ". Type your file's column name in the matching box under the uploader."
        raise DataFileError(message) from None
