"""The one on/off parser of URLs, widgets and environment variables."""

from __future__ import annotations

import pytest

from attnflow_core.settings import ALLOW_CUSTOM_ENV, allow_custom_models, parse_flag


@pytest.mark.parametrize("value", [True, "1", "true", "TRUE", "yes", "on", " On "])
def test_on(value: object) -> None:
    assert parse_flag(value, False) is True


@pytest.mark.parametrize("value", [False, "0", "false", "No", "off"])
def test_off(value: object) -> None:
    assert parse_flag(value, True) is False


@pytest.mark.parametrize("value", [None, "", "maybe", "2", "²"])
def test_anything_else_is_the_default(value: object) -> None:
    assert parse_flag(value, True) is True and parse_flag(value, False) is False


@pytest.mark.parametrize("value", [None, "1", "true", "YES", " on "])
def test_custom_models_are_allowed_only_unset_or_explicitly_on(value: str | None) -> None:
    assert allow_custom_models(value) is True


@pytest.mark.parametrize("value", ["0", "false", "off", "No"])
def test_custom_models_off_values(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="attnflow_core.settings"):
        assert allow_custom_models(value) is False
    assert not caplog.records


@pytest.mark.parametrize("value", ["disabled", "n", "nope", "", "2", "enable"])
def test_the_custom_models_switch_fails_closed_and_logs_once(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20: an unrecognised value used to leave custom models on, silently. A security switch fails closed."""
    from attnflow_core import settings

    settings._log_unrecognised.cache_clear()  # "once" is per process: other tests may have logged this value
    with caplog.at_level("WARNING", logger="attnflow_core.settings"):
        for _ in range(3):  # the page asks on every rerun
            assert allow_custom_models(value) is False
    logged = [r for r in caplog.records if ALLOW_CUSTOM_ENV in r.getMessage()]
    assert len(logged) == 1 and "turned OFF" in logged[0].getMessage()
