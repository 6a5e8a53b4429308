"""Bidirectional: one recurrent layer reading the sequence forwards, a copy reading it backwards, merged."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from npnet.layers.base import Layer, Shape, deserialize, init_rng, serialize
from npnet.layers.recurrent import Recurrent

T = TypeVar("T")

MERGE_MODES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """`Bidirectional(layer, merge_mode="concat")`, Keras 3.15.1's semantics.

    The forward direction is `layer` itself (renamed "forward_<name>"), the backward direction a fresh copy
    with `go_backwards` flipped ("backward_<name>", its own weights drawn after the forward's). With
    `return_sequences` the backward direction's outputs come in reversed time order and are flipped back
    before merging, so position t of the merge sees both directions' outputs for input step t; both
    directions then also output zeros at masked steps (Keras forces `zero_output_for_mask` =
    `return_sequences`). Merge: concat (batch, ..., 2u), sum, mul, ave (batch, ..., u). `merge_mode=None`
    (two separate outputs) is not supported: a Sequential passes one array on.

    Weights: the forward layer's, then the backward layer's; `params`/`grads` hold the very same arrays under
    "<direction name>/<key>" (one list for optimizers, save/load and the gradient checker), and
    `sublayers()` returns the two directions. With `return_state`, the output is
    [merged, *forward states, *backward states] as in Keras, and backward takes gradients in that shape.
    """

    def __init__(
        self,
        layer: Recurrent | dict[str, Any],
        merge_mode: str = "concat",
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        if isinstance(layer, dict):  # as get_config stores it (model files)
            layer = cast(Recurrent, deserialize(layer))  # checked just below
        if not isinstance(layer, Recurrent):
            raise TypeError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got {layer!r}")
        if layer.built:
            raise ValueError(f"Bidirectional needs an unbuilt layer; {layer.name!r} is already built")
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional merge_mode must be one of {', '.join(MERGE_MODES)}, got {merge_mode!r}"
            )
        super().__init__(name=name, dtype=dtype)
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        backward = copy.deepcopy(layer)
        backward.go_backwards = not layer.go_backwards
        for direction, part in (("forward", layer), ("backward", backward)):
            part.name = f"{direction}_{part.name}"
            part.zero_output_for_mask = part.return_sequences
        self.forward_layer, self.backward_layer = layer, backward

    def sublayers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def get_config(self) -> dict[str, Any]:
        # The wrapped layer as it was passed in: its own name (without the "forward_" this wrapper gave it).
        inner = serialize(self.forward_layer)
        inner["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        return {**super().get_config(), "layer": inner, "merge_mode": self.merge_mode}

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        for part in self.sublayers():
            part.build(input_shape, rng, self.dtype)
        self._share_params()

    def _share_params(self) -> None:
        """Expose the directions' arrays (the same objects, updated in place by everyone) as this layer's."""
        self.params, self.grads = {}, {}
        for part in self.sublayers():
            for key in part.params:
                self.params[f"{part.name}/{key}"] = part.params[key]
                self.grads[f"{part.name}/{key}"] = part.grads[key]

    def astype(self, dtype: str | np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        for part in self.sublayers():
            part.astype(dtype)
        self._share_params()

    def forward(  # type: ignore[override]  # with return_state, Keras's [output, *states]
        self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False
    ) -> np.ndarray | list[np.ndarray]:
        """x (B, T, C) -> (B, T, 2U) concat (return_sequences) or (B, 2U); sum, ave, mul: U wide.

        With return_state: [merged, *forward states, *backward states], each state (B, U)."""
        # Both directions' dropout masks are drawn first, in order, so the noise is the same whichever
        # order `_both_directions` runs them in.
        masks = [part.draw_dropout_masks(x, training) for part in (self.forward_layer, self.backward_layer)]
        y, y_rev = self._both_directions(
            lambda: self.forward_layer.run(x, mask, *masks[0]),
            lambda: self.backward_layer.run(x, mask, *masks[1]),
        )
        states: list[np.ndarray] = []
        if self.return_state:
            assert isinstance(y, list) and isinstance(y_rev, list)
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        assert isinstance(y, np.ndarray) and isinstance(y_rev, np.ndarray)
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._outputs = (y, y_rev)  # mul's backward needs both
        if self.merge_mode == "concat":
            out = np.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        else:
            out = y * y_rev
        return [out, *states] if self.return_state else out

    def backward(self, grad_out: np.ndarray | Sequence[np.ndarray | None]) -> np.ndarray:
        """grad_out shaped as the output (plus the states' gradients with return_state) -> dL/dx (B, T, C)."""
        states = self.forward_layer.STATES
        if self.return_state:
            grad, *grad_states = grad_out
        else:
            grad, grad_states = grad_out, [None] * (2 * states)
        assert isinstance(grad, np.ndarray)
        y, y_rev = self._outputs
        if self.merge_mode == "concat":
            g, g_rev = grad[..., : y.shape[-1]], grad[..., y.shape[-1] :]
        elif self.merge_mode == "sum":
            g, g_rev = grad, grad
        elif self.merge_mode == "ave":
            g = g_rev = grad / 2
        else:
            g, g_rev = grad * y_rev, grad * y
        if self.return_sequences:
            g_rev = g_rev[:, ::-1]  # back into the backward layer's own (reversed) order
        parts: list[Any] = [g, g_rev]
        if self.return_state:
            parts = [[g, *grad_states[:states]], [g_rev, *grad_states[states:]]]
        # each direction writes only its own gradients; dL/dx is the sum of both directions' parts
        d_x, d_x_rev = self._both_directions(
            lambda: self.forward_layer.backward(parts[0]),
            lambda: self.backward_layer.backward(parts[1]),
        )
        return d_x + d_x_rev

    def _both_directions(self, forward_part: Callable[[], T], backward_part: Callable[[], T]) -> tuple[T, T]:
        """(forward_part(), backward_part()): the two directions are independent until the merge.
        `npnet.fast.bidirectional.ThreadedBidirectional` runs the backward part on a second thread."""
        return forward_part(), backward_part()

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * (2 * self.forward_layer.STATES)
        return output_mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            return (*shape[:-1], 2 * self.forward_layer.units)
        return shape
