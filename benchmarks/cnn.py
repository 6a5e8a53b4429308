"""The imdb_cnn benchmark: `python -m benchmarks.cnn [--data DIR] [--n-train N] [--rounds R] [--out DIR]`.

1. Per-operation timings of the convolution at the model's shape (batch 32, 400 steps, 50 channels, 250
   filters, kernel 3), in this process: the forward as im2col + one gemm (the layer's), as einsum over the
   stride-tricks window view, and as K per-tap gemms; the kernel gradient; the input gradient as the
   readable full correlation and as the layer's col2im; the max pooling; Conv1D(relu) -> GlobalMaxPooling1D
   readable and as fit's FusedConvMaxPool (forward, backward, backward with padding ties). Beside them the
   machine's measured sgemm rate at the conv's own gemm shape, and the rate each conv variant achieves (its
   FLOPs / its time).
2. Epochs (training + validation) of npnet's and Keras-JAX's imdb_cnn, each in its own worker process
   (benchmarks.worker), in alternating rounds (benchmarks.run.race), with each worker's peak RSS.
Writes cnn.json to --out and prints a markdown summary (for benchmarks/HISTORY.md, "cnn").
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.run import DEFAULT_OUT, paired_ratios, race
from benchmarks.systems import CNN_SYSTEMS
from benchmarks.workload import Workload, synthetic
from npnet.atomic import atomic_write
from npnet.fast.conv import input_grad_col2im
from npnet.fast.conv_max_pool import FusedConvMaxPool
from npnet.fast.threads import blas_threads
from npnet.layers import Conv1D, GlobalMaxPooling1D
from npnet.layers.convolutional import im2col, input_grad_full_correlation
from npnet.layers.windows import windows

BATCH, LENGTH, CHANNELS, FILTERS, KERNEL, VOCAB = 32, 400, 50, 250, 3, 5000


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def forward_per_tap(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The forward as K gemms (B*T', C) x (C, F), one per tap, summed: no window matrix."""
    count = x.shape[1] - kernel.shape[0] + 1
    out = x[:, :count] @ kernel[0]
    for j in range(1, kernel.shape[0]):
        out += x[:, j : j + count] @ kernel[j]
    return out


def forward_einsum(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The forward as one einsum over the stride-tricks window view (no explicit copy)."""
    count = x.shape[1] - kernel.shape[0] + 1
    return np.einsum("btkc,kcf->btf", windows(x, kernel.shape[0], 1, 1, count), kernel, optimize=True)


def forward_im2col(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The layer's forward: the window matrix (B*T', K*C), copied once, times the kernel (K*C, F)."""
    count = x.shape[1] - kernel.shape[0] + 1
    cols = im2col(x, kernel.shape[0], 1, 1, count)
    return (cols @ kernel.reshape(-1, kernel.shape[2])).reshape(x.shape[0], count, -1)


def operations(repeats: int, seed: int = 0) -> dict[str, float]:
    """Median milliseconds per operation (float32, the model's shapes) and GFLOP/s rates."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, LENGTH, CHANNELS), dtype=np.float32)
    kernel = rng.standard_normal((KERNEL, CHANNELS, FILTERS), dtype=np.float32)
    count = LENGTH - KERNEL + 1
    g = rng.standard_normal((BATCH, count, FILTERS), dtype=np.float32)
    cols = im2col(x, KERNEL, 1, 1, count)
    w2 = kernel.reshape(-1, FILTERS)
    flops = 2.0 * BATCH * count * KERNEL * CHANNELS * FILTERS  # one conv (forward, dW or dX): ~0.95 GFLOP
    ms = {
        "forward: im2col + 1 gemm (the layer's)": _median_ms(lambda: forward_im2col(x, kernel), repeats),
        "forward: einsum over the window view": _median_ms(lambda: forward_einsum(x, kernel), repeats),
        "forward: K per-tap gemms": _median_ms(lambda: forward_per_tap(x, kernel), repeats),
        "forward: the im2col copy alone": _median_ms(lambda: im2col(x, KERNEL, 1, 1, count), repeats),
        "dW = colsᵀ G (1 gemm)": _median_ms(lambda: cols.T @ g.reshape(-1, FILTERS), repeats),
        # The same product transposed: BLAS parallelizes the other way, which load hits differently.
        "dW = (Gᵀ cols)ᵀ (1 gemm)": _median_ms(lambda: (g.reshape(-1, FILTERS).T @ cols).T, repeats),
        "dX: full correlation, flipped kernel (readable)": _median_ms(
            lambda: input_grad_full_correlation(g, kernel, LENGTH, 1, 1), repeats
        ),
        "dX: col2im, 1 gemm + K shifted adds (the layer's)": _median_ms(
            lambda: input_grad_col2im(g, kernel, LENGTH, 1, 1), repeats
        ),
    }
    pool = GlobalMaxPooling1D()
    y = np.maximum(g, 0)
    ms["GlobalMaxPooling1D forward"] = _median_ms(lambda: pool.forward(y), repeats)
    ms["GlobalMaxPooling1D backward"] = _median_ms(lambda: pool.backward(g[:, 0]), repeats)
    ms.update(conv_max_pool_operations(x, kernel, g[:, 0], repeats))
    gemm_ms = _median_ms(lambda: cols @ w2, repeats)
    rates = {"machine sgemm (B*T', K*C) x (K*C, F), GFLOP/s": flops / gemm_ms / 1e6}
    for name in (
        "forward: im2col + 1 gemm (the layer's)",
        "dX: col2im, 1 gemm + K shifted adds (the layer's)",
    ):
        rates[f"{name}, GFLOP/s"] = flops / ms[name] / 1e6
    rates["dW = colsᵀ G (1 gemm), GFLOP/s"] = flops / ms["dW = colsᵀ G (1 gemm)"] / 1e6
    return {**{f"{k} (ms)": v for k, v in ms.items()}, **rates}


def conv_max_pool_operations(
    x: np.ndarray, kernel: np.ndarray, g: np.ndarray, repeats: int
) -> dict[str, float]:
    """Median ms of Conv1D(relu) -> GlobalMaxPooling1D, readable (the layers) and fused (FusedConvMaxPool,
    what fit runs), forward (training) and backward; and the fused backward when the input starts with
    100 identical steps (zero padding without dropout: exact ties in many filters' maxima). On one BLAS
    thread, as fit runs them (`npnet.fast.plan`)."""
    with blas_threads(1):
        return _conv_max_pool_ms(x, kernel, g, repeats)


def _conv_max_pool_ms(x: np.ndarray, kernel: np.ndarray, g: np.ndarray, repeats: int) -> dict[str, float]:
    conv = Conv1D(kernel.shape[2], kernel.shape[0], activation="relu")
    conv.build((None, *x.shape[1:]), dtype=x.dtype)
    conv.params["kernel"][...] = kernel / np.sqrt(kernel.shape[0] * kernel.shape[1])  # glorot-sized values
    pool = GlobalMaxPooling1D()
    fused = FusedConvMaxPool(conv, pool)
    ms = {
        "1 thread: Conv1D(relu) -> GlobalMaxPooling1D forward (readable)": _median_ms(
            lambda: pool.forward(conv.forward(x, training=True)), repeats
        ),
        "1 thread: Conv1D(relu) -> GlobalMaxPooling1D backward (readable)": _median_ms(
            lambda: conv.backward(pool.backward(g)), repeats
        ),
        "1 thread: FusedConvMaxPool forward (fit's)": _median_ms(
            lambda: fused.forward(x, training=True), repeats
        ),
        "1 thread: FusedConvMaxPool backward (fit's)": _median_ms(lambda: fused.backward(g), repeats),
    }
    padded = x.copy()
    padded[:, :100] = x[:1, :1]
    fused.forward(padded, training=True)
    ms["1 thread: FusedConvMaxPool backward, 100 identical padding steps"] = _median_ms(
        lambda: fused.backward(g), repeats
    )
    return ms


def workload(data: Path | None, n_train: int, n_val: int) -> Workload:
    """The example's data (num_words 5000, maxlen 400, padding 'pre', batch 32): the real reviews from an
    npnet data dir, or the synthetic IMDB-like workload at those sizes."""
    if data is None:
        return synthetic(n_train, n_val, LENGTH, VOCAB, BATCH)
    from npnet.datasets import imdb

    (x_train, y_train), (x_val, y_val) = imdb.load_padded(LENGTH, data / "imdb.npz", num_words=VOCAB)
    description = (
        f"npnet data dir {data}: first {n_train:,} train + {n_val:,} test reviews, length {LENGTH} "
        f"(padding pre), vocab {VOCAB:,}, batch {BATCH}"
    )
    return Workload(
        x_train[:n_train], y_train[:n_train].astype(np.float32),
        x_val[:n_val], y_val[:n_val].astype(np.float32), VOCAB, BATCH, description,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cnn", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an npnet data dir (default: the synthetic workload)")
    parser.add_argument(
        "--n-train", type=int, default=25_000, help="training reviews per epoch (default all)"
    )
    parser.add_argument("--n-val", type=int, default=25_000, help="validation reviews (default all)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating epoch rounds (default 3)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats per operation timing (default 7)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    load = os.getloadavg()
    ops = operations(args.repeats, args.seed)
    data = workload(args.data, args.n_train, args.n_val)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cnn.npz"
        data.save(path)
        epochs = race({name: (name, path) for name in CNN_SYSTEMS}, args.rounds, args.seed, None)
    result = {
        "workload": data.description,
        "load_before": load,
        "load_after": os.getloadavg(),
        "operations": ops,
        "epochs": epochs,
        "ratios_to_npnet": paired_ratios(epochs, "npnet-cnn"),
        "seconds": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "cnn.json", lambda f: f.write(json.dumps(result, indent=2).encode()))
    print(summary(result))
    return 0


def summary(result: dict) -> str:
    lines = [f"Workload: {result['workload']}; load {result['load_before']} -> {result['load_after']}", ""]
    lines += ["| operation | value |", "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in result["operations"].items()]
    lines += ["", "| system | median epoch s (train + val) | peak RSS MB | rounds |", "|---|---|---|---|"]
    for name, r in result["epochs"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | |")
            continue
        lines.append(
            f"| {name} | {r['median_total_s']:.1f} ({r['median_train_s']:.1f} + {r['median_val_s']:.1f}) | "
            f"{r.get('peak_rss_mb', float('nan')):.0f} | {len(r['total_s'])} |"
        )
    for name, ratio in result["ratios_to_npnet"].items():
        lines.append(
            f"\n{name} / npnet-cnn epoch time: median {ratio['median']:.2f} "
            f"({ratio['min']:.2f}-{ratio['max']:.2f})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
