"""The comparison: analytic gradients against central differences of one objective, tensor by tensor.

The objective returns f and a kink pattern (the layers' `kink_pattern()` and the loss's); a perturbation
whose pattern differs from the unperturbed one crossed a non-differentiable point and is retried with a
smaller step, then reported as a kink. The checker knows no layer or loss class: only that objective.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from npnet.gradcheck.diagnosis import diagnose
from npnet.gradcheck.plans import plan_for
from npnet.gradcheck.report import Row
from npnet.gradcheck.settings import NOISE_FACTOR, Settings

Objective = Callable[[], tuple[float, np.ndarray]]  # f at the current (perturbed) state, and its kink pattern


class Checker:
    """Compares analytic gradients with central differences of one objective, tensor by tensor."""

    def __init__(
        self, objective: Objective, settings: Settings, noise: float, rng: np.random.Generator
    ) -> None:
        self.objective = objective
        self.settings = settings
        self.noise = noise  # about max(1, |f|): f's rounding error is eps times this
        self.rng = rng
        self.base_pattern = objective()[1]

    def atol(self, step: np.ndarray) -> np.ndarray:
        """The absolute tolerance for a central difference taken with `step` (npnet.gradcheck's docstring)."""
        s, step = self.settings, np.asarray(step, dtype=np.float64)
        if s.atol is not None:
            return np.full_like(step, s.atol)
        return NOISE_FACTOR * float(np.finfo(s.dtype).eps) * self.noise / step

    def tensor(
        self,
        name: str,
        live: np.ndarray,
        analytic: np.ndarray | None,
        where: str,
        ids: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> Row:
        """Check `analytic` = df/d`live`, where `live` is the array the objective reads (perturbed in place,
        restored exactly). where: the code to blame on failure. ids: the token ids when `live` is an embedding
        table fed them. scale: the per-element step scale (default max(1, |live|)).
        """
        s = self.settings
        shape = tuple(live.shape)
        plan = plan_for(shape, ids, s, self.rng)
        if analytic is None or analytic.shape != shape:
            got = "None" if analytic is None else str(analytic.shape)
            problem = f"the analytic gradient has shape {got}, the tensor {shape}: look at {where}"
            return Row(name, shape, 0, plan.coverage, np.inf, "", np.nan, np.nan, (), False, problem)
        analytic = analytic.astype(np.float64)
        scale = np.maximum(1.0, np.abs(live)) if scale is None else scale

        results: list[tuple[str, float, float, float, bool]] = []  # label, analytic, numeric, step, kink
        for i in plan.indices:  # element by element
            index = np.unravel_index(i, shape)
            numeric, step, crossed = self.central(_element_mover(live, index), s.step * float(scale[index]))
            label = str(tuple(int(k) for k in index))
            results.append((label, float(analytic[index]), numeric, step, crossed))
        h = s.step * max(1.0, float(np.max(np.abs(live))))
        for k in range(plan.directions):  # random directions over the whole tensor, each element moving ~h
            d = self.rng.standard_normal(shape)
            d /= np.sqrt(np.mean(d * d))
            numeric, step, crossed = self.central(_direction_mover(live, d), h)
            results.append((f"direction {k + 1}", float(np.sum(analytic * d)), numeric, step, crossed))
        labels = [r[0] for r in results]
        a, n, steps = (np.array([r[j] for r in results], dtype=np.float64) for j in (1, 2, 3))
        kink = np.array([r[4] for r in results], dtype=bool)
        with np.errstate(invalid="ignore"):
            rel = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), self.atol(steps) / s.rtol)
        rel = np.where(kink, 0.0, np.where(np.isnan(rel), np.inf, rel))  # kinks not judged; NaN fails

        worst = int(np.argmax(np.where(kink, -1.0, rel))) if not kink.all() else None  # judged elements only
        row = Row(
            name=name,
            shape=shape,
            checked=len(plan.indices),
            coverage=plan.coverage,
            max_rel_error=0.0 if worst is None else float(rel[worst]),
            worst="" if worst is None else labels[worst],
            analytic=np.nan if worst is None else float(a[worst]),
            numeric=np.nan if worst is None else float(n[worst]),
            kinks=tuple(label for label, crossed in zip(labels, kink, strict=True) if crossed),
            passed=True,
        )
        leaked = plan.must_be_zero[analytic.ravel()[plan.must_be_zero] != 0]
        if len(leaked):
            first = tuple(int(k) for k in np.unravel_index(leaked[0], shape))
            problem = (
                f"{len(leaked)} element(s) in rows that no id in the batch selects have a non-zero analytic "
                f"gradient (first at {first}), yet the loss cannot depend on them: look at {where} (a stale "
                "accumulator, or writes outside the batch's rows)"
            )
            return replace(
                row,
                worst=str(first),
                analytic=float(analytic[first]),
                numeric=0.0,
                max_rel_error=max(row.max_rel_error, 1.0),
                passed=False,
                problem=problem,
            )
        bad = rel > s.rtol
        if worst is None or not bad.any():
            return row
        m = len(plan.indices)
        problem = diagnose(a[:m], n[:m], bad[:m], plan, shape, labels[worst])
        return replace(row, passed=False, problem=f"{problem}; look at {where}")

    def central(self, move: Callable[[float], float], h: float) -> tuple[float, float, bool]:
        """(f(+h) - f(-h)) / 2h along `move`, shrinking h while a perturbation crosses a kink.

        Returns (numeric derivative, step used, crossed a kink at every step tried).
        """
        for attempt in range(self.settings.kink_retries + 1):
            step = h / 10**attempt
            t_plus = move(step)
            f_plus, pattern_plus = self.objective()
            t_minus = move(-step)
            f_minus, pattern_minus = self.objective()
            move(0.0)
            if t_plus == t_minus:
                raise ValueError(f"a step of {step:.3g} does not change a tensor element: pass a larger step")
            numeric = (f_plus - f_minus) / (t_plus - t_minus)
            if np.array_equal(pattern_plus, self.base_pattern) and np.array_equal(
                pattern_minus, self.base_pattern
            ):
                return numeric, step, False
        return numeric, step, True


def _element_mover(live: np.ndarray, index: tuple[int, ...]) -> Callable[[float], float]:
    """Set live[index] = original + t; returns the offset actually stored (rounding included)."""
    original = live[index]

    def move(t: float) -> float:
        live[index] = original + t
        return float(live[index]) - float(original)

    return move


def _direction_mover(live: np.ndarray, direction: np.ndarray) -> Callable[[float], float]:
    """Set live = original + t * direction."""
    original = live.copy()

    def move(t: float) -> float:
        live[...] = original + t * direction
        return t

    return move
