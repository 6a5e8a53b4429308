"""Confusion matrix and per-class precision/recall/F1, against counts done by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npnet import metrics


def test_confusion_matrix_rows_are_true_class_columns_predicted() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 1, 1, 0])
    # true 0: predicted 0 once, 1 twice; true 1: predicted 0 once, 1 three times
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), [[1, 2], [1, 3]])


def test_precision_recall_f1_by_hand() -> None:
    result = metrics.precision_recall_f1(np.array([[1, 2], [1, 3]]))
    # class 0: precision 1/(1+1), recall 1/(1+2); class 1: precision 3/(2+3), recall 3/(1+3)
    np.testing.assert_allclose(result["precision"], [1 / 2, 3 / 5])
    np.testing.assert_allclose(result["recall"], [1 / 3, 3 / 4])
    np.testing.assert_allclose(result["f1"], [2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3), 2 * 0.6 * 0.75 / 1.35])
    np.testing.assert_array_equal(result["support"], [3, 4])


def test_a_class_never_predicted_has_zero_precision_not_nan() -> None:
    result = metrics.precision_recall_f1(metrics.confusion_matrix([0, 1, 1], [1, 1, 1]))
    np.testing.assert_array_equal(result["precision"], [0.0, 2 / 3])
    np.testing.assert_array_equal(result["recall"], [0.0, 1.0])
    np.testing.assert_array_equal(result["f1"], [0.0, 0.8])


@pytest.mark.slow
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=60))
def test_confusion_matrix_counts_every_pair_once(pairs: list[tuple[int, int]]) -> None:
    y_true, y_pred = (np.array(column) for column in zip(*pairs, strict=True))
    matrix = metrics.confusion_matrix(y_true, y_pred)
    assert matrix.sum() == len(pairs)
    for t in (0, 1):
        for p in (0, 1):
            assert matrix[t, p] == sum(1 for pair in pairs if pair == (t, p))


def test_bad_labels_and_lengths_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="threshold probabilities first"):
        metrics.confusion_matrix([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        metrics.confusion_matrix([0, 1, 1], [0, 1])
