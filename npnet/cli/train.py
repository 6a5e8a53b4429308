"""`npnet train`: the notebook end to end, into a run folder with checkpoints, plots and a report.

npnet train                          # the notebook: lr 1e-5, decay 1e-5, 60 epochs, test set validates
npnet train --preset tuned           # the best settings found on a validation split (docs/tuning.md)
npnet train --preset cnn             # Keras's imdb_cnn example: Conv1D + max pooling, 2 epochs
npnet train --preset fasttext        # Keras's imdb_fasttext example: bigram ids, Embedding(50) -> average
npnet train --preset nbsvm           # NBSVM: binarized word + bigram bags scaled by the log-count ratio
npnet train --preset transformer     # Keras's IMDB Transformer example (--mask: the padding masked)
npnet train --epochs 10 --lr 1e-3    # any setting of a preset can be changed by a flag
npnet train --resume runs/<name>     # continue an interrupted run exactly where it stopped
npnet train --inspect                # also record backprop statistics (backprop.csv, plots, report section)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from npnet import runs
from npnet.callbacks import Callback
from npnet.callbacks.backprop_monitor import DEFAULT_EVERY, BackpropMonitor
from npnet.cli._show import show_test_results
from npnet.cli._stall import notebook_verdict
from npnet.cli.argtypes import fraction, int_in, non_negative_float, path, positive_int
from npnet.cli.errors import EXIT_INTERRUPTED
from npnet.datasets import bootstrap, imdb
from npnet.datasets.bootstrap import MIRROR_ENV, TARBALL_ENV
from npnet.datasets.files import DATA_DIR_HELP
from npnet.errors import FileFormatError
from npnet.fast.plan import bag_cache
from npnet.metrics import classification_metrics
from npnet.reports import attention_report, backprop_report, run_report
from npnet.reports.run_report import CLASS_NAMES
from npnet.runs import CHECKPOINT_NPZ, CONFIG_JSON, RunError, TrainConfig
from npnet.saving import checkpoints

COMMAND = "train"
PROBE_SIZE = 256  # reviews of the validation data whose activations --inspect follows


# One flag per TrainConfig field except `preset` and the `architecture` it sets: (flags, field, type or
# choices, help).
_SETTINGS: list[tuple[tuple[str, ...], str, Any, str]] = [
    (("--num-words",), "num_words", positive_int, "vocabulary size: ids >= this become <UNK>"),
    (("--maxlen",), "maxlen", positive_int, "pad/truncate every review to this many ids"),
    (("--padding",), "padding", ("pre", "post"), "where short reviews get padding"),
    (("--truncating",), "truncating", ("pre", "post"), "where long reviews lose ids ('pre' keeps the end)"),
    (("--data-seed",), "data_seed", int_in(0, runs.config.MAX_SEED), "load_data's shuffle seed"),
    (("--embedding-dim",), "embedding_dim", positive_int, "embedding width"),
    (("--hidden-units",), "hidden_units", positive_int, "units of the relu Dense layer"),
    (
        ("--mask-zero", "--mask"),
        "mask_zero",
        bool,
        "mask the padding: average (and, in the transformer, attend) over real words only",
    ),
    (("--filters",), "filters", positive_int, "Conv1D filters (cnn preset)"),
    (("--kernel-size",), "kernel_size", positive_int, "Conv1D kernel size (cnn preset)"),
    (("--dropout",), "dropout", fraction, "Dropout rate of both Dropout layers (cnn preset)"),
    (("--lr", "--learning-rate"), "learning_rate", non_negative_float, "Adam learning rate"),
    (("--decay",), "decay", non_negative_float, "Keras 2 decay: lr / (1 + decay * iterations)"),
    (("--beta-1",), "beta_1", fraction, "Adam beta_1"),
    (("--beta-2",), "beta_2", fraction, "Adam beta_2"),
    (("--epsilon",), "epsilon", non_negative_float, "Adam epsilon"),
    (("--amsgrad",), "amsgrad", bool, "AMSGrad variant of Adam"),
    (
        ("--lazy",),
        "lazy",
        bool,
        "lazy Adam: only the embedding rows a batch looked up move (TF Addons' LazyAdam; not Keras's Adam)",
    ),
    (
        ("--ngrams",),
        "ngrams",
        positive_int,
        "fastText features: add the ids of each review's 2..N-grams seen in training (1: words only)",
    ),
    (("--batch-size",), "batch_size", positive_int, "samples per update"),
    (
        ("--epochs",),
        "epochs",
        positive_int,
        "passes over the training data (with --resume: may extend the run)",
    ),
    (
        ("--validation-split",),
        "validation_split",
        fraction,
        "hold out this last fraction of the training set for validation; 0 validates on the test set",
    ),
    (
        ("--seed",),
        "seed",
        int_in(0, runs.config.MAX_SEED),
        "seed of the initial weights and the per-epoch shuffle",
    ),
    (("--dtype",), "dtype", ("float32", "float64"), "float dtype of weights and activations"),
]


def _default_text(field: str) -> str:
    base = {f.name: f.default for f in fields(TrainConfig)}[field]  # no config built: nothing checked yet
    others = [
        f"{preset}: {values[field]}"
        for preset, values in runs.PRESETS.items()
        if field in values and values[field] != base
    ]
    return ", ".join([f"notebook: {base}", *others])


def _presets_text() -> str:
    """Every preset of the table with the model it trains and for how long: new presets list themselves.
    Read from the table, not built into configs: building checks a config (its memory, say), which has no
    place in making the help."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    described = [{**defaults, **values} for values in runs.PRESETS.values()]
    return ", ".join(
        f"{name} ({v['architecture']} model, {v['epochs']} epochs)"
        for name, v in zip(runs.PRESETS, described, strict=True)
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="train the IMDB model (the notebook's settings by default) into runs/<name>/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=tuple(runs.PRESETS),
        help=f"starting settings, one of: {_presets_text()} (default: notebook)",
    )
    run = parser.add_argument_group("run folder and data")
    run.add_argument("--run-name", help="folder name under --runs-dir (default: <preset>-<date>-<time>)")
    run.add_argument("--runs-dir", type=path, help="where run folders go (default: runs)")
    run.add_argument(
        "--data-dir",
        type=Path,
        help=f"folder with imdb.npz and imdb_word_index.json ({DATA_DIR_HELP}; with --resume: the run's). "
        "When they are missing, train gets them first: builds them from local Stanford reviews (--from), "
        "else downloads Keras's imdb.npz, else the Stanford reviews",
    )
    run.add_argument(
        "--from",
        dest="source",
        metavar="PATH",
        help=f"when the data is missing, build it offline from these Stanford reviews (aclImdb_v1.tar.gz or "
        f"its folder; default: ${TARBALL_ENV}, else ../shared/data/aclImdb_v1_labeled.tar.gz beside the "
        "checkout when it exists)",
    )
    run.add_argument(
        "--url",
        metavar="URL",
        help=f"when the data is missing, download it from this mirror folder (default: ${MIRROR_ENV}, else "
        "Keras's origins, then Stanford's)",
    )
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last complete epoch (its saved settings are used)",
    )
    run.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent (only errors, on stderr), 1 progress bar (in place on a terminal), 2 one line per "
        "epoch (default: 1)",
    )
    observe = parser.add_argument_group("observing backprop")
    observe.add_argument(
        "--inspect",
        type=positive_int,
        nargs="?",
        const=DEFAULT_EVERY,
        metavar="N",
        help="every N steps (default N: %(const)s) record gradient, update and activation statistics into "
        "backprop.csv, draw gradients.png, updates.png, activations.png and add a Backprop section to "
        "report.md (npnet.callbacks.BackpropMonitor)",
    )
    observe.add_argument(
        "--tensorboard",
        type=path,
        metavar="DIR",
        help="also write TensorBoard events to DIR: losses, histograms of weights and gradients per epoch, "
        "and the --inspect statistics (needs the extra: pip install 'npnet[tensorboard]')",
    )
    settings = parser.add_argument_group("settings (default: the preset's)")
    for flags, field, kind, text in _SETTINGS:
        help_text = f"{text} ({_default_text(field)})"
        if kind is bool:
            settings.add_argument(*flags, dest=field, action=argparse.BooleanOptionalAction, help=help_text)
        elif isinstance(kind, tuple):
            settings.add_argument(*flags, dest=field, choices=kind, help=help_text)
        else:
            settings.add_argument(*flags, dest=field, type=kind, help=help_text)
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    if args.verbose == 0:  # silent: everything train prints goes to stdout; errors go to stderr
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            return _start(args)
    return _start(args)


def _setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in fields(TrainConfig)} - {"preset", "architecture"}
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _start(args: argparse.Namespace) -> int:
    """A new run, or the one --resume names, with its data (fetched or built first when missing)."""
    overrides = _setting_overrides(args)
    if args.tensorboard is not None:
        from npnet.callbacks.tensorboard import require_tensorboardx

        require_tensorboardx()  # before any run folder exists
    if args.resume is None or args.data_dir is not None:
        bootstrap.ensure_imdb(args.data_dir, source=args.source, mirror=args.url, progress=args.verbose > 0)
    if args.resume is not None:
        run, state = _resume(args, overrides)
        data_dir = args.data_dir if args.data_dir is not None else run.data_dir
        data = runs.load_imdb(run.config, data_dir, ngrams=run.ngrams, ratio=run.ratio)
    else:
        config = runs.preset_config(args.preset or "notebook", **overrides)
        name = args.run_name or f"{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        if Path(name).name != name or name in ("", ".", ".."):
            raise RunError(f"--run-name must be a plain folder name, got {name!r}")
        folder = (args.runs_dir or Path("runs")) / name
        runs.check_new_run(folder)
        data = runs.load_imdb(config, args.data_dir)  # before the run folder: bad data leaves no folder
        runs.create_run(folder, config, args.data_dir, ngrams=data.ngrams, ratio=data.ratio)
        try:
            run = runs.open_run(folder)
            _show_data(run, data)
            data = data.without_reviews()  # the printout was the reviews' last use: not held through training
            return _train(run, None, data, args)
        except BaseException:
            # failed or interrupted before its first epoch ended: no half-made run blocks the name
            runs.remove_unstarted_run(folder)
            raise
    _show_data(run, data)
    data = data.without_reviews()
    return _train(run, state, data, args)


def _train(
    run: runs.Run, state: checkpoints.Checkpoint | None, data: runs.IMDBData, args: argparse.Namespace
) -> int:
    """Train (or finish) `run` from `state` and write its weights and report. `data` without its raw reviews:
    the caller printed them and dropped them, so they are not held through training (~70 MB on IMDB)."""
    config = run.config

    model = runs.build_model(config, run.ngrams, run.ratio)
    model.summary()
    if run.ngrams is not None:
        print(f"N-grams: {len(run.ngrams):,} of orders 2..{config.ngrams} from the training reviews")
    if run.ratio is not None:
        print(
            f"NBSVM features: binarized bags of {run.ratio.size:,} ids, scaled by the log-count ratio of the "
            "training reviews"
        )
    (x_train, _), (x_val, _) = runs.fit_arrays(config, data)
    if config.validation_split:
        print(f"Validation: the last {len(x_val)} training reviews (training on {len(x_train)})")
    else:
        print(f"Validation: the {len(x_val)} test reviews (as the notebook did)")
    if state is not None:
        if state.epochs_done >= config.epochs:
            missing = ", ".join(runs.missing_outputs(run.path))
            print(f"Finishing {run.path}: all {config.epochs} epochs are done; writing {missing}")
        else:
            print(f"Resuming {run.path} after epoch {state.epochs_done}/{config.epochs}")
    print(f"Training: run folder {run.path}")
    monitor, observers = _observers(args, run, x_val)
    try:
        history = runs.fit_run(run, model, data, resume=state, callbacks=observers, verbose=args.verbose)
    except KeyboardInterrupt:
        path = run.path / CHECKPOINT_NPZ
        if not path.exists():
            _close_observers(monitor, observers, run)
            raise  # no epoch done: the caller removes the run folder, `npnet train: interrupted`
        history = checkpoints.load(path).history
        _write_curves(run, history)
        _close_observers(monitor, observers, run)
        print(
            f"\nInterrupted: {len(history.get('loss', []))} complete epoch(s) saved in {path}. "
            f"Continue with: npnet train --resume {run.path}",
            flush=True,
        )
        return EXIT_INTERRUPTED

    loss, _ = model.evaluate(data.x_test, data.test_labels, batch_size=config.batch_size)
    probabilities = model.predict(data.x_test, batch_size=config.batch_size)  # the test bag: cached
    bag_cache(model).clear()  # the data's last use: kept, the bag would sit under the report's plotting peak
    metrics = classification_metrics(data.test_labels, probabilities, loss, CLASS_NAMES)
    metrics["training_seconds"] = float(sum(history["seconds"]))
    metrics["epochs"] = len(history["loss"])
    show_test_results(metrics, data.test_labels, probabilities)
    title = run_report.run_title(run.name, config.to_dict())
    maps = attention_report.write_test_attention(
        run.path, title, model, data.x_test, probabilities, run.word_index
    )  # none for a model without attention
    run_report.write_run_report(
        run.path,
        run_name=run.name,
        config=config.to_dict(),
        metrics=metrics,
        history=history,
        val_name=config.val_name,
        attention_maps=maps,
    )
    if monitor is not None and monitor.rows:
        title = run_report.run_title(run.name, config.to_dict())
        backprop_report.write_backprop_report(run.path, monitor.rows, run_report.REPORT_MD, run=title)
    print(f"\nRun folder: {run.path}  (report: {run.path / run_report.REPORT_MD})")
    if verdict := notebook_verdict(config, metrics):
        print(verdict)
    return 0


def _observers(
    args: argparse.Namespace, run: runs.Run, x_val: np.ndarray
) -> tuple[BackpropMonitor | None, list[Callback]]:
    """The --inspect monitor (following the first PROBE_SIZE validation reviews) and the --tensorboard
    logger, as fit callbacks."""
    monitor = None
    observers: list[Callback] = []
    if args.inspect is not None:
        path = run.path / backprop_report.BACKPROP_CSV
        monitor = BackpropMonitor(every=args.inspect, probe=x_val[:PROBE_SIZE], path=path)
        observers.append(monitor)
    if args.tensorboard is not None:
        from npnet.callbacks.tensorboard import (
            TensorBoardLogger,  # the optional extra: imported only when asked
        )

        observers.append(TensorBoardLogger(args.tensorboard, monitor))
    return monitor, observers


def _close_observers(monitor: BackpropMonitor | None, observers: list[Callback], run: runs.Run) -> None:
    """After an interrupted fit: keep the statistics recorded so far, drawn, and close the event file."""
    for observer in observers:
        observer.on_train_end()  # the monitor appends its last rows, the logger closes its event file
    if monitor is not None and monitor.rows:
        title = run_report.run_title(run.name, run.config.to_dict())
        backprop_report.write_backprop_report(run.path, monitor.rows, run_report.REPORT_MD, run=title)


def _resume(
    args: argparse.Namespace, overrides: dict[str, Any]
) -> tuple[runs.Run, checkpoints.Checkpoint | None]:
    """The run to continue and its last checkpoint (None when it stopped before its first epoch ended)."""
    # Every flag that names a new run's settings or place is refused, never silently ignored.
    for flag, value in (
        ("--run-name", args.run_name),
        ("--preset", args.preset),
        ("--runs-dir", args.runs_dir),
    ):
        if value is not None:
            raise RunError(f"--resume continues the run it names, with its saved settings; drop {flag}")
    if changed := sorted(set(overrides) - {"epochs"}):
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise RunError(
            f"--resume continues a run with its saved settings; drop {flags} "
            "(only --epochs may extend a run), "
            "or start a new run"
        )
    run = runs.open_run(args.resume)
    path = run.path / CHECKPOINT_NPZ
    state = checkpoints.load(path) if path.exists() else None
    # Both sides through TrainConfig, so settings added to npnet since the run began (saved by neither)
    # compare as their defaults: a run started by an older npnet resumes.
    if state is not None and runs.TrainConfig.from_dict(state.config) != run.config:
        raise RunError(f"{path} belongs to other settings than {run.path / CONFIG_JSON}; start a new run")
    done = state.epochs_done if state else 0
    if "epochs" in overrides:
        if overrides["epochs"] < done:
            raise RunError(
                f"--epochs {overrides['epochs']} is fewer than the {done} epochs this run has done"
            )
        run = runs.update_epochs(run, overrides["epochs"])
        if state is not None:
            state.config = run.config.to_dict()
    elif done >= run.config.epochs and not runs.missing_outputs(run.path):
        raise RunError(
            f"{run.path} has finished all {done} epochs; see `npnet evaluate --run {run.path}`, "
            "or extend it with --resume and a larger --epochs"
        )
    if state is not None:  # prove it fits this run's model now, not after the data is loaded
        try:
            checkpoints.restore(runs.build_model(run.config, run.ngrams, run.ratio), state)
        except FileFormatError as e:
            raise FileFormatError(f"{path}: {e}") from None
    return run, state


def _show_data(run: runs.Run, data: runs.IMDBData) -> None:
    """The notebook's look at the data: sizes, shapes, the first two reviews as ids and as words."""
    first = data.train_seqs.take(np.arange(min(2, len(data.train_seqs)))).to_lists()
    print(f"Training entries: {len(data.train_seqs)}, labels: {len(data.train_labels)}")
    print(f"Test entries: {len(data.test_seqs)}, labels: {len(data.test_labels)}")
    print(f"Length of the first two training reviews: {', '.join(str(len(review)) for review in first)}")
    print(f"After padding: x_train {data.x_train.shape}, x_test {data.x_test.shape}")
    for i, review in enumerate(first):
        label = run_report.CLASS_NAMES[int(data.train_labels[i])]
        print(f"\nReview {i} ({label}), ids: {review[:20]} ...")
        print(imdb.decode(review, run.word_index))
    print()


def _write_curves(run: runs.Run, history: dict[str, list[float]]) -> None:
    """history.csv and the two curves of the epochs done so far (an interrupted run)."""
    run_report.write_history_csv(run.path / run_report.HISTORY_CSV, history)
    title = run_report.run_title(run.name, run.config.to_dict())
    run_report.write_curves(run.path, history, val_name=run.config.val_name, run=title)
