"""A binary classifier's output as either (n, 1) sigmoid probabilities or (n, 2) softmax rows: the predicted
class and the positive class's probability, as metrics, `npnet evaluate` and `npnet predict` read them."""

from __future__ import annotations

import numpy as np
import pytest

from npnet.metrics import classification_metrics, positive_probability, predicted_labels


def test_softmax_rows_predict_by_argmax_and_give_the_second_column() -> None:
    rows = np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5], [0.49999997, 0.50000006]], dtype=np.float32)
    assert predicted_labels(rows).tolist() == [0, 1, 0, 1]  # a tie goes to class 0, as Keras's argmax
    np.testing.assert_array_equal(positive_probability(rows), rows[:, 1])


def test_argmax_not_a_threshold_decides_a_softmax_row() -> None:
    # p_1 > 0.5 and still not the larger (rounding left p_0 + p_1 above 1): Keras's accuracy is argmax's
    rows = np.array([[0.5000001, 0.50000006]], dtype=np.float32)
    assert predicted_labels(rows).tolist() == [0]


def test_sigmoid_probabilities_threshold_strictly_at_one_half() -> None:
    p = np.array([[0.2], [0.5], [0.51]])
    assert predicted_labels(p).tolist() == [0, 0, 1]
    assert predicted_labels(p.ravel()).tolist() == [0, 0, 1]
    np.testing.assert_array_equal(positive_probability(p), [0.2, 0.5, 0.51])


def test_classification_metrics_of_softmax_rows_equal_those_of_their_labels() -> None:
    rows = np.array([[0.8, 0.2], [0.1, 0.9], [0.4, 0.6], [0.7, 0.3]])
    y = np.array([0, 1, 0, 1])
    metrics = classification_metrics(y, rows, 0.5, ("negative", "positive"))
    assert metrics["confusion_matrix"] == [[1, 1], [1, 1]]
    assert metrics["accuracy"] == 0.5 and metrics["samples"] == 4


@pytest.mark.parametrize("shape", [(4, 3), (4, 2, 1), ()])
def test_other_shapes_are_refused_with_the_shape_named(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(n, 2\) softmax rows.*got shape"):
        predicted_labels(np.zeros(shape))
