"""Sweeps: a grid of settings x seeds, each cell one ordinary run folder, trained in parallel processes on
this machine or on a Dask distributed cluster, resumable, summarised as distributions over seeds.

The sweep folder (`sweeps/<name>/`):
- `sweep.json`    the plan: preset, data folder, the grid of settings, the seeds; a rerun must match it
  but for the seeds: a rerun with other seeds grows the sweep to both sets (`effective_plan`)
- `runs/<cell>/`  one run folder per setting combination x seed (`npnet evaluate/predict/inspect` and
  `npnet train --resume` work on it), plus `sweep_row.json`, its results row, written last: a run with one
  is finished and is never trained again
- `results.csv`   one row per run: run, the swept settings, seed, epochs, final and best validation
  metrics, test metrics, seconds of training, the model's parameters and the run's peak RSS
- `summary.md`    per setting: median, IQR and min-max over the seeds; with `select_on="validation"`, the
  setting with the best median validation accuracy and, reported apart, its test distribution
- `sweep.png`     test accuracy per setting, one dot per seed, the median marked

Engines. Local (default): up to `workers` runs at a time (default: the machine's cores), each in its own
Python process (`python -m npnet.sweep RUN_SPEC`) with one BLAS thread and NPNET_NUM_THREADS=1, so a worker
that dies (killed, out of memory) loses only its own run. Dask: `scheduler="tcp://host:8786"` (or a
`distributed.Client`) runs the same function, `run_cell`, on the cluster's workers; the `dask` extra
(`pip install 'npnet[dask]'`), never a core dependency. Every worker must reach the sweep folder and the
data folder by the same paths. Both engines run the same computation in a single-threaded process, so the
same settings and seed give the same numbers on either.

Peak RSS: the run's process's peak resident memory (VmHWM) when its row is written. A local run is its own
process, so that is the run's own peak (the interpreter and imports included). A Dask worker runs many
tasks: each task first resets the process's peak to its current resident memory (`/proc/self/clear_refs`,
Linux), so its row holds the worker's baseline plus the task's own peak.

A spec may name another module as its `worker` (benchmarks/keras_cell.py): the engines then run that
module's `run_cell(spec)` in the same way, so other systems' runs share the pool, the resuming and the rows.

Resuming: rerunning the sweep skips runs with a `sweep_row.json`, resumes a run that has a checkpoint
from its last complete epoch (bitwise as if never stopped), and starts over a run that stopped before its
first epoch ended. Nothing here prints: `npnet.cli.sweep` does.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import importlib
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npnet.atomic import atomic_write
from npnet.errors import RunError

SWEEP_JSON = "sweep.json"
RESULTS_CSV = "results.csv"
SUMMARY_MD = "summary.md"
SWEEP_PNG = "sweep.png"
ROW_JSON = "sweep_row.json"
RUNS = "runs"
METRICS = (
    "final_val_loss",
    "final_val_accuracy",
    "best_val_accuracy",
    "best_epoch",
    "test_loss",
    "test_accuracy",
)
TIMING = ("seconds",)
RESOURCES = ("parameters", "peak_rss_mb")  # absent from the rows of sweeps made before they were recorded
# The columns that differ between two runs of the same computation (the clock, the process's memory).
MEASURED = (*TIMING, "peak_rss_mb")
# Short names accepted by --set beside the TrainConfig field names (the `npnet train` flags' names).
ALIASES = {"lr": "learning_rate"}
MAX_SEEDS = 10_000  # seeds of one sweep: a run folder each
SINGLE_THREAD_ENV = {
    "NPNET_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


# ---- the plan


def parse_seeds(text: str) -> list[int]:
    """ "0-9" -> [0..9]; "0,3,7" -> [0, 3, 7]; "2-4,9" -> [2, 3, 4, 9]. RunError on anything else, on a seed
    outside 0 .. MAX_SEED and on more than MAX_SEEDS seeds (checked before any list is made)."""
    from npnet.runs.config import MAX_SEED

    bounds = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            bounds.append((int(low), int(high or low)))
    except ValueError:
        raise RunError(f"--seeds {text!r}: give a range like 0-9 or a list like 0,3,7") from None
    if any(not 0 <= low <= high <= MAX_SEED for low, high in bounds):
        raise RunError(f"--seeds {text!r}: give ranges low-high of seeds from 0 to {MAX_SEED}, e.g. 0-9")
    if sum(high - low + 1 for low, high in bounds) > MAX_SEEDS:
        raise RunError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds a sweep (one run each); give fewer")
    seeds = [seed for low, high in bounds for seed in range(low, high + 1)]
    if len(set(seeds)) != len(seeds):
        raise RunError(f"--seeds {text!r}: give distinct non-negative seeds, e.g. 0-9")
    return seeds


# Dask's address schemes (a bare host:port is tcp).
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler(address: str) -> str:
    """`address` if it reads as a Dask scheduler's ([scheme://]host:port); RunError saying why not."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, _, port = rest.rpartition(":")
    if (
        scheme not in SCHEDULER_SCHEMES
        or not host.strip("[]:")
        or not (port.isdigit() and 0 < int(port) < 65536)
    ):
        raise RunError(
            f"--scheduler {address!r:.100} is not a Dask scheduler address: give [scheme://]host:port, e.g. "
            f"tcp://127.0.0.1:8786 (schemes: {', '.join(SCHEDULER_SCHEMES)})"
        )
    return address


def _field_types() -> dict[str, str]:
    from npnet.runs import TrainConfig

    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        return text
    except ValueError:
        raise RunError(f"--set {name}: {text!r} is not a valid {kind}") from None


def parse_set(text: str) -> tuple[str, list[Any]]:
    """ "lr=1e-3,3e-4" -> ("learning_rate", [0.001, 0.0003]): a TrainConfig setting (or an `npnet train`
    flag name, dashes or underscores) and its values, typed as the setting."""
    if "=" not in text:
        raise RunError(f"--set {text!r}: write SETTING=VALUE[,VALUE...], e.g. --set lr=1e-3,3e-4")
    key, values = text.split("=", 1)
    name = key.strip().replace("-", "_")
    name = ALIASES.get(name, name)
    types = _field_types()
    if name not in types or name in ("seed", "preset", "architecture"):
        settable = sorted([*ALIASES, *(t for t in types if t not in ("seed", "preset", "architecture"))])
        hint = "use --seeds for seeds" if name == "seed" else f"settable: {', '.join(settable)}"
        raise RunError(f"--set {key!r} is not a setting a sweep can vary ({hint})")
    parsed = [_convert(name, types[name], v.strip()) for v in values.split(",") if v.strip()]
    if not parsed or len(set(map(repr, parsed))) != len(parsed):
        raise RunError(f"--set {text!r}: give one or more distinct values")
    return name, parsed


@dataclass(frozen=True)
class Plan:
    """What a sweep trains: `grid[setting] = values` (each combination) x `seeds`, on `preset`'s settings."""

    preset: str
    grid: dict[str, list[Any]]
    seeds: list[int]
    data_dir: str
    select_on: str | None = None

    @property
    def swept(self) -> list[str]:
        """The settings given more than one value (those with one are fixed for the whole sweep)."""
        return [key for key, values in self.grid.items() if len(values) > 1]

    def cells(self) -> list[dict[str, Any]]:
        """One dict of settings per combination, in grid order."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def specs(self, sweep_dir: Path) -> list[dict[str, Any]]:
        """One run spec (plain JSON) per combination x seed: what `run_cell` needs."""
        return [
            {
                "run_dir": str((sweep_dir / RUNS / run_name(self, settings, seed)).resolve()),
                "preset": self.preset,
                "settings": settings,
                "seed": seed,
                "data_dir": self.data_dir,
            }
            for settings in self.cells()
            for seed in self.seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_name(plan: Plan, settings: Mapping[str, Any], seed: int) -> str:
    """A run folder's name: the swept settings and the seed, e.g. "learning_rate=0.001,maxlen=256,seed=3"."""
    parts = [f"{key}={settings[key]}" for key in plan.swept] + [f"seed={seed}"]
    return ",".join(parts).replace("/", "_")


def check_plan(plan: Plan) -> None:
    """RunError unless every combination is a valid config of the preset (checked before any run starts)."""
    from npnet.runs import preset_config

    for settings in plan.cells():
        preset_config(plan.preset, **settings, seed=plan.seeds[0])
    if plan.select_on == "validation":
        for settings in plan.cells():
            if not preset_config(plan.preset, **settings).validation_split:
                raise RunError(
                    f"--select-on validation needs a validation split of the training set, but preset "
                    f"{plan.preset!r} validates on the test set: add --set validation_split=0.2"
                )


def effective_plan(sweep_dir: Path, plan: Plan) -> Plan:
    """The plan that running `plan` in `sweep_dir` carries out: `plan` itself in a new folder; in a folder
    holding a sweep of the same preset, data folder and grid, that sweep's seeds and `plan`'s together
    (sorted), so a rerun with more seeds grows the sweep, keeping its finished runs, and a rerun with fewer
    still reports every seed it has. RunError for a folder that holds another sweep or an unreadable plan."""
    path = sweep_dir / SWEEP_JSON
    if not path.exists():
        return plan
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved_seeds = [int(seed) for seed in saved["seeds"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise RunError(f"cannot read {path} ({e}); pick another --name") from None
    mine = json.loads(json.dumps(plan.to_dict()))  # as it would read back from sweep.json
    apart = ("seeds", "select_on")  # what a rerun may change
    if {k: v for k, v in saved.items() if k not in apart} != {
        k: v for k, v in mine.items() if k not in apart
    }:
        raise RunError(
            f"{sweep_dir} holds another sweep (its {SWEEP_JSON} differs from these settings in more than "
            "the seeds); rerun it with its own settings or pick another --name"
        )
    return dataclasses.replace(plan, seeds=sorted({*saved_seeds, *plan.seeds}))


def open_sweep(sweep_dir: Path, plan: Plan) -> Plan:
    """Create the sweep folder with its plan, or grow an existing one's seeds (`effective_plan`); returns
    the plan to run."""
    plan = effective_plan(sweep_dir, plan)
    (sweep_dir / RUNS).mkdir(parents=True, exist_ok=True)
    _write_text(sweep_dir / SWEEP_JSON, json.dumps(plan.to_dict(), indent=2) + "\n")
    return plan


# ---- locks: one sweep per folder, one process per run


LOCK = ".lock"  # beside what it guards: the sweep folder's own, and runs/<name>.lock for each run
PARENT_ENV = "NPNET_SWEEP_PARENT"  # the sweep's pid, which a local worker must not outlive


@contextlib.contextmanager
def holding_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (flock: the OS drops it when the process ends, even by
    kill -9, so a killed sweep never leaves a stale lock); RunError `busy` (with the holder's pid) at once if
    another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RunError(busy.format(pid=holder)) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def die_with_parent(parent: int) -> None:
    """End this worker process when `parent` (the sweep) ends, however it ends: on Linux the kernel sends
    SIGKILL (prctl PR_SET_PDEATHSIG); everywhere a daemon thread checks each second that the parent is
    still this process's parent."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="npnet-parent-watch").start()


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


# ---- one run (in a worker)


def run_cell(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train (or finish, or just read) one run of a sweep and return its results row.

    Runs in a worker process; the row is also written to the run folder as `sweep_row.json`, last, so a run
    with one is finished."""
    from threadpoolctl import threadpool_limits

    os.environ.update(SINGLE_THREAD_ENV)  # this process's fused kernels: one thread (read at each call)
    run_dir = Path(spec["run_dir"])
    busy = f"{run_dir.name} is being trained by another process (pid {{pid}}); wait for it to end, or stop it"
    with holding_lock(run_dir.with_name(run_dir.name + LOCK), busy):
        if (run_dir / ROW_JSON).exists():
            return json.loads((run_dir / ROW_JSON).read_text(encoding="utf-8"))
        reset_peak_rss()
        with threadpool_limits(1):
            row = _train_cell(spec, run_dir)
        row["peak_rss_mb"] = peak_rss_mb()
        _write_text(run_dir / ROW_JSON, json.dumps(row, indent=2) + "\n")
    return row


def run_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One task of either engine: `run_cell` of the spec's `worker` module (default: this one's)."""
    module = spec.get("worker")
    if module is None:
        return run_cell(spec)
    row: dict[str, Any] = importlib.import_module(module).run_cell(spec)
    return row


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count again from its current resident memory (Linux; elsewhere the
    peak stays the process's own since it started)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def peak_rss_mb() -> float:
    """This process's peak resident memory, MiB: VmHWM (Linux; what `reset_peak_rss` resets), else
    getrusage's ru_maxrss."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def _train_cell(spec: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    from npnet import runs
    from npnet.metrics import classification_metrics
    from npnet.reports import attention_report, run_report
    from npnet.reports.run_report import CLASS_NAMES
    from npnet.saving import checkpoints

    config = runs.preset_config(spec["preset"], **spec["settings"], seed=spec["seed"])
    if not (run_dir / runs.CONFIG_JSON).exists():
        ngrams, ratio = None, None
        if config.ngrams > 1 or config.bag_features:  # fitted on the training reviews, kept in the folder
            fitted = runs.load_imdb(config, spec["data_dir"])
            ngrams, ratio = fitted.ngrams, fitted.ratio
            del fitted
        runs.create_run(run_dir, config, spec["data_dir"], ngrams=ngrams, ratio=ratio)
    run = runs.open_run(run_dir)
    path = run_dir / runs.CHECKPOINT_NPZ
    state = checkpoints.load(path) if path.exists() else None  # None: it never finished an epoch
    data = runs.load_imdb(run.config, run.data_dir, ngrams=run.ngrams, ratio=run.ratio).without_reviews()
    model = runs.build_model(run.config, run.ngrams, run.ratio)
    parameters = model.count_params()
    history = runs.fit_run(run, model, data, resume=state, verbose=0)
    loss, _ = model.evaluate(data.x_test, data.test_labels, batch_size=config.batch_size)
    probabilities = model.predict(data.x_test, batch_size=config.batch_size)
    metrics = classification_metrics(data.test_labels, probabilities, loss, CLASS_NAMES)
    metrics["training_seconds"] = float(sum(history["seconds"]))
    metrics["epochs"] = len(history["loss"])
    maps = attention_report.write_test_attention(
        run_dir, run_report.run_title(run.name, config.to_dict()), model, data.x_test, probabilities,
        run.word_index,
    )  # fmt: skip
    run_report.write_run_report(
        run_dir, run_name=run.name, config=config.to_dict(), metrics=metrics, history=history,
        val_name=config.val_name, attention_maps=maps,
    )  # fmt: skip
    val_accuracy = history["val_accuracy"]
    best = int(np.argmax(val_accuracy))
    return {
        "run": run.name,
        "preset": spec["preset"],
        **spec["settings"],
        "seed": spec["seed"],
        "epochs": len(history["loss"]),
        "final_val_loss": history["val_loss"][-1],
        "final_val_accuracy": val_accuracy[-1],
        "best_val_accuracy": val_accuracy[best],
        "best_epoch": best + 1,
        "test_loss": metrics["loss"],
        "test_accuracy": metrics["accuracy"],
        "seconds": metrics["training_seconds"],
        "parameters": parameters,
    }


# ---- the engines


def _local_worker(spec: Mapping[str, Any], children: set[subprocess.Popen]) -> dict[str, Any] | str:
    """Run one cell in its own Python process; its row, or why the process failed (it loses only its run).
    The process is kept in `children` while it runs, for `run_local` to stop."""
    import npnet

    env = {**os.environ, **SINGLE_THREAD_ENV, PARENT_ENV: str(os.getpid())}
    root = str(Path(npnet.__file__).resolve().parents[1])  # this npnet, whether installed or a checkout
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    with subprocess.Popen(
        [sys.executable, "-m", spec.get("worker", "npnet.sweep"), json.dumps(dict(spec))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        children.add(child)
        try:
            stdout, stderr = child.communicate()
        finally:
            children.discard(child)
    row_path = Path(spec["run_dir"]) / ROW_JSON
    if child.returncode == 0 and row_path.exists():
        return json.loads(row_path.read_text(encoding="utf-8"))
    tail = (stderr or stdout).strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
    return f"{Path(spec['run_dir']).name}: {tail[0]}"


def run_local(
    specs: Sequence[Mapping[str, Any]], workers: int, on_done: Callable[[dict[str, Any] | str], None]
) -> list[dict[str, Any] | str]:
    """Each spec in its own process, `workers` at a time; `on_done(row or failure)` as each finishes. If
    this is interrupted (Ctrl-C, SIGTERM), the running processes are stopped before it returns."""
    children: set[subprocess.Popen] = set()
    pool = ThreadPoolExecutor(max_workers=workers)  # threads that each wait on one child process
    try:
        futures = [pool.submit(_local_worker, spec, children) for spec in specs]
        for future in as_completed(futures):
            on_done(future.result())
        return [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in list(children):
            child.terminate()  # each one's checkpoint of its last full epoch is kept: a rerun resumes it
        raise
    finally:
        pool.shutdown(wait=True)


def run_dask(
    specs: Sequence[Mapping[str, Any]], scheduler: Any, on_done: Callable[[dict[str, Any] | str], None]
) -> list[dict[str, Any] | str]:
    """Each spec as one task on a Dask distributed cluster (`scheduler`: its address, or a Client)."""
    try:
        from distributed import Client
        from distributed import as_completed as as_finished
    except ImportError:
        raise RunError(
            "--scheduler needs the dask extra (dask.distributed is not installed): pip install 'npnet[dask]'"
        ) from None
    client = scheduler if isinstance(scheduler, Client) else None
    try:
        if client is None:
            try:
                client = Client(scheduler, timeout="20s")
            except OSError as e:
                raise RunError(
                    f"cannot reach the Dask scheduler at {scheduler} ({e}); is it running?"
                ) from None
        futures = client.map(run_spec, list(specs), pure=False)
        names = {future.key: Path(spec["run_dir"]).name for future, spec in zip(futures, specs, strict=True)}
        by_key: dict[Any, dict[str, Any] | str] = {}
        for future in as_finished(futures):
            try:
                result: dict[str, Any] | str = future.result()
            except Exception as e:  # a task's failure (KilledWorker included) loses only its run
                result = f"{names[future.key]}: {type(e).__name__}: {e}"
            on_done(result)
            by_key[future.key] = result
        return [by_key[future.key] for future in futures]
    finally:
        if client is not None and client is not scheduler:
            client.close()


# ---- results


def write_results(sweep_dir: Path, plan: Plan, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """results.csv, summary.md and sweep.png of the finished runs `rows`; returns their paths."""
    import csv
    import io

    columns = ["run", *plan.swept, "seed", "epochs", *METRICS, *TIMING, *RESOURCES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in sorted(rows, key=lambda r: r["run"]):
        values = [row.get(c, "") for c in columns]
        writer.writerow([repr(v) if isinstance(v, float) else v for v in values])
    _write_text(sweep_dir / RESULTS_CSV, buffer.getvalue())
    _write_text(sweep_dir / SUMMARY_MD, render_summary(plan, rows))
    plot_sweep(sweep_dir / SWEEP_PNG, plan, rows)
    return [sweep_dir / name for name in (RESULTS_CSV, SUMMARY_MD, SWEEP_PNG)]


def setting_label(plan: Plan, row: Mapping[str, Any]) -> str:
    """The swept settings of a row, e.g. "learning_rate=0.001 maxlen=256" (the preset's when none)."""
    return " ".join(f"{key}={row[key]}" for key in plan.swept) or plan.preset


def distribution(values: Iterable[float]) -> dict[str, float]:
    """median, IQR (75th - 25th percentile, numpy's linear interpolation), min, max and n of `values`."""
    v = np.asarray(list(values), dtype=np.float64)
    q25, median, q75 = np.percentile(v, [25, 50, 75])
    return {"median": median, "iqr": q75 - q25, "min": v.min(), "max": v.max(), "n": len(v)}


def _by_setting(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for settings in plan.cells():
        grouped[setting_label(plan, settings)] = []
    for row in rows:
        grouped[setting_label(plan, row)].append(row)
    return {label: group for label, group in grouped.items() if group}


def select(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> str:
    """The setting with the best median final validation accuracy (ties: the first in grid order)."""
    groups = _by_setting(plan, rows)
    return max(
        groups, key=lambda label: distribution(r["final_val_accuracy"] for r in groups[label])["median"]
    )


def render_summary(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> str:
    """summary.md: per setting, the distribution over seeds of validation and test accuracy."""
    groups = _by_setting(plan, rows)
    validates_on_test = all(r["final_val_accuracy"] == r["test_accuracy"] for r in rows)
    lines = [f"# Sweep of preset `{plan.preset}`", ""]
    lines.append(
        f"{len(rows)} finished runs of {len(plan.cells()) * len(plan.seeds)}: "
        f"{len(plan.cells())} setting(s) x seeds {plan.seeds}. Each cell: median, IQR, [min, max] over seeds."
    )
    if fixed := {key: values[0] for key, values in plan.grid.items() if key not in plan.swept}:
        lines += [
            "",
            "Fixed for every run: " + ", ".join(f"`{key}={value}`" for key, value in fixed.items()) + ".",
        ]
    if validates_on_test:
        lines += [
            "",
            "The preset validates on the test set: validation and test accuracy are the same numbers.",
        ]
    lines += [
        "",
        "| setting | seeds | final validation accuracy | best validation accuracy | test accuracy |",
    ]
    lines.append("|---|---:|---|---|---|")
    for label, group in groups.items():
        cells = [
            _cell(distribution(r[key] for r in group))
            for key in ("final_val_accuracy", "best_val_accuracy", "test_accuracy")
        ]
        lines.append(f"| {label} | {len(group)} | " + " | ".join(cells) + " |")
    if plan.select_on == "validation" and groups:
        best = select(plan, rows)
        test = distribution(r["test_accuracy"] for r in groups[best])
        lines += [
            "",
            "## Selected on validation",
            "",
            f"The best median final validation accuracy: **{best}**. Chosen on the validation split only; "
            f"its test accuracy over {test['n']} seeds, reported apart: median {test['median']:.4f}, "
            f"IQR {test['iqr']:.4f}, range {test['min']:.4f}-{test['max']:.4f}.",
        ]
    lines += [
        "",
        f"Every run: [{RESULTS_CSV}]({RESULTS_CSV}); the plot: ![test accuracy per setting]({SWEEP_PNG})",
        "",
    ]
    return "\n".join(lines)


def _cell(d: Mapping[str, float]) -> str:
    return f"{d['median']:.4f}, IQR {d['iqr']:.4f}, [{d['min']:.4f}, {d['max']:.4f}]"


def plot_sweep(path: Path, plan: Plan, rows: Sequence[Mapping[str, Any]]) -> None:
    """Test accuracy per setting: one dot per seed, a bar at the median."""
    from npnet.reports.run_report import _pyplot, _save_figure

    groups = _by_setting(plan, rows)
    fig, ax = _pyplot().subplots(figsize=(max(5, 1.4 * len(groups) + 2), 4))
    for i, group in enumerate(groups.values()):
        values = [r["test_accuracy"] for r in group]
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.plot(i + jitter, values, "o", color="tab:blue", alpha=0.7, markersize=5)
        ax.plot([i - 0.25, i + 0.25], [np.median(values)] * 2, color="black", linewidth=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([label.replace(" ", "\n") for label in groups], fontsize=8)
    ax.set_ylabel("Test accuracy")
    ax.set_title(f"Sweep of {plan.preset}: one dot per seed, bar at the median")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    _save_figure(fig, path)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def sweep(
    sweep_dir: Path,
    plan: Plan,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    on_done: Callable[[dict[str, Any] | str], None] = lambda result: None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run (or resume, or grow: `effective_plan`) the sweep `plan` in `sweep_dir` and write its results;
    (rows, failures)."""
    check_plan(plan)
    busy = f"{sweep_dir} is in use by another npnet sweep (pid {{pid}}); wait for it to finish, or stop it"
    with holding_lock(sweep_dir / LOCK, busy):
        plan = open_sweep(sweep_dir, plan)
        specs = plan.specs(sweep_dir)
        if scheduler is not None:
            results = run_dask(specs, scheduler, on_done)
        else:
            results = run_local(specs, workers or os.cpu_count() or 1, on_done)
        rows = [r for r in results if isinstance(r, dict)]
        failures = [r for r in results if isinstance(r, str)]
        if rows:
            write_results(sweep_dir, plan, rows)
    return rows, failures


def _main(argv: Sequence[str]) -> int:
    """The local engine's worker: `python -m npnet.sweep RUN_SPEC_JSON` trains one run, and ends with the
    sweep that started it."""
    if PARENT_ENV in os.environ:
        die_with_parent(int(os.environ[PARENT_ENV]))
    run_cell(json.loads(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
