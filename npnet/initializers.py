"""Weight initializers, Keras names and defaults. Each draws from an explicit `numpy.random.Generator`.

An initializer is a callable `init(shape, rng, dtype) -> np.ndarray`. Values are drawn in float64 and then
cast, so float32 and float64 models built from the same seed start from the same numbers (up to rounding).
Uniform draws go through `uniform`, which draws the float64 values in blocks straight into the result, so a
(1.2M x 50) float32 fastText table costs its own 239 MB and not a 477 MB float64 temporary besides.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

# True inside `shapes_only()`: initializers return placeholders, not values.
_SHAPES_ONLY = contextvars.ContextVar("npnet_shapes_only", default=False)


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Inside the block every initializer returns a read-only placeholder of the right shape and dtype that
    holds no memory (one zero, broadcast), and `Layer.add_param` allocates no gradient: building a model
    then says what its parameters will be without allocating them (how a model file's size is checked
    before it is loaded, `npnet.saving.validate`)."""
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)


def planning() -> bool:
    """Whether the caller runs inside `shapes_only()`."""
    return _SHAPES_ONLY.get()


def _or_placeholder(draw: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    @functools.wraps(draw)
    def call(
        self: Initializer, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
    ) -> np.ndarray:
        if _SHAPES_ONLY.get():
            return np.broadcast_to(np.zeros((), dtype=dtype), shape)
        return draw(self, shape, rng, dtype)

    return call


class Initializer:
    """Base class: `__call__(shape, rng, dtype)` returns a new array of `shape` and `dtype` (a placeholder
    inside `shapes_only()`, for every subclass: the base wraps each subclass's `__call__`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = _or_placeholder(cls.__dict__["__call__"])  # type: ignore[method-assign]

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-ready (none for most initializers)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# float64 values drawn per block by `uniform` (8 MB): the stream is the same as one draw of the whole array.
_UNIFORM_BLOCK = 1 << 20


def uniform(
    low: float, high: float, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """`rng.uniform(low, high, size=shape).astype(dtype)`, the same numbers, without the float64 temporary:
    the generator yields its values in order, so consecutive blocks continue one draw exactly."""
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, _UNIFORM_BLOCK):
        block = flat[start : start + _UNIFORM_BLOCK]
        block[...] = rng.uniform(low, high, size=block.size)
    return out


class RandomUniform(Initializer):
    """U(minval, maxval). Keras's `"uniform"` (the Embedding default) is U(-0.05, 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        if not minval < maxval:
            raise ValueError(f"RandomUniform needs minval < maxval, got minval={minval}, maxval={maxval}")
        self.minval = minval
        self.maxval = maxval

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        return uniform(self.minval, self.maxval, shape, rng, dtype)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval}

    def __repr__(self) -> str:
        return f"RandomUniform(minval={self.minval}, maxval={self.maxval})"


class GlorotUniform(Initializer):
    """U(-L, L) with L = sqrt(6 / (fan_in + fan_out)): keeps activation variance steady through a layer."""

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return uniform(-limit, limit, shape, rng, dtype)


class Orthogonal(Initializer):
    """A random (semi-)orthogonal matrix times `gain`, Keras's algorithm (the recurrent-kernel default).

    Draw A ~ N(0, 1) of shape (max(rows, cols), min(rows, cols)) with rows = prod(shape[:-1]), take its QR
    factorization A = QR, flip each column of Q by the sign of R's diagonal (which makes Q uniformly
    distributed over the orthogonal matrices, Haar measure, instead of depending on the QR routine's sign
    convention) and transpose when rows < cols. A square result satisfies Q^T Q = I: repeated products with
    it neither grow nor shrink a state, the reason recurrent kernels start this way.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}

    def __repr__(self) -> str:
        return f"Orthogonal(gain={self.gain})"


class Ones(Initializer):
    """All ones. Draws nothing."""

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        return np.ones(shape, dtype=dtype)


class Zeros(Initializer):
    """All zeros (the Dense bias default). Draws nothing, so it does not advance the generator."""

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fans: (in, out) for a matrix; a vector counts as both; conv kernels multiply by the field."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


_BY_NAME: dict[str, type[Initializer]] = {
    "uniform": RandomUniform,
    "random_uniform": RandomUniform,
    "glorot_uniform": GlorotUniform,
    "orthogonal": Orthogonal,
    "ones": Ones,
    "zeros": Zeros,
}


def serialize(initializer: Initializer) -> dict[str, Any]:
    """{"class_name", "config"}, which `get` turns back into an equal initializer."""
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


_BY_CLASS: dict[str, type[Initializer]] = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier: str | dict[str, Any] | Initializer) -> Initializer:
    """An initializer from a Keras name ("uniform", "glorot_uniform", "zeros"), a `serialize` dict or an
    instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(
        f"unknown initializer {identifier!r}: use one of {', '.join(sorted(_BY_NAME))} "
        "or an Initializer instance"
    )
