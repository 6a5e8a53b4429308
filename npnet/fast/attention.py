"""The twins of the Transformer example's layers that fit runs: `FastMultiHeadAttention` (the scores, the
softmax and their backward in kept buffers, on both threads), `FastTransformerBlock` (the block with that
attention) and `FastTokenAndPositionEmbedding` (the token table's scatter-add through the flat index).

Every batch row's attention is independent: `FastMultiHeadAttention` splits the rows in two contiguous halves,
one per thread of the process's kept pool (`shared_workers`; NumPy releases the GIL in its products and
loops), and each half runs the readable layer's own operations in the same order on its rows: the same
per-matrix products, the softmax written in place (x - max, exp, / sum, as `masked_softmax`) and its
backward in place (as `softmax_backward`). So every result is bitwise the readable layer's, with one thread
or two. The (B, H, T, S) arrays -- the scores that become the probabilities, their gradient and the softmax
backward's product -- live in buffers kept from step to step (10 MB each at the example's size): no fresh
pages every step. The probabilities a twin caches are overwritten by its next forward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npnet.fast.embedding import scatter_add_rows
from npnet.fast.threads import shared_workers
from npnet.fast.twin import twin
from npnet.layers.attention import MultiHeadAttention, masked_softmax
from npnet.layers.transformer import TokenAndPositionEmbedding, TransformerBlock


class FastMultiHeadAttention(MultiHeadAttention):
    """MultiHeadAttention with the attention's (B, H, T, S) work in kept buffers, split over batch rows."""

    _buffers: dict[str, np.ndarray]

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A C-contiguous array of `shape`: the front of the kept one when it is large enough (the last,
        smaller batch of an epoch), else a new kept one."""
        if "_buffers" not in self.__dict__:  # a twin starts with its readable layer's attributes only
            self._buffers = {}
        size = int(np.prod(shape))
        kept = self._buffers.get(name)
        if kept is None or kept.size < size or kept.dtype != dtype:
            kept = self._buffers[name] = np.empty(size, dtype)
        return kept[:size].reshape(shape)

    def call(self, *args: Any, **kwargs: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """As the readable call; returned probabilities are a copy (the cached ones sit in a kept buffer)."""
        out = super().call(*args, **kwargs)
        if isinstance(out, tuple):
            return out[0], out[1].copy()
        return out

    def _attend(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, training: bool
    ) -> np.ndarray:
        """As the readable `_attend`: q (B, H, T, K), k (B, H, S, K), v (B, H, S, V), mask (B, 1, T, S) or
        None -> context (B, H, T, V), each half of the batch rows on one thread."""
        batch, heads, steps, _ = q.shape
        q_scaled = q * q.dtype.type(self.scale)
        k_t = k.transpose(0, 1, 3, 2)
        probs = self._buffer("probs", (batch, heads, steps, k.shape[2]), q.dtype)
        context = np.empty((batch, heads, steps, v.shape[3]), q.dtype)
        dropout = training and self.dropout_layer.rate > 0

        def scores_and_softmax(rows: slice) -> None:
            scores = probs[rows]
            np.matmul(q_scaled[rows], k_t[rows], out=scores)
            if mask is None:
                scores -= np.max(scores, axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= np.sum(scores, axis=-1, keepdims=True)
            else:  # the readable formula on these rows (a masked model: not the example's)
                scores[...] = masked_softmax(scores, mask[rows])
            if not dropout:
                np.matmul(scores, v[rows], out=context[rows])

        workers = shared_workers()
        workers.split(scores_and_softmax, batch)
        dropped = probs
        if dropout:  # one draw over the whole batch, as the readable layer's
            dropped = self.dropout_layer.forward(probs, training=True)
            workers.split(lambda rows: np.matmul(dropped[rows], v[rows], out=context[rows]), batch)
        self._probs, self._dropped = probs, dropped
        self._q_scaled, self._k, self._v = q_scaled, k, v
        return context

    def _attend_backward(self, d_context: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As the readable `_attend_backward`: dL/dcontext (B, H, T, V) -> (dL/dq, dL/dk, dL/dv), each half
        of the batch rows on one thread."""
        probs, dropped, q_scaled, k, v = self._probs, self._dropped, self._q_scaled, self._k, self._v
        dtype = probs.dtype
        d_probs = self._buffer("d_probs", probs.shape, dtype)
        product = self._buffer("product", probs.shape, dtype)
        d_q, d_k = np.empty(q_scaled.shape, dtype), np.empty(k.shape, dtype)
        d_v = np.empty(v.shape, dtype)
        v_t, scale = v.transpose(0, 1, 3, 2), dtype.type(self.scale)
        dropout = dropped is not probs

        def products(rows: slice) -> None:
            np.matmul(d_context[rows], v_t[rows], out=d_probs[rows])
            np.matmul(dropped[rows].transpose(0, 1, 3, 2), d_context[rows], out=d_v[rows])

        def softmax_and_inputs(rows: slice) -> None:
            g, y = d_probs[rows], probs[rows]
            np.multiply(g, y, out=product[rows])
            weighted = np.sum(product[rows], axis=-1, keepdims=True)
            g -= weighted
            g *= y  # dL/dscores
            np.matmul(g, k[rows], out=d_q[rows])
            d_q[rows] *= scale
            np.matmul(g.transpose(0, 1, 3, 2), q_scaled[rows], out=d_k[rows])

        workers = shared_workers()
        batch = probs.shape[0]
        if dropout:  # the dropout's backward between the two: its mask spans the batch
            workers.split(products, batch)
            d_probs[...] = self.dropout_layer.backward(d_probs)
            workers.split(softmax_and_inputs, batch)
        else:

            def both(rows: slice) -> None:
                products(rows)
                softmax_and_inputs(rows)

            workers.split(both, batch)
        return d_q, d_k, d_v


class FastTransformerBlock(TransformerBlock):
    """TransformerBlock whose attention is a `FastMultiHeadAttention` twin (sharing its weights)."""

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, T, D), as the readable block."""
        if type(self.att) is MultiHeadAttention:  # this twin's first call: its attention's twin, once
            self.att = twin(self.att, FastMultiHeadAttention)
        return super().forward(x, mask, training)


class FastTokenAndPositionEmbedding(TokenAndPositionEmbedding):
    """TokenAndPositionEmbedding whose token table's gradient is `scatter_add_rows` (the flat-index
    `np.add.at`: the same additions in the same order as the readable Embedding's, bitwise)."""

    def backward(self, grad_out: np.ndarray) -> None:
        """dL/dout (B, T, D) -> None; fills both tables' gradients, as the readable layer."""
        grad = self.token_emb.grads["embeddings"]
        grad.fill(0)
        scatter_add_rows(grad, self.token_emb._ids.ravel(), grad_out.reshape(-1, self.embed_dim))
        self.pos_emb.backward(grad_out.sum(axis=0, keepdims=True))
        return None
