"""MultiHeadAttention: scaled dot-product attention over several heads, with Keras's masks.

Derived in docs/derivations/attention.md.

Shapes throughout: B batch, T query steps, S key/value steps, D query features, H heads, K `key_dim` (per
head), V `value_dim` (per head), O output features (D unless `output_shape`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npnet import initializers, validation
from npnet.layers.activations import softmax_backward
from npnet.layers.base import Layer, Shape, init_rng
from npnet.layers.core import Dropout

# The projections, by Keras's sublayer names: "query", "key", "value" map (.., D) inputs to (.., H, width);
# "attention_output" maps (.., H, V) back to (.., O).
_PROJECTIONS = ("query", "key", "value")


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """softmax over the last axis of `scores` (B, H, T, S), over the keys `mask` (broadcastable to scores,
    True = attend) allows; a row that allows no key (a fully masked query row) is all zeros.

    This is Keras 3.15.1's explicit path: it puts -1e9 in place of the masked logits, takes the softmax and
    zeroes the masked positions. exp(-1e9 - max) is exactly 0 in float32 and float64, so on every row with
    at least one allowed key both give exp(s - max) / sum over the allowed keys; a fully masked row is
    uniform before Keras's zeroing and zero after it, as here. (Keras's fused JAX path instead leaves such a
    row uniform, an average of the values: the one place the two Keras paths differ.)"""
    # One (B, H, T, S) array, worked on in place: at the example's size it is 10 MB, and every fresh
    # array of that size costs its page faults again.
    if mask is None:
        e = scores - np.max(scores, axis=-1, keepdims=True)
    else:
        mask = np.broadcast_to(mask, scores.shape)
        top = np.max(scores, axis=-1, keepdims=True, where=mask, initial=-np.inf)
        top[~np.isfinite(top)] = 0  # a fully masked row: any finite shift (every term is 0)
        e = np.where(mask, scores - top, -np.inf)  # masked keys: exp(-inf) = 0, never inf * 0
    np.exp(e, out=e)
    total = np.sum(e, axis=-1, keepdims=True)
    total[total == 0] = 1  # fully masked rows stay all zero
    e /= total
    return e


def combined_mask(
    batch: int,
    query_steps: int,
    value_steps: int,
    query_mask: np.ndarray | None = None,
    value_mask: np.ndarray | None = None,
    key_mask: np.ndarray | None = None,
    explicit: np.ndarray | None = None,
    causal: bool = False,
) -> np.ndarray | None:
    """The (B, T, S) bool mask of which key each query may attend to, Keras's way: the query mask (B, T) as
    (B, T, 1), the value and key masks (B, S) as (B, 1, S), the causal lower triangle (T, S) (query t sees
    keys s <= t) and an explicit `attention_mask` ((B, T, S) or (T, S)), ANDed; None when there is none."""
    parts: list[np.ndarray] = []
    for name, m, shape, expand in (
        ("query_mask", query_mask, (batch, query_steps), (slice(None), slice(None), None)),
        ("value_mask", value_mask, (batch, value_steps), (slice(None), None, slice(None))),
        ("key_mask", key_mask, (batch, value_steps), (slice(None), None, slice(None))),
    ):
        if m is not None:
            m = np.asarray(m)
            if m.shape != shape:
                raise ValueError(f"MultiHeadAttention {name} must have shape {shape}, got {m.shape}")
            parts.append(m.astype(bool)[expand])
    if causal:
        parts.append(np.tri(query_steps, value_steps, dtype=bool)[None])
    if explicit is not None:
        explicit = np.asarray(explicit)
        if explicit.shape not in ((batch, query_steps, value_steps), (query_steps, value_steps)):
            raise ValueError(
                f"MultiHeadAttention attention_mask must have shape {(batch, query_steps, value_steps)} "
                f"(batch, query steps, key steps) or {(query_steps, value_steps)}, got {explicit.shape}"
            )
        parts.append(explicit.astype(bool))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return np.broadcast_to(combined, (batch, query_steps, value_steps))


class MultiHeadAttention(Layer):
    """`MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
    output_shape=None)`, Keras 3.15.1's semantics, for (B, T, D) queries and (B, S, D') values (and keys).

    Weights (Keras's names, shapes and order): "query/kernel" (D, H, K), "query/bias" (H, K), "key/kernel"
    (D', H, K), "key/bias" (H, K), "value/kernel" (D', H, V), "value/bias" (H, V), "attention_output/kernel"
    (H, V, O), "attention_output/bias" (O,); kernels Glorot-uniform with Keras 3.15's fans (the input axis
    in, the head and width axes out), biases zero. `key_dim` is the width *per head*, not D / H.

    The computation, per batch row and head h, with q, k, v the projections (x @ kernel + bias):
    scores = (q / sqrt(K)) k^T (T, S) -- the query is scaled before the product, as Keras's explicit path;
    P = softmax over the keys (masked: `masked_softmax`); P' = dropout(P) (noise from `noise_rng`, as
    `Dropout`); context = P' v (T, V); output = sum over heads of context_h @ out_kernel_h + out_bias.
    Every product runs over all batch rows and heads at once (batched matmul): no loop over heads or steps.

    In a Sequential the layer is self-attention (query = value = key = its input), and the input's mask
    (B, T) is both the query mask and the value mask, as Keras fills them when the layer is called on a
    masked tensor: query t attends to key s only where both are real. `use_causal_mask` (a constructor
    argument here, since a Sequential passes no call arguments; Keras takes it at call time, `call` does
    too) ANDs the causal triangle. `call(query, value, key, ...)` is the general form (cross-attention,
    explicit masks, `return_attention_scores`). The output keeps the query's mask.

    Fully masked query rows (a padding query under a query mask, or a row with no allowed key) get zero
    attention probabilities, so their context is 0 and their output is the output bias alone, and no
    gradient flows through them: Keras's explicit path, chosen over its fused JAX path's average of the
    values (`masked_softmax`). Every other row equals Keras's on both paths.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple[int] | list[int] | None = None,
        use_causal_mask: bool = False,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        seed: int | None = None,
        name: str | None = None,
        dtype: str | np.dtype | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.num_heads = validation.positive_int(num_heads, "MultiHeadAttention num_heads")
        self.key_dim = validation.positive_int(key_dim, "MultiHeadAttention key_dim")
        self.value_dim = (
            self.key_dim if value_dim is None else validation.positive_int(value_dim, "value_dim")
        )
        if isinstance(output_shape, (tuple, list)):
            if len(output_shape) != 1:
                raise ValueError(
                    f"MultiHeadAttention output_shape must be one size (the output features), got "
                    f"{output_shape!r}"
                )
            output_shape = output_shape[0]
        self.output_features = (
            None if output_shape is None else validation.positive_int(output_shape, "output_shape")
        )
        self.use_bias = bool(use_bias)
        self.use_causal_mask = bool(use_causal_mask)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = validation.layer_seed(seed, "MultiHeadAttention seed")
        # Keras's own sublayer for the probabilities' dropout: the same noise rule as every Dropout.
        self.dropout_layer = Dropout(dropout, seed=seed, name=f"{self.name}_dropout")
        self.dropout = self.dropout_layer.rate
        self.scale = 1 / math.sqrt(self.key_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self.output_features,
            "use_causal_mask": self.use_causal_mask,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        }

    def sublayers(self) -> list[Layer]:
        return [self.dropout_layer]

    def build(
        self,
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        dtype: str | np.dtype | None = None,
        value_shape: Shape | None = None,
        key_shape: Shape | None = None,
    ) -> None:
        """Weights for queries of `input_shape` (B, T, D), values of `value_shape` and keys of `key_shape`
        (default: the query's; self-attention)."""
        value_shape = input_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        for what, shape in (("query", input_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(
                    f"MultiHeadAttention {self.name!r} takes {what} inputs (batch, steps, features) with "
                    f"known features, got shape {shape}"
                )
        super().build(input_shape, rng, dtype)
        rng = init_rng(rng)
        heads = self.num_heads
        features = {"query": input_shape[-1], "key": key_shape[-1], "value": value_shape[-1]}
        widths = {"query": self.key_dim, "key": self.key_dim, "value": self.value_dim}
        out = self.output_features if self.output_features is not None else input_shape[-1]
        assert out is not None
        for part in _PROJECTIONS:
            fan_in, width = features[part], widths[part]
            assert fan_in is not None
            # Drawn as the (fan_in, H * width) matrix it acts as: Keras 3.15's fans for this kernel.
            kernel = self.kernel_initializer((fan_in, heads * width), rng, self.dtype)
            self.add_param(f"{part}/kernel", kernel.reshape(fan_in, heads, width))
            if self.use_bias:
                self.add_param(f"{part}/bias", self.bias_initializer((heads, width), rng, self.dtype))
        kernel = self.kernel_initializer((heads * self.value_dim, out), rng, self.dtype)
        self.add_param("attention_output/kernel", kernel.reshape(heads, self.value_dim, out))
        if self.use_bias:
            self.add_param("attention_output/bias", self.bias_initializer((out,), rng, self.dtype))
        self.dropout_layer.build(input_shape, rng, self.dtype)

    # ---- forward -------------------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, training: bool = False) -> np.ndarray:
        """Self-attention: x (B, T, D) -> (B, T, O); `mask` (B, T) is the query and the value mask."""
        out = self.call(x, query_mask=mask, value_mask=mask, training=training)
        assert isinstance(out, np.ndarray)
        return out

    def call(
        self,
        query: np.ndarray,
        value: np.ndarray | None = None,
        key: np.ndarray | None = None,
        *,
        query_mask: np.ndarray | None = None,
        value_mask: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
        attention_mask: np.ndarray | None = None,
        use_causal_mask: bool | None = None,
        return_attention_scores: bool = False,
        training: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Keras's call: query (B, T, D), value (B, S, D'), key (B, S, D'') (default: value; value defaults
        to query) -> output (B, T, O), and with `return_attention_scores` also the probabilities
        (B, H, T, S) before dropout. Masks as `combined_mask` combines them;
        `use_causal_mask` None takes the constructor's. `backward` then returns dL/dquery + dL/dvalue +
        dL/dkey (self-attention's input gradient); `backward_inputs` returns the three apart."""
        value = query if value is None else value
        key = value if key is None else key
        self._check(query, value, key)
        batch, query_steps, value_steps = query.shape[0], query.shape[1], value.shape[1]
        causal = self.use_causal_mask if use_causal_mask is None else use_causal_mask
        mask = combined_mask(
            batch, query_steps, value_steps, query_mask, value_mask, key_mask, attention_mask, causal
        )
        self._inputs = {"query": query, "key": key, "value": value}
        q, k, v = (self._split_heads(self._project(part, self._inputs[part])) for part in _PROJECTIONS)
        context = self._attend(q, k, v, None if mask is None else mask[:, None], training)
        out = self._combine_heads(context)
        return (out, self._probs) if return_attention_scores else out

    def _check(self, query: np.ndarray, value: np.ndarray, key: np.ndarray) -> None:
        for what, x, part in (("query", query, "query"), ("value", value, "value"), ("key", key, "key")):
            features = self.params[f"{part}/kernel"].shape[0]
            if x.ndim != 3 or x.shape[-1] != features:
                raise ValueError(
                    f"MultiHeadAttention {self.name!r} expects {what} of shape (batch, steps, {features}), "
                    f"got shape {x.shape}"
                )
        if value.shape[:2] != key.shape[:2] or value.shape[0] != query.shape[0]:
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: query {query.shape}, value {value.shape} and key "
                f"{key.shape} must share the batch size, and value and key the steps"
            )

    def _project(self, part: str, x: np.ndarray) -> np.ndarray:
        """x (B, L, F) -> x @ kernel + bias (B, L, H, width): one (B*L, F) x (F, H*width) product."""
        kernel = self.params[f"{part}/kernel"]
        features, heads, width = kernel.shape
        y = (x.reshape(-1, features) @ kernel.reshape(features, heads * width)).reshape(
            *x.shape[:2], heads, width
        )
        return y + self.params[f"{part}/bias"] if self.use_bias else y

    @staticmethod
    def _split_heads(x: np.ndarray) -> np.ndarray:
        """(B, L, H, width) -> (B, H, L, width): heads become a batch axis of the products (a view)."""
        return x.transpose(0, 2, 1, 3)

    def _attend(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, training: bool
    ) -> np.ndarray:
        """Scaled dot-product attention of every batch row and head at once: q (B, H, T, K), k (B, H, S, K),
        v (B, H, S, V), mask (B, 1, T, S) or None -> context (B, H, T, V). Caches what backward needs."""
        q_scaled = q * q.dtype.type(self.scale)
        scores = q_scaled @ k.transpose(0, 1, 3, 2)  # (B, H, T, S)
        self._probs = masked_softmax(scores, mask)
        dropped = self.dropout_layer.forward(self._probs, training=training)
        self._q_scaled, self._k, self._v, self._dropped = q_scaled, k, v, dropped
        return dropped @ v

    def _combine_heads(self, context: np.ndarray) -> np.ndarray:
        """context (B, H, T, V) -> output (B, T, O) = sum over heads of context_h @ kernel_h + bias, as one
        (B*T, H*V) x (H*V, O) product."""
        batch, heads, steps, width = context.shape
        self._context = context.transpose(0, 2, 1, 3).reshape(batch * steps, heads * width)  # (B*T, H*V)
        kernel = self.params["attention_output/kernel"]
        out = (self._context @ kernel.reshape(heads * width, -1)).reshape(batch, steps, -1)
        return out + self.params["attention_output/bias"] if self.use_bias else out

    # ---- backward ------------------------------------------------------------------------------------------

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/doutput (B, T, O) -> dL/dinput (B, T, D) of self-attention: the input is the query, the key and
        the value, so its gradient is the sum of the three paths' (the sum at a fork)."""
        d_query, d_value, d_key = self.backward_inputs(grad_out)
        return d_query + d_value + d_key

    def backward_inputs(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dL/doutput (B, T, O) -> (dL/dquery (B, T, D), dL/dvalue (B, S, D'), dL/dkey (B, S, D'')); fills
        every weight's gradient. Each step undoes one step of the forward, in reverse order."""
        d_context = self._combine_heads_backward(grad_out)  # (B, H, T, V)
        d_q, d_k, d_v = self._attend_backward(d_context)  # (B, H, T, K), (B, H, S, K), (B, H, S, V)
        return (
            self._project_backward("query", d_q.transpose(0, 2, 1, 3)),
            self._project_backward("value", d_v.transpose(0, 2, 1, 3)),
            self._project_backward("key", d_k.transpose(0, 2, 1, 3)),
        )

    def _combine_heads_backward(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/doutput (B, T, O) -> dL/dcontext (B, H, T, V); fills the output kernel (H, V, O), bias (O,)."""
        batch, steps, out = grad_out.shape
        kernel = self.params["attention_output/kernel"]
        heads, width, _ = kernel.shape
        g = grad_out.reshape(batch * steps, out)
        self.grads["attention_output/kernel"][...] = (self._context.T @ g).reshape(heads, width, out)
        if self.use_bias:
            self.grads["attention_output/bias"][...] = g.sum(axis=0)
        d_context = (g @ kernel.reshape(heads * width, out).T).reshape(batch, steps, heads, width)
        return d_context.transpose(0, 2, 1, 3)

    def _attend_backward(self, d_context: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dL/dcontext (B, H, T, V) -> (dL/dq (B, H, T, K), dL/dk (B, H, S, K), dL/dv (B, H, S, V)).

        context = P' v: dP' = dcontext v^T (B, H, T, S), dv = P'^T dcontext (B, H, S, V). Dropout:
        dP = dP' * keep / (1 - rate). Softmax (its JVP): dscores = P * (dP - sum_s dP P); masked keys and
        fully masked rows have P = 0, so no gradient reaches them. scores = q_s k^T with q_s = q / sqrt(K):
        dq_s = dscores k (B, H, T, K), dk = dscores^T q_s (B, H, S, K), dq = dq_s / sqrt(K)."""
        d_dropped = d_context @ self._v.transpose(0, 1, 3, 2)
        d_v = self._dropped.transpose(0, 1, 3, 2) @ d_context
        d_probs = self.dropout_layer.backward(d_dropped)
        d_scores = softmax_backward(self._probs, d_probs)
        d_q = (d_scores @ self._k) * d_scores.dtype.type(self.scale)
        d_k = d_scores.transpose(0, 1, 3, 2) @ self._q_scaled
        return d_q, d_k, d_v

    def _project_backward(self, part: str, d_y: np.ndarray) -> np.ndarray:
        """dL/d(projection) (B, L, H, width) -> dL/dx (B, L, F); fills `part`'s kernel (F, H, width) and bias
        (H, width)."""
        x = self._inputs[part]
        kernel = self.params[f"{part}/kernel"]
        features, heads, width = kernel.shape
        g = d_y.reshape(-1, heads * width)
        self.grads[f"{part}/kernel"][...] = (x.reshape(-1, features).T @ g).reshape(kernel.shape)
        if self.use_bias:
            self.grads[f"{part}/bias"][...] = g.sum(axis=0).reshape(heads, width)
        return (g @ kernel.reshape(features, heads * width).T).reshape(x.shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        out = self.output_features if self.output_features is not None else input_shape[-1]
        return (*input_shape[:-1], out)
