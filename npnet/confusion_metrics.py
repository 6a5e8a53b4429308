"""Keras's stateful confusion metrics for a binary classifier: `Precision`, `Recall` and `AUC`.

Unlike `BinaryAccuracy`, which the trainer averages over batches, these cannot be averaged: a precision
of a whole epoch is not the mean of its batches' precisions. They follow Keras's stateful protocol
(`StatefulMetric`): the trainer calls `reset_state()` when an epoch (or an evaluate call) begins,
`update_state(y_true, y_pred)` after each batch's forward, and logs `result()`: after each batch the
running value, at the end the value over every sample seen, as Keras's `fit` and `evaluate` report them.
The state is confusion counts (true/false positives and negatives) at one or more thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import validation
from npnet.activations import sigmoid

# Keras's backend epsilon: AUC's outer thresholds sit this far below 0 and above 1.
EPSILON = 1e-7


def _divide_no_nan(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (Keras's `divide_no_nan`)."""
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


class StatefulMetric:
    """A metric accumulated over an epoch: `reset_state()`, `update_state(y_true, y_pred)` (labels and
    predictions of one batch, each (n, 1)) and `result()`; `name` is its key in the logs and history."""

    name: str

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this metric (its saved form)."""
        raise NotImplementedError


class _ThresholdCounts(StatefulMetric):
    """True/false positive and negative counts of `y_pred > threshold` against `y_true > 0.5` (Keras casts
    labels to bool), summed over every batch since `reset_state`."""

    def __init__(self, threshold: float, name: str) -> None:
        self.threshold = validation.fraction(threshold, f"{type(self).__name__} threshold", one=True)
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = 0

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        positive = np.asarray(y_true).ravel() > 0.5
        predicted = np.asarray(y_pred).ravel() > self.threshold
        self.true_positives += int(np.count_nonzero(positive & predicted))
        self.false_positives += int(np.count_nonzero(~positive & predicted))
        self.false_negatives += int(np.count_nonzero(positive & ~predicted))

    def get_config(self) -> dict[str, Any]:
        return {"thresholds": self.threshold, "name": self.name}


class Precision(_ThresholdCounts):
    """Keras's Precision: tp / (tp + fp) over the epoch, a prediction positive when it is > `thresholds`
    (0.5; the model's output as it is, so a logits model wants thresholds=0 -- Keras's rule too); 0 when
    nothing was predicted positive."""

    def __init__(self, thresholds: float = 0.5, name: str = "precision") -> None:
        super().__init__(thresholds, name)

    def result(self) -> float:
        return float(
            _divide_no_nan(
                np.array(self.true_positives), np.array(self.true_positives + self.false_positives)
            )
        )


class Recall(_ThresholdCounts):
    """Keras's Recall: tp / (tp + fn) over the epoch, a prediction positive when it is > `thresholds`
    (0.5); 0 when no label was positive."""

    def __init__(self, thresholds: float = 0.5, name: str = "recall") -> None:
        super().__init__(thresholds, name)

    def result(self) -> float:
        return float(
            _divide_no_nan(
                np.array(self.true_positives), np.array(self.true_positives + self.false_negatives)
            )
        )


class AUC(StatefulMetric):
    """Keras's AUC with its defaults: the area under the ROC curve, from confusion counts at
    `num_thresholds` (200) thresholds evenly spaced in [0, 1] (the outer two at -1e-7 and 1 + 1e-7),
    summed by the trapezoid rule over the (false-positive rate, recall) points ("interpolation").
    Predictions are probabilities, clipped to [0, 1]; `from_logits=True` takes logits through a sigmoid
    first. Only curve="ROC" and summation_method="interpolation" are implemented.

    A prediction p is counted positive at threshold i when p > i / (num_thresholds - 1): Keras's bucket of
    p, ceil(p (num_thresholds - 1)) - 1 (at least 0), is the last threshold p passes, so the counts at every
    threshold are reversed cumulative sums of per-bucket label counts, one pass over the batch.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str = "auc",
        from_logits: bool = False,
    ) -> None:
        if curve != "ROC" or summation_method != "interpolation":
            raise ValueError(
                f"AUC implements curve='ROC' with summation_method='interpolation' (Keras's defaults), got "
                f"curve={curve!r}, summation_method={summation_method!r}"
            )
        self.num_thresholds = validation.int_in(num_thresholds, "AUC num_thresholds", 2)
        self.curve, self.summation_method = curve, summation_method
        self.name, self.from_logits = name, bool(from_logits)
        self.reset_state()

    def reset_state(self) -> None:
        self.true_positives = np.zeros(self.num_thresholds)
        self.false_positives = np.zeros(self.num_thresholds)
        self.positives = self.negatives = 0.0

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        p = np.asarray(y_pred, dtype=np.float64).ravel()
        p = np.clip(sigmoid(p) if self.from_logits else p, 0.0, 1.0)
        positive = np.asarray(y_true).ravel() > 0.5
        bucket = np.maximum(np.ceil(p * (self.num_thresholds - 1)) - 1, 0).astype(np.intp)
        for counts, chosen in ((self.true_positives, positive), (self.false_positives, ~positive)):
            per_bucket = np.bincount(bucket[chosen], minlength=self.num_thresholds)
            counts += np.cumsum(per_bucket[::-1])[::-1]  # at threshold i: the samples in buckets >= i
        self.positives += float(np.count_nonzero(positive))
        self.negatives += float(np.count_nonzero(~positive))

    def result(self) -> float:
        recall = _divide_no_nan(self.true_positives, np.array(self.positives))
        false_positive_rate = _divide_no_nan(self.false_positives, np.array(self.negatives))
        heights = (recall[:-1] + recall[1:]) / 2
        return float(np.sum((false_positive_rate[:-1] - false_positive_rate[1:]) * heights))

    def get_config(self) -> dict[str, Any]:
        return {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "name": self.name,
            "from_logits": self.from_logits,
        }
