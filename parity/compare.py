"""How a parity check compares npnet's result with Keras's: one `Row` per compared quantity. NumPy only.

Relative difference is normwise: max|ours - keras| / max|keras|, relative to the largest magnitude in the
reference array. Elementwise ratios would blow up on entries that happen to be near zero (a ReLU bias, a
weight crossing zero) without saying anything about agreement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Row:
    """One compared quantity of one check, with the tolerance it is held to and whether it met it."""

    check: str
    quantity: str
    dtype: str
    max_abs: float
    max_rel: float
    tolerance: str
    ok: bool
    note: str = ""

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        note = f" ({self.note})" if self.note else ""
        return (
            f"{self.check} / {self.quantity} [{self.dtype}]: max abs {_fmt(self.max_abs)}, "
            f"max rel {_fmt(self.max_rel)}, tolerance {self.tolerance}: {verdict}{note}"
        )


def array_row(
    check: str,
    quantity: str,
    dtype: str,
    ours: Any,
    keras: Any,
    *,
    rel_tol: float | None = None,
    abs_tol: float | None = None,
) -> Row:
    """Compare two numeric arrays of the same shape. With neither tolerance given they must be equal.

    NaN must sit in the same places on both sides (Keras's masked average of an all-padding row is NaN).
    """
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(keras, dtype=np.float64)
    tolerance = _tolerance_text(rel_tol, abs_tol)
    if a.shape != b.shape:
        note = f"shape {a.shape} vs Keras {b.shape}"
        return Row(check, quantity, dtype, math.inf, math.inf, tolerance, False, note)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        note = f"NaN at different places ({int(nan_a.sum())} vs Keras {int(nan_b.sum())})"
        return Row(check, quantity, dtype, math.inf, math.inf, tolerance, False, note)
    a, b = a[~nan_a], b[~nan_b]
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    if rel_tol is None and abs_tol is None:
        ok = max_abs == 0.0
    else:
        ok = (rel_tol is not None and max_rel <= rel_tol) or (abs_tol is not None and max_abs <= abs_tol)
    return Row(check, quantity, dtype, max_abs, max_rel, tolerance, ok)


def sequences_row(check: str, quantity: str, ours: Sequence[Any], keras: Sequence[Any]) -> Row:
    """Two collections of integer sequences (load_data's ragged output) must be identical, elementwise."""
    tolerance = "identical"
    if len(ours) != len(keras):
        note = f"{len(ours)} sequences vs Keras {len(keras)}"
        return Row(check, quantity, "int", math.inf, math.inf, tolerance, False, note)
    differing = [i for i, (s, k) in enumerate(zip(ours, keras, strict=True)) if not _same_sequence(s, k)]
    if not differing:
        return Row(check, quantity, "int", 0.0, 0.0, tolerance, True)
    first = differing[0]
    s, k = np.asarray(ours[first]), np.asarray(keras[first])
    max_abs = float(np.max(np.abs(s - k))) if s.shape == k.shape else math.inf
    note = f"{len(differing)} of {len(keras)} sequences differ, first at index {first}"
    return Row(check, quantity, "int", max_abs, math.nan, tolerance, False, note)


def exception_row(check: str, quantity: str, ours: BaseException | None, keras: BaseException | None) -> Row:
    """Where Keras refuses an input npnet must refuse it too (its own message may be clearer), and back."""
    ok = (ours is None) == (keras is None)
    note = "" if ok else f"npnet: {ours!r}; Keras: {keras!r}"
    return Row(check, quantity, "-", 0.0 if ok else math.inf, math.nan, "both raise or neither", ok, note)


# Statistical thresholds for the initializer checks. The draws use fixed seeds, so a check gives the same
# answer on every run; the thresholds say how unlikely a false alarm would be if the seeds changed, while a
# wrong distribution (another limit, another family, a shifted centre) lands far outside them.
Z_LIMIT = 5.0  # two-sided normal tail beyond 5 standard errors: 5.7e-7
KS_ALPHA = 1e-6  # significance of the two-sample Kolmogorov-Smirnov test


def uniform_rows(check: str, dtype: str, ours: np.ndarray, keras: np.ndarray, limit: float) -> list[Row]:
    """Samples that should both be U(-limit, limit): bounds, mean, variance, and the whole distribution (KS).

    The mean and variance are compared between the two libraries (two-sample), with standard errors from the
    uniform's moments: Var(x) = L^2/3, Var(sample variance) ~ (mu4 - sigma^4)/n = 4 L^4 / (45 n).
    """
    a = np.asarray(ours, dtype=np.float64).ravel()
    b = np.asarray(keras, dtype=np.float64).ravel()
    n, m = a.size, b.size
    rows = []

    # Bounds: nothing outside [-L, L], and the extremes reach L:
    # P(max|x| < L(1 - 20/n)) = (1 - 20/n)^n < e^-20.
    reach = limit * (1 - 20 / min(n, m))
    extremes = np.array([np.abs(a).max(), np.abs(b).max()])
    ok = bool(np.all(extremes <= limit * (1 + 1e-7)) and np.all(extremes >= reach))
    rows.append(
        Row(
            check,
            "bounds: max abs w in [L(1-20/n), L]",
            dtype,
            float(abs(extremes[0] - extremes[1])),
            math.nan,
            f"L = {limit:.4f}",
            ok,
            "" if ok else f"max|w| npnet {extremes[0]:.5f}, Keras {extremes[1]:.5f}",
        )
    )

    sigma2 = limit**2 / 3
    mean_gap = abs(a.mean() - b.mean())
    mean_bound = Z_LIMIT * math.sqrt(sigma2 * (1 / n + 1 / m))
    rows.append(
        Row(
            check,
            "mean",
            dtype,
            mean_gap,
            math.nan,
            f"≤ {Z_LIMIT:g} s.e. = {mean_bound:.1e}",
            mean_gap <= mean_bound,
        )
    )

    var_gap = abs(a.var() - b.var())
    var_bound = Z_LIMIT * math.sqrt(4 * limit**4 / 45 * (1 / n + 1 / m))
    rows.append(
        Row(
            check,
            "variance",
            dtype,
            var_gap,
            var_gap / sigma2,
            f"≤ {Z_LIMIT:g} s.e. = {var_bound:.1e}",
            var_gap <= var_bound,
        )
    )

    d = ks_statistic(a, b)
    d_bound = math.sqrt(-math.log(KS_ALPHA / 2) / 2) * math.sqrt((n + m) / (n * m))
    rows.append(
        Row(check, "KS distance", dtype, d, math.nan, f"≤ {d_bound:.1e} (alpha = {KS_ALPHA:g})", d <= d_bound)
    )
    return rows


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance: the largest gap between the two empirical CDFs."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def merge_rows(rows: Sequence[Row], check: str, quantity: str) -> Row:
    """Many rows as one (every weight tensor, every padding case): the worst differences; all must pass."""
    if not rows:
        raise ValueError(f"merge_rows got no rows for {check} / {quantity}")
    failed = [row for row in rows if not row.ok]
    rels = [row.max_rel for row in rows if not math.isnan(row.max_rel)]
    return Row(
        check=check,
        quantity=quantity,
        dtype=rows[0].dtype if len({row.dtype for row in rows}) == 1 else "various",
        max_abs=max(row.max_abs for row in rows),
        max_rel=max(rels) if rels else math.nan,
        tolerance=rows[0].tolerance if len({row.tolerance for row in rows}) == 1 else "per part (--detail)",
        ok=not failed,
        note=f"{len(failed)} of {len(rows)} failed, first: {failed[0]}" if failed else "",
    )


def _same_sequence(ours: Any, keras: Any) -> bool:
    s, k = np.asarray(ours), np.asarray(keras)
    return s.shape == k.shape and bool(np.array_equal(s, k))


def _tolerance_text(rel_tol: float | None, abs_tol: float | None) -> str:
    parts = []
    if rel_tol is not None:
        parts.append(f"rel ≤ {rel_tol:.0e}")
    if abs_tol is not None:
        parts.append(f"abs ≤ {abs_tol:.0e}")
    return " or ".join(parts) if parts else "identical"


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    return f"{value:.1e}"


def markdown_table(rows: Iterable[Row]) -> str:
    """The parity report: one line per compared quantity."""
    lines = [
        "| check | compared | dtype | max abs diff | max rel diff | tolerance | result |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for row in rows:
        result = "ok" if row.ok else f"**FAILED** {row.note}".strip()
        cells = (
            row.check,
            row.quantity,
            row.dtype,
            _fmt(row.max_abs),
            _fmt(row.max_rel),
            row.tolerance,
            result,
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")  # | ends a cell
    return "\n".join(lines)
