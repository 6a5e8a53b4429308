"""A minimal hand-written NumPy training loop of the seed model — FOR MEASUREMENT ONLY.

Two variants share every line except the Embedding + GlobalAveragePooling1D pair:

- "fast": `npnet.fast` kernels (per-dataset `BagOfWords`, batch `take`, fused forward/backward), the
  in-place `adam_update_`, BLAS on one thread (`blas_threads`). It stands in for `npnet.Sequential`
  until the model lands (see `benchmarks.systems.npnet_trainer`, the one place to switch).
- "naive": NumPy as first written: `E[x].mean(1)`, a 2-D `np.add.at` row scatter, Adam with temporaries.

The numerics follow Keras (BCE on probabilities clipped at 1e-7, Keras 2 Adam with decay); this loop is not
a library API and is not tested for Keras parity — the model is.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.workload import Workload
from npnet.fast import BagOfWords, adam_update_, backward, blas_threads, forward

HIDDEN = 16
LEARNING_RATE, DECAY, BETA_1, BETA_2, EPSILON = 1e-3, 1e-5, 0.9, 0.999, 1e-7
CLIP = 1e-7


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


class NumpyTrainer:
    """Trains the seed model one epoch at a time; `epoch()` returns (train seconds, validation seconds)."""

    def __init__(self, data: Workload, variant: str, embedding_dim: int = 16, seed: int = 0) -> None:
        if variant not in ("fast", "naive"):
            raise ValueError(f"unknown variant {variant!r}: use 'fast' or 'naive'")
        self.data, self.variant = data, variant
        self.dtype = np.dtype(np.float32)
        self.rng = np.random.default_rng(seed)
        vocab = data.vocab_size
        self.params = [
            self.rng.uniform(-0.05, 0.05, (vocab, embedding_dim)).astype(self.dtype),
            _glorot(self.rng, embedding_dim, HIDDEN, self.dtype),
            np.zeros(HIDDEN, self.dtype),
            _glorot(self.rng, HIDDEN, 1, self.dtype),
            np.zeros(1, self.dtype),
        ]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.iterations = 0
        self.setup_seconds = 0.0
        if variant == "fast":
            start = time.perf_counter()
            self.train_bag = BagOfWords.from_ids(data.x_train, vocab)
            self.val_bag = BagOfWords.from_ids(data.x_val, vocab)
            self.dE = np.empty_like(self.params[0])
            self.setup_seconds = time.perf_counter() - start

    # -- Embedding + GlobalAveragePooling1D: the only part where the variants differ -------------------
    def _pool(self, train: bool, idx: np.ndarray) -> tuple[np.ndarray, object]:
        E = self.params[0]
        if self.variant == "fast":
            bag = self.train_bag if train else self.val_bag
            batch = bag.take(idx, dtype=self.dtype) if train else bag.slice(idx[0], idx[-1] + 1, self.dtype)
            return forward(batch, E), batch
        ids = (self.data.x_train if train else self.data.x_val)[idx]
        return E[ids].mean(axis=1), ids

    def _pool_backward(self, cache: object, grad: np.ndarray) -> np.ndarray:
        if self.variant == "fast":
            return backward(cache, grad, out=self.dE)
        ids = cache
        dE = np.zeros_like(self.params[0])
        per_position = np.broadcast_to((grad / ids.shape[1])[:, None, :], (*ids.shape, grad.shape[1]))
        np.add.at(dE, ids, per_position)
        return dE

    # -- the rest of the model, written once ----------------------------------------------------------
    def _head(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, W1, b1, W2, b2 = self.params
        hidden = np.maximum(pooled @ W1 + b1, 0)
        z = hidden @ W2 + b2
        return hidden, 0.5 * (1 + np.tanh(0.5 * z))  # sigmoid without overflow

    def _loss(self, p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        q = np.clip(p[:, 0], CLIP, 1 - CLIP)
        loss = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
        return float(loss), float(np.mean((p[:, 0] > 0.5) == (y == 1)))

    def _head_backward(
        self, pooled: np.ndarray, hidden: np.ndarray, p: np.ndarray, y: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Gradients of W1, b1, W2, b2 and of the pooled input, for the mean clipped BCE."""
        _, W1, _, W2, _ = self.params
        # d loss / d z for sigmoid + clipped BCE: (p - y)/B where p was not clipped, else 0.
        q = p[:, 0]
        dz = np.where((q > CLIP) & (q < 1 - CLIP), (q - y) / len(y), 0).astype(self.dtype)[:, None]
        dh = (dz @ W2.T) * (hidden > 0)
        return [pooled.T @ dh, dh.sum(axis=0), hidden.T @ dz, dz.sum(axis=0)], dh @ W1.T

    def _head_inputs(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """pooled, hidden, p for training batch idx (the per-operation timings start from these)."""
        pooled, _ = self._pool(True, idx)
        return (pooled, *self._head(pooled))

    def _step(self, idx: np.ndarray) -> float:
        y = self.data.y_train[idx]
        pooled, cache = self._pool(True, idx)
        hidden, p = self._head(pooled)
        loss, _ = self._loss(p, y)
        dense_grads, dpooled = self._head_backward(pooled, hidden, p, y)
        self._adam([self._pool_backward(cache, dpooled), *dense_grads])
        return loss

    def _adam(self, grads: list[np.ndarray]) -> None:
        it = self.iterations
        t = it + 1
        lr_t = LEARNING_RATE / (1 + DECAY * it) * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        for k, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if self.variant == "fast":
                adam_update_(
                    p, g, self.m[k], self.v[k], None, lr_t, BETA_1, BETA_2, EPSILON, False, self.scratch[k]
                )
            else:
                self.m[k] = BETA_1 * self.m[k] + (1 - BETA_1) * g
                self.v[k] = BETA_2 * self.v[k] + (1 - BETA_2) * g * g
                p -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + EPSILON)
        self.iterations += 1

    def epoch(self) -> tuple[float, float]:
        # npnet runs its small gemms on one BLAS thread (see npnet.fast.threads); the naive loop has none.
        with blas_threads(1 if self.variant == "fast" else None):
            return self._epoch()

    def _epoch(self) -> tuple[float, float]:
        size = self.data.batch_size
        start = time.perf_counter()
        order = self.rng.permutation(len(self.data.x_train))
        for first in range(0, order.size, size):
            self._step(order[first : first + size])
        middle = time.perf_counter()
        n_val = len(self.data.x_val)
        for first in range(0, n_val, size):
            idx = np.arange(first, min(first + size, n_val))
            _, p = self._head(self._pool(False, idx)[0])
            self._loss(p, self.data.y_val[idx])
        return middle - start, time.perf_counter() - middle
