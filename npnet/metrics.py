"""Metrics under Keras's names: the accuracies (`metrics=["accuracy"]` follows the loss: binary with BCE,
sparse categorical or categorical with a softmax output), averaged over batches by the trainer, and the
stateful "precision", "recall", "auc" (`npnet.confusion_metrics`), accumulated over an epoch; a confusion
matrix and per-class precision/recall/F1 for reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from npnet.confusion_metrics import AUC, Precision, Recall, StatefulMetric


class Metric:
    """A metric is `metric(y_true, y_pred) -> float` (the batch's value) with a `name`, its history key."""

    name = "metric"

    def __init__(self, name: str = "metric") -> None:
        self.name = name

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """What rebuilds the metric (`from_config`), JSON-ready."""
        return {"class_name": type(self).__name__, "name": self.name}


class BinaryAccuracy(Metric):
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
        # The keys model files have always held for it (a file without "class_name" is this metric).
        return {"name": self.name, "threshold": self.threshold, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return (
            f"BinaryAccuracy(name={self.name!r}, threshold={self.threshold}, from_logits={self.from_logits})"
        )


class SparseCategoricalAccuracy(Metric):
    """Fraction of positions whose predicted class, argmax of `y_pred` (n, ..., C) over the last axis, equals
    the class id in `y_true` (n, ...). Ties go to the first maximal class (NumPy's and Keras's argmax), and
    logits give the same argmax as their softmax, so one rule serves both."""

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        self.name = name

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.mean(np.argmax(y_pred, axis=-1) == y_true))

    def __repr__(self) -> str:
        return f"SparseCategoricalAccuracy(name={self.name!r})"


class CategoricalAccuracy(Metric):
    """Fraction of positions where argmax of `y_pred` equals argmax of the one-hot `y_true` (both
    (n, ..., C)); ties go to the first maximal class on both sides, as in Keras."""

    def __init__(self, name: str = "categorical_accuracy") -> None:
        self.name = name

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.mean(np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)))

    def __repr__(self) -> str:
        return f"CategoricalAccuracy(name={self.name!r})"


_ACCURACY_NAMES = ("accuracy", "acc")
# What "accuracy" means after each loss (Keras decides by the shapes of labels and predictions, which
# each of these losses fixes): the binary one after binary cross-entropy and any other loss.
_ACCURACY_FOR_LOSS: dict[str, type[Metric]] = {
    "sparse_categorical_crossentropy": SparseCategoricalAccuracy,
    "categorical_crossentropy": CategoricalAccuracy,
}
_BY_NAME: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
}
_STATEFUL_BY_NAME: dict[str, type[StatefulMetric]] = {"precision": Precision, "recall": Recall, "auc": AUC}
# What `compile` holds: a metric averaged over batches by the trainer, or one stateful over the epoch.
CompiledMetric = Metric | StatefulMetric


def get(
    identifier: str | CompiledMetric, from_logits: bool = False, loss: str = "binary_crossentropy"
) -> CompiledMetric:
    """A metric from a Keras name (the name becomes its history key) or an instance.

    "accuracy"/"acc" follow the loss named `loss`, as in Keras: binary accuracy after binary cross-entropy
    (thresholding logits at 0 when `from_logits`), sparse categorical accuracy after
    "sparse_categorical_crossentropy", categorical accuracy after "categorical_crossentropy". "precision",
    "recall" and "auc" are stateful over an epoch (AUC follows `from_logits`; Precision and Recall threshold
    the output as it is, as Keras's)."""
    if isinstance(identifier, (Metric, StatefulMetric)):
        return identifier
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        if loss in _ACCURACY_FOR_LOSS:
            return _ACCURACY_FOR_LOSS[loss](name=identifier)
        return BinaryAccuracy(name=identifier, from_logits=from_logits)
    if identifier == "binary_accuracy":
        return BinaryAccuracy(from_logits=from_logits)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, str) and identifier in _STATEFUL_BY_NAME:
        if identifier == "auc":
            return AUC(from_logits=from_logits)
        return _STATEFUL_BY_NAME[identifier]()
    names = [*_ACCURACY_NAMES, *_BY_NAME, *_STATEFUL_BY_NAME]
    raise ValueError(
        f"unknown metric {identifier!r}: use one of {', '.join(names)} or an instance "
        "(metrics.BinaryAccuracy, metrics.Precision, metrics.Recall, metrics.AUC, ...)"
    )


def from_config(config: dict[str, Any]) -> CompiledMetric:
    """The metric `get_config()` described (a saved model's)."""
    config = dict(config)
    classes: dict[str, type[Metric] | type[StatefulMetric]] = {
        **{cls.__name__: cls for cls in _BY_NAME.values()},
        **{cls.__name__: cls for cls in _STATEFUL_BY_NAME.values()},
    }
    name = config.pop("class_name", "BinaryAccuracy")  # files from before other metrics hold a bare config
    if name not in classes:
        raise ValueError(f"unknown metric class {name!r:.100}: npnet has {', '.join(sorted(classes))}")
    return classes[name](**config)


__all__ = [
    "AUC",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "CompiledMetric",
    "Metric",
    "Precision",
    "Recall",
    "SparseCategoricalAccuracy",
    "StatefulMetric",
    "classification_metrics",
    "confusion_matrix",
    "from_config",
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


def _binary_rows(probabilities: np.ndarray) -> np.ndarray:
    """A binary classifier's output as (n, 1) sigmoid probabilities or (n, 2) softmax rows; ValueError
    naming the shape otherwise."""
    p = np.asarray(probabilities)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] not in (1, 2):
        raise ValueError(
            f"probabilities must be (n, 1) probabilities of the positive class or (n, 2) softmax rows of a "
            f"binary classifier, got shape {p.shape}"
        )
    return p


def positive_probability(probabilities: np.ndarray) -> np.ndarray:
    """(n,) probability of class 1 from a binary classifier's output: (n,) or (n, 1) sigmoid probabilities
    as they are, (n, 2) softmax rows' second column."""
    return _binary_rows(probabilities)[:, -1]


def predicted_labels(probabilities: np.ndarray) -> np.ndarray:
    """(n,) int64 class ids from a binary classifier's output: p > 0.5 for (n,) or (n, 1) probabilities (0.5
    counts as class 0, as Keras's binary accuracy), argmax for (n, 2) softmax rows (ties to class 0, as
    Keras's sparse categorical accuracy; not p_1 > 0.5, which rounding of p_0 + p_1 could contradict)."""
    p = _binary_rows(probabilities)
    labels = np.argmax(p, axis=1) if p.shape[1] == 2 else p[:, 0] > 0.5
    return labels.astype(np.int64)


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, loss: float, class_names: Sequence[str]
) -> dict[str, Any]:
    """loss, accuracy, confusion matrix and per-class precision/recall/F1 of the predicted classes
    (`predicted_labels`: (n, 1) probabilities thresholded at 0.5, (n, 2) softmax rows by argmax), the
    classes named by `class_names` (index = label)."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = predicted_labels(probabilities)
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
