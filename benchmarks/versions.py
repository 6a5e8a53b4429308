"""npnet against an earlier npnet: each preset's epoch from this checkout and from another one, in alternating
rounds, each in its own process on the same workload, with the ratio this/earlier paired round by round.

This is how a change that must not slow anything down is judged (a refactor, a move of files): a checkout of
the commit before it (`git worktree add BEFORE COMMIT`) raced against this one on the same machine, in
the same run, so the machine's drift cancels out of each pair.

    python -m benchmarks.versions --before BEFORE --data DATA [--rounds 5] [--reviews N] [--presets ...]

Presets: notebook-32 and notebook-512 (the seed model at batch 32 and 512 on `benchmarks.run`'s workload), cnn
(`benchmarks.cnn`'s), lstm, bilstm, cnn-lstm and transformer (real reviews as the preset reads them, as
`benchmarks.recurrent` and `benchmarks.transformer` race them). Writes versions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.run import DEFAULT_OUT, FULL, race
from benchmarks.workload import Workload, real, synthetic
from npnet.atomic import atomic_write

PRESETS = ("notebook-32", "notebook-512", "cnn", "lstm", "bilstm", "cnn-lstm", "transformer")
SYSTEM = {
    "notebook-32": "npnet",
    "notebook-512": "npnet",
    "cnn": "npnet-cnn",
    "lstm": "npnet-lstm",
    "bilstm": "npnet-bilstm",
    "cnn-lstm": "npnet-cnn-lstm",
    "transformer": "npnet-transformer",
}


def workload(preset: str, data: Path | None, reviews: int | None) -> Workload:
    """The workload each harness races the preset on (real reviews where `data` is given)."""
    n = reviews or FULL.n_train
    if preset.startswith("notebook"):
        batch = int(preset.split("-")[1])
        if data is None:
            return synthetic(n, n, FULL.length, FULL.vocab, batch)
        return real(data, batch, FULL.length, FULL.vocab)
    if preset == "cnn":
        from benchmarks.cnn import workload as cnn_workload

        return cnn_workload(data, n, n)
    if data is None:
        raise SystemExit(f"--presets {preset} needs --data (it races on real reviews)")
    from benchmarks.recurrent import preset_workload

    return preset_workload(data, preset, reviews)


def paired(after: list[float], before: list[float]) -> dict[str, float]:
    """after/before per round: median, min and max."""
    ratios = np.array(after) / np.array(before)
    return {"median": float(np.median(ratios)), "min": float(ratios.min()), "max": float(ratios.max())}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.versions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the earlier commit")
    parser.add_argument(
        "--data", type=Path, help="an npnet data dir (default: synthetic where a preset allows)"
    )
    parser.add_argument("--reviews", type=int, help="the first N reviews of each split (default: all)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating epoch rounds (default 5)")
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    before = args.before.resolve()
    if not (before / "npnet" / "__init__.py").is_file():
        parser.error(f"--before {args.before}: not an npnet checkout (no npnet/__init__.py there)")
    start, load = time.perf_counter(), os.getloadavg()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="npnet-versions-") as tmp:
        for preset in args.presets:
            path = Path(tmp) / f"{preset}.npz"
            data = workload(preset, args.data, args.reviews)
            data.save(path)
            system = SYSTEM[preset]
            epochs = race(
                {"after": (system, path), "before": (system, path)}, args.rounds, 0, None, {"before": before}
            )
            entry: dict = {"workload": data.description, "epochs": epochs}
            if all("total_s" in epochs[k] for k in ("after", "before")):
                entry["after/before"] = paired(epochs["after"]["total_s"], epochs["before"]["total_s"])
                entry["after/before train"] = paired(epochs["after"]["train_s"], epochs["before"]["train_s"])
            results[preset] = entry
            print(f"{preset}: {json.dumps(entry.get('after/before', epochs))}", flush=True)
    payload = {
        "before": str(before),
        "rounds": args.rounds,
        "load_before": load,
        "load_after": os.getloadavg(),
        "seconds": time.perf_counter() - start,
        "presets": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "versions.json", lambda f: f.write(json.dumps(payload, indent=2).encode()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
