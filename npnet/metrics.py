"""Binary accuracy (Keras's `metrics=["accuracy"]` with BCE), and the names `compile(metrics=...)` takes:
"accuracy" and the stateful "precision", "recall", "auc" (`npnet.confusion_metrics`); a confusion matrix
and per-class precision/recall/F1 for reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from npnet.confusion_metrics import AUC, Precision, Recall, StatefulMetric


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

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this metric (its saved form)."""
        return {"name": self.name, "threshold": self.threshold, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return (
            f"BinaryAccuracy(name={self.name!r}, threshold={self.threshold}, from_logits={self.from_logits})"
        )


# A metric of `compile`: averaged over batches by the trainer (BinaryAccuracy), or stateful over the epoch.
Metric = BinaryAccuracy | StatefulMetric

_ACCURACY_NAMES = ("accuracy", "acc", "binary_accuracy")
_STATEFUL_BY_NAME: dict[str, type[StatefulMetric]] = {"precision": Precision, "recall": Recall, "auc": AUC}
METRIC_CLASSES: dict[str, type[BinaryAccuracy] | type[StatefulMetric]] = {
    "BinaryAccuracy": BinaryAccuracy,
    "Precision": Precision,
    "Recall": Recall,
    "AUC": AUC,
}


def get(identifier: str | Metric, from_logits: bool = False) -> Metric:
    """A metric from a Keras name ("accuracy", "acc", "binary_accuracy", "precision", "recall", "auc"; the
    name becomes its history key) or an instance. `from_logits` tells a named accuracy or AUC whether the
    model outputs logits (from the loss); Precision and Recall threshold the output as it is, as Keras's."""
    if isinstance(identifier, (BinaryAccuracy, StatefulMetric)):
        return identifier
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        return BinaryAccuracy(name=identifier, from_logits=from_logits)
    if isinstance(identifier, str) and identifier in _STATEFUL_BY_NAME:
        if identifier == "auc":
            return AUC(from_logits=from_logits)
        return _STATEFUL_BY_NAME[identifier]()
    names = [*_ACCURACY_NAMES, *_STATEFUL_BY_NAME]
    raise ValueError(
        f"unknown metric {identifier!r}: use one of {', '.join(names)} or an instance "
        "(metrics.BinaryAccuracy, metrics.Precision, metrics.Recall, metrics.AUC)"
    )


__all__ = [
    "AUC",
    "BinaryAccuracy",
    "Metric",
    "Precision",
    "Recall",
    "StatefulMetric",
    "classification_metrics",
    "confusion_matrix",
    "get",
    "precision_recall_f1",
]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts of a binary classification: rows are the true class (0, 1), columns the predicted class.

    `y_true` and `y_pred` hold class labels 0/1 (threshold probabilities first, e.g. `p > 0.5`).
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has {y_true.size} labels but y_pred has {y_pred.size}; pass one of each per sample"
        )
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name} must hold class labels 0 or 1; threshold probabilities first (p > 0.5)")
    cells = 2 * y_true.astype(np.int64) + y_pred.astype(np.int64)  # 0: TN, 1: FP, 2: FN, 3: TP
    return np.bincount(cells, minlength=4).reshape(2, 2)


def precision_recall_f1(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows true, columns predicted).

    Each is an array with one value per class. A class never predicted has precision 0 (and one never present
    recall 0), as scikit-learn's zero_division=0: a number, never a division by zero.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros_like(true_positives), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, loss: float, class_names: Sequence[str]
) -> dict[str, Any]:
    """loss, accuracy, confusion matrix and per-class precision/recall/F1 of thresholded probabilities (p >
    0.5), the classes named by `class_names` (index = label)."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = (np.asarray(probabilities).ravel() > 0.5).astype(np.int64)
    matrix = confusion_matrix(y_true, y_pred)
    per_class = precision_recall_f1(matrix)
    return {
        "loss": float(loss),
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "samples": int(matrix.sum()),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            name: {
                "precision": float(per_class["precision"][i]),
                "recall": float(per_class["recall"][i]),
                "f1": float(per_class["f1"][i]),
                "support": int(per_class["support"][i]),
            }
            for i, name in enumerate(class_names)
        },
    }
