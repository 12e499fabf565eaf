"""The one on/off parser of URLs, widgets and environment variables."""

from __future__ import annotations

import pytest

from attnflow_core.settings import parse_flag


@pytest.mark.parametrize("value", [True, "1", "true", "TRUE", "yes", "on", " On "])
def test_on(value: object) -> None:
    assert parse_flag(value, False) is True


@pytest.mark.parametrize("value", [False, "0", "false", "No", "off"])
def test_off(value: object) -> None:
    assert parse_flag(value, True) is False


@pytest.mark.parametrize("value", [None, "", "maybe", "2", "²"])
def test_anything_else_is_the_default(value: object) -> None:
    assert parse_flag(value, True) is True and parse_flag(value, False) is False
