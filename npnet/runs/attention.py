"""What a run's attention looks at: the attention probabilities of its model's first attention layer over
reviews' words (`review_attention`), which `npnet predict --attention` and the run report draw
(`npnet.reports.attention_report`).

The probabilities come from the layer's own `call(..., return_attention_scores=True)` on the readable
layers in inference (no dropout), so they are exactly the softmax the model's forward takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from npnet.datasets import imdb
from npnet.errors import RunError
from npnet.layers.attention import MultiHeadAttention
from npnet.layers.base import Layer
from npnet.layers.transformer import TransformerBlock
from npnet.model import Sequential

MAX_WORDS = 60  # tokens a map shows at most (a review's last ones, the end 'pre' truncation keeps): readable
BATCH_SIZE = 32  # reviews per forward: each holds (B, heads, T, T) probabilities, 10 MB at the example's size


@dataclass(frozen=True)
class ReviewAttention:
    """One review's attention among its shown tokens: `words` (L,), `weights` (H, L, L) (rows: queries,
    columns: keys; each row's sum is what the query gave to the shown tokens), `padding_share` (the mean
    over heads and shown queries of the probability on padding positions, which the map leaves out),
    `tokens` (the review's real tokens in the model's input; L = min(tokens, MAX_WORDS))."""

    words: list[str]
    weights: np.ndarray
    padding_share: float
    tokens: int


def attention_layer(model: Sequential) -> tuple[int, Layer]:
    """(index, layer) of the first layer of `model` that attends (a TransformerBlock or a
    MultiHeadAttention); RunError when there is none."""
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (TransformerBlock, MultiHeadAttention)):
            return i, layer
    names = ", ".join(type(layer).__name__ for layer in model.layers)
    raise RunError(
        f"the model has no attention layer ({names}); attention maps need a transformer run "
        "(npnet train --preset transformer)"
    )


def attention_probabilities(model: Sequential, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """ids x (n, T) -> the first attention layer's probabilities (n, H, T, T) in inference (before its
    dropout), with the masks the model's forward gives that layer."""
    index, layer = attention_layer(model)
    parts = []
    for start in range(0, len(x), batch_size):
        h, mask = x[start : start + batch_size], None
        for before in model.layers[:index]:
            h, mask = before.forward(h, mask=mask, training=False), before.compute_mask(h, mask)
        attention = layer
        if isinstance(layer, TransformerBlock):
            attention = layer.att
            if layer.norm_first:  # the pre-norm block attends over layernorm1(x)
                h = layer.layernorm1.forward(h)
        assert isinstance(attention, MultiHeadAttention)
        _, probs = attention.call(h, query_mask=mask, value_mask=mask, return_attention_scores=True)
        parts.append(probs)
    return np.concatenate(parts)


def review_attention(
    model: Sequential, x: np.ndarray, word_index: Mapping[str, int], max_words: int = MAX_WORDS
) -> list[ReviewAttention]:
    """Each padded review of x (n, T) (ids as the run pads them; 0 = padding) -> its `ReviewAttention`: the
    probabilities among its last `max_words` real tokens, labelled by `imdb.decode`."""
    probabilities = attention_probabilities(model, x)
    reviews = []
    for ids, probs in zip(x, probabilities, strict=True):
        real = np.flatnonzero(ids != imdb.PAD_CHAR)
        shown = real[-max_words:]
        on_padding = probs[:, shown][:, :, ids == imdb.PAD_CHAR].sum(axis=-1)  # (H, L)
        reviews.append(
            ReviewAttention(
                words=imdb.decode(ids[shown], word_index).split(" "),
                weights=probs[:, shown][:, :, shown],
                padding_share=float(on_padding.mean()) if on_padding.size else 0.0,
                tokens=len(real),
            )
        )
    return reviews
