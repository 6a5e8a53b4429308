"""What a check found: one `Row` per tensor, gathered in a printable `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npnet.gradcheck.settings import Settings


@dataclass(frozen=True)
class Row:
    """The check of one tensor: a parameter (`layer/key`), a layer's `input`, or a loss's `y_pred`.

    checked: elements compared with central differences (kinks included; directions not counted).
    coverage: "all", or what the sample held. max_rel_error: over judged elements and directions.
    worst: where that occurred, an index like "(3, 5)" or "direction 1" ("" if nothing was judged), with the
    analytic and numeric values there. kinks: where every perturbation tried crossed a kink (not judged).
    problem: on failure, what is wrong and where to look.
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    coverage: str
    max_rel_error: float
    worst: str
    analytic: float
    numeric: float
    kinks: tuple[str, ...]
    passed: bool
    problem: str = ""


@dataclass(frozen=True)
class Report:
    """The result of a check: one `Row` per tensor. `print(report)` shows the table."""

    subject: str
    settings: Settings
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def max_rel_error(self) -> float:
        return max((row.max_rel_error for row in self.rows), default=0.0)

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if not row.passed)

    def __str__(self) -> str:
        s = self.settings
        atol = "noise floor (10 eps max(1,|f|) / h)" if s.atol is None else f"{s.atol:.3g}"
        lines = [
            f"gradcheck {self.subject}: {s.dtype.name}, step {s.step:.3g}, rtol {s.rtol:.3g}, atol {atol}",
            "",
        ]
        header = (
            "tensor",
            "shape",
            "checked",
            "max rel err",
            "worst at",
            "analytic",
            "numeric",
            "kinks",
            "result",
        )
        table = [header]
        for r in self.rows:
            table.append(
                (
                    r.name,
                    str(r.shape),
                    f"{r.checked}/{int(np.prod(r.shape))}",
                    f"{r.max_rel_error:.2e}",
                    r.worst or "-",
                    f"{r.analytic:.6g}",
                    f"{r.numeric:.6g}",
                    str(len(r.kinks)),
                    "ok" if r.passed else "FAIL",
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        lines.append("")
        lines += [f"{r.name}: {r.coverage}" for r in self.rows if r.coverage != "all"]
        for r in self.rows:
            if r.kinks:
                shown = ", ".join(r.kinks[:5]) + (" ..." if len(r.kinks) > 5 else "")
                lines.append(f"{r.name}: {len(r.kinks)} element(s) at a kink (not judged): {shown}")
        lines += [f"FAIL {r.name}: {r.problem}" for r in self.failures]
        lines += list(self.notes)
        verdict = "PASSED" if self.passed else "FAILED"
        kinks = sum(len(r.kinks) for r in self.rows)
        lines.append(
            f"{verdict}: max relative error {self.max_rel_error:.2e} (rtol {s.rtol:.0e}); "
            f"{kinks} kink element(s) not judged"
        )
        return "\n".join(lines)
