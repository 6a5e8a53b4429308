"""The cost of leaving the backprop monitor on: `python -m benchmarks.backprop_overhead DATA_DIR [options]`.

Trains the notebook preset's model (fused path, its data, batch 512) for `--epochs` epochs per trial, with and
without a `BackpropMonitor(every=N, probe=<256 validation reviews>)`, in alternating trials (`--pairs` of
them, the order flipped every pair), and prints each mode's median training time and the median of the
paired ratios (monitored / plain). Validation is left out of the timed fit, so the ratio is over training
steps alone: the harshest measure (a real run's epochs also validate, which the monitor does not touch).

On a busy machine trial-to-trial noise swamps a few percent, so each monitored trial also times the monitor's
own hooks (the parameter copy, the norms, the probe's forward): "in-hook" is that time over the trial's
fit time, measured within the same run, which load inflates far less than it scatters whole trials.
"""

from __future__ import annotations

import argparse
import statistics
import time

from npnet import runs
from npnet.callbacks.backprop_monitor import DEFAULT_EVERY, BackpropMonitor

PROBE_SIZE = 256  # as `npnet train --inspect`


class TimedMonitor(BackpropMonitor):
    """A BackpropMonitor that adds up the wall time spent in its per-batch hooks."""

    seconds = 0.0

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        start = time.perf_counter()
        super().on_batch_begin(batch, logs)
        self.seconds += time.perf_counter() - start

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        start = time.perf_counter()
        super().on_batch_end(batch, logs)
        self.seconds += time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backprop_overhead", description=__doc__)
    parser.add_argument("data_dir", help="folder with imdb.npz and imdb_word_index.json")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (default: 5)")
    parser.add_argument("--pairs", type=int, default=5, help="paired trials (default: 5)")
    parser.add_argument("--every", type=int, nargs="+", default=[DEFAULT_EVERY], help="intervals to measure")
    args = parser.parse_args(argv)

    config = runs.preset_config("notebook", epochs=args.epochs)
    data = runs.load_imdb(config, args.data_dir).without_reviews()
    (x, y), (x_val, _) = runs.fit_arrays(config, data)

    in_hook: list[float] = []

    def trial(every: int | None) -> float:
        model = runs.build_model(config)
        monitor = None if every is None else TimedMonitor(every=every, probe=x_val[:PROBE_SIZE])
        start = time.perf_counter()
        model.fit(
            x,
            y,
            epochs=config.epochs,
            batch_size=config.batch_size,
            verbose=0,
            callbacks=[monitor] if monitor else [],
        )
        seconds = time.perf_counter() - start
        if monitor is not None:
            in_hook.append(monitor.seconds / seconds)
        return seconds

    trial(None)  # warm-up: first-touch of the data, imports
    steps = args.epochs * -(-len(x) // config.batch_size)
    print(
        f"notebook preset, {len(x)} reviews, {args.epochs} epochs = {steps} steps per trial, "
        f"{args.pairs} pairs"
    )
    for every in args.every:
        plain, watched = [], []
        in_hook.clear()
        for i in range(args.pairs):
            order = [None, every] if i % 2 == 0 else [every, None]
            times = {mode: trial(mode) for mode in order}
            plain.append(times[None])
            watched.append(times[every])
        ratios = [w / p for w, p in zip(watched, plain, strict=True)]
        print(
            f"every={every}: plain {statistics.median(plain):.2f} s, "
            f"monitored {statistics.median(watched):.2f} s, paired ratio median "
            f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); in-hook "
            f"{statistics.median(in_hook):.1%} of the fit (min {min(in_hook):.1%}, max {max(in_hook):.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
