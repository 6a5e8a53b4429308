"""Forward, train_on_batch, fit/evaluate/predict and variants on real IMDB batches, from Keras's weights."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity import checks, specs
from parity import npnet_side as ns

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


def _main_cases():
    for spec in specs.MAIN_SPECS:
        for precision in checks.PRECISIONS.values():
            yield pytest.param(spec, precision, id=f"{precision}-{spec.name}")


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


def _first_batch_and_weights(padded_imdb):
    x = padded_imdb.batches(1)[0][0]
    return x, ns.initial_weights(specs.ModelSpec(), "float64", seed=0)


def _straddle(weights, x, sample, unit, shift):
    """Weights whose Dense(16) pre-activation for (sample, unit) on batch x is exactly `shift`."""
    moved = [w.copy() for w in weights]
    z = moved[0][x[sample]].mean(axis=0) @ moved[1][:, unit] + moved[2][unit]
    moved[2][unit] += shift - z
    return moved


def test_kink_split_detector_sees_a_planted_relu_crossing(padded_imdb):
    x, weights = _first_batch_and_weights(padded_imdb)
    model = specs.ModelSpec()
    above, below = _straddle(weights, x, 135, 7, 1e-8), _straddle(weights, x, 135, 7, -1e-8)
    assert checks.first_kink_split(model, [above], [below], [x]) == 0
    # The same branches on both sides, though the weights differ by far more than 2e-8: no split (the output
    # kernel moves every prediction, none near the clip, and no ReLU).
    far = [w.copy() for w in above]
    far[3] += 1e-3
    assert checks.first_kink_split(model, [above, above], [far, far], [x, x]) is None
    # A crossing at the second step only is found there.
    assert checks.first_kink_split(model, [above, above], [above, below], [x, x]) == 1


def test_kink_split_detector_sees_a_planted_clip_crossing(padded_imdb):
    x, weights = _first_batch_and_weights(padded_imdb)
    clipped = [w.copy() for w in weights]
    clipped[4][0] = 40.0  # sigmoid(40) > 1 - 1e-7 for every review: the BCE clip flattens them all
    assert checks.first_kink_split(specs.ModelSpec(), [weights], [clipped], [x]) == 0


def test_trajectory_check_catches_a_planted_float32_error(padded_imdb, monkeypatch):
    """npnet's Adam taking steps 0.2 % too long (a bias correction or decay slightly off) is far smaller than
    a kink split's effect, yet the float32 check fails on the steps it compares."""
    plain = ns.build_optimizer

    def off(spec):
        return plain(dataclasses.replace(spec, learning_rate=spec.learning_rate * 1.002))

    monkeypatch.setattr(ns, "build_optimizer", off)
    rows = checks.training_rows(specs.FAST, checks.PRECISIONS["float32"], padded_imdb, detail=True)
    failed = [row for row in rows if not row.ok]
    assert any("weight" in row.quantity for row in failed), "\n".join(map(str, rows))
