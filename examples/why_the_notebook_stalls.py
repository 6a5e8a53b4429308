"""Why the notebook's model barely learns, read through backprop statistics.

At the notebook's settings (Adam, lr 1e-5 with decay) the loss creeps from 0.6931 to ~0.688 in 60 epochs and
the final accuracy is seed luck. This script trains the notebook preset and the tuned one (lr 1e-3, no
decay, maxlen 512, mask_zero) side by side, on a slice of the data and for the same few epochs, with a
`BackpropMonitor` on each, and prints what the statistics say: the size of each step relative to the
weights (cs231n's rule of thumb asks for ~1e-3), the gradients, the ReLUs and the output sigmoid.

    python examples/why_the_notebook_stalls.py                      # $NPNET_DATA_DIR, else the user cache
    python examples/why_the_notebook_stalls.py --data-dir /path/to/imdb-data --train-size 5000 --epochs 10

Takes well under a minute on a 2-core machine at the defaults. Run it with npnet importable
(`pip install -e .`, or `PYTHONPATH=.` from the repository root).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from npnet import runs
from npnet.callbacks.backprop_monitor import OUTPUT, BackpropMonitor, Record
from npnet.datasets.files import DATA_DIR_HELP
from npnet.reports.backprop_report import findings, update_ratios

PRESETS = ("notebook", "tuned")


def _last(rows: Sequence[Record], parameter: str, statistic: str) -> dict[str, float]:
    """layer -> the value of `statistic` at the last recorded step."""
    last = max(r.step for r in rows)
    return {
        r.layer: r.value
        for r in rows
        if r.step == last and (r.parameter, r.statistic) == (parameter, statistic)
    }


def train_watched(preset: str, args: argparse.Namespace) -> tuple[float, list[Record]]:
    """(validation accuracy after the last epoch, the monitor's records) of `preset` on the data slice."""
    config = runs.preset_config(preset, epochs=args.epochs)
    data = runs.load_imdb(config, args.data_dir).without_reviews()
    n_val = max(1, args.train_size // 2)
    x, y = data.x_train[: args.train_size], data.train_labels[: args.train_size]
    x_val, y_val = data.x_test[:n_val], data.test_labels[:n_val]
    model = runs.build_model(config)
    monitor = BackpropMonitor(every=args.every, probe=x_val[:256])
    history = model.fit(
        x,
        y,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[monitor],
    )
    return history.history["val_accuracy"][-1], monitor.rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", help=f"folder with imdb.npz ({DATA_DIR_HELP})")
    parser.add_argument("--train-size", type=int, default=5000, help="training reviews used (default: 5000)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each preset (default: 10)")
    parser.add_argument("--every", type=int, default=5, help="record every N steps (default: 5)")
    args = parser.parse_args(argv)

    results = {preset: train_watched(preset, args) for preset in PRESETS}
    print(f"{args.train_size} training reviews, {args.epochs} epochs each\n")
    print(f"{'':34}" + "".join(f"{preset:>14}" for preset in PRESETS))

    def row(label: str, values: Sequence[float], fmt: str) -> None:
        print(f"{label:34}" + "".join(f"{value:>14{fmt}}" for value in values))

    row("validation accuracy", [results[p][0] for p in PRESETS], ".4f")
    ratios = {p: update_ratios(results[p][1]) for p in PRESETS}
    for name in ratios["notebook"]:
        row(f"update/weight {name}", [ratios[p].get(name, float("nan")) for p in PRESETS], ".1e")
    dead = {p: _last(results[p][1], OUTPUT, "dead_fraction") for p in PRESETS}
    zeros = {p: _last(results[p][1], OUTPUT, "zero_fraction") for p in PRESETS}
    spread = {p: _last(results[p][1], OUTPUT, "std") for p in PRESETS}
    for layer in dead["notebook"]:
        row(f"dead ReLUs {layer}", [dead[p][layer] for p in PRESETS], ".0%")
        row(f"zero outputs {layer}", [zeros[p][layer] for p in PRESETS], ".0%")
    for layer in _last(results["notebook"][1], OUTPUT, "saturated_fraction"):
        row(f"output std {layer}", [spread[p][layer] for p in PRESETS], ".3f")
    for preset in PRESETS:
        print(f"\n{preset}:")
        for sentence in findings(results[preset][1]):
            print(f"- {sentence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
