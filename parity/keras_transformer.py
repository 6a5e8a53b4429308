"""The Keras side of the IMDB Transformer example's two custom layers (keras-io
examples/nlp/text_classification_with_transformer.py), by the example's class names and npnet's arguments:
`TokenAndPositionEmbedding` and `TransformerBlock`. They are not part of Keras; they are written here from
the example's description, so that `parity.keras_twin` can translate an npnet transformer (benchmarks.seeds,
benchmarks.systems) and `parity.attention` can check npnet's layers against them.

Importing this module imports Keras and changes no JAX setting (parity.attention turns on float64 for its
own checks; a benchmark must time Keras as a user runs it).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras


class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token table + position table, summed; with `mask_zero` (npnet's variant, not the example's) the token
    table's mask ids != 0 is this layer's output mask."""

    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, mask_zero: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim, self.mask_zero = (
            maxlen,
            vocab_size,
            embed_dim,
            mask_zero,
        )
        self.token_emb = keras.layers.Embedding(
            vocab_size, embed_dim, mask_zero=mask_zero, dtype=kwargs.get("dtype")
        )
        self.pos_emb = keras.layers.Embedding(maxlen, embed_dim, dtype=kwargs.get("dtype"))

    def call(self, ids: Any) -> Any:
        steps = keras.ops.shape(ids)[-1]
        return self.token_emb(ids) + self.pos_emb(keras.ops.arange(steps))

    def compute_mask(self, ids: Any, mask: Any = None) -> Any:
        return self.token_emb.compute_mask(ids)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "maxlen": self.maxlen,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "mask_zero": self.mask_zero,
        }


class TransformerBlock(keras.layers.Layer):
    """The example's post-norm encoder block; `mask` (B, T), when given, is the attention's query and value
    mask (as Keras fills them for a masked input).

    `explicit=True` runs the attention on Keras's explicit path (by asking for the scores, and dropping
    them): without dropout Keras 3.15.1 otherwise takes its fused JAX path, which computes float64 inputs in
    float32 (~5e-8 relative), so only the explicit path can show float64 agreement. The example as written
    (and the benchmarks) runs the default, fused path."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        rate: float = 0.1,
        epsilon: float = 1e-6,
        norm_first: bool = False,
        explicit: bool = False,
        **kwargs: Any,
    ) -> None:
        if norm_first:
            raise ValueError(
                "TransformerBlock: the Keras example's block is post-norm; norm_first=True has no twin"
            )
        super().__init__(**kwargs)
        self.supports_masking = True  # the input mask passes through to the pooling
        self.embed_dim, self.num_heads, self.ff_dim = embed_dim, num_heads, ff_dim
        self.rate, self.epsilon, self.explicit = rate, epsilon, explicit
        dtype = kwargs.get("dtype")
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim, dtype=dtype)
        self.ffn = keras.Sequential(
            [
                keras.layers.Dense(ff_dim, activation="relu", dtype=dtype),
                keras.layers.Dense(embed_dim, dtype=dtype),
            ]
        )
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=epsilon, dtype=dtype)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=epsilon, dtype=dtype)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, x: Any, mask: Any = None, training: Any = None) -> Any:
        if mask is not None:  # as Embedding(mask_zero=True) would: Keras reads the masks off the tensor
            keras.src.backend.set_keras_mask(x, mask)
        if self.explicit:
            attended, _ = self.att(x, x, training=training, return_attention_scores=True)
        else:
            attended = self.att(x, x, training=training)
        attended = self.dropout1(attended, training=training)
        out1 = self.layernorm1(x + attended)
        return self.layernorm2(out1 + self.dropout2(self.ffn(out1), training=training))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "rate": self.rate,
            "epsilon": self.epsilon,
        }


# The example's layers by npnet's class names: `npnet.keras_export`'s `custom` for a transformer model.
EXAMPLE_LAYERS = {
    "TokenAndPositionEmbedding": TokenAndPositionEmbedding,
    "TransformerBlock": TransformerBlock,
}
