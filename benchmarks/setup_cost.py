"""The per-call setup tax: `python -m benchmarks.setup_cost WORKLOAD.npz CALLS`.

A loop of `fit(epochs=1)` calls (as notebooks and custom schedules run it) on the workload, the seed
model at the workload's batch size, with validation data. For each call: its wall time and its epoch's
(a callback marks epoch begin and end); setup = the rest (input checks, the fused layer and its threads,
the bags of words: built on the first call, found in the model's `BagCache` on the others). Also the
cost of building one bag against hashing the same ids (what a cache hit pays instead). The harness runs
it in its own process with the workers' thread settings.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.systems import seed_model
from benchmarks.worker import say
from benchmarks.workload import Workload
from npnet import callbacks
from npnet.fast.bag_cache import content_digest
from npnet.fast.embedding_pool import BagOfWords


class _EpochClock(callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.begin = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.begin


def repeated_fit(data: Workload, calls: int) -> dict:
    """Setup and epoch seconds of each of `calls` fit(epochs=1) calls on one model (the first builds)."""
    model, clock = seed_model(data.vocab_size), _EpochClock()
    setups, epochs = [], []
    for _ in range(calls):
        start = time.perf_counter()
        model.fit(
            data.x_train,
            data.y_train,
            batch_size=data.batch_size,
            epochs=1,
            validation_data=(data.x_val, data.y_val),
            verbose=0,
            callbacks=[clock],
        )
        epochs.append(clock.seconds)
        setups.append(time.perf_counter() - start - clock.seconds)
    repeat_setup, epoch = float(np.median(setups[1:])), float(np.median(epochs))
    return {
        "calls": calls,
        "first_setup_s": setups[0],
        "repeat_setup_s": setups[1:],
        "median_repeat_setup_s": repeat_setup,
        "median_epoch_s": epoch,
        "repeat_setup_over_epoch": repeat_setup / epoch,
    }


def hash_against_build(ids: np.ndarray, vocab_size: int, repeats: int = 3) -> dict:
    """Best-of seconds of `BagOfWords.from_ids(ids)` and of `content_digest(ids)` (one thread)."""

    def best(run) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    build = best(lambda: BagOfWords.from_ids(ids, vocab_size))
    digest = best(lambda: content_digest(ids))
    return {
        "ids_mb": ids.nbytes / 2**20,
        "build_s": build,
        "sha256_s": digest,
        "sha256_over_build": digest / build,
    }


def main(argv: list[str]) -> int:
    data, calls = Workload.load(Path(argv[0])), int(argv[1])
    say(
        {
            "repeated_fit": repeated_fit(data, calls),
            "bag_hash": hash_against_build(data.x_train, data.vocab_size),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
