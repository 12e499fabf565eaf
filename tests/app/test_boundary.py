"""The page boundary (``pages.ui.boundary.friendly``): a user mistake shows its message, a bug an apology, never a
traceback."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest


def _script() -> None:
    from attnflow_core.errors import AttnflowError
    from pages.ui.boundary import friendly

    def mistake() -> None:
        raise AttnflowError("choose a layer from 1 to 6")

    def bug() -> None:
        raise KeyError("internal detail")

    assert friendly(mistake) is None
    assert friendly(bug) is None
    assert friendly(lambda: 42) == 42


def test_friendly_shows_a_mistake_as_its_message_and_a_bug_as_an_apology_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = AppTest.from_function(_script)
    with caplog.at_level(logging.ERROR, logger="attnflow.app"):
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    mistake, bug = (str(e.value) for e in at.error)
    assert mistake == "choose a layer from 1 to 6"
    assert bug.startswith("Something went wrong (KeyError).") and "internal detail" not in bug
    logged = [r for r in caplog.records if r.name == "attnflow.app"]
    assert logged and logged[0].exc_info is not None and logged[0].exc_info[0] is KeyError
