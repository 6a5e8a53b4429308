"""Merge layers: `Add`, `Average`, `Multiply`, `Concatenate`: several tensors in, one out.

A merge is called on a list (`Add()([a, b])`): its `forward` gets the list of values and the list of their
masks (None where a tensor has none), and its `backward` returns one gradient per input, in order.
Derivations in docs/derivations/functional.md ("Merge layers").

Masks, as Keras 3 merges them: `Add`, `Average` and `Multiply` give the elementwise OR of the inputs' masks
when every input has one, else no mask; `Concatenate` broadcasts each input's mask (all True for an input
without one) over that input's shape, concatenates them along `axis`, and keeps a step wherever any feature
is kept. `Add` and `Average` compute on every element, masked or not; `Multiply` reads a masked step of an
input as 1, and when every input has a mask its output is 0 where all of them are masked.

The elementwise merges need inputs of one shape (Keras would also broadcast axes of size 1; npnet refuses
them with a clear error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from npnet.layers.base import Layer, Shape

Masks = Sequence[np.ndarray | None] | None


class Merge(Layer):
    """Base of the elementwise merges: shape and mask rules; subclasses give forward/backward."""

    def compute_output_shape(self, input_shape: Sequence[Shape]) -> Shape:  # type: ignore[override]  # a list
        shapes = _list_of_shapes(self, input_shape)
        merged = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != len(merged) or any(
                a is not None and b is not None and a != b for a, b in zip(shape, merged, strict=True)
            ):
                raise ValueError(
                    f"{type(self).__name__} {self.name!r} needs inputs of one shape, got {list(shapes)}; "
                    "reshape or project them (e.g. with a Dense) to a common shape first"
                )
            merged = [a if a is not None else b for a, b in zip(merged, shape, strict=True)]
        return tuple(merged)

    def compute_mask(self, x: Sequence[np.ndarray], mask: Masks) -> np.ndarray | None:  # type: ignore[override]
        kept = [] if mask is None else [np.asarray(m, dtype=bool) for m in mask if m is not None]
        if mask is None or len(kept) < len(mask):
            return None
        return np.logical_or.reduce(kept)


class Add(Merge):
    """y = x_1 + ... + x_n. Inputs and output (batch, ...), one shape."""

    def forward(self, x: Sequence[np.ndarray], mask: Masks = None, training: bool = False) -> np.ndarray:  # type: ignore[override]
        """list of n (batch, ...) -> (batch, ...)"""
        self._n = _check_inputs(self, x)
        return np.sum(x, axis=0)

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]  # one per input
        """(batch, ...) -> n x (batch, ...): dy/dx_i = 1, so every input gets grad_out itself."""
        return [grad_out] * self._n


class Average(Merge):
    """y = (x_1 + ... + x_n) / n. Inputs and output (batch, ...), one shape."""

    def forward(self, x: Sequence[np.ndarray], mask: Masks = None, training: bool = False) -> np.ndarray:  # type: ignore[override]
        """list of n (batch, ...) -> (batch, ...)"""
        self._n = _check_inputs(self, x)
        return np.sum(x, axis=0) / self._n

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]  # one per input
        """(batch, ...) -> n x (batch, ...): dy/dx_i = 1/n."""
        grad = grad_out / self._n
        return [grad] * self._n


class Multiply(Merge):
    """y = x'_1 * ... * x'_n, where x'_i is x_i with its masked steps read as 1 (no mask: x_i). When every
    input has a mask, y is 0 wherever all of them are masked. Inputs and output (batch, ...), one shape;
    masks (batch, ...) without the feature axis."""

    def forward(self, x: Sequence[np.ndarray], mask: Masks = None, training: bool = False) -> np.ndarray:  # type: ignore[override]
        """list of n (batch, ..., D) -> (batch, ..., D)"""
        n = _check_inputs(self, x)
        given = [None] * n if mask is None else list(mask)
        self._masks = [None if m is None else _feature_mask(m, xi) for m, xi in zip(given, x, strict=True)]
        self._factors = [
            xi if m is None else np.where(m, xi, 1) for xi, m in zip(x, self._masks, strict=True)
        ]
        y = np.prod(self._factors, axis=0)
        kept = [m for m in self._masks if m is not None]
        if len(kept) == n:
            y = np.where(
                np.logical_or.reduce(kept), y, 0
            )  # where no input is kept, there is nothing to multiply
        return y

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]  # one per input
        """(batch, ..., D) -> n x (batch, ..., D): dy/dx_i = the product of the other factors where x_i is
        kept, 0 where it is masked (there x'_i = 1 does not depend on x_i). The other factors are multiplied
        out, not y / x_i: an x_i may be 0."""
        grads = []
        for i, m in enumerate(self._masks):
            others = [f for j, f in enumerate(self._factors) if j != i]
            grad = grad_out * np.prod(others, axis=0) if others else grad_out.copy()
            grads.append(grad if m is None else np.where(m, grad, 0))
        return grads


class Concatenate(Layer):
    """y = [x_1, ..., x_n] joined along `axis` (Keras's default -1: the features). Inputs (batch, ...) equal
    but along `axis`; output (batch, ...) with the sizes along `axis` added."""

    def __init__(self, axis: int = -1, name: str | None = None, dtype: str | np.dtype | None = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Concatenate axis must be an int, got {axis!r}")
        self.axis = axis

    def forward(self, x: Sequence[np.ndarray], mask: Masks = None, training: bool = False) -> np.ndarray:  # type: ignore[override]
        """list of n (batch, ..., d_i, ...) -> (batch, ..., sum d_i, ...)"""
        if len(x) < 1:
            raise ValueError(f"Concatenate {self.name!r} needs a list of at least one tensor")
        self._splits = np.cumsum([xi.shape[self.axis] for xi in x])[:-1]
        return np.concatenate(x, axis=self.axis)

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray]:  # type: ignore[override]  # one per input
        """(batch, ..., sum d_i, ...) -> n x (batch, ..., d_i, ...): each input gets its own slice."""
        return np.split(grad_out, self._splits, axis=self.axis)

    def compute_mask(self, x: Sequence[np.ndarray], mask: Masks) -> np.ndarray | None:  # type: ignore[override]
        if mask is None or all(m is None for m in mask):
            return None
        full = [
            np.ones(xi.shape, dtype=bool) if m is None else np.broadcast_to(_feature_mask(m, xi), xi.shape)
            for xi, m in zip(x, mask, strict=True)
        ]
        return np.asarray(np.concatenate(full, axis=self.axis).any(axis=-1))

    def compute_output_shape(self, input_shape: Sequence[Shape]) -> Shape:  # type: ignore[override]  # a list
        shapes = _list_of_shapes(self, input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank
        if any(len(s) != rank for s in shapes) or any(
            a is not None and b is not None and a != b
            for s in shapes[1:]
            for k, (a, b) in enumerate(zip(s, shapes[0], strict=True))
            if k != axis
        ):
            raise ValueError(
                f"Concatenate {self.name!r} needs inputs equal but along axis {self.axis}, got {list(shapes)}"
            )
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if any(d is None for d in sizes) else sum(d for d in sizes if d is not None)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def _list_of_shapes(layer: Layer, input_shape: Any) -> list[Shape]:
    if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, tuple) for s in input_shape):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} merges a list of tensors: call it as "
            f"{type(layer).__name__}()([a, b]), got {input_shape!r}"
        )
    return list(input_shape)


def _check_inputs(layer: Layer, x: Sequence[np.ndarray]) -> int:
    """The number of inputs, after checking that they are a list of arrays of one shape."""
    if not isinstance(x, (list, tuple)) or not x:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} takes a list of arrays, got {type(x).__name__}"
        )
    if any(xi.shape != x[0].shape for xi in x):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} needs inputs of one shape, got {[xi.shape for xi in x]}"
        )
    return len(x)


def _feature_mask(mask: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A (batch, steps) mask with a trailing axis, so that it broadcasts over x's features."""
    mask = np.asarray(mask, dtype=bool)
    return mask[..., None] if mask.ndim < x.ndim else mask
