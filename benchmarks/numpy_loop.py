"""NumPy as first written: the seed model's training loop with `E[x].mean(1)`, a 2-D `np.add.at` row
scatter and Adam with temporaries — the "numpy-naive" peer, to show what npnet's fused path saves.

The numerics follow Keras (BCE on probabilities clipped at 1e-7, Keras 2 Adam with decay); this loop is not
a library API and is not tested for Keras parity — the model is.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.workload import Workload

HIDDEN = 16
LEARNING_RATE, DECAY, BETA_1, BETA_2, EPSILON = 1e-3, 1e-5, 0.9, 0.999, 1e-7
CLIP = 1e-7


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int, dtype: np.dtype) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


class NaiveTrainer:
    """Trains the seed model one epoch at a time; `epoch()` returns (train seconds, validation seconds)."""

    def __init__(self, data: Workload, embedding_dim: int = 16, seed: int = 0) -> None:
        self.data = data
        self.dtype = np.dtype(np.float32)
        self.rng = np.random.default_rng(seed)
        self.params = [
            self.rng.uniform(-0.05, 0.05, (data.vocab_size, embedding_dim)).astype(self.dtype),
            _glorot(self.rng, embedding_dim, HIDDEN, self.dtype),
            np.zeros(HIDDEN, self.dtype),
            _glorot(self.rng, HIDDEN, 1, self.dtype),
            np.zeros(1, self.dtype),
        ]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.iterations = 0
        self.setup_seconds = 0.0

    def _pool(self, ids: np.ndarray) -> np.ndarray:
        return self.params[0][ids].mean(axis=1)

    def _pool_backward(self, ids: np.ndarray, grad: np.ndarray) -> np.ndarray:
        dE = np.zeros_like(self.params[0])
        per_position = np.broadcast_to((grad / ids.shape[1])[:, None, :], (*ids.shape, grad.shape[1]))
        np.add.at(dE, ids, per_position)
        return dE

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

    def _step(self, idx: np.ndarray) -> float:
        ids, y = self.data.x_train[idx], self.data.y_train[idx]
        pooled = self._pool(ids)
        hidden, p = self._head(pooled)
        loss, _ = self._loss(p, y)
        dense_grads, dpooled = self._head_backward(pooled, hidden, p, y)
        self.adam([self._pool_backward(ids, dpooled), *dense_grads])
        return loss

    def adam(self, grads: list[np.ndarray]) -> None:
        """Keras 2's Adam with decay, as plain expressions (a temporary per operator)."""
        it = self.iterations
        t = it + 1
        lr_t = LEARNING_RATE / (1 + DECAY * it) * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        for k, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            self.m[k] = BETA_1 * self.m[k] + (1 - BETA_1) * g
            self.v[k] = BETA_2 * self.v[k] + (1 - BETA_2) * g * g
            p -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + EPSILON)
        self.iterations += 1

    def epoch(self) -> tuple[float, float]:
        size = self.data.batch_size
        start = time.perf_counter()
        order = self.rng.permutation(len(self.data.x_train))
        for first in range(0, order.size, size):
            self._step(order[first : first + size])
        middle = time.perf_counter()
        n_val = len(self.data.x_val)
        for first in range(0, n_val, size):
            _, p = self._head(self._pool(self.data.x_val[first : first + size]))
            self._loss(p, self.data.y_val[first : first + size])
        return middle - start, time.perf_counter() - middle
