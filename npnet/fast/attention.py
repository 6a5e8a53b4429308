"""The twins of the Transformer example's layers that fit runs: `FastMultiHeadAttention` (the attention's
(B, H, T, S) work in kept buffers, with the softmax's division moved onto the context), `FastTransformerBlock`
(the block's batch rows in two halves, one per thread) and `FastTokenAndPositionEmbedding` (the token table's
scatter-add through the flat index).

`FastMultiHeadAttention`. Every batch row's attention is independent: the rows are split in contiguous parts,
one per thread of its workers (the process's kept pool, `shared_workers`, unless its block runs it on one
thread; NumPy releases the GIL in its products and loops). With no mask and no dropout on the probabilities
(the example's attention) it computes the same functions in fewer passes over the (B, H, T, S) arrays (the
derivation: docs/derivations/attention.md, "The fast twin's rearrangement"):
- forward: E = exp(scores - rowmax) is left unnormalized and the softmax's division is applied to the
  (B, H, T, V) context instead: context = (E v) / rowsum(E), since P v = (E v) / rowsum(E);
- backward: the softmax's weighted sum sum_s P dP, per query row, is dcontext . context, a (B, H, T, V)
  product, since sum_s P_ts (dcontext_t . v_s) = dcontext_t . (P v)_t.
So the (B, H, T, S) arrays see one exp and two reductions forward and two elementwise passes backward, not a
division forward and a product and a sum more backward. With a mask, or dropout on the probabilities, each
part runs the readable layer's own operations on its rows (`masked_softmax`, the dropout, the softmax JVP),
so those results are bitwise the readable layer's. The (B, H, T, S) arrays live in buffers kept from step to
step (10 MB each at the example's size): no fresh pages every step.

`FastTransformerBlock`. The block is row-wise too, except that its weights' gradients sum over the batch
rows: each half of the rows runs through its own replica of the readable block (the same weights, its own
gradients and caches, its attention on one thread) on one of the two threads, and the halves' gradients are
added. The two dropouts' masks are drawn for the whole batch first, in the readable block's order, so a
seed draws the same masks as the readable block's.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from npnet.fast.embedding import scatter_add_rows
from npnet.fast.threads import SERIAL, Workers, shared_workers
from npnet.fast.twin import twin
from npnet.layers.attention import MultiHeadAttention, masked_softmax
from npnet.layers.base import Layer
from npnet.layers.core import Dropout
from npnet.layers.transformer import TokenAndPositionEmbedding, TransformerBlock


class FastMultiHeadAttention(MultiHeadAttention):
    """MultiHeadAttention with the attention's (B, H, T, S) work in kept buffers, split over batch rows, and
    with no mask and no dropout on the probabilities the softmax's division on the context (see the module).
    `workers` None: the process's kept pool."""

    _buffers: dict[str, np.ndarray]
    workers: Workers | None = None

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

    def _workers(self) -> Workers:
        return self.workers if self.workers is not None else shared_workers()

    def call(
        self, *args: Any, return_attention_scores: bool = False, **kwargs: Any
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """As the readable call; returned probabilities are a new array (the cached ones sit in a kept
        buffer, and without a mask unnormalized)."""
        out = super().call(*args, **kwargs)
        assert isinstance(out, np.ndarray)
        if not return_attention_scores:
            return out
        probs = self._exps / self._totals if self._unnormalized else self._probs.copy()
        return out, probs

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
        self._q_scaled, self._k, self._v = q_scaled, k, v
        if mask is None and not dropout:
            return self._attend_unnormalized(probs, context)

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

        workers = self._workers()
        workers.split(scores_and_softmax, batch)
        dropped = probs
        if dropout:  # one draw over the whole batch, as the readable layer's
            dropped = self.dropout_layer.forward(probs, training=True)
            workers.split(lambda rows: np.matmul(dropped[rows], v[rows], out=context[rows]), batch)
        self._probs, self._dropped, self._unnormalized = probs, dropped, False
        return context

    def _attend_unnormalized(self, exps: np.ndarray, context: np.ndarray) -> np.ndarray:
        """No mask, no dropout: E = exp(scores - rowmax) into `exps` (B, H, T, S), its row sums (B, H, T, 1),
        context = (E v) / rowsum(E) into `context` (B, H, T, V). Caches E, the sums and the context."""
        q_scaled, k, v = self._q_scaled, self._k, self._v
        totals = np.empty((*exps.shape[:3], 1), exps.dtype)

        def rows_of(rows: slice) -> None:
            e = exps[rows]
            np.matmul(q_scaled[rows], k[rows].transpose(0, 1, 3, 2), out=e)
            e -= np.max(e, axis=-1, keepdims=True)
            np.exp(e, out=e)
            np.sum(e, axis=-1, keepdims=True, out=totals[rows])  # >= 1: the row's largest term is exp(0)
            np.matmul(e, v[rows], out=context[rows])
            context[rows] /= totals[rows]

        self._workers().split(rows_of, exps.shape[0])
        self._unnormalized = True
        self._exps, self._totals, self._attended = exps, totals, context
        return context

    def _attend_backward(self, d_context: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As the readable `_attend_backward`: dL/dcontext (B, H, T, V) -> (dL/dq, dL/dk, dL/dv), each half
        of the batch rows on one thread."""
        if self._unnormalized:
            return self._attend_backward_unnormalized(d_context)
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

        workers = self._workers()
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

    def _attend_backward_unnormalized(
        self, d_context: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The backward of `_attend_unnormalized`: dL/dcontext (B, H, T, V) -> (dL/dq, dL/dk, dL/dv).

        With r = 1 / rowsum(E) (so P = E r) and dcontext' = dcontext r (B, H, T, V):
        dP r = dcontext' v^T, the softmax's weighted sum times r is w = rowsum(dcontext' * context), so
        dscores = P (dP - sum_s P dP) = E (dcontext' v^T - w); dv = P^T dcontext = E^T dcontext'."""
        exps, totals, context = self._exps, self._totals, self._attended
        q_scaled, k, v = self._q_scaled, self._k, self._v
        dtype = exps.dtype
        d_context = d_context / totals
        weighted = np.sum(d_context * context, axis=-1, keepdims=True)  # (B, H, T, 1)
        d_scores = self._buffer("d_probs", exps.shape, dtype)
        d_q, d_k = np.empty(q_scaled.shape, dtype), np.empty(k.shape, dtype)
        d_v = np.empty(v.shape, dtype)
        scale = dtype.type(self.scale)

        def rows_of(rows: slice) -> None:
            g, e = d_scores[rows], exps[rows]
            np.matmul(d_context[rows], v[rows].transpose(0, 1, 3, 2), out=g)
            np.matmul(e.transpose(0, 1, 3, 2), d_context[rows], out=d_v[rows])
            g -= weighted[rows]
            g *= e
            np.matmul(g, k[rows], out=d_q[rows])
            d_q[rows] *= scale
            np.matmul(g.transpose(0, 1, 3, 2), q_scaled[rows], out=d_k[rows])

        self._workers().split(rows_of, exps.shape[0])
        return d_q, d_k, d_v


class FastTransformerBlock(TransformerBlock):
    """TransformerBlock whose batch rows run in two halves, one per thread, each through its own replica of
    the readable block (see the module); on one thread, a batch of one row, or with dropout on the
    attention's probabilities (whose draw order the halves would change) the block runs whole, with a
    `FastMultiHeadAttention` twin."""

    _replicas: tuple[TransformerBlock, TransformerBlock] | None = None

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, T, D) -> (B, T, D), as the readable block."""
        if type(self.att) is MultiHeadAttention:  # this twin's first call: its attention's twin, once
            self.att = twin(self.att, FastMultiHeadAttention)
        workers = shared_workers()
        self._halves = None
        if workers.threads < 2 or x.shape[0] < 2 or (training and self.att.dropout_layer.rate > 0):
            return super().forward(x, mask, training)
        first, second = self._replicas or self._make_replicas()
        for dropout in ("dropout1", "dropout2"):  # the whole batch's draws, in the readable block's order
            layer = getattr(self, dropout)
            given = layer.draw_scale(x.shape, x.dtype) if training and layer.rate > 0 else None
            getattr(first, dropout).given, getattr(second, dropout).given = _halves_of(given, x.shape[0])
        (x0, x1), (m0, m1) = _halves_of(x, x.shape[0]), _halves_of(mask, x.shape[0])
        self._halves = x.shape[0]
        wait = workers.start(second.forward, x1, m1, training)
        try:
            out0 = first.forward(x0, m0, training)
        finally:
            out1 = wait()
        return np.concatenate([out0, out1])

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/dout (B, T, D) -> dL/dx (B, T, D); fills every weight's gradient (the halves' sum)."""
        if self._halves is None:
            return super().backward(grad_out)
        assert self._replicas is not None
        first, second = self._replicas
        g0, g1 = _halves_of(grad_out, self._halves)
        wait = shared_workers().start(second.backward, g1)
        try:
            d0 = first.backward(g0)
        finally:
            d1 = wait()
        for key, grad in self.grads.items():
            np.add(first.grads[key], second.grads[key], out=grad)
        return np.concatenate([d0, d1])

    def _make_replicas(self) -> tuple[TransformerBlock, TransformerBlock]:
        """Two readable blocks sharing this block's weights, each with its own gradients, caches and
        activation objects (a ReLU keeps its mask), its attention a one-thread `FastMultiHeadAttention`, and
        every dropout a `GivenDropout`: the block decides, at each call from its own layers' rates, what each
        half drops (its attention's probabilities: nothing, or the block runs whole)."""
        replicas = []
        for _ in range(2):
            replica = TransformerBlock.__new__(TransformerBlock)
            replica.__dict__.update(self.__dict__)
            for name in ("att", "ffn_1", "ffn_2", "layernorm1", "layernorm2"):
                setattr(replica, name, _replica_of(getattr(self, name)))
            assert isinstance(replica.att, FastMultiHeadAttention)
            replica.att.workers = SERIAL
            replica.att.dropout_layer = twin(self.att.dropout_layer, GivenDropout)
            replica.dropout1 = twin(self.dropout1, GivenDropout)
            replica.dropout2 = twin(self.dropout2, GivenDropout)
            replica._share_params()
            replicas.append(replica)
        self._replicas = (replicas[0], replicas[1])
        return self._replicas


class GivenDropout(Dropout):
    """A Dropout that multiplies by the training scale (keep / (1 - rate)) its caller gives it, `given`: a
    slice of a draw made for a larger batch, or None for none (the identity). Its own rate plays no part;
    backward is the readable layer's."""

    given: np.ndarray | None = None

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """x (B, ...) -> x * given in training (given not None), else x."""
        self._scale = self.given if training else None
        return x if self._scale is None else x * self._scale


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


def _halves_of(x: np.ndarray | None, batch: int) -> tuple[Any, Any]:
    """x's rows [0, batch // 2) and [batch // 2, batch) (None: None twice)."""
    if x is None:
        return None, None
    return x[: batch // 2], x[batch // 2 :]


def _replica_of(layer: Layer) -> Any:
    """A deep copy of `layer` but for its parameters (the same dictionary and arrays) and kept buffers
    (a fresh, empty dictionary): its own gradient arrays, caches and sublayers."""
    memo: dict[int, Any] = {id(layer.params): layer.params}
    memo.update({id(param): param for param in layer.params.values()})
    if "_buffers" in layer.__dict__:
        memo[id(layer.__dict__["_buffers"])] = {}
    return copy.deepcopy(layer, memo)
