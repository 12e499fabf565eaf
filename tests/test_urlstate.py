"""``attnflow_core.urlstate``: hostile query values are dropped, never raised; valid ones parse exactly."""

from __future__ import annotations

import pytest

from attnflow_core.urlstate import (
    MAX_TEXT_CHARS,
    MAX_VALUE_CHARS,
    Dropped,
    bounded_params,
    parse_choice,
    parse_float,
    parse_heads,
    parse_int,
    parse_layers,
    parse_step,
)

HOSTILE = [
    "--1",
    "1,²",
    "²",
    "nan",
    "inf",
    "-inf",
    "1e999",
    "",
    " ",
    "1-",
    "-1",
    "0x10",
    "1_000",
    "١",
    "9" * 40,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_never_raise(value: str) -> None:
    """Each parser answers None (or a valid value) for every hostile string; none raises."""
    for result in (
        parse_int(value),
        parse_float(value, 0.0, 1.0),
        parse_layers(value, 6),
        parse_heads(value, 12),
    ):
        assert result is None or isinstance(result, (int, float, tuple))
    x = parse_float(value, 0.0, 1.0)
    assert x is None or 0.0 <= x <= 1.0
    heads = parse_heads(value, 12)
    assert heads is None or all(0 <= h < 12 for h in heads)


def test_integers_are_plain_ascii_digits() -> None:
    assert parse_int("7") == 7
    assert parse_int("-3") == -3
    assert parse_int(" 12 ") == 12
    for bad in ("--1", "²", "١", "1.0", "nan", "1e3", "+-1", "9" * 10):
        assert parse_int(bad) is None, bad


def test_floats_must_be_finite_and_in_range() -> None:
    assert parse_float("0.25", 0.0, 1.0) == 0.25
    assert parse_float("1", 0.0, 1.0) == 1.0
    for bad in ("nan", "inf", "-inf", "1e999", "1.5", "-0.1", "x"):
        assert parse_float(bad, 0.0, 1.0) is None, bad


def test_floats_are_plain_ascii_digits() -> None:
    """Issue 20: ``?tau=١`` was read as 1.0 (Python's float() reads any script's digits)."""
    for good, x in (("0.5", 0.5), (".5", 0.5), ("1.", 1.0), ("+0.25", 0.25), ("1e-1", 0.1), (" 0.3 ", 0.3)):
        assert parse_float(good, 0.0, 1.0) == x, good
    for bad in ("١", "٠.٥", "０.５", "1_0", "0x1", "½", "0,5", "1e", "."):
        assert parse_float(bad, 0.0, 10.0) is None, bad
    assert parse_float(0.5, 0.0, 1.0) == 0.5 and parse_float(True, 0.0, 1.0) is None


def test_layer_ranges_in_both_syntaxes() -> None:
    """``1-6`` (old URLs) and ``1:6`` (the CLI's) both parse; reversed or out-of-range ranges do not."""
    assert parse_layers("2-5", 6) == (2, 5)
    assert parse_layers("2:5", 6) == (2, 5)
    assert parse_layers((1, 6), 6) == (1, 6)
    for bad in ("5-2", "0-3", "1-7", "-1-3", "1--1", "a-b", "3", ""):
        assert parse_layers(bad, 6) is None, bad


def test_heads_subset() -> None:
    assert parse_heads("5,0,3,3", 12) == (0, 3, 5)
    assert parse_heads("", 12) == ()
    assert parse_heads([1, 2], 12) == (1, 2)
    assert parse_heads("1,,2", 12) == (1, 2), "empty items are skipped, as settings.parse_heads does"
    for bad in ("--1", "1,²", "12", "-1", "a"):
        assert parse_heads(bad, 12) is None, bad


def test_choices() -> None:
    assert parse_choice("word", ("token", "word")) == "word"
    assert parse_choice("Word", ("token", "word")) is None


def test_bounded_params_drops_long_and_control_values_and_ignores_unknown_ones() -> None:
    params = {
        "ex": "x" * 100_000,
        "text": "y" * MAX_TEXT_CHARS,
        "text_pair": "z" * (MAX_TEXT_CHARS + 1),
        "tau": "0.2",
        "method": "trace\x00",
        "utm_source": "mail",
    }
    kept, dropped = bounded_params(params, {"ex", "text", "text_pair", "tau", "method"})
    assert kept == {"text": "y" * MAX_TEXT_CHARS, "tau": "0.2"}
    assert {d.param for d in dropped} == {"ex", "text_pair", "method"}
    assert (
        Dropped("ex", f"longer than {MAX_VALUE_CHARS} characters")
        .notice()
        .startswith("Ignored the link's `ex`")
    )


def test_a_checkpoint_step_is_one_of_the_models_steps() -> None:
    steps = (0, 28, 57, 113, 226, 339)
    assert parse_step("113", steps) == 113
    assert parse_step(" 0 ", steps) == 0
    for bad in ("7", "113.0", "-1", "abc", "", "²", "1e2", *HOSTILE):
        assert parse_step(bad, steps) is None, bad
    assert parse_step("113", ()) is None  # a model without checkpoints
