"""Attention maps: a review's attention weights per head as a heatmap PNG, words on both axes (rows: the
query word, columns: the word it attends to), one panel per head. report.md shows them
(`run_report.render_report_md`'s `attention_maps`).

This module only writes files; it never prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from npnet.datasets import imdb
from npnet.errors import RunError
from npnet.metrics import positive_probability, predicted_labels
from npnet.model import Sequential
from npnet.reports.run_report import CLASS_NAMES, _pyplot, _save_figure
from npnet.runs.attention import ReviewAttention, attention_layer, review_attention

REPORT_REVIEWS = 3  # test reviews whose maps report.md shows
SHORT_REVIEW = 40  # tokens: a review the report picks is at most this long when it can be (readable maps)
_PREVIEW = 60  # characters of a review in a map's title

_CELL = 0.16  # inches per word: 60 words make a 9.6-inch panel, labels at 6 pt still apart
_MIN_PANEL = 3.0


def plot_attention(path: str | Path, weights: np.ndarray, words: Sequence[str], *, title: str) -> None:
    """weights (H, L, L) (rows: queries, columns: keys) over `words` (L,) -> one heatmap panel per head,
    side by side, on one colour scale (0 to the largest weight), with `title` above them."""
    weights = np.asarray(weights)
    if weights.ndim != 3 or weights.shape[1:] != (len(words), len(words)):
        raise ValueError(
            f"weights must be (heads, {len(words)}, {len(words)}) for {len(words)} words, got {weights.shape}"
        )
    heads, n = weights.shape[0], len(words)
    panel = max(_MIN_PANEL, _CELL * n + 1.0)
    font = 8 if n <= 30 else 6
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, heads, figsize=(panel * heads + 1.2, panel + 1.1), squeeze=False, constrained_layout=True
    )
    top = float(weights.max()) if weights.size else 1.0
    image = None
    for h, ax in enumerate(axes[0]):
        image = ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=top or 1.0, aspect="equal")
        ax.set_xticks(np.arange(n), labels=list(words), rotation=90, fontsize=font)
        ax.set_yticks(np.arange(n), labels=list(words), fontsize=font)
        ax.set_title(f"head {h + 1}", fontsize=10)
        ax.set_xlabel("attends to (key)", fontsize=9)
        ax.set_ylabel("word (query)", fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.6, label="attention weight")
    fig.suptitle(title, fontsize=10)
    _save_figure(fig, path)


def review_title(
    run_title: str, what: str, text: str, label: str, probability: float, review: ReviewAttention
) -> str:
    """A map's title: the run, the review (`what`, its first words), the model's verdict (`label`, the
    positive class's `probability`), and what the map leaves out (the words before the last MAX_WORDS, the
    attention on padding)."""
    preview = " ".join(text.split())
    preview = preview if len(preview) <= _PREVIEW else preview[: _PREVIEW - 3] + "..."
    shown = len(review.words)
    tokens = f"{shown} tokens" if shown == review.tokens else f"its last {shown} of {review.tokens} tokens"
    return (
        f'Attention, {run_title}\n{what}: "{preview}"\n{label} (p = {probability:.3f}); {tokens}; '
        f"{review.padding_share:.0%} of the attention on padding (not shown)"
    )


def write_test_attention(
    run_dir: Path,
    run_title: str,
    model: Sequential,
    x_test: np.ndarray,
    probabilities: np.ndarray,
    word_index: Mapping[str, int],
    count: int = REPORT_REVIEWS,
) -> list[tuple[str, str]]:
    """Draw the attention maps of `count` test reviews (the first ones of at most SHORT_REVIEW tokens, else
    the shortest) into `run_dir` as attention_test_<i>.png; returns [(file name, caption)] for report.md,
    or [] for a model without attention."""
    try:
        attention_layer(model)
    except RunError:
        return []
    lengths = np.count_nonzero(x_test != imdb.PAD_CHAR, axis=1)
    short = np.flatnonzero(lengths <= SHORT_REVIEW)[:count]
    picks = short if len(short) == count else np.argsort(lengths, kind="stable")[:count]
    positive, labels = positive_probability(probabilities), predicted_labels(probabilities)
    maps = []
    for i, review in zip(picks.tolist(), review_attention(model, x_test[picks], word_index), strict=True):
        name = f"attention_test_{i}.png"
        text = " ".join(review.words)
        plot_attention(
            run_dir / name,
            review.weights,
            review.words,
            title=review_title(
                run_title, f"test review {i}", text, CLASS_NAMES[labels[i]], float(positive[i]), review
            ),
        )
        maps.append((name, f"Test review {i} ({CLASS_NAMES[labels[i]]}, p = {positive[i]:.3f})"))
    return maps
