"""The benchmark harness: `python -m benchmarks.run [--quick] [--out DIR] ...`.

1. Per-operation timings, the unavoidable-work bound and the dense/sparse split sweep, in this process.
2. Epochs (training + validation) of every system, each in its own worker process, in alternating rounds:
   round r runs one epoch of each system, in an order rotated every round, so slow drifts of the machine
   hit all systems alike; medians over rounds, and ratios to npnet paired within each round.
3. Scaling: npnet on workloads with samples x2, length x2, vocab x10 and other batch sizes, in the same
   rounds (each variant is one more worker).
4. With --batch-sizes: every system at each batch size, in alternating rounds of its own per size (the
   ratios are paired within a size's rounds), drawn as epoch time against batch size (batch_sizes.png).
5. The setup tax of a repeated `fit(epochs=1)` call against its epoch (benchmarks.setup_cost).
6. With --data DIR (an npnet data dir): the peak RSS of the real `npnet train` (notebook preset), in a child
   process that reports its own VmHWM (benchmarks.rss).
5. With --fasttext-data DIR: the fastText preset beside Keras-JAX (benchmarks.fasttext: n-gram build, lazy
   and dense Adam steps, dense Adam against the copy bandwidth) and `npnet train --preset fasttext`'s peak
   RSS over one epoch (benchmarks.rss).
Writes results.json, results.md, scaling.png (and batch_sizes.png) to --out (default benchmarks/out/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.machine import machine_info
from benchmarks.report import batch_curve_lines, target_lines, write_batch_plot, write_markdown, write_plot
from benchmarks.systems import ALL_SYSTEMS, CNN_SYSTEMS, SYSTEMS
from benchmarks.worker import PREFIX
from benchmarks.workload import Workload, real, synthetic
from npnet.atomic import atomic_write

ROOT = Path(__file__).resolve().parent.parent
# The seed model's race; the imdb_cnn systems have their own workload and harness (benchmarks.cnn).
SEED_SYSTEMS = ",".join(name for name in SYSTEMS if name not in CNN_SYSTEMS)
DEFAULT_OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Sizes:
    n_train: int
    n_val: int
    length: int
    vocab: int
    batch: int


FULL = Sizes(25_000, 25_000, 256, 10_000, 512)
QUICK = Sizes(1_000, 1_000, 64, 1_000, 128)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The harness's options, added to `parser` or to a new one."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds): small data, 2 rounds")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default benchmarks/out/)"
    )
    parser.add_argument(
        "--systems",
        default=SEED_SYSTEMS,
        help=f"comma-separated systems to race (default: {SEED_SYSTEMS}); missing peers are skipped",
    )
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5; quick 2)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling curves")
    parser.add_argument(
        "--data",
        type=Path,
        help="real IMDB: an npnet data dir (imdb.npz) or a padded .npz (x_train, y_train, x_val, y_val)",
    )
    parser.add_argument(
        "--rss-data",
        type=Path,
        help="an npnet data dir on which to measure `npnet train`'s peak RSS (default: --data, if a dir); "
        "lets a synthetic run with scaling curves measure it too",
    )
    parser.add_argument(
        "--rss-epochs",
        type=int,
        help="epochs of the measured `npnet train` (default: the preset's 60)",
    )
    parser.add_argument(
        "--fasttext-data",
        type=Path,
        help="an npnet data dir on which to time the fastText preset beside Keras-JAX (benchmarks.fasttext)",
    )
    parser.add_argument(
        "--blas-threads", type=int, help="set OMP/OPENBLAS/MKL thread counts for every worker"
    )
    parser.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        help="comma-separated batch sizes at which to race every system, e.g. 32,128,512,2048 "
        "(the base batch's race is reused at its own size)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _batch_sizes(text: str) -> tuple[int, ...]:
    """argparse type of --batch-sizes: distinct positive integers, kept in ascending order."""
    try:
        sizes = sorted({int(word) for word in text.split(",") if word.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 32,512, got {text!r}"
        ) from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return tuple(sizes)


class Worker:
    """A system running in its own process (benchmarks.worker), driven line by line."""

    def __init__(
        self, key: str, system: str, workload: Path, seed: int, env: dict[str, str], root: Path = ROOT
    ) -> None:
        self.key, self.system = key, system
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", system, str(workload), str(seed)],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
        stderr = self.process.stderr.read() if self.process.stderr else ""
        return {"error": f"worker exited without answering: {stderr.strip()[-500:]}"}

    def ask(self, command: str) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> dict:
        answer = self.ask("stop") if self.process.poll() is None else {}
        self.process.wait(timeout=60)
        return answer


def _worker_env(system: str, blas_threads: int | None, root: Path = ROOT) -> dict[str, str]:
    """The worker's environment: the system's variables, and `root` (a checkout: this one, or another's for
    `benchmarks.versions`) first on the path, so its npnet and its benchmarks are the ones that run."""
    env = dict(os.environ)
    env.update(ALL_SYSTEMS[system].env)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if blas_threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(blas_threads)
    return env


def race(
    runs: dict[str, tuple[str, Path]],
    rounds: int,
    seed: int,
    blas_threads: int | None,
    roots: dict[str, Path] | None = None,
) -> dict[str, dict]:
    """Epoch times of each run (key -> (system, workload file)) over alternating rounds; `roots` runs a key's
    worker from another checkout (key -> its root)."""
    workers, results = {}, {}
    for key, (system, path) in runs.items():
        root = (roots or {}).get(key, ROOT)
        worker = Worker(key, system, path, seed, _worker_env(system, blas_threads, root), root)
        if "error" in worker.ready:
            results[key] = {"system": system, "skipped": worker.ready["error"]}
            worker.stop()
        else:
            workers[key] = worker
            results[key] = {"system": system, **worker.ready, "train_s": [], "val_s": [], "total_s": []}
    keys = list(workers)
    for r in range(rounds):
        shift = r % max(1, len(keys))
        order = keys[shift:] + keys[:shift]
        for key in order if r % 2 == 0 else order[::-1]:
            time.sleep(0.2)  # let the previous worker's spinning threads go idle
            answer = workers[key].ask("epoch")
            for name in ("train_s", "val_s"):
                results[key][name].append(answer[name])
            results[key]["total_s"].append(answer["train_s"] + answer["val_s"])
    for key, worker in workers.items():
        results[key].update(worker.stop())
        for name in ("train_s", "val_s", "total_s"):
            results[key][f"median_{name}"] = float(np.median(results[key][name]))
    return results


def paired_ratios(results: dict[str, dict], base: str) -> dict[str, dict]:
    """Per round, time(other) / time(base); the median and range over rounds."""
    if base not in results or "total_s" not in results[base]:
        return {}
    base_times = np.array(results[base]["total_s"])
    ratios = {}
    for key, result in results.items():
        if key == base or "total_s" not in result:
            continue
        per_round = np.array(result["total_s"]) / base_times
        ratios[key] = {
            "median": float(np.median(per_round)),
            "min": float(per_round.min()),
            "max": float(per_round.max()),
            "npnet_over": float(np.median(1.0 / per_round)),  # the targets' way round: npnet / other
        }
    return ratios


def scaling_variants(sizes: Sizes) -> dict[str, tuple[str, float, Sizes]]:
    """name -> (axis, value, sizes) for the scaling curves (the base workload is on every axis)."""
    variants: dict[str, tuple[str, float, Sizes]] = {
        "samples x2": (
            "samples",
            2 * sizes.n_train,
            replace(sizes, n_train=2 * sizes.n_train, n_val=2 * sizes.n_val),
        ),
        "length x2": ("length", 2 * sizes.length, replace(sizes, length=2 * sizes.length)),
        "vocab x10": ("vocab", 10 * sizes.vocab, replace(sizes, vocab=10 * sizes.vocab)),
    }
    for factor in (0.25, 0.5, 2, 4):
        batch = int(sizes.batch * factor)
        variants[f"batch {batch}"] = ("batch", batch, replace(sizes, batch=batch))
    return variants


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or (2 if args.quick else 5)
    repeats = 3 if args.quick else 20
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SYSTEMS]
    if unknown:
        print(f"unknown systems {unknown}: choose from {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    if "npnet" not in wanted:
        wanted.insert(0, "npnet")  # the ratios are to npnet
    started = time.time()
    info = machine_info()
    data = (
        real(args.data, sizes.batch, sizes.length, sizes.vocab)
        if args.data
        else synthetic(sizes.n_train, sizes.n_val, sizes.length, sizes.vocab, sizes.batch, args.seed)
    )
    print(f"workload: {data.description}", flush=True)

    results: dict = {
        "command": " ".join(["python -m benchmarks.run", *(argv_of(args))]),
        "machine": info,
        "workload": data.description,
        "rounds": rounds,
    }
    skipped = {s: f"not installed: {', '.join(SYSTEMS[s].missing())}" for s in wanted if SYSTEMS[s].missing()}
    with tempfile.TemporaryDirectory(prefix="npnet-bench-") as tmp:
        base_path = Path(tmp) / "base.npz"
        data.save(base_path)
        print("per-operation timings, bound, split sweep ...", flush=True)
        results.update(_operations(base_path, repeats, args.blas_threads))
        runs = {s: (s, base_path) for s in wanted if s not in skipped}
        variants = {} if args.no_scaling or args.data else scaling_variants(sizes)
        for name, (_, _, variant_sizes) in variants.items():
            path = Path(tmp) / f"{name.replace(' ', '_')}.npz"
            v = variant_sizes
            synthetic(v.n_train, v.n_val, v.length, v.vocab, v.batch, args.seed).save(path)
            runs[f"npnet, {name}"] = ("npnet", path)
        print(f"racing {len(runs)} workers for {rounds} rounds ...", flush=True)
        epochs = race(runs, rounds, args.seed, args.blas_threads)
        print("setup tax of a repeated fit call ...", flush=True)
        results["setup"] = _setup_cost(base_path, 3 if args.quick else 6, args.blas_threads)
        if args.batch_sizes:
            results["batch_curve"] = _batch_curve(
                data,
                args.batch_sizes,
                epochs,
                [s for s in wanted if s not in skipped],
                rounds,
                args,
                Path(tmp),
            )

    for system, reason in skipped.items():
        epochs[system] = {"system": system, "skipped": reason}
    results["epochs"] = {k: v for k, v in epochs.items() if not k.startswith("npnet, ")}
    results["ratios_to_npnet"] = paired_ratios(results["epochs"], "npnet")
    results["scaling"] = _scaling(epochs, variants, sizes)
    rss_data = args.rss_data or (args.data if args.data and args.data.is_dir() else None)
    if rss_data:
        print("peak RSS of npnet train ...", flush=True)
        results["train_rss"] = _train_rss(rss_data, args.rss_epochs, args.blas_threads)
    if args.fasttext_data:
        print("the fastText preset (lazy, dense, Keras-JAX) ...", flush=True)
        results["fasttext"] = _fasttext(args.fasttext_data, args.blas_threads)
    bound = results["bound"]["bound_s"]
    npnet_epoch = results["epochs"].get("npnet", {}).get("median_total_s")
    results["npnet_over_bound"] = npnet_epoch / bound if npnet_epoch else None
    results["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    results["wall_s"] = time.time() - started

    args.out.mkdir(parents=True, exist_ok=True)
    _write_json(args.out / "results.json", results)
    write_markdown(args.out / "results.md", results)
    write_plot(args.out / "scaling.png", results["scaling"])
    if "batch_curve" in results:
        write_batch_plot(args.out / "batch_sizes.png", results["batch_curve"])
        print("\n".join(batch_curve_lines(results["batch_curve"])))
    print("\n".join(target_lines(results)))
    print(f"wrote {args.out / 'results.json'}, results.md, scaling.png in {results['wall_s']:.0f} s")
    return 0


def argv_of(args: argparse.Namespace) -> list[str]:
    """The options that change the measurement, for the record."""
    words = ["--quick"] if args.quick else []
    if args.rounds:
        words += ["--rounds", str(args.rounds)]
    if args.systems != SEED_SYSTEMS:
        words += ["--systems", args.systems]
    if args.data:
        words += ["--data", str(args.data)]
    if args.rss_data:
        words += ["--rss-data", str(args.rss_data)]
    if args.rss_epochs:
        words += ["--rss-epochs", str(args.rss_epochs)]
    if args.fasttext_data:
        words += ["--fasttext-data", str(args.fasttext_data)]
    if args.blas_threads:
        words += ["--blas-threads", str(args.blas_threads)]
    if args.no_scaling:
        words.append("--no-scaling")
    if args.batch_sizes:
        words += ["--batch-sizes", ",".join(map(str, args.batch_sizes))]
    return words


def _batch_curve(
    data: Workload,
    batch_sizes: Sequence[int],
    base_epochs: dict[str, dict],
    systems: list[str],
    rounds: int,
    args: argparse.Namespace,
    tmp: Path,
) -> dict[str, dict]:
    """str(batch size) -> {"epochs": system -> race result, "ratios_to_npnet": paired ratios}: one race of
    every system per batch size (the base race at its own size), all on the same data."""
    curve = {}
    for size in batch_sizes:
        if size == data.batch_size:
            epochs = {key: value for key, value in base_epochs.items() if key in systems}
        else:
            path = tmp / f"batch_{size}.npz"
            replace(data, batch_size=size, description=f"{data.description} (batch {size})").save(path)
            print(f"batch {size}: racing {len(systems)} workers for {rounds} rounds ...", flush=True)
            epochs = race({s: (s, path) for s in systems}, rounds, args.seed, args.blas_threads)
        curve[str(size)] = {"epochs": epochs, "ratios_to_npnet": paired_ratios(epochs, "npnet")}
    return curve


def _scaling(epochs: dict[str, dict], variants: dict, sizes: Sizes) -> dict[str, list[dict]]:
    """axis -> points (value, median epoch seconds, factor to the base), with paired per-round factors."""
    base = epochs.get("npnet", {})
    if not variants or "total_s" not in base:
        return {}
    base_values = {
        "samples": sizes.n_train,
        "length": sizes.length,
        "vocab": sizes.vocab,
        "batch": sizes.batch,
    }
    curves: dict[str, list[dict]] = {
        axis: [{"value": value, "epoch_s": base["median_total_s"], "factor": 1.0}]
        for axis, value in base_values.items()
    }
    for name, (axis, value, _) in variants.items():
        result = epochs.get(f"npnet, {name}", {})
        if "total_s" in result:
            factor = float(np.median(np.array(result["total_s"]) / np.array(base["total_s"])))
            curves[axis].append({"value": value, "epoch_s": result["median_total_s"], "factor": factor})
    return {axis: sorted(points, key=lambda p: p["value"]) for axis, points in curves.items()}


def _run_module(module: str, args: list[str], blas_threads: int | None) -> tuple[dict | None, str]:
    """`python -m module args` in its own process under the workers' thread settings.

    Returns (the JSON it printed after PREFIX, or None; the tail of its stderr for an error message)."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_worker_env("npnet", blas_threads),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX) :]), ""
    return None, f"{module} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"


def _operations(workload: Path, repeats: int, blas_threads: int | None) -> dict:
    """benchmarks.ops in its own process, under the workers' thread settings."""
    result, error = _run_module("benchmarks.ops", [str(workload), str(repeats)], blas_threads)
    if result is None:
        raise RuntimeError(error)
    return result


def _setup_cost(workload: Path, calls: int, blas_threads: int | None) -> dict:
    """benchmarks.setup_cost in its own process: a loop of fit(epochs=1) calls, setup against epoch."""
    result, error = _run_module("benchmarks.setup_cost", [str(workload), str(calls)], blas_threads)
    return result if result is not None else {"error": error[-500:]}


def _train_rss(data_dir: Path, epochs: int | None, blas_threads: int | None) -> dict:
    """benchmarks.rss: `npnet train` on `data_dir` in a fresh process, which reports its own peak RSS."""
    from npnet.datasets.imdb import WORD_INDEX_NAME

    if not (data_dir / WORD_INDEX_NAME).is_file():  # npnet train would try to download it
        return {"error": f"{data_dir} has no {WORD_INDEX_NAME}; build it with `npnet data build`"}
    args = [str(data_dir.resolve()), *([str(epochs)] if epochs else [])]
    result, error = _run_module("benchmarks.rss", args, blas_threads)
    return result if result is not None else {"error": error[-500:]}


def _fasttext(data_dir: Path, blas_threads: int | None) -> dict:
    """benchmarks.fasttext (with Keras-JAX) and benchmarks.rss of `npnet train --preset fasttext`, each in
    its own process."""
    with tempfile.TemporaryDirectory() as out:
        args = ["--data", str(data_dir.resolve()), "--keras", "--out", out]
        result, error = _run_module("benchmarks.fasttext", args, blas_threads)
    if result is None:
        return {"error": error[-500:]}
    rss, error = _run_module(
        "benchmarks.rss", [str(data_dir.resolve()), "1", "--preset", "fasttext"], blas_threads
    )
    result["train_rss"] = rss if rss is not None else {"error": error[-500:]}
    return result


def _write_json(path: Path, payload: dict) -> None:
    text = json.dumps(payload, indent=2)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


if __name__ == "__main__":
    sys.exit(main())
