"""argparse `type=` functions shared by the commands: each refuses a bad value in words (argparse then
exits 2 with `npnet <command>: error: argument --flag: ...`). Floats must be finite: nan, inf are refused.

The rules are `npnet.validation`'s, the library's own; these only parse the text and turn the refusal into
argparse's error type (argparse names the flag, so the rule's message is shown without a name)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from npnet import validation

T = TypeVar("T")

# The name `_checked` gives validation's rules, stripped again from their message.
_NAME = "the value"


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _checked(rule: Callable[..., T], value: Any, *bounds: int) -> T:
    """`rule(value, name, *bounds)` of `npnet.validation`, its ValueError as argparse's error."""
    try:
        return rule(value, _NAME, *bounds)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"{_NAME} ")) from None


def positive_int(text: str) -> int:
    return _checked(validation.positive_int, int(_number(text, int)))


def non_negative_int(text: str) -> int:
    return _checked(validation.non_negative_int, int(_number(text, int)))


def positive_float(text: str) -> float:
    return _checked(validation.positive_float, _number(text, float))


def non_negative_float(text: str) -> float:
    return _checked(validation.non_negative_float, _number(text, float))


def fraction(text: str) -> float:
    return _checked(validation.fraction, _number(text, float))


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer type accepting low..high inclusive."""

    def parse(text: str) -> int:
        return _checked(validation.int_in, int(_number(text, int)), low, high)

    parse.__name__ = f"integer from {low} to {high}"
    return parse


def path(text: str) -> Path:
    """A path that is not empty (`Path("")` is the current folder, never what an empty value meant)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a path, got an empty value")
    return Path(text)
