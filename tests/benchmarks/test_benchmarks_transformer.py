"""benchmarks.transformer's measurements of npnet alone: the step profile names functions the step really
runs (a part that names none reads 0 ms, as Adam's did when the fast plan moved its step), and the
attention floor times each piece of unavoidable work."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.transformer import PARTS, attention_floor, step_profile
from benchmarks.workload import Workload
from npnet.fast import background_adam


@pytest.mark.slow
@pytest.mark.parametrize("split_min", [1 << 18, 1000], ids=["Adam's own step", "BackgroundAdam's halves"])
def test_every_part_of_the_step_profile_is_found_in_the_step(monkeypatch, split_min: int) -> None:
    """With the preset's 20000 x 32 table the fast plan runs Adam through BackgroundAdam; this 50 x 32 one
    does too once the threshold is below its 1,600 elements."""
    monkeypatch.setattr(background_adam, "SPLIT_STEP_MIN", split_min)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(64, 40)).astype(np.int32)
    y = rng.integers(0, 2, size=64).astype(np.float32)
    profile = step_profile(Workload(x, y, x, y, 50, 16, "random ids"), batches=2)
    for part in PARTS:
        assert profile[part] > 0, part
    assert sum(profile[part] for part in PARTS) < profile["step_ms"]


def test_the_attention_floor_times_six_products_and_the_exponential() -> None:
    floor = attention_floor(batch=2, heads=2, steps=16, width=4, repeats=2)
    pieces = [name for name in floor if name not in ("sum", "two perfect cores")]
    assert len(pieces) == 7 and "exp" in pieces and all(floor[name] > 0 for name in pieces)
    assert floor["sum"] == pytest.approx(sum(floor[name] for name in pieces))
    assert floor["two perfect cores"] == pytest.approx(floor["sum"] / 2)
