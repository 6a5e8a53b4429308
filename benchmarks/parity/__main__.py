"""`python -m benchmarks.parity`: run every Keras parity check and print the differences as a markdown table.

Needs the parity extra (Keras, torch) and the real imdb.npz (`npnet data build --from PATH` makes it).
Exit status 1 if any check fails its tolerance.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.parity import checks, specs
from benchmarks.parity.compare import Row, markdown_table, merge_rows
from npnet.datasets.files import resolve_data_dir


def collect(npz_path: Path, detail: bool) -> list[Row]:
    """All checks, in the order of the issue. Unless `detail`, a check's rows are folded into one where the
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
            rows += fold(parts, check, ", ".join(row.quantity for row in parts))
    data = checks.padded_imdb(npz_path)
    precisions = checks.PRECISIONS.values()
    for precision in precisions:
        for mask_zero in (False, True):
            rows += checks.forward_rows(precision, data, specs.ModelSpec(mask_zero=mask_zero))
    for spec in specs.MAIN_SPECS:
        for precision in precisions:
            rows += checks.training_rows(spec, precision, data, detail=detail)
    for precision in precisions:
        rows += checks.fit_rows(specs.FAST, precision, data)
    for spec in specs.VARIANT_SPECS:
        for precision in precisions:
            parts = checks.training_rows(spec, precision, data, detail=detail)
            rows += fold(parts, parts[0].check, "loss, accuracy, weights, updates")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parity", description=__doc__.splitlines()[0])
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
    print(markdown_table(rows))
    failed = sum(not row.ok for row in rows)
    print(
        f"\n{len(rows) - failed} of {len(rows)} rows within tolerance ({time.perf_counter() - start:.0f} s)."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
