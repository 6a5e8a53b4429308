"""Finite-difference gradient checks for npnet layers, the loss and whole models, with a per-parameter report.

    from npnet import gradcheck
    report = gradcheck.check_model(model, x, y)        # every parameter of a compiled model, against its loss
    report = gradcheck.check_layer(layer, x)           # a layer's input and parameter gradients
    report = gradcheck.check_loss(loss, y_true, y_pred)
    report.passed, report.max_rel_error, print(report)

How a check works (docs/gradients.md derives every gradient being checked):

* Copies, never the original. The layer or model is deep-copied and cast to the check dtype (float64 by
  default); the caller's object, its dtype, weights and optimizer state stay untouched.
* One scalar objective f. check_model: the model's loss on (x, y). check_layer: sum(forward(x) * g) for a
  fixed random upstream gradient g ~ N(0, 1): backward(g) must return df/dinput and set grads to df/dparam.
  The analytic gradients are those of a *second* backward (or model.gradients) call, so a layer that
  accumulates into grads instead of overwriting them fails the check.
  check_loss: the loss itself, as a function of y_pred.
* Central differences. For element i, numeric = (f(theta + h e_i) - f(theta - h e_i)) / 2h with
  h = step * scale_i and scale_i = max(1, |theta_i|); probabilities fed to a BCE loss use their distance to 0
  or 1 instead, as -log p curves like 1/p there. step defaults to eps^(1/3) of the check dtype (6.1e-6 in
  float64), which balances the truncation error h^2 |f'''| / 6 against the rounding error eps |f| / h.
* Error measure. rel_i = |a - n| / max(|a|, |n|, atol_i / rtol), and an element passes when rel_i <= rtol,
  that is when |a - n| <= rtol * max(|a|, |n|) or |a - n| <= atol_i. The absolute part is the noise floor of
  the numeric derivative: f(theta +- h) are each off by about eps * max(1, |f|), so their difference quotient
  is off by about eps * max(1, |f|) / h; atol_i is 10 times that (the sums inside f round more than once).
  Below it no central difference can tell a gradient from zero, however right the analytic value is.
* Coverage. Tensors of at most `full_limit` elements are checked element by element. Larger ones get a screen
  along `directions` random directions d over the whole tensor (numeric directional derivative against the
  analytic <grad, d>, as torch's fast gradcheck does) plus `samples` random elements. An embedding table fed
  the batch's ids gets, instead of random elements, whole rows of each kind that goes wrong in practice: ids
  repeated in the batch, ids used once, the padding row 0 and unused rows. The analytic gradient of *every*
  unused row must be exactly zero: the loss cannot depend on a row that no id selects.
* Kinks. ReLU is not differentiable at 0, and the probability BCE is flat beyond its clip at 1e-7. Every
  evaluation records which ReLU units are on and which probabilities are clipped; when f(theta +- h) sees
  another pattern than f(theta), the perturbation crossed a kink and its difference quotient means nothing.
  The step is then divided by 10 (`kink_retries` times); an element whose every step crosses a kink is
  reported as a kink, not judged, and never silently dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from npnet.layers import Layer
from npnet.losses import EPSILON, BinaryCrossentropy

if TYPE_CHECKING:
    from npnet.model import Sequential

Objective = Callable[[], tuple[float, np.ndarray]]  # f at the current (perturbed) state, and its kink pattern

# Noise floor multiplier: atol_i = NOISE_FACTOR * eps * max(1, |f|) / h_i (see the module docstring).
NOISE_FACTOR = 10.0
# Relative tolerance per check dtype. float64: a central difference with h = eps^(1/3) is good to ~1e-10 on
# unit-scale smooth functions; 1e-6 leaves four orders for curvature and scale, yet a wrong factor, term or
# transpose misses it by orders of magnitude. float32: the same central difference is only good to ~eps^(2/3)
# = 2.4e-5, so 1e-3 (checks in float32 are for curiosity; use float64 to verify).
RTOL = {"float64": 1e-6, "float32": 1e-3}
# Rows of each kind (repeated ids, ids used once, unused ids) sampled from a large embedding table, and the
# columns checked in each (all of them when the table is at most this wide).
EMBEDDING_ROWS_PER_KIND = 8
EMBEDDING_COLUMNS = 16


@dataclass(frozen=True)
class Settings:
    """How a check runs: `default_settings(dtype)` holds the documented defaults, each one overridable."""

    dtype: np.dtype
    step: float  # h_i = step * scale_i
    rtol: float
    atol: float | None  # None: per element, NOISE_FACTOR * eps * max(1, |f|) / h_i
    full_limit: int = 4096  # tensors up to this many elements are checked element by element
    samples: int = 256  # elements sampled from larger tensors (embedding tables: whole rows by kind instead)
    directions: int = 2  # random-direction screens of larger tensors
    kink_retries: int = 2  # times the step is divided by 10 when a perturbation crosses a kink
    seed: int = 0


def default_settings(dtype: str | np.dtype = "float64", **overrides: float | int | None) -> Settings:
    """The defaults for a check in `dtype` ("float64" or "float32"), with `overrides` (None: default)."""
    dt = np.dtype(dtype)
    if dt.name not in RTOL:
        raise ValueError(f"gradient checks run in float64 or float32, not {dt.name!r}: pass dtype='float64'")
    base = Settings(dtype=dt, step=float(np.finfo(dt).eps ** (1 / 3)), rtol=RTOL[dt.name], atol=None)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(base.__dict__) - {"dtype"}
    if unknown:
        names = ", ".join(k for k in base.__dict__ if k != "dtype")
        raise TypeError(f"unknown gradcheck option(s) {', '.join(sorted(unknown))}: use {names}")
    for key in ("step", "rtol"):
        if key in given and not float(given[key]) > 0:
            raise ValueError(f"{key} must be positive, got {given[key]!r}")
    if "atol" in given and float(given["atol"]) < 0:
        raise ValueError(f"atol must be >= 0, got {given['atol']!r}")
    return Settings(**{**base.__dict__, **given})


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


# ------------------------------------------------------------------------------------------------ public API


def check_layer(
    layer: Layer,
    x: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    grad_out: np.ndarray | None = None,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check `layer.backward` against central differences of f = sum(layer.forward(x, mask) * grad_out).

    x: the layer's input (integer ids (batch, T) for an Embedding, which has no input gradient).
    mask: passed to forward (e.g. a (batch, T) bool mask for GlobalAveragePooling1D).
    grad_out: the upstream gradient, shaped like the output; default N(0, 1) drawn from `seed`.
    An unbuilt layer is built (on the copy) from `seed`.
    options: any `Settings` field (step, rtol, atol, full_limit, samples, directions, kink_retries).
    Returns a Report with a row for the input (float inputs only) and one per parameter.
    """
    settings = default_settings(dtype, seed=seed, **options)
    rng = np.random.default_rng(seed)
    x = np.asarray(x)
    live = copy.deepcopy(layer)
    if not live.built:
        live.build(x.shape, rng=np.random.default_rng(seed), dtype=settings.dtype)
    live.astype(settings.dtype)
    float_input = np.issubdtype(x.dtype, np.floating)
    x_live = x.astype(settings.dtype) if float_input else x.copy()

    out = live.forward(x_live, mask=mask, training=False)
    g = rng.standard_normal(out.shape) if grad_out is None else np.asarray(grad_out, dtype=np.float64)
    if g.shape != out.shape:
        raise ValueError(
            f"grad_out has shape {g.shape} but {layer.name!r} outputs {out.shape}: pass one that matches"
        )
    g = g.astype(settings.dtype)
    live.backward(g)
    grad_in = live.backward(g)  # the second call: backward must overwrite grads, never accumulate
    grad_in = None if grad_in is None else np.array(grad_in, copy=True)
    analytic = {key: np.array(value, copy=True) for key, value in live.grads.items()}

    def objective() -> tuple[float, np.ndarray]:
        y = live.forward(x_live, mask=mask, training=False)
        return float(np.sum(y.astype(np.float64) * g)), live.kink_pattern()

    # f sums out * g: the size of those terms, not |f| (they cancel), sets f's rounding error.
    checker = _Checker(objective, settings, noise=max(1.0, float(np.sum(np.abs(out * g)))), rng=rng)
    cls = type(layer).__name__
    rows = []
    if float_input:
        rows.append(
            checker.tensor("input", x_live, grad_in, where=f"the input gradient {cls}.backward returns")
        )
    elif grad_in is not None:
        raise ValueError(f"{cls}.backward returned a gradient for integer input ids; it should return None")
    for key, value in live.params.items():
        ids = live.table_ids(key, x_live)
        rows.append(
            checker.tensor(
                f"{layer.name}/{key}", value, analytic[key], f"{cls}.backward, grads[{key!r}]", ids=ids
            )
        )
    return Report(f"layer {layer.name!r} ({cls})", settings, tuple(rows))


def check_loss(
    loss: BinaryCrossentropy,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check `loss.gradient(y_true, y_pred)` against central differences of `loss(y_true, y_pred)` in y_pred.

    Probabilities (from_logits=False) are perturbed relative to their distance from 0 and 1, so the step never
    jumps over the curvature of -log p; a perturbation that crosses the clip at 1e-7 or 1 - 1e-7 is a kink.
    options: any `Settings` field.
    """
    settings = default_settings(dtype, seed=seed, **options)
    y_true = np.asarray(y_true).astype(settings.dtype)
    p_live = np.array(y_pred, dtype=settings.dtype, copy=True)
    analytic = np.array(loss.gradient(y_true, p_live), copy=True)

    def objective() -> tuple[float, np.ndarray]:
        return loss(y_true, p_live), loss.kink_pattern(p_live)

    scale = None  # logits: the usual max(1, |z|)
    if not loss.from_logits:  # the distance to 0 or 1; within EPSILON of them the loss is flat (clipped)
        scale = np.maximum(np.minimum(np.abs(p_live), np.abs(1 - p_live)), EPSILON)
    checker = _Checker(
        objective, settings, noise=max(1.0, loss(y_true, p_live)), rng=np.random.default_rng(seed)
    )
    row = checker.tensor("y_pred", p_live, analytic, f"{type(loss).__name__}.gradient", scale=scale)
    return Report(f"loss {loss!r}", settings, (row,))


def check_model(
    model: Sequential,
    x: np.ndarray,
    y: np.ndarray,
    *,
    dtype: str = "float64",
    seed: int = 0,
    **options: float | int | None,
) -> Report:
    """Check every parameter gradient of a compiled `Sequential` (`model.gradients(x, y)`) against its loss.

    The model is copied and cast to `dtype`; the original keeps its dtype, weights and optimizer state.
    options: any `Settings` field.
    """
    settings = default_settings(dtype, seed=seed, **options)
    x = np.asarray(x)
    live = copy.deepcopy(model)
    if not live.built:  # build the copy (from the model's seed) so that it can be cast
        live.build(x.shape)
    for layer in live.layers:
        layer.astype(settings.dtype)
    live.gradients(x, y)
    value, grads = live.gradients(x, y)  # the second call: nothing may accumulate between batches
    y_col = np.asarray(y).astype(settings.dtype).reshape(len(x), 1)
    named = [(layer, key) for layer in live.layers for key in layer.params]

    def objective() -> tuple[float, np.ndarray]:
        outputs = live.layer_outputs(x)
        patterns = [layer.kink_pattern() for layer in live.layers]
        patterns.append(live.loss.kink_pattern(outputs[-1]))
        return live.loss(y_col, outputs[-1]), np.concatenate(patterns)

    checker = _Checker(
        objective, settings, noise=max(1.0, abs(float(value))), rng=np.random.default_rng(seed)
    )
    rows = []
    for (layer, key), grad in zip(named, grads, strict=True):
        ids = live.layers[0].table_ids(key, x) if layer is live.layers[0] else None
        where = f"{type(layer).__name__}.backward, grads[{key!r}]"
        rows.append(checker.tensor(f"{layer.name}/{key}", layer.params[key], np.array(grad), where, ids=ids))
    return Report(f"model {model.name!r}", settings, tuple(rows), _model_notes(live, rows))


# ------------------------------------------------------------------------------------------- copies, kinks


# -------------------------------------------------------------------------------------------- coverage plans


@dataclass(frozen=True)
class _Plan:
    """What to check in one tensor."""

    indices: np.ndarray  # flat indices compared element by element
    directions: int  # random-direction screens of the whole tensor
    coverage: str
    must_be_zero: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # flat indices
    row_counts: np.ndarray | None = None  # embeddings: how often each row's id occurs in the batch


def _plan_for(
    shape: tuple[int, ...], ids: np.ndarray | None, settings: Settings, rng: np.random.Generator
) -> _Plan:
    """Every element of a small tensor; a sample and random directions for a large one."""
    size = int(np.prod(shape))
    if ids is not None:
        return _plan_embedding(shape, ids, settings, rng)
    if size <= settings.full_limit:
        return _Plan(np.arange(size), 0, "all")
    picked = np.sort(rng.choice(size, size=min(settings.samples, size), replace=False))
    return _Plan(
        picked,
        settings.directions,
        f"{len(picked)} random elements + {settings.directions} random directions",
    )


def _plan_embedding(
    shape: tuple[int, ...], ids: np.ndarray, settings: Settings, rng: np.random.Generator
) -> _Plan:
    """Rows by kind for an embedding table fed `ids`; every unused row's analytic gradient must be 0."""
    rows, dim = shape
    counts = np.bincount(ids.ravel(), minlength=rows)
    unused = np.flatnonzero(counts == 0)
    must_be_zero = (unused[:, None] * dim + np.arange(dim)).ravel()
    zero_note = f"; analytic gradient of all {len(unused)} unused rows exactly 0 required"
    if rows * dim <= settings.full_limit:
        return _Plan(
            np.arange(rows * dim), 0, "all" + zero_note if len(unused) else "all", must_be_zero, counts
        )

    def some(candidates: np.ndarray, k: int = EMBEDDING_ROWS_PER_KIND) -> np.ndarray:
        return rng.choice(candidates, size=min(k, len(candidates)), replace=False)

    rest = np.arange(1, rows)  # row 0, the padding row, is a kind of its own
    repeated = rest[counts[1:] >= 2]
    repeated = repeated[np.argsort(-counts[repeated], kind="stable")]  # the most repeated id first
    kinds = {
        "repeated-id": np.concatenate([repeated[:1], some(repeated[1:], EMBEDDING_ROWS_PER_KIND - 1)]),
        "single-use": some(rest[counts[1:] == 1]),
        "padding (0)": np.array([0]),
        "unused": some(rest[counts[1:] == 0]),
    }
    chosen = np.unique(np.concatenate(list(kinds.values())).astype(np.intp))
    columns = np.arange(dim)
    if dim > EMBEDDING_COLUMNS:
        columns = np.sort(rng.choice(dim, size=EMBEDDING_COLUMNS, replace=False))
    indices = (chosen[:, None] * dim + columns).ravel()
    described = ", ".join(f"{len(v)} {k}" for k, v in kinds.items())
    coverage = (
        f"{len(chosen)} rows x {len(columns)} columns ({described}) + {settings.directions} random directions"
        + zero_note
    )
    return _Plan(indices, settings.directions, coverage, must_be_zero, counts)


# -------------------------------------------------------------------------------------------- the comparison


class _Checker:
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
        """The absolute tolerance for a central difference taken with `step` (see the module docstring)."""
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
        plan = _plan_for(shape, ids, s, self.rng)
        if analytic is None or analytic.shape != shape:
            got = "None" if analytic is None else str(analytic.shape)
            problem = f"the analytic gradient has shape {got}, the tensor {shape}: look at {where}"
            return Row(name, shape, 0, plan.coverage, np.inf, "", np.nan, np.nan, (), False, problem)
        analytic = analytic.astype(np.float64)
        scale = np.maximum(1.0, np.abs(live)) if scale is None else scale

        results = []  # (label, analytic, numeric, step, crossed a kink)
        for i in plan.indices:  # element by element
            index = np.unravel_index(i, shape)
            numeric, step, crossed = self.central(_element_mover(live, index), s.step * float(scale[index]))
            results.append((str(tuple(int(k) for k in index)), analytic[index], numeric, step, crossed))
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
        row = {
            "name": name,
            "shape": shape,
            "checked": len(plan.indices),
            "coverage": plan.coverage,
            "max_rel_error": 0.0 if worst is None else float(rel[worst]),
            "worst": "" if worst is None else labels[worst],
            "analytic": np.nan if worst is None else float(a[worst]),
            "numeric": np.nan if worst is None else float(n[worst]),
            "kinks": tuple(label for label, crossed in zip(labels, kink, strict=True) if crossed),
        }
        leaked = plan.must_be_zero[analytic.ravel()[plan.must_be_zero] != 0]
        if len(leaked):
            first = tuple(int(k) for k in np.unravel_index(leaked[0], shape))
            row.update(worst=str(first), analytic=float(analytic[first]), numeric=0.0)
            row["max_rel_error"] = max(row["max_rel_error"], 1.0)
            problem = (
                f"{len(leaked)} element(s) in rows that no id in the batch selects have a non-zero analytic "
                f"gradient (first at {first}), yet the loss cannot depend on them: look at {where} (a stale "
                "accumulator, or writes outside the batch's rows)"
            )
            return Row(**row, passed=False, problem=problem)
        bad = rel > s.rtol
        if not bad.any():
            return Row(**row, passed=True)
        m = len(plan.indices)
        problem = _diagnose(a[:m], n[:m], bad[:m], plan, shape, labels[worst])
        return Row(**row, passed=False, problem=f"{problem}; look at {where}")

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


# --------------------------------------------------------------------------------------------- where to look


def _diagnose(
    a: np.ndarray, n: np.ndarray, bad: np.ndarray, plan: _Plan, shape: tuple[int, ...], worst: str
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


def _model_notes(model: object, rows: list[Row]) -> tuple[str, ...]:
    """Where to look in a model: errors flow down from the first wrong step, so start at the top failure."""
    failing = [r for r in rows if not r.passed]
    if not failing:
        return ()
    top = failing[-1].name.split("/")[0]
    names = [layer.name for layer in model.layers]
    above = names[names.index(top) + 1 :] if top in names else []
    upstream = (
        f"the input gradients returned by the layer(s) above it ({', '.join(above)}) and the loss's gradient"
        if above
        else "the loss's gradient"
    )
    return (
        "Where to look: a wrong gradient spoils every parameter below it. The failing parameter closest to "
        f"the loss is in {top!r}: check its parameter gradients, then {upstream}.",
    )
