"""Sliding windows along the time axis, shared by Conv1D and the 1-D pooling layers.

Keras's padding rules (those of `lax.conv_general_dilated` / `lax.reduce_window` on JAX, and TensorFlow):
a window spans `span = (size - 1) * dilation + 1` steps and starts every `stride` steps.

* "valid": no padding; `out = (T - span) // stride + 1` windows (0 if T < span).
* "same": `out = ceil(T / stride)`; the padding needed, `max((out - 1) * stride + span - T, 0)`, goes
  `total // 2` before and the rest after (an odd total puts the extra step at the end).
* "causal" (Conv1D only): `span - 1` steps before, none after, then as "valid": output t sees inputs <= t.
"""

from __future__ import annotations

import warnings

import numpy as np

PADDINGS = ("valid", "same", "causal")


def padding_amounts(length: int, span: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(before, after, windows) for a time axis of `length` steps (see the module docstring)."""
    if padding == "causal":
        length, before = length + span - 1, span - 1
        return before, 0, max((length - span) // stride + 1, 0)
    if padding == "valid":
        return 0, 0, max((length - span) // stride + 1, 0)
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2, out


def output_length(length: int | None, span: int, stride: int, padding: str) -> int | None:
    return None if length is None else padding_amounts(length, span, stride, padding)[2]


def pad_time(x: np.ndarray, before: int, after: int, value: float = 0.0) -> np.ndarray:
    """x (B, T, C) -> (B, before + T + after, C), the new steps filled with `value`."""
    if before == after == 0:
        return x
    return np.pad(x, ((0, 0), (before, after), (0, 0)), constant_values=value)


def windows(xp: np.ndarray, size: int, stride: int, dilation: int, count: int) -> np.ndarray:
    """A read-only view (B, count, size, C) of the padded input: [b, t, j] = xp[b, t*stride + j*dilation].

    No copy: `sliding_window_view` gives every stride-1 window of the full span; slicing keeps every
    `stride`-th window and every `dilation`-th tap.
    """
    span = (size - 1) * dilation + 1
    view = np.lib.stride_tricks.sliding_window_view(xp, span, axis=1)  # (B, T - span + 1, C, span)
    return view[:, : (count - 1) * stride + 1 : stride, :, ::dilation].transpose(0, 1, 3, 2)


def drop_mask(layer_name: str, kind: str, mask: np.ndarray | None) -> None:
    """Keras 3's rule for a layer that does not support masking: a mask reaching it is destroyed (not
    refused), with this warning, and the layers after it see none."""
    if mask is not None:
        warnings.warn(
            f"Layer {layer_name!r} (of type {kind}) was passed an input with a mask attached to it. However, "
            "this layer does not support masking and will therefore destroy the mask information. "
            "Downstream layers will not see the mask.",
            stacklevel=3,
        )
