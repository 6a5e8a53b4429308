"""Cross-entropy losses: binary (one sigmoid output) and categorical (a softmax over classes), each on
probabilities (Keras's clipped formula, for parity) or on logits (stable); each loss also turns the labels a
user passes into the array it computes with (`prepare_labels`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet.activations import sigmoid, softmax

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]


class Loss:
    """What a loss is to the model and the tools: `loss(y_true, y_pred)` (the mean, a float) and
    `gradient(y_true, y_pred)` (dLoss/dy_pred, shaped like y_pred), plus two hooks the gradient checker reads
    instead of naming a class: `kink_pattern(y_pred)` (where y_pred sits relative to the loss's
    non-differentiable points, such as a clip) and `step_scale(y_pred)` (the scale of a finite-difference
    step for each prediction). A new loss subclasses this and needs no change in `npnet.gradcheck`."""

    name = "loss"
    from_logits = False  # whether y_pred are logits (a named accuracy thresholds them accordingly)

    def prepare_labels(self, y: Any, n: int, dtype: np.dtype, what: str = "y") -> np.ndarray:
        """The labels `y` of `n` samples as this loss takes them (`what` names them in errors); a clear
        ValueError for anything else. The trainer calls it once per fit/evaluate/train_on_batch."""
        raise NotImplementedError

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

    def prepare_labels(self, y: Any, n: int, dtype: np.dtype, what: str = "y") -> np.ndarray:
        """Labels as a (n, 1) float column of 0/1."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{what} must have shape (n,) or (n, 1), got {y.shape}")
        if len(y) != n:
            raise ValueError(f"x and {what} differ in length: {n} samples but {len(y)} labels")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"{what} must be numeric 0/1 labels, got dtype {y.dtype}")
        bad = ~((y == 0) | (y == 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{what} must hold binary labels 0 or 1, found {y[i].item()!r} at index {i}; "
                "map the classes to 0/1"
            )
        return y.astype(dtype).reshape(-1, 1)

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
        return None if self.from_logits else _probability_scale(y_pred)

    def __repr__(self) -> str:
        return f"BinaryCrossentropy(from_logits={self.from_logits})"


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"binary cross-entropy needs labels and predictions of the same shape, got {y_true.shape} and "
            f"{y_pred.shape}; end the model with Dense(1, activation='sigmoid') and pass labels of shape (n,)"
        )


class CategoricalCrossentropy(Loss):
    """Mean over the samples of -sum_c t_c log p_c; `y_true` t and `y_pred` of equal shape (..., C), the
    classes on the last axis, t one-hot rows or probabilities.

    `from_logits=False` (default): `y_pred` are probabilities, and Keras 3's formula is kept for parity:
    each row is first divided by its sum (p / sum(p), so a row that does not sum to 1 is normalised), then
    clipped to [1e-7, 1 - 1e-7]. Where the clip changed a normalised probability its term's gradient is
    zero (the clip is flat there). With q = p / S, S = sum_c p_c, dq_c/dp_j = ([c = j] - q_c) / S, so
    dL/dp_j = -(t_j k_j / q_j - sum_c t_c k_c) / S per sample (k_c = 1 where q_c was not clipped), over the
    number of samples. `from_logits=True`: log q = z - logsumexp(z) (stable for every z) and
    dL/dz = softmax(z) sum_c t_c - t per sample, over the number of samples.
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def prepare_labels(self, y: Any, n: int, dtype: np.dtype, what: str = "y") -> np.ndarray:
        """Labels as a (n, ..., C) float array of one-hot rows or class probabilities (each >= 0)."""
        y = np.asarray(y)
        if y.ndim < 2:
            raise ValueError(
                f"{what} must be one-hot rows (n, classes) for categorical cross-entropy, got shape "
                f"{y.shape}; for integer class ids use loss='sparse_categorical_crossentropy'"
            )
        if len(y) != n:
            raise ValueError(f"x and {what} differ in length: {n} samples but {len(y)} labels")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"{what} must be numeric one-hot rows or probabilities, got dtype {y.dtype}")
        if not np.all(np.isfinite(y)) or (y < 0).any():
            raise ValueError(f"{what} must hold one-hot rows or probabilities (finite, >= 0)")
        return y.astype(dtype)

    def _targets(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"categorical cross-entropy needs labels and predictions of the same shape (n, classes), got "
                f"{y_true.shape} and {y_pred.shape}; end the model with Dense(classes, activation='softmax')"
            )
        return y_true

    def __call__(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> float:
        """The mean (weighted: sum(w * loss) / n, as BinaryCrossentropy) loss as a Python float."""
        per_position = _categorical_loss(self._targets(y_true, y_pred), y_pred, self.from_logits)
        return float(np.mean(per_position * _per_position(sample_weight, per_position.ndim)))

    def gradient(
        self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """dLoss/dy_pred, same shape as y_pred (the 1/n of the mean over samples, and each sample's weight,
        included)."""
        grad = _categorical_gradient(self._targets(y_true, y_pred), y_pred, self.from_logits)
        return grad * _per_position(sample_weight, grad.ndim)

    def kink_pattern(self, y_pred: np.ndarray) -> np.ndarray:
        return np.zeros(0, dtype=bool) if self.from_logits else _clipped(y_pred)

    def step_scale(self, y_pred: np.ndarray) -> np.ndarray | None:
        return None if self.from_logits else _probability_scale(y_pred)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class ids as labels: `y_true` (n, ...) ids in [0, C) against
    `y_pred` (n, ..., C), the same as CategoricalCrossentropy of the one-hot rows (Keras's own definition;
    Keras casts the ids to int32). Labels of shape (n, ..., 1) are squeezed, as Keras does."""

    name = "sparse_categorical_crossentropy"

    def prepare_labels(self, y: Any, n: int, dtype: np.dtype, what: str = "y") -> np.ndarray:
        """Labels as (n,) (or (n, ...)) int64 class ids >= 0; the upper bound, the number of classes, is
        checked against the predictions when the loss is computed."""
        y = np.asarray(y)
        if y.ndim >= 2 and y.shape[-1] == 1:
            y = y[..., 0]
        if y.ndim < 1:
            raise ValueError(f"{what} must be integer class ids of shape (n,), got a scalar")
        if len(y) != n:
            raise ValueError(f"x and {what} differ in length: {n} samples but {len(y)} labels")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise ValueError(f"{what} must be integer class ids, got dtype {y.dtype}")
        ids = y.astype(np.int64)
        bad = (ids != y) | (ids < 0)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{what} must hold integer class ids 0, 1, ..., found {y[where].item()!r} at index {where}; "
                "map the classes to 0 .. classes - 1"
            )
        return ids

    def _targets(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The one-hot rows of the ids `y_true` (n, ...) for `y_pred` (n, ..., C), in y_pred's dtype."""
        classes = y_pred.shape[-1]
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"sparse categorical cross-entropy needs class ids of shape {y_pred.shape[:-1]} for "
                f"predictions of shape {y_pred.shape}, got {y_true.shape}"
            )
        ids = y_true.astype(np.intp)  # ids held as floats (as the gradient checker passes them) too
        if not np.array_equal(ids, y_true):
            raise ValueError(
                "sparse categorical cross-entropy needs integer class ids, got fractional labels"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= classes):
            bad = int(ids.max() if ids.max() >= classes else ids.min())
            raise ValueError(
                f"class id {bad} is outside [0, {classes}): the model outputs {classes} classes; give the "
                f"last Dense {bad + 1 if bad >= 0 else classes} units or map the labels to 0 .. {classes - 1}"
            )
        return np.eye(classes, dtype=y_pred.dtype)[ids]


def _categorical_loss(t: np.ndarray, y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    """Each position's loss -sum_c t_c log q_c, shape y_pred.shape[:-1]."""
    if from_logits:
        z = y_pred - np.max(y_pred, axis=-1, keepdims=True)
        log_q = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    else:
        log_q = np.log(np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), EPSILON, 1 - EPSILON))
    return -np.sum(t * log_q, axis=-1)


def _per_position(sample_weight: np.ndarray | None, ndim: int) -> np.ndarray | float:
    """A (n, 1) column of sample weights shaped to broadcast over an array of `ndim` axes led by n (1:
    none)."""
    if sample_weight is None:
        return 1.0
    return np.reshape(sample_weight, (-1, *([1] * (ndim - 1))))


def _categorical_gradient(t: np.ndarray, y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    samples = y_pred.size // y_pred.shape[-1]  # the mean runs over every position before the class axis
    if from_logits:
        return (softmax(y_pred) * np.sum(t, axis=-1, keepdims=True) - t) / samples
    total = np.sum(y_pred, axis=-1, keepdims=True)
    q = y_pred / total
    inside = (q >= EPSILON) & (q <= 1 - EPSILON)
    # t_c k_c / q_c, the derivative of -t_c log(clip(q_c)) in q_c (0 where the clip is flat)
    through = np.where(inside, t / np.where(inside, q, 1), 0)
    return -(through - np.sum(through * q, axis=-1, keepdims=True)) / total / samples


def _clipped(y_pred: np.ndarray) -> np.ndarray:
    """Which normalised probabilities p / sum(p) the clip to [EPSILON, 1 - EPSILON] flattens."""
    q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
    return np.concatenate([(q < EPSILON).ravel(), (q > 1 - EPSILON).ravel()])


def _probability_scale(y_pred: np.ndarray) -> np.ndarray:
    """A finite-difference step scale per probability: its distance to 0 or 1, at least EPSILON."""
    return np.maximum(np.minimum(np.abs(y_pred), np.abs(1 - y_pred)), EPSILON)


_BY_NAME: dict[str, type[Loss]] = {
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def from_config(config: dict[str, Any]) -> Loss:
    """The loss {"name", "from_logits"} describes (a config without a name: binary cross-entropy)."""
    config = dict(config)
    return _BY_NAME[config.pop("name", "binary_crossentropy")](**config)


def get(identifier: str | Loss) -> Loss:
    """A loss from its Keras name ("binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy") or a loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ValueError(
        f"unknown loss {identifier!r}: use one of {', '.join(_BY_NAME)} or a loss such as "
        "losses.BinaryCrossentropy(from_logits=...)"
    )
