"""npnet.checks: one wording for every argument check; bools and NaN refused; plain values returned."""

import math
import re

import numpy as np
import pytest

from npnet import validation


def test_positive_int_accepts_integers_and_returns_a_plain_int():
    assert validation.positive_int(3, "epochs") == 3
    value = validation.positive_int(np.int64(7), "units")
    assert value == 7 and type(value) is int


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3", None])
def test_positive_int_refuses_everything_else_naming_the_argument(bad):
    with pytest.raises(ValueError, match=rf"^batch_size must be a positive integer, got {re_repr(bad)}$"):
        validation.positive_int(bad, "batch_size")


def test_integer_rules():
    assert validation.integer(-3, "index") == -3
    assert validation.non_negative_int(0, "max_entries") == 0
    value = validation.int_in(np.int32(5), "retries", 0, 5)
    assert value == 5 and type(value) is int
    assert validation.int_in(10**9, "ngram_range", 2) == 10**9
    for check, bad, message in [
        (validation.integer, True, "index must be an integer, got True"),
        (validation.integer, 1.0, "index must be an integer, got 1.0"),
        (validation.non_negative_int, -1, "index must be an integer >= 0, got -1"),
        (validation.non_negative_int, False, "index must be an integer >= 0, got False"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}$"):
            check(bad, "index")
    for bad, high, message in [
        (1, None, ">= 2, got 1"),
        (6, 5, "from 2 to 5, got 6"),
        (2.0, 5, "from 2 to 5"),
    ]:
        with pytest.raises(ValueError, match=f"^index must be an integer {message}"):
            validation.int_in(bad, "index", 2, high)


def test_float_rules():
    assert validation.positive_float(0.5, "step") == 0.5
    assert validation.non_negative_float(0, "decay") == 0.0
    assert validation.fraction(0.0, "beta_1") == 0.0 and validation.fraction(1, "momentum", one=True) == 1.0
    for check, bad, message in [
        (validation.positive_float, 0.0, "step must be > 0, got 0.0"),
        (validation.positive_float, math.nan, "step must be > 0, got nan"),
        (validation.non_negative_float, -1e-9, "step must be >= 0, got -1e-09"),
        (validation.non_negative_float, False, "step must be >= 0, got False"),
        (validation.fraction, 1.0, r"step must be in \[0, 1\), got 1.0"),
    ]:
        with pytest.raises(ValueError, match=f"^{message}$"):
            check(bad, "step")
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got 1.5"):
        validation.fraction(1.5, "momentum", one=True)


def re_repr(value):
    return re.escape(repr(value))
