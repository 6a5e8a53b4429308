"""What `npnet train` and `npnet evaluate` print about a model on the test set, and what `npnet sweep` and
`npnet compare` print as their runs finish."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from npnet.metrics import positive_probability, predicted_labels
from npnet.reports.run_report import CLASS_NAMES


def show_test_results(metrics: Mapping[str, Any], y_true: np.ndarray, probabilities: np.ndarray) -> None:
    """The notebook's printout: loss and accuracy, the first 10 test labels vs predictions, the confusion
    matrix (a pandas crosstab); then precision, recall and F1 per class. `probabilities`: (n, 1) sigmoid
    or (n, 2) softmax rows; the positive class's probability is shown."""
    import pandas as pd  # only here: imported with the CLI, it would stay resident through all of training

    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = predicted_labels(probabilities)
    print(f"\nTest loss: {metrics['loss']:.4f}  Test accuracy: {metrics['accuracy']:.4f}")
    print("\nFirst 10 test reviews:")
    print(f"  labels:        {y_true[:10]}")
    print(f"  predictions:   {y_pred[:10]}")
    print(f"  probabilities: {np.array2string(positive_probability(probabilities)[:10], precision=3)}")
    print("\nConfusion matrix (0 = negative, 1 = positive):")
    # The notebook's own labels: pd.crosstab(..., rownames=["Actual"], colnames=["Predicted"]).
    print(pd.crosstab(y_true, y_pred, rownames=["Actual"], colnames=["Predicted"], margins=True))
    table = pd.DataFrame.from_dict(metrics["per_class"], orient="index")[
        ["precision", "recall", "f1", "support"]
    ]
    table.index = [f"{i} {name}" for i, name in enumerate(CLASS_NAMES)]
    print("\nPer-class metrics:")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nAccuracy: {metrics['accuracy']:.4f} ({metrics['samples']} test reviews)")


def run_progress(
    total: int, describe: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any] | str], None]:
    """The `on_done` of a sweep or a comparison: "[k/total] <describe(result)>" as each run finishes, and
    "[k/total] FAILED <why>" for a run that failed (its result is the reason, a string)."""
    done = 0

    def show(result: dict[str, Any] | str) -> None:
        nonlocal done
        done += 1
        line = f"FAILED {result}" if isinstance(result, str) else describe(result)
        print(f"[{done}/{total}] {line}", flush=True)

    return show
