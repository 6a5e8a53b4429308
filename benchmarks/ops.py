"""Per-operation timings on one batch of the workload, the unavoidable-work bound, and the head/tail sweep.

Every timing is the median of `repeats` runs over different random batches. The harness runs this module
in a process of its own (`python -m benchmarks.ops WORKLOAD.npz REPEATS`), with the workers' thread
settings, before any worker starts.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.numpy_loop import NaiveTrainer
from benchmarks.systems import seed_model
from benchmarks.worker import say
from benchmarks.workload import Workload
from npnet.fast.embedding_pool import DEFAULT_DENSE_MIN_DF, BagOfWords, backward, forward
from npnet.fast.fused_layer import FusedEmbeddingPool
from npnet.fast.threads import blas_threads
from npnet.layers.base import backward_through, forward_through
from npnet.plan import make_plan


def _median_ms(run: Callable[[int], object], repeats: int) -> float:
    """Median wall time of run(k) for k = 0..repeats-1, in milliseconds (one untimed warm-up first)."""
    run(0)
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        run(k)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _distinct_pairs(ids: np.ndarray) -> np.ndarray:
    """The distinct ids of each review, concatenated review by review."""
    ordered = np.sort(ids, axis=1)
    first = np.ones(ordered.shape, dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=first[:, 1:])
    return ordered[first].astype(np.intp)


def unavoidable_work(data: Workload, embedding_dim: int, repeats: int) -> dict:
    """The lower bound the speed target compares npnet to: touch each distinct (review, id) pair once
    forward, once backward, once more for
    validation.

    'Touch' = gather that pair's embedding row (embedding_dim floats) into a preallocated buffer with
    np.take, batch by batch (so the buffer stays in cache, as in training). Any implementation must at least
    read each distinct pair's row (or write its gradient) once per pass.
    """
    rng = np.random.default_rng(0)
    E = rng.uniform(-0.05, 0.05, (data.vocab_size, embedding_dim)).astype(np.float32)
    size = data.batch_size

    def pass_over(ids: np.ndarray) -> tuple[float, int]:
        """(median seconds, pairs) of one pass over ids."""
        chunks = [_distinct_pairs(ids[s : s + size]) for s in range(0, len(ids), size)]
        buffer = np.empty((max(c.size for c in chunks), embedding_dim), dtype=np.float32)

        def run(_: int) -> None:
            for chunk in chunks:
                np.take(E, chunk, axis=0, out=buffer[: chunk.size])

        return _median_ms(run, repeats) / 1e3, sum(c.size for c in chunks)

    (train_s, train_pairs), (val_s, val_pairs) = pass_over(data.x_train), pass_over(data.x_val)
    return {
        "train_pairs": train_pairs,
        "val_pairs": val_pairs,
        "train_pass_s": train_s,
        "val_pass_s": val_s,
        "bound_s": 2 * train_s + val_s,
    }


def copy_bandwidth_gbs(megabytes: int = 256) -> float:
    """Large-array copy bandwidth (read + write counted), for context."""
    src = np.ones(megabytes * 2**20 // 8)
    dst = np.empty_like(src)
    ms = _median_ms(lambda _: np.copyto(dst, src), 5)
    return 2 * src.nbytes / (ms / 1e3) / 1e9


def operation_timings(data: Workload, repeats: int) -> dict[str, float]:
    """Milliseconds per batch for each operation of a training step: npnet's (as fit runs them) and naive."""
    model, naive = seed_model(data.vocab_size), NaiveTrainer(data)
    rng = np.random.default_rng(1)
    size = min(data.batch_size, len(data.x_train))
    batches = [rng.choice(len(data.x_train), size, replace=False) for _ in range(repeats)]
    embedding = model.layers[0]
    E, dE = embedding.params["embeddings"], embedding.grads["embeddings"]
    grad = rng.normal(size=(size, E.shape[1])).astype(np.float32)
    fused = FusedEmbeddingPool(embedding)  # one thread: each operation alone, as fit runs it on one core
    source = fused.batches(data.x_train)
    readable_pair, dense_layers = model.layers[:2], model.layers[2:]
    taken = [source.cut(idx) for idx in batches]
    ids = [data.x_train[idx] for idx in batches]
    y_all = model._prepare_y(data.y_train, len(data.y_train))
    pooled, y = forward(taken[0], E), y_all[batches[0]]
    p = forward_through(dense_layers, pooled, training=True)
    dp = model.loss.gradient(y, p)
    params = model._params()
    grads = [np.full_like(q, 1e-3) for q in params]
    forward_through(readable_pair, ids[0], training=True)  # the caches the readable backward reads

    plan = make_plan(model, model.optimizer)  # fit's own plan: its fused layer, threads and step
    plan_source = plan.batches(data.x_train)

    def fit_step(k: int) -> None:
        model._train_step(plan, plan_source.cut(batches[k]), y_all[batches[k]], where="ops")

    ms = {
        "embedding+pooling forward, naive E[x].mean(1)": _median_ms(
            lambda k: E[ids[k]].mean(axis=1), repeats
        ),
        "embedding+pooling forward, readable layers": _median_ms(
            lambda k: forward_through(readable_pair, ids[k], training=True), repeats
        ),
        "embedding+pooling batch take, fast": _median_ms(lambda k: source.cut(batches[k]), repeats),
        "embedding+pooling forward, fast": _median_ms(lambda k: forward(taken[k], E), repeats),
        "embedding+pooling backward, readable layers np.add.at 2-D": _median_ms(
            lambda _: backward_through(readable_pair, grad), max(2, repeats // 4)
        ),
        "embedding+pooling backward, fast": _median_ms(lambda k: backward(taken[k], grad, out=dE), repeats),
        "dense layers forward": _median_ms(
            lambda _: forward_through(dense_layers, pooled, training=True), repeats
        ),
        "dense layers backward": _median_ms(lambda _: backward_through(dense_layers, dp), repeats),
        "loss (BCE) + accuracy + loss gradient": _median_ms(
            lambda _: (model.loss(y, p), model.metrics[0](y, p), model.loss.gradient(y, p)), repeats
        ),
        "Adam, plain formula (all weights)": _median_ms(lambda _: naive.adam(grads), repeats),
        "Adam, npnet optimizer (all weights)": _median_ms(
            lambda _: model.optimizer.apply_gradients(zip(grads, params, strict=True)), repeats
        ),
        "whole fit step, npnet (take .. Adam)": _median_ms(fit_step, repeats),
    }
    fused.close()
    plan.close()
    return ms


def split_sweep(data: Workload, repeats: int, thresholds: tuple[float, ...]) -> list[dict]:
    """Fast kernel cost per batch (take + forward + backward) against the dense/sparse split."""
    rng = np.random.default_rng(2)
    E = rng.uniform(-0.05, 0.05, (data.vocab_size, 16)).astype(np.float32)
    size = min(data.batch_size, len(data.x_train))
    batches = [rng.choice(len(data.x_train), size, replace=False) for _ in range(repeats)]
    grad = rng.normal(size=(size, 16)).astype(np.float32)
    out = np.empty_like(E)
    rows = []
    for threshold in thresholds:
        start = time.perf_counter()
        bag = BagOfWords.from_ids(data.x_train, data.vocab_size, dense_min_df=threshold)
        build_s = time.perf_counter() - start

        def step(k: int, bag: BagOfWords = bag) -> None:
            batch = bag.take(batches[k])
            backward(batch, forward(batch, E) + grad, out=out)

        rows.append(
            {
                "dense_min_df": threshold,
                "default": threshold == DEFAULT_DENSE_MIN_DF,
                "dense_ids": int(bag.head_ids.size),
                "tail_tokens_per_batch": float(bag.tail_ids.size / len(bag) * size),
                "precompute_s": build_s,
                "step_ms": _median_ms(step, repeats),
            }
        )
    return rows


SPLIT_THRESHOLDS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 2.0)


def main(argv: list[str]) -> int:
    data, repeats = Workload.load(Path(argv[0])), int(argv[1])
    small = len(data.x_train) < 10_000
    with blas_threads(1):  # as npnet trains (npnet.fast.threads); no naive operation here calls BLAS
        say(
            {
                "bound": unavoidable_work(data, 16, repeats),
                "copy_bandwidth_gbs": copy_bandwidth_gbs(32 if small else 256),
                "operations_ms": operation_timings(data, repeats),
                "split_sweep": split_sweep(data, repeats, SPLIT_THRESHOLDS),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
