"""The recurrent presets beside Keras-JAX: `python -m benchmarks.recurrent --data DIR [--reviews N]`.

For each preset (lstm, bilstm): the reviews as `npnet train --preset P` reads them (num_words 20000, padded
'pre' to the preset's maxlen, batch 32, the test split as validation), optionally cut to the first N of each
split for a short run; then one epoch of npnet (`Sequential.fit`) and of Keras 3 on JAX (the Keras example's
model, `fit`) per round, alternating, each system in its own process (benchmarks.run.race). Then, in this
process, where npnet's time goes in one training step (the profile: the per-step gemms alone against the
whole step, the rest being NumPy's per-call cost of the elementwise cell work and Python), and with
`--rss` the peak RSS of each preset's real `npnet train` (benchmarks.rss, one epoch). Writes
benchmarks/results-recurrent.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.run import ROOT, _run_module, _write_json, paired_ratios, race
from benchmarks.workload import Workload

PRESETS = ("lstm", "bilstm", "cnn-lstm")


def preset_workload(data_dir: Path, preset: str, reviews: int | None) -> Workload:
    from npnet import runs

    config = runs.preset_config(preset)
    data = runs.load_imdb(config, data_dir)
    n = reviews or len(data.x_train)
    description = (
        f"real IMDB as --preset {preset}: {n:,} train + {min(n, len(data.x_test)):,} validation reviews, "
        f"num_words {config.num_words}, maxlen {config.maxlen} ('{config.padding}'), "
        f"batch {config.batch_size}"
    )
    return Workload(
        data.x_train[:n].astype(np.int32),
        data.train_labels[:n].astype(np.float32),
        data.x_test[:n].astype(np.int32),
        data.test_labels[:n].astype(np.float32),
        config.num_words,
        config.batch_size,
        description,
    )


def step_profile(preset: str, workload: Workload, repeats: int = 5) -> dict[str, float]:
    """One train_on_batch of the preset's model against its per-step recurrent gemms alone (one BLAS
    thread, as fit runs): what the time loop would cost if NumPy's per-call overhead were zero."""
    from benchmarks.systems import preset_model
    from npnet import layers
    from npnet.fast.threads import blas_threads

    model = preset_model(preset, workload.vocab_size)
    x, y = workload.x_train[: workload.batch_size], workload.y_train[: workload.batch_size]
    recurrent: list[tuple[layers.LSTM, int]] = []  # each LSTM and the time steps it loops over
    shape: tuple[int | None, ...] = (None, workload.length)
    for layer in model.layers:
        recurrent += [
            (part, shape[1]) for part in [layer, *layer.sublayers()] if isinstance(part, layers.LSTM)
        ]
        shape = layer.compute_output_shape(shape)  # cnn-lstm: the LSTM sees the pooled steps
    with blas_threads(1):
        model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(repeats):
            model.train_on_batch(x, y)
        step = (time.perf_counter() - start) / repeats
        gemm = 0.0
        for lstm, steps in recurrent:
            r = lstm.params["recurrent_kernel"]
            h = np.ones((len(x), lstm.units), r.dtype)
            g = np.ones((len(x), r.shape[1]), r.dtype)
            start = time.perf_counter()
            for _ in range(repeats):
                for _t in range(steps):
                    h @ r  # forward: h_{t-1} R
                    g @ r.T  # backward: G_HR R^T
            gemm += (time.perf_counter() - start) / repeats
    return {
        "step_s": step,
        "recurrent_gemms_s": gemm,
        "gemm_share": gemm / step,
        "steps_per_batch": sum(steps for _, steps in recurrent),
        "per_time_step_us": (step - gemm) / sum(steps for _, steps in recurrent) * 1e6,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recurrent", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="npnet data directory (imdb.npz, word index)"
    )
    parser.add_argument("--reviews", type=int, help="use the first N reviews of each split (default: all)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating timed epochs per system (default 3)"
    )
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--no-keras", action="store_true", help="time npnet alone")
    parser.add_argument("--rss", action="store_true", help="also the peak RSS of `npnet train --epochs 1`")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results-recurrent.json")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="npnet-recurrent-") as tmp:
        for preset in args.presets:
            workload = preset_workload(args.data, preset, args.reviews)
            path = Path(tmp) / f"{preset}.npz"
            workload.save(path)
            systems = [f"npnet-{preset}", *([] if args.no_keras else [f"keras-jax-{preset}"])]
            epochs = race({s: (s, path) for s in systems}, args.rounds, 0, blas_threads=None)
            entry = {
                "workload": workload.description,
                "epochs": epochs,
                "ratios": paired_ratios(epochs, f"keras-jax-{preset}") if not args.no_keras else {},
                "profile": step_profile(preset, workload),
            }
            if args.rss:
                rss, error = _run_module(
                    "benchmarks.rss", [str(args.data.resolve()), "1", "--preset", preset], None
                )
                entry["train_rss"] = rss if rss is not None else {"error": error[-500:]}
            results[preset] = entry
            print(json.dumps({preset: _summary(entry)}, indent=1), flush=True)
    _write_json(args.output, results)
    return 0


def _summary(entry: dict) -> dict:
    out = {"workload": entry["workload"], "profile": entry["profile"]}
    for key, value in entry["epochs"].items():
        out[key] = value.get("skipped") or {
            k: value.get(k) for k in ("median_train_s", "median_val_s", "peak_rss_mb")
        }
    out["ratios"] = entry["ratios"]
    if "train_rss" in entry:
        out["train_rss_mb"] = entry["train_rss"].get("peak_rss_mb", entry["train_rss"].get("error"))
    return out


if __name__ == "__main__":
    sys.exit(main())
