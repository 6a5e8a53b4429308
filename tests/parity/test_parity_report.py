"""`python -m parity`: what is not a check itself (the checks run in the other tests)."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity.__main__ import _init_summary, main, preamble
from parity.compare import Row

pytestmark = pytest.mark.parity


def test_report_without_the_data_says_how_to_build_it(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path)]) == 2
    assert "npnet data build --from" in capsys.readouterr().err


def test_preamble_names_both_sides_and_the_precisions():
    text = preamble()
    for needle in ("npnet", "Keras 3", "JAX", "x64", "float64-stock", "BIT64_TO_BIT32_DTYPE"):
        assert needle in text


def _row(quantity, ok):
    return Row("init: x", quantity, "float32", 0.1, 0.0, "t", ok)


def test_init_summary_shows_the_ks_row_but_fails_with_any_part():
    summary = _init_summary([_row("mean", True), _row("KS distance", True)])
    assert summary.ok
    assert summary.quantity.startswith("KS distance")
    assert not _init_summary([_row("mean", False), _row("KS distance", True)]).ok
