"""Whether a run's model learned anything, and what `npnet train` and `npnet predict` say when it did not.

The yardstick is the test loss of a model that ignores the text: answering the positive share p of the test
labels for every review scores the binary entropy -p log p - (1-p) log(1-p) (ln 2 = 0.6931 on IMDB's
balanced test set). The notebook's settings end a hair below it (its lr 1e-5 with decay barely moves the
weights), so its accuracy is a side effect of scores that all sit within ~0.01 of 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from npnet import runs

# A test loss above this fraction of the constant guess's: the model has barely learned. The notebook's run
# ends at ~0.99 of it (seed 0: 0.6883 against 0.6931).
STALLED_FRACTION = 0.9
WHY_SCRIPT = "examples/why_the_notebook_stalls.py"


def positive_share(metrics: Mapping[str, Any]) -> float:
    """The fraction of positive test labels (`metrics` as `npnet.metrics.classification_metrics` returns it:
    its confusion matrix has one row per actual class)."""
    negative, positive = (sum(row) for row in metrics["confusion_matrix"])
    return positive / (negative + positive)


def constant_guess_loss(metrics: Mapping[str, Any]) -> float:
    """The log loss of answering the positive share of the test labels for every review."""
    share = positive_share(metrics)
    if share in (0.0, 1.0):
        return 0.0
    return -(share * math.log(share) + (1 - share) * math.log(1 - share))


def has_not_learned(metrics: Mapping[str, Any]) -> bool:
    """Whether the test loss in `metrics` is barely below that of a model that ignores the text."""
    return float(metrics["loss"]) > STALLED_FRACTION * constant_guess_loss(metrics)


def _evidence(metrics: Mapping[str, Any]) -> str:
    return (
        f"test accuracy {metrics['accuracy']:.4f}, test loss {metrics['loss']:.4f} against "
        f"{constant_guess_loss(metrics):.4f} for answering {positive_share(metrics):.3g} to every review"
    )


def tuned_advice() -> str:
    """Where a model that works comes from: the tuned preset, described by the preset table itself."""
    changes = ", ".join(f"{name} {value}" for name, value in runs.PRESETS["tuned"].items())
    return f"For a model that works: npnet train --preset tuned ({changes}; docs/tuning.md)."


def notebook_verdict(config: runs.TrainConfig, metrics: Mapping[str, Any]) -> str | None:
    """The line that ends a run of the notebook preset whose model has not learned (None otherwise): what it
    reproduced, the evidence, and where a working model comes from."""
    if config.preset != "notebook" or not has_not_learned(metrics):
        return None
    notebook = runs.preset_config("notebook").to_dict()
    changed = {name: value for name, value in config.to_dict().items() if value != notebook[name]}
    if changed:
        what = "This ran the Keras notebook's model with " + ", ".join(f"{k} {v}" for k, v in changed.items())
        why = "it has barely learned"
    else:
        what = "This reproduced the Keras notebook's model as written"
        why = (
            f"its learning rate {config.learning_rate:g} with decay {config.decay:g} barely moves the "
            f"weights; {WHY_SCRIPT} shows why"
        )
    return f"{what} ({_evidence(metrics)}: {why}). {tuned_advice()}"


def predict_warning(metrics: Mapping[str, Any]) -> str | None:
    """The warning `npnet predict` gives for a run whose model has not learned (None when it has)."""
    if not has_not_learned(metrics):
        return None
    return (
        f"this run's model has not learned ({_evidence(metrics)}): its labels mean little. {tuned_advice()}"
    )
