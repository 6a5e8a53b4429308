"""Forward, train_on_batch, fit/evaluate/predict and variants on real IMDB batches, from Keras's weights."""

from __future__ import annotations

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity import checks, specs

pytestmark = [pytest.mark.parity, pytest.mark.slow]


def _assert_rows(rows):
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)


# predict/evaluate/fit take npnet's fused Embedding + pooling path by default; fused=False is the readable
# layers (train_on_batch always runs those). Both must match Keras.
_PATHS = pytest.mark.parametrize("fused", [None, False], ids=["fused", "readable"])


@_PATHS
@pytest.mark.parametrize("mask_zero", [False, True], ids=["plain", "mask_zero"])
@pytest.mark.parametrize("precision", checks.PRECISIONS.values(), ids=str)
def test_forward_with_keras_weights(padded_imdb, precision, mask_zero, fused):
    spec = specs.ModelSpec(mask_zero=mask_zero)
    _assert_rows(checks.forward_rows(precision, padded_imdb, spec, fused=fused))


# Measured, not explained (parity/checks.py, TOLERANCES["float32"]): from Keras-JAX's seed-0 weights npnet's
# float32 run of the fast config leaves float64 arithmetic at step 22 and ends 6.9e-3 off, where Keras-JAX's
# float32 run stays within 7e-6. Strict: the day it passes, this mark must go.
_NPNET_FLOAT32_DRIFT = pytest.mark.xfail(
    strict=True, reason="npnet float32 drifts from float64 on the fast config from Keras-JAX's start (open)"
)


def _main_cases():
    for spec in specs.MAIN_SPECS:
        for precision in checks.PRECISIONS.values():
            drift = spec is specs.FAST and precision.name == "float32"
            marks = [_NPNET_FLOAT32_DRIFT] if drift else []
            yield pytest.param(spec, precision, marks=marks, id=f"{precision}-{spec.name}")


@pytest.mark.parametrize(("spec", "precision"), list(_main_cases()))
def test_train_on_batch_steps(padded_imdb, spec, precision):
    _assert_rows(checks.training_rows(spec, precision, padded_imdb, detail=True))


# The variants in true float64 (where any difference in the math shows) and float32 (the default dtype);
# Keras's stock float64 adds nothing there but time (`python -m parity` still runs it).
@pytest.mark.parametrize("precision", [checks.PRECISIONS["float64"], checks.PRECISIONS["float32"]], ids=str)
@pytest.mark.parametrize("spec", specs.VARIANT_SPECS, ids=lambda spec: spec.name)
def test_train_on_batch_variants(padded_imdb, spec, precision):
    _assert_rows(checks.training_rows(spec, precision, padded_imdb, detail=True))


@pytest.mark.parametrize("precision", checks.PRECISIONS.values(), ids=str)
def test_fit_evaluate_predict(padded_imdb, precision):
    _assert_rows(checks.fit_rows(specs.FAST, precision, padded_imdb))


@pytest.mark.parametrize("precision", [checks.PRECISIONS["float64"], checks.PRECISIONS["float32"]], ids=str)
def test_fit_evaluate_predict_on_the_readable_layers(padded_imdb, precision):
    _assert_rows(checks.fit_rows(specs.FAST, precision, padded_imdb, fused=False))
