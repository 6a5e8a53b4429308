"""The transformer preset beside Keras-JAX: `python -m benchmarks.transformer --data DIR [--reviews N]`.

The reviews as `npnet train --preset transformer` reads them (num_words 20000, padded 'pre' to maxlen 200,
batch 32, the test split as validation), optionally cut to the first N of each split; then one epoch of npnet
(`Sequential.fit`, the fast plan) and of Keras 3 on JAX (the Keras example's model, `fit`) per round,
alternating, each system in its own process (benchmarks.run.race), with the machine's load average beside
each round's times. Then, in this process, where npnet's training step goes (`step_profile`: CPU seconds per
part of one step, from a profile of `fit` on a few batches), the attention's unavoidable work alone
(`attention_floor`), and with `--rss` the peak RSS of the real `npnet train --preset transformer`
(benchmarks.rss, one epoch). Writes benchmarks/results-transformer.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.recurrent import preset_workload
from benchmarks.run import ROOT, _run_module, _write_json, paired_ratios, race
from benchmarks.workload import Workload

PRESET = "transformer"
SYSTEMS = ("npnet-transformer", "keras-jax-transformer")

# The parts of a step, by the functions that compute them (file suffix, function name); a function's time
# includes what it calls, so each names the outermost function of its part.
PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "attention products + softmax (scores, P v and their backward)": (
        ("attention.py", "_attend"),
        ("attention.py", "_attend_backward"),
    ),
    "attention projections (q, k, v, output; forward + backward)": (
        ("attention.py", "_project"),
        ("attention.py", "_project_backward"),
        ("attention.py", "_combine_heads"),
        ("attention.py", "_combine_heads_backward"),
    ),
    "LayerNormalization (forward + backward)": (
        ("normalization.py", "forward"),
        ("normalization.py", "backward"),
    ),
    "token + position embeddings (lookups + scatter-adds)": (
        ("embedding.py", "forward"),  # the two Embedding tables of TokenAndPositionEmbedding
        ("embedding.py", "backward"),
    ),
    "Adam (every parameter; the 20000 x 32 table is 97 % of them)": (
        ("optimizers.py", "apply_gradients"),
        ("background_adam.py", "apply_gradients"),  # the fast plan's, for the table's halves
    ),
}


def step_profile(workload: Workload, batches: int = 20) -> dict[str, float]:
    """CPU milliseconds per training step of each part of `PARTS`, of the whole step, and the rest, from a
    cProfile (CPU clock: the machine's load changes the wall clock, not this) of `fit` on `batches`
    batches."""
    from benchmarks.systems import preset_model
    from npnet.config import set_num_threads

    # One thread: cProfile sees only its own, and a part's CPU time is what the profile is after.
    set_num_threads(1)
    model = preset_model(PRESET, workload.vocab_size)
    n = workload.batch_size * batches
    x, y = workload.x_train[:n], workload.y_train[:n]
    warm = 2 * workload.batch_size
    model.fit(x[:warm], y[:warm], batch_size=workload.batch_size, verbose=0)
    profile = cProfile.Profile(time.process_time)
    start = time.process_time()
    profile.runcall(model.fit, x, y, batch_size=workload.batch_size, epochs=1, verbose=0)
    total = time.process_time() - start
    set_num_threads(None)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    cumulative: dict[tuple[str, str], float] = {}
    for (filename, _, function), (_, _, _, cum, _) in stats.items():
        for suffix, name in {key for keys in PARTS.values() for key in keys}:
            if filename.endswith(suffix) and function == name:
                cumulative[suffix, name] = cumulative.get((suffix, name), 0.0) + cum
    out = {"step_ms": total / batches * 1e3}
    for part, keys in PARTS.items():
        out[part] = sum(cumulative.get(key, 0.0) for key in keys) / batches * 1e3
    out["rest (Dense, dropout, pooling, loss, residual sums, Python)"] = out["step_ms"] - sum(
        out[part] for part in PARTS
    )
    return out


def attention_floor(
    batch: int = 32, heads: int = 2, steps: int = 200, width: int = 32, repeats: int = 10
) -> dict[str, float]:
    """Milliseconds (median of `repeats`, one thread, BLAS on one thread) of the work no formulation of one
    training step's attention avoids, at the preset's shapes: the six batched products (scores q k^T,
    context P v; backward dP = dcontext v^T, dv = P^T dcontext, dq = dscores k, dk = dscores^T q) and
    `exp` over the (B, H, T, T) scores; and their sum halved, what two perfectly used cores could not go
    below."""
    import numpy as np

    from npnet.fast.threads import blas_threads

    rng = np.random.default_rng(0)
    q, k, v, d_context = (
        rng.standard_normal((batch, heads, steps, width), dtype=np.float32) for _ in range(4)
    )
    scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(width))
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.empty_like(probs)
    work = {
        "q k^T": lambda: np.matmul(q, k.transpose(0, 1, 3, 2), out=out),
        "P v": lambda: probs @ v,
        "dcontext v^T": lambda: np.matmul(d_context, v.transpose(0, 1, 3, 2), out=out),
        "P^T dcontext": lambda: probs.transpose(0, 1, 3, 2) @ d_context,
        "dscores k": lambda: probs @ k,
        "dscores^T q": lambda: probs.transpose(0, 1, 3, 2) @ q,
        "exp": lambda: np.exp(scores, out=out),
    }
    floor: dict[str, float] = {}
    with blas_threads(1):
        for name, run in work.items():
            run()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            floor[name] = float(np.median(times)) * 1e3
    floor["sum"] = sum(floor.values())
    floor["two perfect cores"] = floor["sum"] / 2
    return floor


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transformer", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="npnet data directory (imdb.npz, word index)"
    )
    parser.add_argument("--reviews", type=int, help="use the first N reviews of each split (default: all)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating timed epochs per system (default 3)"
    )
    parser.add_argument("--no-keras", action="store_true", help="time npnet alone")
    parser.add_argument("--rss", action="store_true", help="also the peak RSS of `npnet train --epochs 1`")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results-transformer.json")
    args = parser.parse_args(argv)
    workload = preset_workload(args.data, PRESET, args.reviews)
    entry: dict = {"workload": workload.description, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="npnet-transformer-") as tmp:
        path = Path(tmp) / f"{PRESET}.npz"
        workload.save(path)
        systems = SYSTEMS[:1] if args.no_keras else SYSTEMS
        entry["epochs"] = race({s: (s, path) for s in systems}, args.rounds, 0, blas_threads=None)
    entry["load_after"] = os.getloadavg()
    entry["ratios"] = {} if args.no_keras else paired_ratios(entry["epochs"], SYSTEMS[1])
    entry["steps_per_epoch"] = -(-len(workload.x_train) // workload.batch_size)
    entry["profile"] = step_profile(workload)
    entry["attention_floor_ms"] = attention_floor()
    if args.rss:
        rss, error = _run_module("benchmarks.rss", [str(args.data.resolve()), "1", "--preset", PRESET], None)
        entry["train_rss"] = rss if rss is not None else {"error": error[-500:]}
    print(json.dumps(_summary(entry), indent=1), flush=True)
    _write_json(args.output, {PRESET: entry})
    return 0


def _summary(entry: dict) -> dict:
    keys = ("workload", "load_before", "load_after", "steps_per_epoch", "profile", "attention_floor_ms")
    out = {k: entry[k] for k in keys}
    for key, value in entry["epochs"].items():
        out[key] = value.get("skipped") or {
            k: value.get(k) for k in ("train_s", "median_train_s", "median_val_s", "peak_rss_mb")
        }
    out["ratios"] = entry["ratios"]
    if "train_rss" in entry:
        out["train_rss_mb"] = entry["train_rss"].get("peak_rss_mb", entry["train_rss"].get("error"))
    return out


if __name__ == "__main__":
    sys.exit(main())
