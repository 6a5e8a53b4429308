"""Recurrent layers: SimpleRNN, LSTM and GRU over (batch, T, features) sequences, Keras 3.15.1's semantics.

One time loop (`Recurrent`) runs every family; a family supplies only its cell: `_step` (one step forward,
returning the new states and what its backward needs) and `_step_backward` (that step's chain rule). Per call:

    xw = drop(x) @ kernel + bias                      all T steps in one gemm, before the loop
    for t in range(T):                                the one Python loop (docs/derivations/recurrent.md)
        hr = drop_r(h_{t-1}) @ recurrent_kernel       one gemm per step for all the gates
        states_t = cell(xw[t], hr, states_{t-1})
        masked rows (mask[b, t] False) keep states_{t-1} (and output_{t-1})

Backward runs the loop in reverse, carrying dL/dstates; the gradient of the input, the kernel and the
recurrent kernel are then three gemms over all steps at once (the per-step loop only propagates the state
gradient, which is the one thing that is sequential).

Keras facts this follows (keras/src/layers/rnn/*.py, confirmed in tests/parity/test_parity_recurrent.py):
- Weights: kernel (in, G*u) glorot_uniform, recurrent_kernel (u, G*u) orthogonal, bias zeros; G = 1
  (SimpleRNN), 4 (LSTM: i, f, c, o; `unit_forget_bias` starts the f block at 1), 3 (GRU: z, r, h; with
  `reset_after` the bias is (2, 3u): row 0 for the input projection, row 1 for the recurrent one).
- `go_backwards` reads the sequence from the end and, with `return_sequences`, returns the outputs in that
  (reversed) order; the mask passes on unreversed (`compute_mask` returns the input mask with
  `return_sequences`, None without, plus one None per state with `return_state`).
- Masked steps keep the previous states; the output there is the previous output (zeros before the first
  unmasked step), or zeros with `zero_output_for_mask` (which `Bidirectional` sets with `return_sequences`).
- Dropout: one mask per sequence, drawn once per call and used at every step, inverted (kept values scaled by
  1 / (1 - rate)). SimpleRNN, and LSTM/GRU without recurrent dropout, share one input mask across the gates;
  LSTM/GRU with `recurrent_dropout` > 0 switch (like Keras's implementation=1) to one mask per gate, for the
  input and for the recurrent state alike. Masks come from `noise_rng` (the model's `fit_rng`, or the layer's
  own generator when given `seed`).
- `return_state`: the layer returns [output, *final_states] (LSTM: h, c) and `backward` takes
  [dL/doutput, *dL/dstates] (None for a zero gradient). A `Sequential` cannot pass a list on, as in Keras:
  such a layer is for direct use (its `compute_output_shape` says so when a model tries to build it).

What backward keeps (per call, float32 bytes: B batch, T steps, n inputs, u units, G gates): the input
(referenced, not copied), the projection masks, h_{t-1} for every step (T*B*u) and per step the cell's cache:
SimpleRNN h (B*u); LSTM the 4 gate activations, c_{t-1} and tanh(c_t) (6*B*u); GRU z|r, the recurrent h-part,
the candidate and h_{t-1} (5*B*u). The pre-activations and the projected inputs are not kept (the LSTM writes
its gates over its step's slice of the (T, B, 4u) projection, so that array is the gates' store). For the
presets (batch 32): `lstm` (T=80, u=128) 4*80*32*128*(1+6) = 9.2 MB; `bilstm` (T=100, u=64 per direction)
2 * 4*100*32*64*(1+6) = 11.5 MB; plus, in backward, the (T, B, G*u) gradient of the projection (one array
for SimpleRNN and LSTM, where dL/dxw = dL/dhr; two for GRU): 5.2 MB / 6.6 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from npnet import initializers, validation
from npnet.layers.activations import sigmoid
from npnet.layers.base import Layer, Shape, init_rng

# activation name -> (f, f' written in terms of the output y = f(x)): the cells keep outputs, not inputs.
_Activation = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]
_ACTIVATIONS: dict[str, _Activation] = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (sigmoid, lambda y: y * (1 - y)),
    "linear": (lambda x: x, np.ones_like),
}


def sigmoid_in_place(x: np.ndarray) -> None:
    """x = sigmoid(x), bitwise npnet.activations.sigmoid's result: the same operations per element,
    1 / (1 + e) where x >= 0 and e / (1 + e) elsewhere (e = exp(-|x|) <= 1), the numerator picked as
    max(e, x >= 0) instead of by a masked copy: fewer passes than `np.copyto(..., where=)` and none of the
    readable function's five temporaries (benchmarks/HISTORY.md, "Speed work for the 1.5x target")."""
    e = np.abs(x)
    np.negative(e, out=e)  # e = -|x|
    np.exp(e, out=e)  # e = exp(-|x|)
    numerator = np.maximum(e, x >= 0)  # 1 where x >= 0 (e <= 1 there), e elsewhere (e >= 0 > False)
    e += 1  # e = 1 + exp(-|x|)
    np.divide(numerator, e, out=x)  # x = numerator / (1 + exp(-|x|))


# activation name -> the same f applied in place (the LSTM writes its gates over its projection).
_IN_PLACE: dict[str, Callable[[np.ndarray], object]] = {
    "tanh": lambda x: np.tanh(x, out=x),
    "sigmoid": sigmoid_in_place,
    "linear": lambda x: None,
}

States = tuple[np.ndarray, ...]


def _activation(identifier: str | None, what: str) -> _Activation:
    name = "linear" if identifier is None else identifier
    if name not in _ACTIVATIONS:
        raise ValueError(
            f"unknown {what} {identifier!r} for a recurrent layer: use one of {', '.join(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[name]


# ---- the projections, with per-sequence dropout masks ------------------------------------------------------
# masks: None (no dropout), (1, B, n) one mask for every gate, or (G, B, n) one per gate (the kernel's column
# blocks). v: (..., B, n), time-major, so the same code projects all steps (T, B, n) or one step (B, n).


def _gate_blocks(w: np.ndarray, gates: int) -> np.ndarray:
    """The kernel's column blocks as one contiguous (G, n, u) array: block g is w[:, g*u:(g+1)*u]. Made once
    per call: a strided view of w would be copied by every per-step product, which then costs well above
    the plain (B, u) @ (u, 4u) gemm (benchmarks/HISTORY.md, "Speed work for the 1.5x target")."""
    n, gu = w.shape
    return np.ascontiguousarray(w.reshape(n, gates, gu // gates).transpose(1, 0, 2))


def _project(
    v: np.ndarray, masks: np.ndarray | None, w: np.ndarray, blocks: np.ndarray | None = None
) -> np.ndarray:
    """drop(v) @ w -> (..., B, G*u). With one mask per gate, `blocks` is _gate_blocks(w, G) (made here when
    not given): each gate's product is written straight into its columns of the result."""
    if masks is None:
        return v @ w
    if len(masks) == 1:
        return (v * masks[0]) @ w
    g, gu = len(masks), w.shape[1]
    blocks = _gate_blocks(w, g) if blocks is None else blocks
    out = np.empty((*v.shape[:-1], gu), np.result_type(v, w))
    per_gate_out = out.reshape(*v.shape[:-1], g, gu // g).swapaxes(-3, -2)  # (..., G, B, u), a view
    np.matmul(v[..., None, :, :] * masks, blocks, out=per_gate_out)  # out[..., gate g] = (v * masks[g]) @ w_g
    return out


def _project_input_grad(
    d: np.ndarray, masks: np.ndarray | None, w: np.ndarray, blocks_t: np.ndarray | None = None
) -> np.ndarray:
    """dL/dv from d = dL/d(drop(v) @ w), (..., B, G*u) -> (..., B, n). With one mask per gate, `blocks_t`
    is the transposed gate blocks, _gate_blocks(w, G).transpose(0, 2, 1) made contiguous (made here when
    not given)."""
    if masks is None:
        return d @ w.T
    if len(masks) == 1:
        return (d @ w.T) * masks[0]
    g, gu = len(masks), w.shape[1]
    if blocks_t is None:
        blocks_t = np.ascontiguousarray(_gate_blocks(w, g).transpose(0, 2, 1))
    per_gate = d.reshape(*d.shape[:-1], g, gu // g).swapaxes(-3, -2)  # (..., G, B, u)
    return ((per_gate @ blocks_t) * masks).sum(axis=-3)


def _project_weight_grad(v: np.ndarray, masks: np.ndarray | None, d: np.ndarray) -> np.ndarray:
    """dL/dw = drop(v)^T d summed over every leading axis (all steps and rows at once): (n, G*u)."""
    n, gu = v.shape[-1], d.shape[-1]
    if masks is None or len(masks) == 1:
        dropped = v if masks is None else v * masks[0]
        return dropped.reshape(-1, n).T @ d.reshape(-1, gu)
    g = len(masks)
    dropped = np.moveaxis(v[..., None, :, :] * masks, -3, 0).reshape(g, -1, n)  # (G, rows, n)
    per_gate = np.moveaxis(d.reshape(*d.shape[:-1], g, gu // g), -2, 0).reshape(g, -1, gu // g)
    return (dropped.transpose(0, 2, 1) @ per_gate).transpose(1, 0, 2).reshape(n, gu)


class Recurrent(Layer):
    """The time loop shared by SimpleRNN, LSTM and GRU (see the module docstring). Not used directly.

    Subclasses set GATES (column blocks of the kernels) and STATES (1: h; 2: h, c) and implement `_step`,
    `_step_backward` and, where they differ, `_initial_bias`, `_biases`, `_bias_grad`, `_mask_count`.
    Input (batch, T, features) and mask (batch, T) bool; output (batch, T, units) with `return_sequences`,
    else (batch, units).
    """

    GATES = 1
    STATES = 1
    # True where the cell adds the two projections (z = xw + hr), so dL/dxw = dL/dhr at every step and
    # `_step_backward` returns one array for both (the loop stores it once).
    SAME_PROJECTION_GRADS = True

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        recurrent_initializer: str | initializers.Initializer = "orthogonal",
        bias_initializer: str | initializers.Initializer = "zeros",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        seed: int | None = None,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        cls = type(self).__name__
        self.units = validation.positive_int(units, f"{cls} units")
        self.activation_name = activation
        self._act, self._act_grad = _activation(activation, "activation")
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = validation.fraction(dropout, f"{cls} dropout")
        self.recurrent_dropout = validation.fraction(recurrent_dropout, f"{cls} recurrent_dropout")
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.seed = validation.layer_seed(seed, f"{cls} seed")
        if seed is not None:
            self.noise_rng = np.random.default_rng(seed)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
            "seed": self.seed,
        }

    # ---- weights -------------------------------------------------------------------------------------------

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        features = input_shape[-1]
        if len(input_shape) != 3 or features is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} needs inputs (batch, steps, features) with a known "
                f"feature size, got input shape {input_shape}; put it after an Embedding layer"
            )
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        width = self.GATES * self.units
        self.add_param("kernel", self.kernel_initializer((features, width), rng, self.dtype))
        self.add_param("recurrent_kernel", self.recurrent_initializer((self.units, width), rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self._initial_bias(rng))

    def _initial_bias(self, rng: np.random.Generator) -> np.ndarray:
        return self.bias_initializer((self.GATES * self.units,), rng, self.dtype)

    def _biases(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(bias added to the input projection, bias added to the recurrent projection)."""
        return self.params.get("bias"), None

    def _bias_grad(self, d_input_bias: np.ndarray, d_recurrent_bias: np.ndarray) -> np.ndarray:
        return d_input_bias

    def _mask_count(self) -> int:
        """How many dropout masks per sequence: 1 shared by all gates (overridden where Keras differs)."""
        return 1

    # ---- the cell (one step) -------------------------------------------------------------------------------

    def _step(self, xw: np.ndarray, hr: np.ndarray, states: States) -> tuple[States, tuple[np.ndarray, ...]]:
        """New states from the projected input xw (B, G*u), projected h_{t-1} hr (B, G*u) and the old states;
        and what `_step_backward` needs. xw is this step's slice of the call's projection, read by no one
        after the step: a cell may write over it (the LSTM keeps its gates there)."""
        raise NotImplementedError

    def _step_backward(
        self, cache: tuple[np.ndarray, ...], d_states: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        """dL/d(new states) (B, u) each -> dL/dxw (B, G*u), dL/dhr (B, G*u), dL/d(old states) (B, u) each.

        The old states' gradients are along the paths that bypass hr (None: no such path)."""
        raise NotImplementedError

    # ---- the loop ------------------------------------------------------------------------------------------

    def check_input(self, x: np.ndarray) -> None:
        features = self.params["kernel"].shape[0]
        if x.ndim != 3 or x.shape[-1] != features or x.shape[1] == 0:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs of shape (batch, steps >= 1, "
                f"{features}), got shape {x.shape}"
            )

    def _dropout_masks(self, rate: float, rows: int, width: int, dtype: np.dtype) -> np.ndarray:
        rng = self.noise_rng if self.noise_rng is not None else np.random.default_rng(0)
        self.noise_rng = rng
        keep = rng.random((self._mask_count(), rows, width)) >= rate
        return keep.astype(dtype) / dtype.type(1 - rate)

    def forward(  # type: ignore[override]  # with return_state, Keras's [output, *states] (see the docstring)
        self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False
    ) -> np.ndarray | list[np.ndarray]:
        """x (B, T, n), mask (B, T) or None -> (B, T, u) with return_sequences, else (B, u).

        With return_state: [that output, *the final states (B, u) each] (LSTM: h, c)."""
        self.check_input(x)
        return self.run(x, mask, *self.draw_dropout_masks(x, training))

    def draw_dropout_masks(
        self, x: np.ndarray, training: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(input masks (M, B, features), recurrent masks (M, B, units)) for one call on x, each None when
        that dropout is off: the call's only draws from `noise_rng`, apart from the loop (`run`) so that
        `Bidirectional` can draw both directions' masks in a fixed order before running them on two
        threads."""
        batch, _, features = x.shape
        drop = (
            self._dropout_masks(self.dropout, batch, features, x.dtype) if training and self.dropout else None
        )
        drop_r = (
            self._dropout_masks(self.recurrent_dropout, batch, self.units, x.dtype)
            if training and self.recurrent_dropout
            else None
        )
        return drop, drop_r

    def run(  # with return_state, Keras's [output, *states] (see the docstring)
        self, x: np.ndarray, mask: np.ndarray | None, drop: np.ndarray | None, drop_r: np.ndarray | None
    ) -> np.ndarray | list[np.ndarray]:
        """The forward loop on x with the given dropout masks (`draw_dropout_masks`; None: no dropout)."""
        self.check_input(x)
        batch, steps, _ = x.shape
        if mask is not None and mask.shape != (batch, steps):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: mask shape {mask.shape} != {(batch, steps)}"
            )
        xs = np.swapaxes(x, 0, 1)  # time-major (T, B, n): each step's rows are one contiguous block
        keep = None if mask is None else np.swapaxes(np.asarray(mask, bool), 0, 1)[:, :, None]  # (T, B, 1)
        if self.go_backwards:
            xs = xs[::-1]
            keep = None if keep is None else keep[::-1]
        kernel, recurrent_kernel = self.params["kernel"], self.params["recurrent_kernel"]
        input_bias, recurrent_bias = self._biases()
        xw = _project(xs, drop, kernel)
        if input_bias is not None:
            xw += input_bias  # xw = drop(x) @ kernel + input_bias
        states: States = tuple(np.zeros((batch, self.units), xw.dtype) for _ in range(self.STATES))
        h_before = np.empty((steps, batch, self.units), xw.dtype)  # h_{t-1}, for dL/drecurrent_kernel
        outputs = np.empty((steps, batch, self.units), xw.dtype) if self.return_sequences else None
        blocks = None if drop_r is None or len(drop_r) == 1 else _gate_blocks(recurrent_kernel, self.GATES)
        caches = []
        for t in range(steps):
            h_before[t] = states[0]
            hr = _project(states[0], drop_r, recurrent_kernel, blocks)
            if recurrent_bias is not None:
                hr += recurrent_bias  # hr = drop_r(h_{t-1}) @ recurrent_kernel + recurrent_bias
            new, cache = self._step(xw[t], hr, states)
            caches.append(cache)
            if keep is not None:
                if outputs is not None and self.zero_output_for_mask:
                    outputs[t] = np.where(keep[t], new[0], 0)
                new = self._carry(keep[t], new, states)
            if outputs is not None and not (keep is not None and self.zero_output_for_mask):
                outputs[t] = new[0]
            states = new
        self._cache = (xs, keep, drop, drop_r, h_before, caches)
        y = np.swapaxes(outputs, 0, 1) if outputs is not None else states[0]
        return [y, *states] if self.return_state else y

    @staticmethod
    def _carry(keep: np.ndarray, new: States, old: States) -> States:
        """A masked step: rows where `keep` (B, 1) is False keep their old states (an exact copy)."""
        return tuple(np.where(keep, a, b) for a, b in zip(new, old, strict=True))

    def backward(self, grad_out: np.ndarray | Sequence[np.ndarray | None]) -> np.ndarray:
        """grad_out (B, T, u) with return_sequences, else (B, u) -> dL/dx (B, T, n).

        With return_state, grad_out is [dL/doutput, *dL/dfinal states (B, u) each], None for a zero gradient.
        Fills grads["kernel"] (n, G*u), ["recurrent_kernel"] (u, G*u) and ["bias"] (G*u,) ((2, G*u) for GRU).
        """
        xs, keep, drop, drop_r, h_before, caches = self._cache
        steps, batch, _ = xs.shape
        if self.return_state:
            grad_y, *grad_states = grad_out
        else:
            grad_y, grad_states = grad_out, [None] * self.STATES
        d_states = [
            np.zeros((batch, self.units), xs.dtype) if g is None else np.array(g, xs.dtype)
            for g in grad_states
        ]
        grad_seq = None
        if self.return_sequences:
            grad_seq = None if grad_y is None else np.swapaxes(grad_y, 0, 1)
        elif grad_y is not None:
            d_states[0] = d_states[0] + grad_y
        zero_output = keep is not None and self.zero_output_for_mask
        recurrent_kernel = self.params["recurrent_kernel"]
        width = self.GATES * self.units
        d_xw = np.empty((steps, batch, width), xs.dtype)
        # Where z = xw + hr (SimpleRNN, LSTM) the two gradients are one array: stored once.
        d_hr = d_xw if self.SAME_PROJECTION_GRADS else np.empty((steps, batch, width), xs.dtype)
        blocks_t = None
        if drop_r is not None and len(drop_r) > 1:
            blocks_t = np.ascontiguousarray(_gate_blocks(recurrent_kernel, self.GATES).transpose(0, 2, 1))
        for t in reversed(range(steps)):
            if grad_seq is not None and not zero_output:
                d_states[0] = d_states[0] + grad_seq[t]
            if keep is not None:  # masked rows: the step was the identity on the states
                carried = [np.where(keep[t], 0, d) for d in d_states]
                d_states = [np.where(keep[t], d, 0) for d in d_states]
                if grad_seq is not None and zero_output:
                    d_states[0] = d_states[0] + np.where(keep[t], grad_seq[t], 0)
            d_xw_t, d_hr_t, d_old = self._step_backward(caches[t], d_states)
            d_xw[t] = d_xw_t
            if not self.SAME_PROJECTION_GRADS:
                d_hr[t] = d_hr_t
            d_h = _project_input_grad(d_hr_t, drop_r, recurrent_kernel, blocks_t)
            # only the output state's gradient may be None (no path but through d_h); the others always exist
            d_states = [d_h if d_old[0] is None else d_old[0] + d_h, *cast(list[np.ndarray], d_old[1:])]
            if keep is not None:
                d_states = [d + c for d, c in zip(d_states, carried, strict=True)]
        self.grads["kernel"][...] = _project_weight_grad(xs, drop, d_xw)
        self.grads["recurrent_kernel"][...] = _project_weight_grad(h_before, drop_r, d_hr)
        if self.use_bias:
            d_input_bias = d_xw.sum(axis=(0, 1))
            d_recurrent_bias = d_input_bias if d_hr is d_xw else d_hr.sum(axis=(0, 1))
            self.grads["bias"][...] = self._bias_grad(d_input_bias, d_recurrent_bias)
        d_xs = _project_input_grad(d_xw, drop, self.params["kernel"])
        if self.go_backwards:
            d_xs = d_xs[::-1]
        return np.swapaxes(d_xs, 0, 1)

    # ---- shapes and masks ----------------------------------------------------------------------------------

    def compute_mask(self, x: np.ndarray, mask: np.ndarray | None) -> Any:
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self.STATES if self.return_state else output_mask

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.return_state:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} has return_state=True, so it returns a list "
                "[output, *states] that a Sequential cannot pass to the next layer (nor can Keras's); "
                "call the layer directly, or use return_state=False in a model"
            )
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)


class SimpleRNN(Recurrent):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias); weights (in, u), (u, u), (u,)."""

    def __init__(self, units: int, activation: str | None = "tanh", **options: Any) -> None:
        super().__init__(units, activation=activation, **options)

    def _step(self, xw: np.ndarray, hr: np.ndarray, states: States) -> tuple[States, tuple[np.ndarray, ...]]:
        h = self._act(xw + hr)
        return (h,), (h,)

    def _step_backward(
        self, cache: tuple[np.ndarray, ...], d_states: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        (h,) = cache
        d_z = d_states[0] * self._act_grad(h)
        return d_z, d_z, [None]


class LSTM(Recurrent):
    """Long short-term memory, gates in Keras's order i, f, c, o along the kernels' columns:

        z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias               (B, 4u)
        i, f, o = recurrent_activation(z_i, z_f, z_o);  g = activation(z_c)
        c_t = f * c_{t-1} + i * g;  h_t = o * activation(c_t)

    Weights kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u,); `unit_forget_bias` starts bias[u:2u] at 1.
    States (h, c).
    """

    GATES = 4
    STATES = 2

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid",
        unit_forget_bias: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(units, activation=activation, **options)
        self.recurrent_activation_name = recurrent_activation
        self._gate, self._gate_grad = _activation(recurrent_activation, "recurrent_activation")
        self._gate_in_place = _IN_PLACE[recurrent_activation or "linear"]
        self.unit_forget_bias = unit_forget_bias

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation_name,
            "unit_forget_bias": self.unit_forget_bias,
        }

    def _initial_bias(self, rng: np.random.Generator) -> np.ndarray:
        u = self.units
        if not self.unit_forget_bias:
            return super()._initial_bias(rng)
        # Keras: bias_initializer for i, ones for f, bias_initializer for c and o.
        ones = initializers.Ones()((u,), rng, self.dtype)
        parts = [
            self.bias_initializer((u,), rng, self.dtype),
            ones,
            self.bias_initializer((2 * u,), rng, self.dtype),
        ]
        return np.concatenate(parts)

    def _mask_count(self) -> int:
        return self.GATES if self.recurrent_dropout else 1

    def _step(self, xw: np.ndarray, hr: np.ndarray, states: States) -> tuple[States, tuple[np.ndarray, ...]]:
        u = self.units
        _, c_before = states
        # The gates are written over xw (this step's slice of the projection, not read again): z, then the
        # activations in place, so a step allocates only c, tanh(c) and h.
        gates = np.add(xw, hr, out=xw)  # z = xw + hr, (B, 4u) in the blocks i, f, c, o
        g = self._act(gates[:, 2 * u : 3 * u])  # g = activation(z_c)
        self._gate_in_place(gates)  # i, f, o = recurrent_activation(z_i, z_f, z_o); the c block: next line
        gates[:, 2 * u : 3 * u] = g  # the gates' block order is now i, f, g, o
        i, f, o = gates[:, :u], gates[:, u : 2 * u], gates[:, 3 * u :]
        c = f * c_before
        c += i * g  # c = f * c_prev + i * g
        tanh_c = self._act(c)
        return (o * tanh_c, c), (gates, c_before, tanh_c)

    def _step_backward(
        self, cache: tuple[np.ndarray, ...], d_states: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        u = self.units
        gates, c_before, tanh_c = cache
        d_h, d_c = d_states
        i, f, g, o = gates[:, :u], gates[:, u : 2 * u], gates[:, 2 * u : 3 * u], gates[:, 3 * u :]
        # dL/dc_t = its gradient from step t+1 (via c_{t+1}) + dL/dh_t * o * activation'(c_t)
        d_c = d_c + d_h * o * self._act_grad(tanh_c)
        # dL/dgates written block by block into d_z, then scaled in place by each gate's slope.
        d_z = np.empty_like(gates)
        np.multiply(d_c, g, out=d_z[:, :u])  # dL/di = dL/dc * g
        np.multiply(d_c, c_before, out=d_z[:, u : 2 * u])  # dL/df = dL/dc * c_prev
        np.multiply(d_c, i, out=d_z[:, 2 * u : 3 * u])  # dL/dg = dL/dc * i
        np.multiply(d_h, tanh_c, out=d_z[:, 3 * u :])  # dL/do = dL/dh * tanh(c)
        slope = self._gate_grad(gates)  # i', f', o' = recurrent_activation' from the outputs i, f, o
        slope[:, 2 * u : 3 * u] = self._act_grad(g)  # g' = activation' from the output g
        d_z *= slope  # dL/dz = dL/d(i, f, g, o) * (i', f', g', o')
        return d_z, d_z, [None, d_c * f]


class GRU(Recurrent):
    """Gated recurrent unit, Keras's default `reset_after=True` (the cuDNN-compatible form), gates z, r, h:

        xz, xr, xh = x_t @ kernel + bias[0];  rz, rr, rh = h_{t-1} @ recurrent_kernel + bias[1]
        z = recurrent_activation(xz + rz);  r = recurrent_activation(xr + rr)
        hh = activation(xh + r * rh);  h_t = z * h_{t-1} + (1 - z) * hh

    Weights kernel (in, 3u), recurrent_kernel (u, 3u), bias (2, 3u). State h.
    `reset_after=False` (r applied before the recurrent product, a second gemm per step) is not implemented.
    """

    GATES = 3
    SAME_PROJECTION_GRADS = False  # r scales the recurrent h-part only

    def __init__(
        self,
        units: int,
        activation: str | None = "tanh",
        recurrent_activation: str | None = "sigmoid",
        reset_after: bool = True,
        **options: Any,
    ) -> None:
        if not reset_after:
            raise ValueError(
                "GRU reset_after=False is not implemented; use reset_after=True (Keras's default)"
            )
        super().__init__(units, activation=activation, **options)
        self.recurrent_activation_name = recurrent_activation
        self._gate, self._gate_grad = _activation(recurrent_activation, "recurrent_activation")
        self.reset_after = True

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation_name,
            "reset_after": self.reset_after,
        }

    def _initial_bias(self, rng: np.random.Generator) -> np.ndarray:
        return self.bias_initializer((2, self.GATES * self.units), rng, self.dtype)

    def _biases(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        bias = self.params.get("bias")
        return (None, None) if bias is None else (bias[0], bias[1])

    def _bias_grad(self, d_input_bias: np.ndarray, d_recurrent_bias: np.ndarray) -> np.ndarray:
        return np.stack([d_input_bias, d_recurrent_bias])

    def _mask_count(self) -> int:
        return self.GATES if self.recurrent_dropout else 1

    def _step(self, xw: np.ndarray, hr: np.ndarray, states: States) -> tuple[States, tuple[np.ndarray, ...]]:
        u = self.units
        (h_before,) = states
        zr = self._gate(xw[:, : 2 * u] + hr[:, : 2 * u])
        rh = hr[:, 2 * u :]
        hh = self._act(xw[:, 2 * u :] + zr[:, u:] * rh)
        z = zr[:, :u]
        return (hh + z * (h_before - hh),), (zr, rh, hh, h_before)

    def _step_backward(
        self, cache: tuple[np.ndarray, ...], d_states: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        u = self.units
        zr, rh, hh, h_before = cache
        (d_h,) = d_states
        z, r = zr[:, :u], zr[:, u:]
        d_a = d_h * (1 - z) * self._act_grad(hh)  # a = xh + r * rh, the candidate's pre-activation
        d_zr = np.concatenate([d_h * (h_before - hh), d_a * rh], axis=1) * self._gate_grad(zr)
        return np.concatenate([d_zr, d_a], axis=1), np.concatenate([d_zr, d_a * r], axis=1), [d_h * z]
