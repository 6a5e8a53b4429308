"""Optimizers with Keras 2's update rules, including its legacy learning-rate `decay`, in order of complexity:
SGD (plain, momentum, Nesterov), then Adam (and AMSGrad).

An optimizer updates parameter arrays *in place*: `apply_gradients(zip(grads, params))`. Its slots (Adam's
m, v, vhat; SGD's velocity) are lists aligned with that parameter order, created on the first step, and open
for study as attributes. `get_state()` / `set_state()` move the full state (slots and `iterations`) as a
plain dict of arrays, for checkpoints; `get_config()` gives the hyperparameters.

Each `_update` is the formula written plainly. Where a faster form exists it is an option of the optimizer
(`Adam(fused=True)`, the in-place kernel of `npnet.fast.adam`), never a switch in the training loop, and it
is tested equal to the plain form (tests/fast/test_fast_adam.py).

Row-sparse gradients (`npnet.sparse.SparseRows`, an embedding table's rows a batch looked up): an optimizer
asks for them per parameter (`takes_sparse_rows(param)`: `Adam(lazy=True)` for every table), and the plan
of the call then hands them over (`npnet.plan`); an optimizer handed one it did not ask for applies it as
the dense array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from npnet import validation
from npnet.fast.adam import adam_update_, lazy_adam_rows_, scratch_for, scratch_shape
from npnet.sparse import SparseRows


class Optimizer:
    """Shared bookkeeping: learning rate with Keras 2 decay, the step counter, slot state.

    `takes_sparse_rows(param)`: whether this optimizer wants `param`'s gradient row-sparse (`SparseRows`)
    where a layer can give it; the base class applies any it gets as the dense array, and asks for none."""

    def __init__(
        self,
        learning_rate: float | None,
        lr: float | None,
        default_lr: float,
        decay: float,
        slot_names: tuple[str, ...],
    ) -> None:
        if learning_rate is not None and lr is not None:
            raise ValueError("pass the learning rate once: learning_rate=... (lr= is the Keras 2 alias)")
        rate = learning_rate if learning_rate is not None else lr if lr is not None else default_lr
        # Keras's rule: any rate >= 0 (Keras accepts 0, a frozen model); decay >= 0.
        self.learning_rate = validation.non_negative_float(rate, "learning_rate")
        self.decay = validation.non_negative_float(decay, "decay")
        self.iterations = 0  # steps taken so far
        self.slot_names = slot_names
        self._slots: dict[str, list[np.ndarray]] = {name: [] for name in slot_names}

    @property
    def current_learning_rate(self) -> float:
        """The rate the next step will use: lr / (1 + decay * iterations), iterations = steps taken so far."""
        return self.learning_rate / (1 + self.decay * self.iterations)

    def takes_sparse_rows(self, param: np.ndarray) -> bool:
        """Whether `param`'s gradient should come as `SparseRows` (the trainer asks before each backward)."""
        return False

    def apply_gradients(self, grads_and_params: Iterable[tuple[np.ndarray | SparseRows, np.ndarray]]) -> None:
        """One step: update every parameter in place from its gradient, then count the step. A gradient may
        be `SparseRows`; unless `takes_sparse_rows(param)`, it is applied as its dense array."""
        pairs = list(grads_and_params)
        self.check_step(pairs)
        for i, (g, p) in enumerate(pairs):
            self.update(i, g, p)
        self.iterations += 1

    def check_step(self, pairs: list[tuple[np.ndarray | SparseRows, np.ndarray]]) -> None:
        """Before a step: the slots exist (made at the first step) and each gradient has its parameter's
        shape. Nothing is changed when this raises."""
        self.ensure_slots([p for _, p in pairs])
        for i, (g, p) in enumerate(pairs):
            if g.shape != p.shape:
                raise ValueError(f"gradient {i} has shape {g.shape} but its parameter has shape {p.shape}")

    def update(self, i: int, g: np.ndarray | SparseRows, p: np.ndarray) -> None:
        """Parameter i's update from its gradient `g` (dense, or `SparseRows`)."""
        if not isinstance(g, SparseRows):
            self._update(i, p, g)
        elif self.takes_sparse_rows(p):
            self._update_rows(i, p, g)
        else:
            self._update(i, p, g.to_dense())

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _update_rows(self, i: int, p: np.ndarray, g: SparseRows) -> None:
        """For a parameter this optimizer `takes_sparse_rows` of: its step from the rows `g` alone."""
        raise NotImplementedError

    def ensure_slots(self, params: list[np.ndarray]) -> None:
        for name, slot in self._slots.items():
            if not slot:
                slot.extend(np.zeros_like(p) for p in params)
            if [s.shape for s in slot] != [p.shape for p in params]:
                raise ValueError(
                    f"optimizer state {name!r} has shapes {[s.shape for s in slot]} but the parameters have "
                    f"{[p.shape for p in params]}; use a fresh optimizer for a different model"
                )

    def get_state(self, copy: bool = True) -> dict[str, np.ndarray]:
        """{"iterations": int64 scalar, "<slot>/<i>": array, ...}: everything needed to resume bitwise.

        `copy=False` returns the live slot arrays, for writing them out at once: a (1.2M x 50) fastText
        table's m and v are 478 MB that a copy would add to the peak memory of every checkpoint."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, slot in self._slots.items():
            state.update({f"{name}/{i}": s.copy() if copy else s for i, s in enumerate(slot)})
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `get_state` returned (copies are taken)."""
        count = sum(1 for key in state if key.startswith(f"{self.slot_names[0]}/"))
        expected = {"iterations"} | {f"{name}/{i}" for name in self.slot_names for i in range(count)}
        if set(state) != expected:
            raise ValueError(
                f"{type(self).__name__} state must hold 'iterations' and slots {list(self.slot_names)} "
                f"numbered 0..n-1, got keys {sorted(state)}"
            )
        self.iterations = int(state["iterations"])
        self._slots = {
            name: [np.array(state[f"{name}/{i}"]) for i in range(count)] for name in self.slot_names
        }

    def get_config(self) -> dict[str, float | bool | str]:
        return {"name": type(self).__name__, "learning_rate": self.learning_rate, "decay": self.decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """SGD as in Keras 2, with the same legacy decay lr_k = lr / (1 + decay * it):

    velocity = momentum * velocity - lr_k g
    p = p + velocity                                (nesterov: p = p + momentum * velocity - lr_k g)
    """

    def __init__(
        self,
        learning_rate: float | None = None,
        momentum: float = 0.0,
        nesterov: bool = False,
        decay: float = 0.0,
        *,
        lr: float | None = None,
    ) -> None:
        super().__init__(learning_rate, lr, default_lr=0.01, decay=decay, slot_names=("velocity",))
        self.momentum = validation.fraction(momentum, "momentum", one=True)
        self.nesterov = nesterov

    @property
    def velocity(self) -> list[np.ndarray]:
        """The momentum buffers, one per parameter (empty before the first step)."""
        return self._slots["velocity"]

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        lr_k = p.dtype.type(self.current_learning_rate)
        velocity = self.velocity[i]
        velocity *= self.momentum
        velocity -= lr_k * g
        if self.nesterov:
            p += self.momentum * velocity - lr_k * g
        else:
            p += velocity

    def get_config(self) -> dict[str, float | bool | str]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam as in Keras 2 (`keras.optimizers.Adam`), step k = 1, 2, ... with it = k - 1:

        lr_k = lr / (1 + decay * it)
        a_k  = lr_k * sqrt(1 - beta_2^k) / (1 - beta_1^k)     (the bias corrections of m and v, folded in)
        m = beta_1 m + (1 - beta_1) g;   v = beta_2 v + (1 - beta_2) g^2   (amsgrad: vhat = max(vhat, v))
        p = p - a_k m / (sqrt(v or vhat) + epsilon)

    `epsilon=None` means 1e-7 (Keras 2). Every parameter moves each step, including embedding rows that this
    batch did not look up (their m is not zero).

    fused=True (default): the step runs as `npnet.fast.adam_update_`, the same formula pass by pass into the
    slots and one scratch buffer per parameter (`out=`), so a step allocates nothing (for the (10000, 16)
    embedding table the plain expressions allocate ~7 temporaries of 640 KB each). m, v and vhat come out
    bitwise equal to the plain form; p equals it up to rounding (a_k * (m / d) rather than (a_k * m) / d).
    In `fit`, a large table's dense step runs from its row-sparse gradient instead, its g = 0 pass begun
    beside the backward (`npnet.fast.background_adam.BackgroundAdam`, the twin the fast plan swaps in).
    fused=False: the plain expressions of `_plain_update`, to read or step through.

    lazy=True (not Keras's semantics; TF Addons' LazyAdam, PyTorch's SparseAdam): every table takes
    `SparseRows`, so the plan hands over an embedding table's gradient as the rows the batch looked up, and
    only those rows' m, v (vhat) and values move, with a_k from the global step; untouched rows stay exactly
    as they are. Dense gradients (the other layers) get the rule above. The state (m, v, iterations) is the
    same as dense Adam's. fused=True runs `npnet.fast.adam.lazy_adam_rows_`, fused=False `_plain_rows_update`.
    The difference from dense Adam is derived in docs/derivations/losses-optimizers.md ("Lazy Adam").
    """

    def __init__(
        self,
        learning_rate: float | None = None,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float | None = 1e-7,
        decay: float = 0.0,
        amsgrad: bool = False,
        *,
        fused: bool = True,
        lazy: bool = False,
        lr: float | None = None,
    ) -> None:
        # vhat is only kept when it is used.
        slots = ("m", "v", "vhat") if amsgrad else ("m", "v")
        super().__init__(learning_rate, lr, default_lr=0.001, decay=decay, slot_names=slots)
        self.beta_1 = validation.fraction(beta_1, "beta_1")
        self.beta_2 = validation.fraction(beta_2, "beta_2")
        self.epsilon = validation.non_negative_float(1e-7 if epsilon is None else epsilon, "epsilon")
        self.amsgrad = amsgrad
        self.fused = fused
        self.lazy = bool(lazy)
        self._scratch: dict[int, np.ndarray] = {}  # fused: per parameter, reused every step; not state

    def takes_sparse_rows(self, param: np.ndarray) -> bool:
        return self.lazy

    @property
    def m(self) -> list[np.ndarray]:
        """First-moment estimates, one per parameter (empty before the first step)."""
        return self._slots["m"]

    @property
    def v(self) -> list[np.ndarray]:
        """Second-moment estimates, one per parameter."""
        return self._slots["v"]

    @property
    def vhat(self) -> list[np.ndarray]:
        """AMSGrad's running maximum of v (empty unless amsgrad=True)."""
        return self._slots.get("vhat", [])

    def _step_size(self, dtype: np.dtype) -> np.floating:
        """a_k of the step about to be taken, in the parameter's dtype."""
        dt = dtype.type
        k = self.iterations + 1
        return dt(self.current_learning_rate) * np.sqrt(1 - dt(self.beta_2) ** k) / (1 - dt(self.beta_1) ** k)

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        g = np.asarray(g, dtype=p.dtype)  # one dtype for the whole step (a no-op in training)
        if self.fused:
            self._fused_update(i, p, g)
        else:
            self._plain_update(i, p, g)

    def _plain_update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        a_k = self._step_size(p.dtype)
        m, v = self.m[i], self.v[i]
        m[...] = self.beta_1 * m + (1 - self.beta_1) * g
        v[...] = self.beta_2 * v + (1 - self.beta_2) * g * g
        if self.amsgrad:
            vhat = self.vhat[i]
            vhat[...] = np.maximum(vhat, v)
            v = vhat
        p -= a_k * m / (np.sqrt(v) + self.epsilon)

    def _fused_update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        vhat = self.vhat[i] if self.amsgrad else None
        adam_update_(p, g, self.m[i], self.v[i], vhat, scratch=self.scratch_of(i, p), **self.step_args(p))

    def scratch_of(self, i: int, p: np.ndarray, block: int | None = None) -> np.ndarray:
        """Parameter i's scratch buffer for the fused kernels (blocks of `block` elements), made at its
        first step and kept."""
        scratch = self._scratch.get(i)
        if scratch is None or scratch.dtype != p.dtype or scratch.shape != scratch_shape(p, block):
            scratch = self._scratch[i] = scratch_for(p, block)
        return scratch

    def step_args(self, p: np.ndarray) -> dict[str, float]:
        """The fused kernels' keyword arguments for this step: a_k (in p's dtype) and the constants."""
        return {
            "step_size": float(self._step_size(p.dtype)),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }

    def _update_rows(self, i: int, p: np.ndarray, g: SparseRows) -> None:
        """Lazy Adam: only rows `g.ids` move."""
        if g.dtype != p.dtype:
            g = SparseRows(g.ids, g.values.astype(p.dtype), g.shape)
        if self.fused:
            vhat = self.vhat[i] if self.amsgrad else None
            lazy_adam_rows_(p, g, self.m[i], self.v[i], vhat, **self.step_args(p))
        else:
            self._plain_rows_update(i, p, g)

    def _plain_rows_update(self, i: int, p: np.ndarray, g: SparseRows) -> None:
        """`_plain_update` on the rows `g.ids` only (distinct ids, so the buffered assignments are exact)."""
        a_k = self._step_size(p.dtype)
        rows, values = g.ids, g.values
        m, v = self.m[i], self.v[i]
        m[rows] = self.beta_1 * m[rows] + (1 - self.beta_1) * values
        v[rows] = self.beta_2 * v[rows] + (1 - self.beta_2) * values * values
        v_rows = v[rows]
        if self.amsgrad:
            vhat = self.vhat[i]
            vhat[rows] = np.maximum(vhat[rows], v_rows)
            v_rows = vhat[rows]
        p[rows] -= a_k * m[rows] / (np.sqrt(v_rows) + self.epsilon)

    def get_config(self) -> dict[str, float | bool | str]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
            "lazy": self.lazy,
        }


_BY_NAME: dict[str, Callable[[], Optimizer]] = {"adam": Adam, "sgd": SGD}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a Keras name ("adam", "sgd"; Keras defaults) or an `Optimizer` instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"unknown optimizer {identifier!r}: use 'adam', 'sgd' or an optimizers.Adam(...) instance"
    )
