"""`python -m parity`: run every Keras parity check and print the differences as a markdown table.

Needs the parity extra (Keras, JAX) and the real imdb.npz (`npnet data build --from PATH` makes it).
Exit status 1 if any check fails its tolerance.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import npnet
from npnet.datasets.files import resolve_data_dir
from parity import attention, checks, conv, recurrent, specs
from parity import keras_side as ks
from parity.compare import Row, markdown_table, merge_rows


def collect(npz_path: Path, detail: bool) -> list[Row]:
    """All checks, in the report's fixed order. Unless `detail`, a check's rows are folded into one where the
    parts say the same thing (every load_data argument set, the statistics of one initializer, a variant)."""

    def fold(rows: list[Row], check: str, quantity: str) -> list[Row]:
        return rows if detail else [merge_rows(rows, check, quantity)]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = checks.write_synthetic_npz(Path(tmp) / "imdb.npz")
        for label, path, grid in (
            ("synthetic file", synthetic, checks.SYNTHETIC_LOAD_DATA_GRID),
            ("real IMDB", npz_path, checks.REAL_LOAD_DATA_GRID),
        ):
            parts = [row for kwargs in grid for row in checks.load_data_rows(path, kwargs, label)]
            rows += fold(parts, f"load_data, {label}", f"{len(grid)} argument sets x 4 arrays")
    rows.append(checks.pad_sequences_summary())
    for dtype in checks.DTYPES:
        init = checks.initializer_rows(dtype)
        for check in dict.fromkeys(row.check for row in init):
            parts = [row for row in init if row.check == check]
            rows += parts if detail else [_init_summary(parts)]
    data = checks.padded_imdb(npz_path)
    precisions = checks.PRECISIONS.values()
    for precision in precisions:
        parts = [
            row
            for fused in (None, False)
            for mask_zero in (False, True)
            for row in checks.forward_rows(precision, data, specs.ModelSpec(mask_zero=mask_zero), fused)
        ]
        quantity = f"{parts[0].quantity}: plain and mask_zero, fused path and readable layers"
        rows += fold(parts, "forward (Keras's weights)", quantity)
    for spec in specs.MAIN_SPECS:
        for precision in precisions:
            rows += checks.training_rows(spec, precision, data, detail=detail)
    for fused in (None, False):
        for precision in precisions:
            parts = checks.fit_rows(specs.FAST, precision, data, fused)
            rows += fold(parts, parts[0].check, "history (loss, accuracy, val_*), evaluate, predict")
    for spec in specs.VARIANT_SPECS:
        for precision in precisions:
            parts = checks.training_rows(spec, precision, data, detail=detail)
            rows += fold(parts, parts[0].check, "loss, accuracy, weights, updates")
    rows += conv_rows(npz_path, detail)
    rows += recurrent_rows(fold)
    rows += attention_rows(fold)
    return rows


def conv_rows(npz_path: Path, detail: bool) -> list[Row]:
    """The convolution layers and Keras's imdb_cnn model (parity.conv), on the backend Keras runs here."""
    rows: list[Row] = []
    for dtype in conv.DTYPES:
        parts = conv.layer_forward_rows(dtype)
        quantity = f"output, {len(parts)} layer configurations (Keras's weights)"
        rows += (
            parts
            if detail
            else [merge_rows(parts, "forward: Conv1D, pooling, Flatten, Activation, Dropout", quantity)]
        )
    rows += conv.tie_gradient_rows() + conv.dropout_rows()
    for dtype in conv.DTYPES:
        rows += conv.cnn_training_rows(npz_path, dtype)
    return rows


def recurrent_rows(fold: Any) -> list[Row]:
    """The recurrent layers (parity.recurrent): one row per layer family and dtype unless `detail`."""
    rows: list[Row] = []
    for dtype in recurrent.DTYPES:
        layer_rows = recurrent.layer_rows(dtype)
        for check in dict.fromkeys(row.check for row in layer_rows):
            parts = [row for row in layer_rows if row.check == check]
            rows += fold(parts, f"{check} (Keras's weights)", "outputs and states: every option and padding")
        rows += fold(recurrent.model_forward_rows(dtype), "lstm, bilstm forward, mask_zero", "predictions")
        for name in recurrent.MODEL_SIZES:
            rows += recurrent.training_rows(name, dtype)
            if name in recurrent.MASKED_MODELS:
                rows += recurrent.training_rows(name, dtype, mask_zero=True, padding="post")
    return rows + recurrent.dropout_rows()


def attention_rows(fold: Any) -> list[Row]:
    """Attention (parity.attention): one row per check and dtype unless `detail`."""
    rows: list[Row] = []
    for dtype in attention.DTYPES:
        parts = attention.mha_rows(dtype)
        for check in dict.fromkeys(row.check for row in parts):
            same = [row for row in parts if row.check == check]
            rows += fold(same, f"{check} (Keras's weights)", "outputs and probabilities: every mask kind")
        rows += attention.norm_and_softmax_rows(dtype) + attention.loss_rows(dtype)
        rows += attention.block_rows(dtype) + attention.training_rows(dtype)
        rows += attention.training_rows(dtype, mask_zero=True)
    return rows


def _init_summary(parts: list[Row]) -> Row:
    """An initializer's statistics as one row: the KS distance (the whole distribution) stands for the
    others, which must pass too."""
    lead = next((row for row in parts if row.quantity == "KS distance"), parts[0])
    failed = [row for row in parts if not row.ok]
    quantity = "KS distance (bounds, mean, variance checked too)" if len(parts) > 1 else lead.quantity
    note = f"{failed[0]}" if failed else ""
    return replace(lead, quantity=quantity, ok=not failed, note=note)


def preamble() -> str:
    """What was compared with what, and what the precisions mean."""
    return (
        f"npnet {npnet.__version__} (NumPy {np.__version__}) against {ks.versions()}, "
        "the same weights and batches on both sides. Precisions: **float64** = both "
        "sides compute in float64 (Keras's demotion of 64-bit op results to 32-bit, `BIT64_TO_BIT32_DTYPE`, "
        "lifted for the check); **float64-stock** = Keras as shipped: float64 weights and products, but "
        "`ops.mean` (pooling, loss and metric means) in float32; **float32** = both in float32. Relative "
        "differences are normwise: max|npnet - Keras| / max|Keras| per array.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding imdb.npz (default: NPNET_DATA_DIR or ./data)")
    parser.add_argument(
        "--detail", action="store_true", help="one row per compared quantity and argument set"
    )
    args = parser.parse_args(argv)
    npz_path = resolve_data_dir(args.data_dir) / "imdb.npz"
    if not npz_path.is_file():
        print(
            f"no imdb.npz at {npz_path}: build it with "
            "`npnet data build --from ../shared/data/aclImdb_v1_labeled.tar.gz`, or pass --data-dir",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    rows = collect(npz_path, args.detail)
    print(preamble())
    print(markdown_table(rows))
    failed = sum(not row.ok for row in rows)
    print(
        f"\n{len(rows) - failed} of {len(rows)} rows within tolerance ({time.perf_counter() - start:.0f} s)."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
