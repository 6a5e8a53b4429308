"""A small, learnable IMDB stand-in for the training tests: an aclImdb-shaped folder of made-up reviews, built
into imdb.npz + imdb_word_index.json by the data package's own builder (the same writer as the real data)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from npnet.cli import main
from npnet.datasets.build import build_imdb

# Settings that learn the synthetic reviews in a few epochs (the vocabulary has ~30 words, all below 60).
SMALL = ["--num-words", "60", "--maxlen", "32", "--lr", "0.01", "--decay", "0.001", "--batch-size", "16"]

POSITIVE = ("great", "wonderful", "superb", "loved", "brilliant", "moving")
NEGATIVE = ("awful", "boring", "terrible", "hated", "worst", "dull")
NEUTRAL = (
    "the",
    "movie",
    "film",
    "a",
    "and",
    "plot",
    "actor",
    "story",
    "was",
    "it",
    "of",
    "scene",
    "i",
    "this",
)


def write_reviews(root: Path, n_per_class: int = 60, seed: int = 0) -> Path:
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt with `n_per_class` reviews in each folder."""
    rng = np.random.default_rng(seed)
    source = root / "aclImdb"
    for split in ("train", "test"):
        for label, words, rating in (("pos", POSITIVE, 8), ("neg", NEGATIVE, 2)):
            folder = source / split / label
            folder.mkdir(parents=True)
            for i in range(n_per_class):
                n_words = int(rng.integers(6, 40))
                mood = rng.random(n_words) < 0.25
                text = [str(rng.choice(words)) if is_mood else str(rng.choice(NEUTRAL)) for is_mood in mood]
                review = " ".join(text).capitalize() + ". <br /><br />The End!"
                (folder / f"{i}_{rating}.txt").write_text(review, encoding="utf-8")
    return source


def build_data(root: Path, n_per_class: int = 60) -> Path:
    """A data folder with imdb.npz and imdb_word_index.json of the synthetic reviews; returns its path."""
    data_dir = root / "data"
    build_imdb(write_reviews(root / "source", n_per_class), data_dir)
    return data_dir


def run_cli(*argv: str | Path) -> tuple[int, str, str]:
    """`npnet argv...` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()
