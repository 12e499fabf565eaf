"""What the command modules share: the help formatter and argparse type functions with clear messages."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable

from attnflow_core import device
from attnflow_core.vocab import Choice


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (unless the help already says it, or there is none) and keeps the example in
    the epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.required or action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _number(kind: type, text: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer ≥ ``low``."""

    def parse(text: str) -> int:
        value = int(_number(int, text))
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}; got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        value = int(_number(int, text))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}; got {value}")
        return value

    parse.__name__ = f"integer in {low}..{high}"
    return parse


def float_in(
    low: float, high: float, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval from ``low`` to ``high`` (ends open where said)."""
    left, right = ("(" if low_open else "["), (")" if high_open else "]")

    def parse(text: str) -> float:
        value = float(_number(float, text))
        ok_low = value > low if low_open else value >= low
        ok_high = value < high if high_open else value <= high
        if not (ok_low and ok_high):
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}{right}; got {value:g}")
        return value

    parse.__name__ = f"number in {left}{low:g}, {high:g}{right}"
    return parse


positive_int = int_at_least(1)
positive_float = float_in(0.0, math.inf, low_open=True, high_open=True)
fraction = float_in(0.0, 1.0, low_open=True, high_open=True)


def choices_help(what: str, choices: Iterable[Choice]) -> str:
    """An option's help naming each choice of a vocabulary (``vocab.Registry``) by its label."""
    return f"{what} ({'; '.join(f'{c}: {c.label}' for c in choices)})"


def shard_spec(text: str) -> tuple[int, int]:
    """argparse type of ``--shard I/K``: (i, k) with 1 <= i <= k (``shards.parse_shard``)."""
    from attnflow_core.shards import ShardError, parse_shard

    try:
        return parse_shard(text)
    except ShardError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda`` on an argparse parser (the CLI's one definition of the flag)."""
    parser.add_argument(
        "--device",
        choices=device.DEVICES,
        default=device.DEFAULT,
        help=f"where the models run: auto (CUDA when available), cpu or cuda (default {device.DEFAULT})",
    )
