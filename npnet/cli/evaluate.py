"""`npnet evaluate --run runs/<name>`: the trained model of a run on the test split.

Prints loss, accuracy, the first test labels vs predictions, the confusion matrix and per-class precision,
recall and F1, from the run's final weights and the data the run was trained on (or --data-dir).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from npnet import runs
from npnet.cli._show import show_test_results
from npnet.cli.errors import error
from npnet.metrics import classification_metrics
from npnet.reports.run_report import CLASS_NAMES

COMMAND = "evaluate"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="score a trained run on the IMDB test split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # dest is not "run": that attribute holds the subcommand's function.
    parser.add_argument(
        "--run", dest="run_dir", type=Path, required=True, metavar="RUN_DIR", help="runs/<name>"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="folder with imdb.npz and imdb_word_index.json (default: the run's)"
    )
    parser.add_argument("--batch-size", type=int, default=512, help="samples per forward pass (default: 512)")
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        return error(COMMAND, f"--batch-size must be a positive integer, got {args.batch_size}")
    run = runs.open_run(args.run_dir)
    model = run.model()
    data_dir = args.data_dir if args.data_dir is not None else run.data_dir
    data = runs.load_imdb(run.config, data_dir, ngrams=run.ngrams, ratio=run.ratio)
    loss, _ = model.evaluate(data.x_test, data.test_labels, batch_size=args.batch_size)
    probabilities = model.predict(data.x_test, batch_size=args.batch_size)
    metrics = classification_metrics(data.test_labels, probabilities, loss, CLASS_NAMES)
    print(f"Run {run.path} ({run.config.preset} preset, {run.config.epochs} epochs)")
    show_test_results(metrics, data.test_labels, probabilities)
    return 0
