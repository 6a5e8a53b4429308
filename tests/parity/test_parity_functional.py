"""Functional graphs against Keras: a fork, a shared layer, two inputs and masks through merges, built by
both libraries from the same code (parity/graphs.py), from the same weights: the forward and 20
train_on_batch steps."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity import functional, graphs

pytestmark = [pytest.mark.parity, pytest.mark.slow]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(graphs.GRAPHS))
def test_graph_forward_and_training_match_keras(name, dtype):
    rows = functional.rows(name, dtype, steps=20)
    assert len(rows) == 3
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)
