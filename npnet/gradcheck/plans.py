"""What to check in one tensor: every element of a small one; a sample and random directions for a large one;
rows by kind (repeated ids, ids used once, padding, unused) for an embedding table fed a batch's ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from npnet.gradcheck.settings import Settings

# Rows of each kind (repeated ids, ids used once, unused ids) sampled from a large embedding table, and the
# columns checked in each (all of them when the table is at most this wide).
EMBEDDING_ROWS_PER_KIND = 8
EMBEDDING_COLUMNS = 16


@dataclass(frozen=True)
class Plan:
    """What to check in one tensor."""

    indices: np.ndarray  # flat indices compared element by element
    directions: int  # random-direction screens of the whole tensor
    coverage: str
    must_be_zero: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # flat indices
    row_counts: np.ndarray | None = None  # embeddings: how often each row's id occurs in the batch


def plan_for(
    shape: tuple[int, ...], ids: np.ndarray | None, settings: Settings, rng: np.random.Generator
) -> Plan:
    """Every element of a small tensor; a sample and random directions for a large one."""
    size = int(np.prod(shape))
    if ids is not None:
        return _plan_embedding(shape, ids, settings, rng)
    if size <= settings.full_limit:
        return Plan(np.arange(size), 0, "all")
    picked = np.sort(rng.choice(size, size=min(settings.samples, size), replace=False))
    return Plan(
        picked,
        settings.directions,
        f"{len(picked)} random elements + {settings.directions} random directions",
    )


def _plan_embedding(
    shape: tuple[int, ...], ids: np.ndarray, settings: Settings, rng: np.random.Generator
) -> Plan:
    """Rows by kind for an embedding table fed `ids`; every unused row's analytic gradient must be 0."""
    rows, dim = shape
    counts = np.bincount(ids.ravel(), minlength=rows)
    unused = np.flatnonzero(counts == 0)
    must_be_zero = (unused[:, None] * dim + np.arange(dim)).ravel()
    zero_note = f"; analytic gradient of all {len(unused)} unused rows exactly 0 required"
    if rows * dim <= settings.full_limit:
        return Plan(
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
    return Plan(indices, settings.directions, coverage, must_be_zero, counts)
