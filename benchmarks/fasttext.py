"""The fastText preset's costs: `python -m benchmarks.fasttext --data DIR [--steps N] [--keras] [--out DIR]`.

On the real data (`npnet train --preset fasttext`'s settings: 20,000 words + bigrams, maxlen 400, batch 32):
1. the n-gram build: the bigram table from the 25,000 training reviews, then `add_ngrams` on train and test;
2. training steps of npnet with lazy and with dense Adam in alternating rounds of `--steps` steps each (so
   that drifts of a busy machine hit both alike), then Keras 3 + JAX's rounds with --keras (a child process):
   median seconds per step, that x 782 steps (the training part of an epoch), ratios paired by round;
3. the dense Adam update alone on the (1,193,401 x 50) table, and the machine's copy bandwidth
   (np.copyto of a table-sized array): how close the update runs to the memory bound;
4. the machine's load (os.getloadavg) before and after.
Peak RSS of the real command is `python -m benchmarks.rss DATA_DIR 1 --preset fasttext`.
Writes fasttext.json to --out (default benchmarks/out/) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from benchmarks.worker import say
from npnet import runs
from npnet.atomic import atomic_write
from npnet.fast.adam import adam_update_, adam_update_rows_, scratch_for
from npnet.plan import make_plan
from npnet.preprocessing import add_ngrams
from npnet.preprocessing.ngrams import NgramTable
from npnet.sparse import SparseRows

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
# Passes over a (V, D) array in one dense Adam step of npnet.fast.adam (reads + writes, counted per
# operation) and the fewest any implementation needs (read p, g, m, v; write p, m, v).
ADAM_PASSES, ADAM_MIN_PASSES = 29, 7
# From the batch's rows: p, m, v read and written (no gradient table), the touched rows' share aside.
ROWS_ADAM_MIN_PASSES = 6


def ngram_build_seconds(data_dir: str) -> dict[str, float]:
    config = runs.preset_config("fasttext")
    from npnet.datasets import imdb

    (train, _), (test, _) = imdb.load_ragged(runs.data_files(data_dir)[0], num_words=config.num_words)
    start, cpu = time.perf_counter(), time.process_time()
    table = NgramTable.build(train, config.ngrams, base=config.num_words)
    built = time.perf_counter()
    add_ngrams(train, table, config.ngrams)
    add_ngrams(test, table, config.ngrams)
    done = time.perf_counter()
    return {
        "ngrams": len(table),
        "table_rows": table.input_dim,
        "table_seconds": built - start,
        "add_seconds": done - built,
        "total_seconds": done - start,
        # single-threaded: on a busy machine its CPU time is what a quiet one would take
        "total_cpu_seconds": time.process_time() - cpu,
    }


def npnet_stepper(
    config: runs.TrainConfig, data: runs.IMDBData, lazy: bool, steps: int, exits: ExitStack
) -> Callable[[], float]:
    """A function that runs `steps` training steps (fit's own step on fit's own plan: the fused path,
    `npnet.config.num_threads()` threads) on random batches and returns their median seconds. The plan
    stays open until `exits` closes. The first call warms up (first touch of m and v)."""
    model = runs.build_model(runs.TrainConfig.from_dict({**config.to_dict(), "lazy": lazy}), data.ngrams)
    model.build(data.x_train.shape)
    plan = exits.enter_context(make_plan(model, model.optimizer))
    source = plan.batches(model._prepare_x(data.x_train))
    rng = np.random.default_rng(0)
    y = data.train_labels.astype(model.dtype).reshape(-1, 1)

    def one_round() -> float:
        times = []
        for _ in range(steps):
            rows = np.sort(rng.choice(len(source), config.batch_size, replace=False))
            ((_, batch),) = source.epoch([rows])
            start = time.perf_counter()
            model._train_step(plan, batch, y[rows], "benchmark")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    one_round()
    return one_round


def adam_and_copy(rows: int, width: int, repeats: int = 5, touched: int = 15_000) -> dict[str, float]:
    """Seconds of one dense Adam update of a (rows, width) float32 table, from a dense gradient (the
    kernel `adam_update_`) and from the `touched` rows of a batch (`adam_update_rows_`, what the preset's
    step runs: a batch of 32 reviews looks up ~10-20k of the table's rows), and of one copy of the table;
    GB/s of each, and each update's time against its fewest bytes at the copy's bandwidth."""
    rng = np.random.default_rng(0)
    p = rng.random((rows, width), dtype=np.float32)
    g, m, v = (rng.random((rows, width), dtype=np.float32) for _ in range(3))
    ids = np.sort(rng.choice(rows, min(touched, rows), replace=False))
    sparse = SparseRows(ids, g[ids], g.shape)
    scratch = scratch_for(p)
    dst = np.empty_like(p)
    kwargs = {"step_size": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "scratch": scratch}
    adam, adam_rows, copy = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        adam_update_(p, g, m, v, **kwargs)
        adam.append(time.perf_counter() - start)
        start = time.perf_counter()
        adam_update_rows_(p, sparse, m, v, **kwargs)
        adam_rows.append(time.perf_counter() - start)
        start = time.perf_counter()
        np.copyto(dst, p)
        copy.append(time.perf_counter() - start)
    nbytes = p.nbytes
    adam_s, rows_s, copy_s = statistics.median(adam), statistics.median(adam_rows), statistics.median(copy)
    copy_gbs = 2 * nbytes / copy_s / 1e9  # read + write
    bound_s = nbytes / (copy_gbs * 1e9)  # one pass over one table at the copy's bandwidth
    return {
        "table_mb": nbytes / 1e6,
        "adam_seconds": adam_s,
        "adam_gbs": ADAM_PASSES * nbytes / adam_s / 1e9,
        "copy_seconds": copy_s,
        "copy_gbs": copy_gbs,
        # the one-pass bound: the fewest bytes at the copy's bandwidth, over the measured time
        "adam_fraction_of_bound": ADAM_MIN_PASSES * bound_s / adam_s,
        "rows_adam_seconds": rows_s,
        "rows_touched": int(ids.size),
        "rows_adam_fraction_of_bound": ROWS_ADAM_MIN_PASSES * bound_s / rows_s,
    }


KERAS_CHILD = """
import json, sys, time, numpy as np
import keras
x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
rows, steps, rounds = (int(a) for a in sys.argv[3:6])
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((x.shape[1],), dtype="int32"), keras.layers.Embedding(rows, 50),
    keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(0)
def one_round():
    times = []
    for _ in range(steps):
        idx = np.sort(rng.choice(len(x), 32, replace=False))
        start = time.perf_counter()
        model.train_on_batch(x[idx], y[idx])
        times.append(time.perf_counter() - start)
    return float(np.median(times))
one_round()
print(json.dumps([one_round() for _ in range(rounds)]))
"""


def keras_steps(data: runs.IMDBData, steps: int, rounds: int, tmp: Path) -> list[float]:
    """Keras 3 + JAX's train_on_batch on the same arrays, in a child process (KERAS_BACKEND=jax)."""
    np.save(tmp / "x.npy", data.x_train)
    np.save(tmp / "y.npy", data.train_labels.astype(np.float32))
    assert data.ngrams is not None
    args = [str(tmp / "x.npy"), str(tmp / "y.npy"), str(data.ngrams.input_dim), str(steps), str(rounds)]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", KERAS_CHILD, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fasttext", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="an npnet data dir (imdb.npz, imdb_word_index.json)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per round (default 40)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per system (default 3)")
    parser.add_argument("--keras", action="store_true", help="also time Keras 3 + JAX (a child process)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result: dict = {"load_before": os.getloadavg(), "cpus": os.cpu_count()}
    result["ngram_build"] = ngram_build_seconds(args.data)
    config = runs.preset_config("fasttext")
    data = runs.load_imdb(config, args.data).without_reviews()
    steps_per_epoch = -(-len(data.x_train) // config.batch_size)
    timings: dict[str, list[float]] = {"lazy": [], "dense": []}
    with ExitStack() as exits:
        steppers = {name: npnet_stepper(config, data, name == "lazy", args.steps, exits) for name in timings}
        for _ in range(args.rounds):  # alternate the systems, one round each at a time
            for name, stepper in steppers.items():
                timings[name].append(stepper())
        del steppers
    if args.keras:  # after npnet's rounds, not between them: a Keras child holds its own table and state
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            timings["keras-jax"] = keras_steps(data, args.steps, args.rounds, Path(tmp))
    result["steps_per_epoch"] = steps_per_epoch
    result["seconds_per_step"] = {name: statistics.median(t) for name, t in timings.items()}
    result["rounds"] = timings
    result["epoch_seconds"] = {name: s * steps_per_epoch for name, s in result["seconds_per_step"].items()}
    if "keras-jax" in timings:  # paired within each round, then the median
        result["x_keras_jax"] = {
            name: statistics.median(a / b for a, b in zip(timings[name], timings["keras-jax"], strict=True))
            for name in ("lazy", "dense")
        }
    result["adam_and_copy"] = adam_and_copy(data.ngrams.input_dim, config.embedding_dim)
    result["load_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "fasttext.json", lambda f: f.write(text.encode()))
    print(text)
    say(result)  # the line benchmarks.run reads when it runs this module (--fasttext-data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
