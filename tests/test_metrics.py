import numpy as np
import pytest

from npnet import metrics


def col(*values):
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def test_half_counts_as_class_zero():
    acc = metrics.BinaryAccuracy()
    y = col(0, 1, 1, 0)
    p = col(0.5, 0.5000001, 0.9, 0.1)
    assert acc(y, p) == 1.0  # 0.5 -> 0 (right for y=0); 0.5000001 -> 1
    assert acc(col(1), col(0.5)) == 0.0


def test_logits_threshold_at_zero():
    acc = metrics.BinaryAccuracy(from_logits=True)
    assert acc(col(0, 1, 1, 0), col(0.0, 1e-30, 7.0, -2.0)) == 1.0
    assert acc(col(1), col(0.0)) == 0.0


def test_fraction():
    assert metrics.BinaryAccuracy()(col(1, 1, 0, 0), col(0.9, 0.2, 0.1, 0.8)) == 0.5


def test_lookup_keeps_the_given_name():
    for name in ("accuracy", "acc", "binary_accuracy"):
        assert metrics.get(name).name == name
    assert metrics.get("accuracy", from_logits=True).from_logits
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metrics.get("f1")
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.5)
