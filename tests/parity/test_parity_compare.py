"""The comparison logic itself: it passes equal results and fails the differences it exists to catch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parity.compare import (
    array_row,
    exception_row,
    ks_statistic,
    markdown_table,
    merge_rows,
    sequences_row,
    uniform_rows,
)

pytestmark = pytest.mark.parity


def test_array_row_measures_normwise_differences():
    row = array_row("c", "q", "float64", [1.0, 2.0, 4.0 + 3e-7], [1.0, 2.0, 4.0], rel_tol=1e-7)
    assert row.max_abs == pytest.approx(3e-7)
    assert row.max_rel == pytest.approx(0.75e-7)
    assert row.ok
    assert not array_row("c", "q", "float64", [1.0, 2.0, 4.0 + 8e-7], [1.0, 2.0, 4.0], rel_tol=1e-7).ok


def test_array_row_without_tolerance_demands_equality():
    assert array_row("c", "q", "int", [1, 2], [1, 2]).ok
    assert not array_row("c", "q", "int", [1, 2], [1, 3]).ok


def test_array_row_fails_on_shape_or_nan_mismatch():
    assert not array_row("c", "q", "f", np.zeros(3), np.zeros(4), rel_tol=1.0).ok
    assert not array_row("c", "q", "f", [math.nan, 1.0], [0.0, 1.0], rel_tol=1.0).ok
    assert array_row("c", "q", "f", [math.nan, 1.0], [math.nan, 1.0]).ok


def test_sequences_row_needs_every_sequence_identical():
    assert sequences_row("c", "x", [[1, 2], [3]], [[1, 2], [3]]).ok
    row = sequences_row("c", "x", [[1, 2], [3]], [[1, 2], [4]])
    assert not row.ok
    assert "index 1" in row.note
    assert not sequences_row("c", "x", [[1, 2], [3]], [[1, 2], [3, 0]]).ok
    assert not sequences_row("c", "x", [[1, 2]], [[1, 2], [3]]).ok


def test_exception_row_requires_both_or_neither_to_raise():
    assert exception_row("c", "q", ValueError("a"), ValueError("b")).ok
    assert exception_row("c", "q", None, None).ok
    assert not exception_row("c", "q", None, ValueError("b")).ok
    assert not exception_row("c", "q", ValueError("a"), None).ok


def test_merge_rows_keeps_the_worst_and_any_failure():
    good = array_row("c", "a", "f", [1.0], [1.0], rel_tol=0.1)
    bad = array_row("c", "b", "f", [2.0], [1.0], rel_tol=0.1)
    merged = merge_rows([good, bad], "c", "both")
    assert not merged.ok
    assert merged.max_abs == 1.0
    assert merge_rows([good, good], "c", "both").ok


def test_ks_statistic_is_the_largest_cdf_gap():
    assert ks_statistic(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0
    assert ks_statistic(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert ks_statistic(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == 0.5


def _uniform(seed, limit, n=20_000, shift=0.0):
    return np.random.default_rng(seed).uniform(-limit, limit, n) + shift


def test_uniform_rows_accept_two_draws_of_the_same_distribution():
    rows = uniform_rows("c", "f", _uniform(1, 0.05), _uniform(2, 0.05), 0.05)
    assert all(row.ok for row in rows), [str(r) for r in rows if not r.ok]


@pytest.mark.parametrize(
    "ours",
    [
        _uniform(1, 0.06),  # another limit: out of bounds
        _uniform(1, 0.045),  # another limit: never reaches L, variance too small
        _uniform(1, 0.05, shift=0.002) * 0.96,  # a shifted centre inside the bounds
        np.random.default_rng(1).normal(0, 0.05 / math.sqrt(3), 20_000).clip(-0.05, 0.05),  # another family
    ],
    ids=["wider", "narrower", "shifted", "normal"],
)
def test_uniform_rows_reject_another_distribution(ours):
    rows = uniform_rows("c", "f", ours, _uniform(2, 0.05), 0.05)
    assert not all(row.ok for row in rows)


def test_markdown_table_escapes_pipes_inside_cells():
    row = array_row("check | with pipe", "q", "f", [1.0], [1.0])
    line = markdown_table([row]).splitlines()[-1]
    assert line.replace("\\|", "").count("|") == 8  # 7 cells
