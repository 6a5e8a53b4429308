"""Which layers of a model have a fused twin, and the stack fit/evaluate/predict run with them.

Two kinds of twin replace readable layers during `fit`, `evaluate` and `predict` (`npnet.fast.plan`):

- `FusedEmbeddingPool` for a model that *starts* with exactly Embedding -> GlobalAveragePooling1D: it
  also changes what a batch is (bags of words), so the plan builds it with its batch source;
- `PAIR_TWINS`: adjacent pairs anywhere in the stack whose twin takes the same input and gives the same
  output as the pair, swapped in by `fused_stack` (today Conv1D(relu) -> GlobalMaxPooling1D).

Each twin shares its readable layers' `params`/`grads` dictionaries, so the optimizer, callbacks,
checkpoints and `get_weights` see the same arrays whichever path ran. A pair is fused only when its
classes are exactly those of the table (a subclass may change the computation) and the twin's `fits`
accepts their settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from npnet.fast.conv_max_pool import FusedConvMaxPool
from npnet.layers.base import Layer
from npnet.layers.convolutional import Conv1D
from npnet.layers.embedding import Embedding
from npnet.layers.pooling import GlobalAveragePooling1D, GlobalMaxPooling1D


@dataclass(frozen=True)
class PairTwin:
    """A pair's fused twin: `fits(first, second)` says whether it computes `second(first(x))` exactly
    (settings included); `make(first, second)` builds it from the built pair."""

    fits: Callable[[Layer, Layer], bool]
    make: Callable[[Layer, Layer], Layer]


PAIR_TWINS: dict[tuple[type[Layer], type[Layer]], PairTwin] = {
    (Conv1D, GlobalMaxPooling1D): PairTwin(FusedConvMaxPool.fits, FusedConvMaxPool.fuse),
}


def starts_with_embedding_pool(layers: Sequence[Layer]) -> bool:
    """Whether the stack starts with exactly Embedding -> GlobalAveragePooling1D (`FusedEmbeddingPool`)."""
    return [type(layer) for layer in layers[:2]] == [Embedding, GlobalAveragePooling1D]


def _twin_at(layers: Sequence[Layer], i: int) -> PairTwin | None:
    if i + 1 >= len(layers):
        return None
    twin = PAIR_TWINS.get((type(layers[i]), type(layers[i + 1])))
    return twin if twin is not None and twin.fits(layers[i], layers[i + 1]) else None


def has_pair_twin(layers: Sequence[Layer]) -> bool:
    """Whether `fused_stack` would replace any pair of `layers` (built or not)."""
    return any(_twin_at(layers, i) is not None for i in range(len(layers)))


def fused_stack(layers: Sequence[Layer]) -> list[Layer]:
    """`layers` with every pair of `PAIR_TWINS` replaced by its twin, left to right (the layers must be
    built); the other layers are the same objects."""
    stack: list[Layer] = []
    i = 0
    while i < len(layers):
        twin = _twin_at(layers, i)
        if twin is None:
            stack.append(layers[i])
            i += 1
        else:
            stack.append(twin.make(layers[i], layers[i + 1]))
            i += 2
    return stack
