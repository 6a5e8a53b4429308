"""Binary cross-entropy: on probabilities (Keras's clipped formula, for parity) or on logits (stable)."""

from __future__ import annotations

import numpy as np

from npnet.activations import sigmoid

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]


class Loss:
    """What a loss is to the model and the tools: `loss(y_true, y_pred)` (the mean, a float) and
    `gradient(y_true, y_pred)` (dLoss/dy_pred, shaped like y_pred), plus two hooks the gradient checker reads
    instead of naming a class: `kink_pattern(y_pred)` (where y_pred sits relative to the loss's
    non-differentiable points, such as a clip) and `step_scale(y_pred)` (the scale of a finite-difference
    step for each prediction). A new loss subclasses this and needs no change in `npnet.gradcheck`."""

    name = "loss"

    def __call__(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        raise NotImplementedError

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def kink_pattern(self, y_pred: np.ndarray) -> np.ndarray:
        """A flat array that changes exactly when a perturbation of y_pred crosses a non-differentiable
        point of the loss. Default: none (an empty array)."""
        return np.zeros(0, dtype=bool)

    def step_scale(self, y_pred: np.ndarray) -> np.ndarray | None:
        """Per prediction, the scale a finite-difference step is taken relative to; None: max(1, |y_pred|)."""
        return None


class BinaryCrossentropy(Loss):
    """Mean over the batch of -(y log p + (1 - y) log(1 - p)); `y_true`, `y_pred` of equal shape (n, 1).

    `from_logits=False` (default): `y_pred` are probabilities, clipped to [1e-7, 1 - 1e-7] as Keras does;
    where clipping changed p the gradient is zero (the clip is flat there). `from_logits=True`: `y_pred` are
    logits z and the loss is max(z, 0) - z y + log1p(exp(-|z|)), finite for every z; its gradient is
    sigmoid(z) - y.

    `sample_weight` (n, 1) or None: Keras 3's "sum_over_batch_size" reduction, sum(w * loss) / n -- divided
    by the batch size, not by sum(w) -- and each sample's gradient scaled by its w.
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        """The mean (weighted: sum(w * loss) / n) loss as a Python float (computed in y_pred's dtype)."""
        _check_shapes(y_true, y_pred)
        if self.from_logits:
            z = y_pred
            per_sample = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            per_sample = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
        if sample_weight is not None:
            per_sample = per_sample * sample_weight
        return float(np.mean(per_sample))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """dLoss/dy_pred, same shape as y_pred (the 1/n of the batch mean, and each sample's weight, in)."""
        _check_shapes(y_true, y_pred)
        n = y_pred.shape[0]
        if self.from_logits:
            grad = (sigmoid(y_pred) - y_true) / n
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            # d/dp of -(y log p + (1-y) log(1-p)) = -y/p + (1-y)/(1-p) = (p - y) / (p (1 - p)).
            inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
            grad = (p - y_true) / (p * (1 - p)) * inside / n
        return grad if sample_weight is None else grad * sample_weight

    def kink_pattern(self, y_pred: np.ndarray) -> np.ndarray:
        """Which probabilities the clip to [EPSILON, 1 - EPSILON] flattens (the gradient is zero there):
        a finite-difference step that changes this crossed a kink. Logits have none."""
        if self.from_logits:
            return super().kink_pattern(y_pred)
        return np.concatenate([(y_pred < EPSILON).ravel(), (y_pred > 1 - EPSILON).ravel()])

    def step_scale(self, y_pred: np.ndarray) -> np.ndarray | None:
        """Probabilities: their distance to 0 or 1 (-log p curves like 1/p there), at least EPSILON, within
        which the clip makes the loss flat. Logits: None, the usual max(1, |z|)."""
        if self.from_logits:
            return None
        return np.maximum(np.minimum(np.abs(y_pred), np.abs(1 - y_pred)), EPSILON)

    def __repr__(self) -> str:
        return f"BinaryCrossentropy(from_logits={self.from_logits})"


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"binary cross-entropy needs labels and predictions of the same shape, got {y_true.shape} and "
            f"{y_pred.shape}; end the model with Dense(1, activation='sigmoid') and pass labels of shape (n,)"
        )


_BY_NAME = {"binary_crossentropy": BinaryCrossentropy}


def get(identifier: str | BinaryCrossentropy) -> BinaryCrossentropy:
    """A loss from its Keras name ("binary_crossentropy") or a loss instance."""
    if isinstance(identifier, BinaryCrossentropy):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(
        f"unknown loss {identifier!r}: use 'binary_crossentropy' or "
        "losses.BinaryCrossentropy(from_logits=...)"
    )
