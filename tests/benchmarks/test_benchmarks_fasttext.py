"""The fastText part of the benchmark harness: its report lines from a result of benchmarks.fasttext, and
the measuring functions that need no real data."""

from __future__ import annotations

import json

from benchmarks.fasttext import adam_and_copy
from benchmarks.report import fasttext_lines

RESULT = {
    "load_before": [3.0, 2.0, 1.0],
    "load_after": [4.0, 2.0, 1.0],
    "ngram_build": {"ngrams": 1_173_400, "total_seconds": 6.5, "total_cpu_seconds": 5.2},
    "steps_per_epoch": 782,
    "seconds_per_step": {"lazy": 0.02, "dense": 0.4, "keras-jax": 0.24},
    "epoch_seconds": {"lazy": 15.64, "dense": 312.8, "keras-jax": 187.68},
    "x_keras_jax": {"lazy": 0.083, "dense": 1.667},
    "adam_and_copy": {
        "table_mb": 238.7,
        "adam_seconds": 0.3,
        "adam_fraction_of_bound": 0.5,
        "copy_gbs": 10.0,
        "rows_adam_seconds": 0.1,
        "rows_touched": 15_000,
        "rows_adam_fraction_of_bound": 0.75,
    },
    "train_rss": {"command": "npnet train --preset fasttext", "peak_rss_mb": 1234.0},
}


def test_the_report_shows_every_system_beside_keras_jax_and_the_other_figures():
    text = "\n".join(fasttext_lines(json.loads(json.dumps(RESULT))))
    assert "| lazy | 0.0200 | 16 s (782) | 0.083 |" in text
    assert "| dense | 0.4000 | 313 s (782) | 1.667 |" in text
    assert "| keras-jax | 0.2400 | 188 s (782) | 1 |" in text
    assert "0.50 of the copy-bandwidth bound" in text and "1,173,400 n-grams" in text and "5.2 s CPU" in text
    assert "from a batch's 15,000 rows (the preset's step) 0.100 s, 0.75 of its bound" in text
    assert "**1234 MB**" in text and "load 3.0 before" in text
    adam = {k: v for k, v in RESULT["adam_and_copy"].items() if not k.startswith("rows_")}
    older = "\n".join(fasttext_lines({**RESULT, "adam_and_copy": adam}))  # saved before the rows kernel
    assert "GB/s). N-gram build" in older and "rows" not in older


def test_no_result_no_section_and_a_failure_says_why():
    assert fasttext_lines(None) == []
    assert "not measured (boom)" in fasttext_lines({"error": "boom"})[-1]


def test_adam_and_copy_measures_a_small_table():
    result = adam_and_copy(1000, 8, repeats=2, touched=100)
    assert result["adam_seconds"] > 0 and result["copy_gbs"] > 0 and result["rows_adam_seconds"] > 0
    assert result["table_mb"] == 1000 * 8 * 4 / 1e6 and result["rows_touched"] == 100
