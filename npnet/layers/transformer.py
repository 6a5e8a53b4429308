"""The two layers of Keras's IMDB Transformer example (keras-io
examples/nlp/text_classification_with_transformer.py), by its names and arguments: TokenAndPositionEmbedding
and TransformerBlock. Each holds npnet layers and runs them; its backward is the chain rule through them,
with the gradients added where a value feeds two paths.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet import validation
from npnet.layers.attention import MultiHeadAttention
from npnet.layers.base import Layer, Shape, init_rng
from npnet.layers.core import Dropout
from npnet.layers.dense import Dense
from npnet.layers.embedding import Embedding
from npnet.layers.normalization import LayerNormalization


class _Composite(Layer):
    """A layer made of named sublayers: it exposes their arrays (the same objects) as its own `params` and
    `grads` under "<sublayer name>/<key>", in the order of `_parts` (Keras's weight order), as Bidirectional
    does; `sublayers()` lists every layer held, nested ones included (the model hands each its noise
    generator, the gradient checker reads their kink patterns)."""

    def _parts(self) -> list[Layer]:
        raise NotImplementedError

    def sublayers(self) -> list[Layer]:
        return [inner for part in self._parts() for inner in (part, *part.sublayers())]

    def _share_params(self) -> None:
        self.params, self.grads = {}, {}
        for part in self._parts():
            for key in part.params:
                self.params[f"{part.name}/{key}"] = part.params[key]
                self.grads[f"{part.name}/{key}"] = part.grads[key]

    def astype(self, dtype: str | np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        for part in self._parts():
            part.astype(dtype)
        self._share_params()


class TokenAndPositionEmbedding(_Composite):
    """ids (B, T) -> token_emb[ids] + pos_emb[0..T-1] (B, T, D): a token table (vocab_size, D) and a learned
    position table (maxlen, D), summed (T <= maxlen). Weights "token_emb/embeddings", then
    "pos_emb/embeddings", both U(-0.05, 0.05) as Keras's Embedding.

    `mask_zero=True` (not in the example, which has no mask) emits the mask ids != 0, as Embedding does.
    backward: the token table gets the Embedding's scatter-add of dL/dout; the position table row t gets
    the sum over the batch of dL/dout[:, t] (every review adds the same position vector). Returns None:
    ids have no gradient.
    """

    def __init__(
        self,
        maxlen: int,
        vocab_size: int,
        embed_dim: int,
        mask_zero: bool = False,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.maxlen = validation.positive_int(maxlen, "TokenAndPositionEmbedding maxlen")
        self.vocab_size = validation.positive_int(vocab_size, "TokenAndPositionEmbedding vocab_size")
        self.embed_dim = validation.positive_int(embed_dim, "TokenAndPositionEmbedding embed_dim")
        self.mask_zero = bool(mask_zero)
        self.token_emb = Embedding(vocab_size, embed_dim, mask_zero=mask_zero, name="token_emb")
        self.pos_emb = Embedding(maxlen, embed_dim, name="pos_emb")

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "maxlen": self.maxlen,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "mask_zero": self.mask_zero,
        }

    def _parts(self) -> list[Layer]:
        return [self.token_emb, self.pos_emb]

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        for part in self._parts():
            part.build(input_shape, rng, self.dtype)
        self._share_params()

    def check_input(self, ids: np.ndarray) -> None:
        self.token_emb.check_input(ids)
        if ids.shape[1] > self.maxlen:
            raise ValueError(
                f"TokenAndPositionEmbedding {self.name!r} has positions for {self.maxlen} steps, got "
                f"sequences of {ids.shape[1]}; pad/truncate them to maxlen={self.maxlen} or raise maxlen"
            )

    def forward(self, ids: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """ids (B, T) -> (B, T, D)."""
        self.check_input(ids)
        positions = np.arange(ids.shape[1])[None]  # (1, T): one lookup, broadcast over the batch
        return self.token_emb.forward(ids) + self.pos_emb.forward(positions)

    def backward(self, grad_out: np.ndarray) -> None:
        """dL/dout (B, T, D) -> None; fills both tables' gradients: the sum adds them, so each gets dL/dout
        (the position table's summed over the batch, whose rows all looked up the same positions)."""
        self.token_emb.backward(grad_out)
        self.pos_emb.backward(grad_out.sum(axis=0, keepdims=True))
        return None

    def table_ids(self, key: str, x: np.ndarray) -> np.ndarray | None:
        if key == "token_emb/embeddings":
            return x
        if key == "pos_emb/embeddings":
            return np.broadcast_to(np.arange(x.shape[1]), x.shape)
        return None

    def compute_mask(self, ids: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        return self.token_emb.compute_mask(ids, mask)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.embed_dim)


class TransformerBlock(_Composite):
    """The example's encoder block: `TransformerBlock(embed_dim, num_heads, ff_dim, rate=0.1, epsilon=1e-6,
    norm_first=False)` on (B, T, embed_dim) -> (B, T, embed_dim).

    Post-norm (the example's):
        a = dropout1(att(x, x));  out1 = layernorm1(x + a)
        f = dropout2(ffn_2(ffn_1(out1)));  out = layernorm2(out1 + f)
    with att = MultiHeadAttention(num_heads, key_dim=embed_dim), ffn_1 = Dense(ff_dim, relu), ffn_2 =
    Dense(embed_dim), both norms LayerNormalization(epsilon). `norm_first=True` (pre-norm):
    out1 = x + dropout1(att(layernorm1(x))), out = out1 + dropout2(ffn(layernorm2(out1))).

    Weights in Keras's order (the example's attributes att, ffn, layernorm1, layernorm2): the attention's
    eight, ffn_1's and ffn_2's kernel and bias, layernorm1's and layernorm2's gamma and beta, as
    "<part>/<key>" ("att/query/kernel", "ffn_1/kernel", "layernorm1/gamma", ...).

    The input mask (B, T) is the attention's query and value mask and passes through to the next layer.
    backward (docs/derivations/attention.md, "The encoder block"): back through each sublayer in reverse
    order; at
    each residual sum the gradient goes to both operands, and where a value feeds two paths (x into the
    attention and the residual, out1 into the feed-forward and the residual) the two gradients add.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        rate: float = 0.1,
        epsilon: float = 1e-6,
        norm_first: bool = False,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.embed_dim = validation.positive_int(embed_dim, "TransformerBlock embed_dim")
        self.num_heads = validation.positive_int(num_heads, "TransformerBlock num_heads")
        self.ff_dim = validation.positive_int(ff_dim, "TransformerBlock ff_dim")
        self.norm_first = bool(norm_first)
        self.att = MultiHeadAttention(num_heads, key_dim=embed_dim, name="att")
        self.ffn_1 = Dense(ff_dim, activation="relu", name="ffn_1")
        self.ffn_2 = Dense(embed_dim, name="ffn_2")
        self.layernorm1 = LayerNormalization(epsilon=epsilon, name="layernorm1")
        self.layernorm2 = LayerNormalization(epsilon=epsilon, name="layernorm2")
        self.dropout1 = Dropout(rate, name="dropout1")
        self.dropout2 = Dropout(rate, name="dropout2")
        self.rate, self.epsilon = self.dropout1.rate, self.layernorm1.epsilon

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "rate": self.rate,
            "epsilon": self.epsilon,
            "norm_first": self.norm_first,
        }

    def _parts(self) -> list[Layer]:
        return [
            self.att,
            self.ffn_1,
            self.ffn_2,
            self.layernorm1,
            self.layernorm2,
            self.dropout1,
            self.dropout2,
        ]

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        if len(input_shape) != 3 or input_shape[-1] != self.embed_dim:
            raise ValueError(
                f"TransformerBlock {self.name!r} takes (batch, steps, {self.embed_dim}) inputs, got shape "
                f"{input_shape}"
            )
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        hidden = (*input_shape[:-1], self.ff_dim)
        for part, shape in (
            (self.att, input_shape),
            (self.ffn_1, input_shape),
            (self.ffn_2, hidden),
            (self.layernorm1, input_shape),
            (self.layernorm2, input_shape),
            (self.dropout1, input_shape),
            (self.dropout2, input_shape),
        ):
            part.build(shape, rng, self.dtype)
        self._share_params()

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, T, D)."""
        if self.norm_first:
            out1 = x + self.dropout1.forward(
                self.att.forward(self.layernorm1.forward(x), mask, training), training=training
            )
            ffn = self.ffn_2.forward(self.ffn_1.forward(self.layernorm2.forward(out1)))
            return out1 + self.dropout2.forward(ffn, training=training)
        a = self.dropout1.forward(self.att.forward(x, mask, training), training=training)
        out1 = self.layernorm1.forward(x + a)
        f = self.dropout2.forward(self.ffn_2.forward(self.ffn_1.forward(out1)), training=training)
        return self.layernorm2.forward(out1 + f)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dout (B, T, D) -> dL/dx (B, T, D); fills every sublayer's gradients."""
        if self.norm_first:
            # out = out1 + f: the gradient reaches out1 directly and through the feed-forward branch.
            d_ffn = self.ffn_1.backward(self.ffn_2.backward(self.dropout2.backward(grad_out)))
            d_out1 = grad_out + self.layernorm2.backward(d_ffn)
            # out1 = x + a: likewise for x.
            d_att = self.att.backward(self.dropout1.backward(d_out1))
            return d_out1 + self.layernorm1.backward(d_att)
        d_sum2 = self.layernorm2.backward(grad_out)  # dL/d(out1 + f)
        d_out1_ffn = self.ffn_1.backward(self.ffn_2.backward(self.dropout2.backward(d_sum2)))
        d_out1 = d_sum2 + d_out1_ffn  # out1 feeds the residual sum and the feed-forward
        d_sum1 = self.layernorm1.backward(d_out1)  # dL/d(x + a)
        d_x_att = self.att.backward(self.dropout1.backward(d_sum1))
        return d_sum1 + d_x_att  # x feeds the residual sum and the attention

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape
