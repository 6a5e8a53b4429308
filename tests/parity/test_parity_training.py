"""Forward, train_on_batch, fit/evaluate/predict and variants on real IMDB batches, from Keras's weights."""

from __future__ import annotations

import pytest

from benchmarks.parity import checks, specs

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_rows(rows):
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("mask_zero", [False, True], ids=["plain", "mask_zero"])
@pytest.mark.parametrize("dtype", checks.DTYPES)
def test_forward_with_keras_weights(padded_imdb, dtype, mask_zero):
    _assert_rows(checks.forward_rows(dtype, padded_imdb, specs.ModelSpec(mask_zero=mask_zero)))


@pytest.mark.parametrize("dtype", checks.DTYPES)
@pytest.mark.parametrize("spec", specs.MAIN_SPECS + specs.VARIANT_SPECS, ids=lambda spec: spec.name)
def test_train_on_batch_steps(padded_imdb, spec, dtype):
    _assert_rows(checks.training_rows(spec, dtype, padded_imdb))


@pytest.mark.parametrize("dtype", checks.DTYPES)
def test_fit_evaluate_predict(padded_imdb, dtype):
    _assert_rows(checks.fit_rows(specs.FAST, dtype, padded_imdb))
