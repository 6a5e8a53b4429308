"""Activation functions under Keras's names: `Dense(16, activation=npnet.activations.relu)`.

Plain functions of an array, for use on their own and as `activation=` arguments: `Dense` maps each to
its activation layer (`npnet.layers.activations.get`), which holds the derivative for the backward pass.
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x| <= 0."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: np.ndarray) -> np.ndarray:
    """The hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x)."""
    return np.tanh(x)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along `axis`, computed as exp(x - max) / sum(exp(x - max)): the shift by the
    maximum changes nothing mathematically (it cancels in the ratio) and keeps every exp in (0, 1], so no
    logit overflows and the largest term is exactly 1 (the sum never underflows to 0)."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def linear(x: np.ndarray) -> np.ndarray:
    """The identity: no activation."""
    return x
