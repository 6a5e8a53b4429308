"""Initial weights: npnet draws from the distributions Keras draws from (fixed seeds, so repeatable)."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity import checks

pytestmark = pytest.mark.parity


@pytest.mark.parametrize("dtype", checks.DTYPES)
def test_initial_weights_are_distributed_as_keras(dtype):
    rows = checks.initializer_rows(dtype)
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)
