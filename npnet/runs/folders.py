"""The run folder of a training run: everything a later `evaluate`, `predict` or `--resume` needs.

The run folder (`runs/<name>/`):
- `config.json`      the `TrainConfig` plus where the data came from; written when the run starts
- `word_index.json`  the words the model knows (rank < num_words - 3), so `predict` needs no data folder
- `ngrams.npz`       with `ngrams` >= 2 only: the n-gram table built from the training reviews
                     (`npnet.preprocessing.ngrams.NgramTable`), so `predict`, `evaluate` and `--resume` give
                     reviews the
                     same n-gram ids; written before config.json, validated when the run is opened
- `ratio.npz`        with the nbsvm model only: the log-count ratio of the training reviews' bags
                     (`npnet.preprocessing.nbsvm`), kept like the n-gram table and for the same reason
- `checkpoint.npz`   the state after the last complete epoch (see `npnet.saving.checkpoints`), rewritten
every epoch
- `weights.npz`      the final weights (`Sequential.save_weights`), written when training ends
- the report files of `npnet.reports.run_report` (history.csv, plots, metrics.json, report.md)

Nothing here prints: the CLI does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import npnet
from npnet.atomic import atomic_write
from npnet.datasets import imdb
from npnet.datasets.files import resolve_data_dir
from npnet.datasets.ragged import Ragged
from npnet.errors import FileFormatError, RunError
from npnet.preprocessing.nbsvm import load_ratio, save_ratio
from npnet.preprocessing.ngrams import NgramTable
from npnet.reports import run_report
from npnet.runs.config import TrainConfig
from npnet.runs.data import (
    data_files,
    known_words,
    ngram_table_for,
    pad_like_training,
    ratio_for,
)
from npnet.runs.model import build_model

CONFIG_JSON = "config.json"
WORD_INDEX_JSON = "word_index.json"
WEIGHTS_NPZ = "weights.npz"
CHECKPOINT_NPZ = "checkpoint.npz"
NGRAMS_NPZ = "ngrams.npz"
RATIO_NPZ = "ratio.npz"


def write_json(path: Path, value: Any) -> None:
    """Write `value` as indented JSON, atomically."""
    text = json.dumps(value, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path} is missing: is {path.parent} a run folder made by `npnet train`?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise RunError(f"cannot read the {what} {path} ({e}); train the run again") from None


def check_new_run(run_dir: Path) -> None:
    """RunError unless `run_dir` is free for a new run (and its parent, --runs-dir, is a folder or absent)."""
    for folder, what in ((run_dir.parent, "--runs-dir"), (run_dir, "the run folder")):
        if folder.exists() and not folder.is_dir():
            raise RunError(f"{what} {folder} is a file, not a folder; pick another path")
    if (run_dir / CONFIG_JSON).exists():
        raise RunError(
            f"{run_dir} already holds a run; continue it with `npnet train --resume {run_dir}`, "
            "or pick another --run-name"
        )


def create_run(
    run_dir: Path,
    config: TrainConfig,
    data_dir: str | os.PathLike[str] | None,
    ngrams: NgramTable | None = None,
    ratio: np.ndarray | None = None,
) -> None:
    """Start a run folder: config.json, the word index the model will understand, with
    `config.ngrams` >= 2 the n-gram table (`IMDBData.ngrams`) and with `config.bag_features` the
    log-count ratio (`IMDBData.ratio`). Refuses a used folder."""
    check_new_run(run_dir)
    if config.ngrams > 1:
        ngram_table_for(config, ngrams)
    if config.bag_features:
        ratio_for(config, ngrams, ratio)
    word_index = imdb.get_word_index(data_files(data_dir)[1])  # fails before mkdir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / WORD_INDEX_JSON, known_words(word_index, config))
        if ngrams is not None and config.ngrams > 1:  # before config.json, which marks a run as started
            ngrams.save(run_dir / NGRAMS_NPZ)
        if ratio is not None and config.bag_features:
            save_ratio(run_dir / RATIO_NPZ, ratio)
        _write_config(run_dir, config, data_dir)
    except OSError as e:
        remove_unstarted_run(run_dir)
        raise RunError(
            f"cannot create the run folder {run_dir} ({e.strerror or e}); choose a writable --runs-dir"
        ) from e


def remove_unstarted_run(run_dir: Path) -> None:
    """Delete what `create_run` made in a run that never finished an epoch (no checkpoint), so its name is
    free again; a folder holding anything else is left alone."""
    if (run_dir / CHECKPOINT_NPZ).exists():
        return
    for name in (CONFIG_JSON, WORD_INDEX_JSON, NGRAMS_NPZ, RATIO_NPZ):
        (run_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only when empty


def _write_config(run_dir: Path, config: TrainConfig, data_dir: str | os.PathLike[str] | None) -> None:
    write_json(
        run_dir / CONFIG_JSON,
        {
            "config": config.to_dict(),
            "data_dir": str(resolve_data_dir(data_dir).resolve()),
            "word_index": WORD_INDEX_JSON,
            # the id layout of imdb.load_data / imdb.encode that this model was trained on
            "ids": {
                "pad": imdb.PAD_CHAR,
                "start_char": imdb.START_CHAR,
                "oov_char": imdb.OOV_CHAR,
                "index_from": imdb.INDEX_FROM,
            },
            "npnet_version": npnet.__version__,
        },
    )


@dataclass(frozen=True)
class Run:
    """A run folder read back: its config, where its data came from, and its word index."""

    path: Path
    config: TrainConfig
    data_dir: str | None
    word_index: dict[str, int]
    ngrams: NgramTable | None = None  # with config.ngrams >= 2: the table of ngrams.npz
    ratio: np.ndarray | None = None  # with config.bag_features: the log-count ratio of ratio.npz

    @property
    def name(self) -> str:
        return self.path.name

    def model(self, weights: str = WEIGHTS_NPZ) -> npnet.Sequential:
        """The run's model with the saved final weights."""
        model = build_model(self.config, self.ngrams, self.ratio)
        path = self.path / weights
        if not path.exists():
            hint = (
                f"training did not finish; continue it with `npnet train --resume {self.path}`"
                if (self.path / CHECKPOINT_NPZ).exists()
                else "train it first with `npnet train`"
            )
            raise RunError(f"{self.path} has no {weights}: {hint}")
        model.load_weights(path)
        return model

    def encode(self, text: str) -> list[int]:
        """A review's text -> its ids (start marker first), tokenized exactly as the training data was."""
        return imdb.encode(text, self.word_index, num_words=self.config.num_words)

    def inputs(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Id lists -> the padded matrix the model takes: the run's n-gram ids added (if any) or the bags
        made, padded and truncated as in training."""
        return pad_like_training(Ragged.from_lists(seqs), self.config, self.ngrams)


def open_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder made by `create_run`."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"no run folder at {path}: pass --run runs/<name> of a run made by `npnet train`")
    saved = read_json(path / CONFIG_JSON, "run config")
    if not (isinstance(saved, dict) and "config" in saved and "ids" in saved):
        raise RunError(f"{path / CONFIG_JSON} is not a run config (no settings or ids); train the run again")
    try:
        config = TrainConfig.from_dict(saved["config"])
    except RunError as e:
        raise RunError(f"{path / CONFIG_JSON} holds invalid settings: {e}; train the run again") from None
    ids = saved["ids"]
    data_dir, index_name = saved.get("data_dir"), saved.get("word_index", WORD_INDEX_JSON)
    if not (data_dir is None or isinstance(data_dir, str)):
        raise RunError(
            f"{path / CONFIG_JSON}: data_dir must be a path, got {data_dir!r}; train the run again"
        )
    if not (isinstance(index_name, str) and index_name and Path(index_name).name == index_name):
        # a file of the run folder only: a config must not point the reader anywhere else
        raise RunError(
            f"{path / CONFIG_JSON}: word_index must be a file name in the run folder, got {index_name!r}"
        )
    expected = {
        "pad": imdb.PAD_CHAR,
        "start_char": imdb.START_CHAR,
        "oov_char": imdb.OOV_CHAR,
        "index_from": imdb.INDEX_FROM,
    }
    if ids != expected:
        raise RunError(f"{path} was trained with ids {ids}, this npnet encodes with {expected}; retrain it")
    word_index = imdb.check_word_index(
        read_json(path / index_name, "word index"), path / index_name, "train the run again"
    )
    ngrams = None
    if config.ngrams > 1:
        try:
            ngrams = ngram_table_for(config, NgramTable.load(path / NGRAMS_NPZ))
        except (FileFormatError, RunError) as e:
            raise RunError(f"{path} needs its n-gram table {NGRAMS_NPZ}: {e}") from None
    ratio = None
    if config.bag_features:
        try:
            ratio = ratio_for(config, ngrams, load_ratio(path / RATIO_NPZ))
        except (FileFormatError, RunError) as e:
            raise RunError(f"{path} needs its log-count ratio {RATIO_NPZ}: {e}") from None
    return Run(path=path, config=config, data_dir=data_dir, word_index=word_index, ngrams=ngrams, ratio=ratio)


def update_epochs(run: Run, epochs: int) -> Run:
    """Extend (or shorten, down to the epochs done) a run's epoch count in its config.json."""
    path = run.path / CONFIG_JSON
    saved = read_json(path, "run config")
    config = dataclasses.replace(run.config, epochs=epochs)
    saved["config"] = config.to_dict()
    write_json(path, saved)
    return dataclasses.replace(run, config=config)


def missing_outputs(run_dir: Path) -> list[str]:
    """The files of a finished run that `run_dir` lacks (weights, then the report's, report.md last)."""
    return [name for name in (WEIGHTS_NPZ, *run_report.RUN_REPORT_FILES) if not (run_dir / name).exists()]
