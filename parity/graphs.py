"""Functional graphs written once for both libraries: each builder takes `lib` (the `npnet` module, or a
namespace of Keras's `Input`, `layers` and `Model`) and returns (inputs, output) of the same graph, its layers
named so the two sides' weights pair up by name. NumPy only: the npnet tests use them without Keras.

- fork: one tensor feeds three layers (two Dense and an Add), so its gradient is a sum of three.
- shared: one Dense called twice in a row (its second call on its first call's output).
- two_inputs: token ids and float features; an Embedding branch and a Dense branch, Multiply and Concatenate.
- masked: Embedding(mask_zero=True) shared by two id inputs (masks m1, m2); two Dense on the first
  sequence carry m1 into a Multiply with the second (m1 | m2, masked steps read as 1), an Average of both
  (m1 | m2) and a Concatenate of those and the first (any of the masks), ending in a masked
  GlobalAveragePooling1D.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

VOCAB, DIM, STEPS, FEATURES = 30, 4, 7, 5


def fork(lib: Any) -> tuple[Any, Any]:
    ids = lib.Input((STEPS,), dtype="int32", name="ids")
    e = lib.layers.Embedding(VOCAB, DIM, name="emb")(ids)
    a = lib.layers.Dense(DIM, activation="tanh", name="a")(e)
    b = lib.layers.Dense(3, activation="sigmoid", name="b")(e)
    s = lib.layers.Add(name="add")([a, e])
    c = lib.layers.Concatenate(name="cat")([s, b])
    p = lib.layers.GlobalAveragePooling1D(name="pool")(c)
    return ids, lib.layers.Dense(1, activation="sigmoid", name="out")(p)


def shared(lib: Any) -> tuple[Any, Any]:
    ids = lib.Input((STEPS,), dtype="int32", name="ids")
    e = lib.layers.Embedding(VOCAB, DIM, name="emb")(ids)
    twice = lib.layers.Dense(DIM, activation="tanh", name="twice")
    h1 = twice(e)
    h2 = twice(h1)
    m = lib.layers.Average(name="avg")([h1, h2])
    p = lib.layers.GlobalAveragePooling1D(name="pool")(m)
    return ids, lib.layers.Dense(1, activation="sigmoid", name="out")(p)


def two_inputs(lib: Any) -> tuple[Any, Any]:
    ids = lib.Input((STEPS,), dtype="int32", name="ids")
    features = lib.Input((FEATURES,), name="features")
    p = lib.layers.GlobalAveragePooling1D(name="pool")(lib.layers.Embedding(VOCAB, DIM, name="emb")(ids))
    q = lib.layers.Dense(DIM, activation="tanh", name="proj")(features)
    m = lib.layers.Multiply(name="mul")([p, q])
    c = lib.layers.Concatenate(name="cat")([m, q])
    return [ids, features], lib.layers.Dense(1, activation="sigmoid", name="out")(c)


def masked(lib: Any) -> tuple[Any, Any]:
    left = lib.Input((STEPS,), dtype="int32", name="left")
    right = lib.Input((STEPS,), dtype="int32", name="right")
    emb = lib.layers.Embedding(VOCAB, DIM, mask_zero=True, name="emb")
    e1, e2 = emb(left), emb(right)
    a = lib.layers.Dense(DIM, activation="tanh", name="a")(e1)
    b = lib.layers.Dense(DIM, activation="sigmoid", name="b")(e1)
    mul = lib.layers.Multiply(name="mul")([a, b, e2])
    avg = lib.layers.Average(name="avg")([e1, e2])
    c = lib.layers.Concatenate(name="cat")([mul, avg, e1])  # masks m1 | m2, m1 | m2 and m1: any of them
    p = lib.layers.GlobalAveragePooling1D(name="pool")(c)
    return [left, right], lib.layers.Dense(1, activation="sigmoid", name="out")(p)


GRAPHS: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "fork": fork,
    "shared": shared,
    "two_inputs": two_inputs,
    "masked": masked,
}


def batch(name: str, size: int, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """(x, y) for graph `name`: post-padded ids (at least one real token, so no all-padding row), float
    features, 0/1 labels; x a list for a graph of several inputs."""

    def ids() -> np.ndarray:
        lengths = rng.integers(1, STEPS + 1, size=size)
        real = np.arange(STEPS) < lengths[:, None]
        return np.where(real, rng.integers(1, VOCAB, size=(size, STEPS)), 0).astype("int32")

    x: Any
    if name == "two_inputs":
        x = [ids(), rng.normal(size=(size, FEATURES))]
    elif name == "masked":
        x = [ids(), ids()]
    else:
        x = ids()
    return x, rng.integers(0, 2, size=size)
