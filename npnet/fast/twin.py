"""`twin(layer, cls)`: a readable layer's state under its fast class.

A fast twin is a subclass of the readable layer that overrides how a step is computed (threads, another
formulation of the same sum), never what it computes. The plan makes one per fit/evaluate/predict call from
the model's own layer: a shallow copy of its attributes, so the twin holds the *same* `params` and `grads`
dictionaries (updates and gradients land on the model's layer), the same sublayers and settings, and its
own forward caches. The model's layers stay as they are.
"""

from __future__ import annotations

from typing import TypeVar

from npnet.layers.base import Layer

L = TypeVar("L", bound=Layer)


def twin(layer: Layer, cls: type[L]) -> L:
    """`layer` as an instance of `cls`, a subclass of its class, sharing its parameter dictionaries."""
    if not isinstance(layer, cls.__mro__[1]):
        readable = cls.__mro__[1].__name__
        raise TypeError(f"{cls.__name__} is a twin of {readable}, not of {type(layer).__name__}")
    copy = cls.__new__(cls)
    copy.__dict__.update(layer.__dict__)
    return copy
