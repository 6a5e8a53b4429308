"""Where to look: how an analytic gradient is wrong, read from the pattern of its failing elements."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npnet.gradcheck.plans import Plan
from npnet.gradcheck.report import Row


def diagnose(
    a: np.ndarray, n: np.ndarray, bad: np.ndarray, plan: Plan, shape: tuple[int, ...], worst: str
) -> str:
    """How the analytic gradient is wrong, read from the pattern of the failing elements."""
    head = f"{int(bad.sum())} of {len(bad)} element(s) disagree (worst at {worst})"
    if not bad.any():
        return (
            f"the random-direction screen disagrees though all {len(bad)} sampled elements agree: the error "
            "sits in elements outside the sample (raise full_limit to check every element)"
        )
    ab, nb = a[bad], n[bad]
    if np.all(ab == 0):
        return (
            f"{head}: the analytic gradient is 0 where the loss does change: a contribution is never written"
        )
    if plan.row_counts is not None:
        counts = plan.row_counts[plan.indices // shape[1]]
        if np.all(counts[bad] >= 2) and (counts == 1).any() and not bad[counts == 1].any():
            return (
                f"{head}: only rows whose id occurs more than once are wrong, rows used once are right: "
                "repeated ids lose contributions (accumulate with np.add.at; a buffered `grad[ids] += g` "
                "keeps only one write per id)"
            )
    if len(shape) == 2 and shape[0] == shape[1] > 1 and len(a) == shape[0] ** 2:
        full_a, full_n = a.reshape(shape), n.reshape(shape)
        if np.allclose(full_a, full_n.T, rtol=1e-4, atol=0):
            return (
                f"{head}: the analytic gradient is the transpose of the numeric one: a matrix is transposed"
            )
    ratio = ab[nb != 0] / nb[nb != 0]
    if len(ratio) and np.allclose(ratio, np.median(ratio), rtol=1e-3, atol=0):
        k = float(np.median(ratio))
        if np.isclose(k, -1.0, rtol=1e-3):
            return f"{head}: analytic = -numeric: a sign is flipped"
        return f"{head}: analytic = {k:.4g} x numeric on every failing element: a constant factor is wrong"
    return f"{head}: no constant factor or transpose explains it: a term is missing or wrong"


def model_notes(names: Sequence[str], rows: Sequence[Row]) -> tuple[str, ...]:
    """Where to look in a model whose layers are `names` (input first): errors flow down from the first wrong
    step, so start at the failure closest to the loss."""
    failing = [r for r in rows if not r.passed]
    if not failing:
        return ()
    top = failing[-1].name.split("/")[0]
    above = list(names[names.index(top) + 1 :]) if top in names else []
    upstream = (
        f"the input gradients returned by the layer(s) above it ({', '.join(above)}) and the loss's gradient"
        if above
        else "the loss's gradient"
    )
    return (
        "Where to look: a wrong gradient spoils every parameter below it. The failing parameter closest to "
        f"the loss is in {top!r}: check its parameter gradients, then {upstream}.",
    )
