"""Binary accuracy, Keras's `metrics=["accuracy"]` for a binary cross-entropy model."""

from __future__ import annotations

import math

import numpy as np


class BinaryAccuracy:
    """Fraction of samples whose predicted class equals the label.

    A probability p is class 1 when p > threshold *strictly* (so 0.5 counts as class 0, as in Keras). With
    `from_logits=True` the prediction is a logit z and the test is z > logit(threshold), i.e. z > 0 for 0.5.
    """

    def __init__(
        self, name: str = "binary_accuracy", threshold: float = 0.5, from_logits: bool = False
    ) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"BinaryAccuracy threshold must be in (0, 1), got {threshold}")
        self.name = name
        self.threshold = threshold
        self.from_logits = from_logits

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        cut = math.log(self.threshold) - math.log1p(-self.threshold) if self.from_logits else self.threshold
        return float(np.mean((y_pred > cut) == (y_true > 0.5)))

    def __repr__(self) -> str:
        return (
            f"BinaryAccuracy(name={self.name!r}, threshold={self.threshold}, from_logits={self.from_logits})"
        )


_ACCURACY_NAMES = ("accuracy", "acc", "binary_accuracy")


def get(identifier: str | BinaryAccuracy, from_logits: bool = False) -> BinaryAccuracy:
    """A metric from a Keras name ("accuracy", "acc", "binary_accuracy"; the name becomes its history key)
    or an instance. `from_logits` tells a named metric whether the model outputs logits (from the loss)."""
    if isinstance(identifier, BinaryAccuracy):
        return identifier
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        return BinaryAccuracy(name=identifier, from_logits=from_logits)
    raise ValueError(
        f"unknown metric {identifier!r}: use one of {', '.join(_ACCURACY_NAMES)} or a metrics.BinaryAccuracy"
    )
