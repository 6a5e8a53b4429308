"""Every file of a run folder, damaged as a hostile user would, is refused in words: exit 1, one line
`npnet <command>: error: ...` naming the file, never a traceback or a wrong answer. And a run folder is
never a dead end: resume finishes what a killed run lacks; a run that fails before its first epoch leaves
nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.reports import run_report
from npnet.saving import archive
from tests.training_helpers import SMALL, build_data, run_cli

REPO = Path(__file__).resolve().parents[2]
SETTINGS = [*SMALL, "--epochs", "2", "--verbose", "0"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"), n_per_class=20)


@pytest.fixture(scope="module")
def finished(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "r", *SETTINGS
    )
    assert code == 0, err
    return runs_dir / "r"


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "r"
    shutil.copytree(finished, copy)
    return copy


def refused(code: int, err: str, *words: str) -> bool:
    lines = err.strip().splitlines()
    return code == 1 and len(lines) == 1 and lines[0].startswith("npnet ") and all(w in err for w in words)


def rewrite_arrays(path: Path, kind: str, change: Callable[[dict, dict], None]) -> None:
    arrays, header = archive.load_arrays(path, kind=kind)
    change(arrays, header)
    meta = {k: v for k, v in header.items() if k not in ("format", "kind", "version")}
    archive.save_arrays(path, arrays, kind=kind, meta=meta)


def set_item(key: str, value: object) -> Callable[[dict, dict], None]:
    def change(arrays: dict, header: dict) -> None:
        (arrays if isinstance(value, np.ndarray) else header)[key] = value

    return change


def in_checkpoint(key: str, value: object) -> Callable[[Path], None]:
    return lambda path: rewrite_arrays(path, "checkpoint", set_item(key, value))


MT19937_STATE = {"bit_generator": "MT19937", "state": {"key": list(range(624)), "pos": 624}}
CHECKPOINT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "zero bytes": lambda p: p.write_bytes(b""),
    "not an npz": lambda p: p.write_text("hello"),
    "NaN slot": in_checkpoint("optimizer/m/0", np.full((60, 16), np.nan, np.float32)),
    "negative second moment": in_checkpoint("optimizer/v/0", np.full((60, 16), -1.0, np.float32)),
    "wrong shape": in_checkpoint("weights/0", np.zeros((7, 16), np.float32)),
    "negative iterations": in_checkpoint("optimizer/iterations", np.array(-3)),
    "float iterations": in_checkpoint("optimizer/iterations", np.array(2.5)),
    "float epochs_done": in_checkpoint("epochs_done", 1.5),
    "foreign RNG state": in_checkpoint("rng_state", MT19937_STATE),
    "string history": in_checkpoint("history", "loss"),
    "history of strings": in_checkpoint("history", {"loss": ["a", "b"]}),
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_is_refused_on_resume(run_dir: Path, damage: str) -> None:
    CHECKPOINT_DAMAGE[damage](run_dir / runs.CHECKPOINT_NPZ)
    code, _, err = run_cli("train", "--resume", run_dir, "--epochs", "3", "--verbose", "0")
    assert refused(code, err, "npnet train: error:", str(run_dir / runs.CHECKPOINT_NPZ)), err


def in_weights(change: Callable[[dict, dict], object]) -> Callable[[Path], None]:
    return lambda path: rewrite_arrays(path, "weights", change)


WEIGHTS_DAMAGE: dict[str, Callable[[Path], None]] = {
    "NaN weights": in_weights(lambda a, h: a.update({k: a[k] * np.nan for k in a})),
    "integer weights": in_weights(lambda a, h: a.update({k: a[k].astype(int) for k in a})),
    "manifest a string": in_weights(set_item("manifest", "all of them")),
    "manifest entry without shape": in_weights(lambda a, h: h["manifest"][0].pop("shape")),
    "zero bytes": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("damage", sorted(WEIGHTS_DAMAGE))
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_damaged_weights_are_refused(run_dir: Path, damage: str, command: str) -> None:
    WEIGHTS_DAMAGE[damage](run_dir / runs.WEIGHTS_NPZ)
    code, out, err = run_cli(command, "--run", run_dir, *(["great film"] if command == "predict" else []))
    assert refused(code, err, f"npnet {command}: error:", "weights.npz"), err
    assert "nan" not in out.lower()


CONFIG_DAMAGE: dict[str, Callable[[dict], None]] = {
    "seed a word": lambda c: c["config"].update(seed="zero"),
    "mask_zero a string": lambda c: c["config"].update(mask_zero="false"),
    "lr a string": lambda c: c["config"].update(learning_rate="fast"),
    "epochs a float": lambda c: c["config"].update(epochs=2.0),
    "settings a list": lambda c: c.update(config=[1, 2]),
    "word index outside the run": lambda c: c.update(word_index="../../etc/passwd"),
    "data_dir a number": lambda c: c.update(data_dir=7),
}


@pytest.mark.parametrize("damage", sorted(CONFIG_DAMAGE))
def test_a_config_with_wrong_types_is_refused(run_dir: Path, damage: str) -> None:
    path = run_dir / runs.CONFIG_JSON
    saved = json.loads(path.read_text())
    CONFIG_DAMAGE[damage](saved)
    path.write_text(json.dumps(saved))
    code, _, err = run_cli("predict", "--run", run_dir, "great film")
    assert refused(code, err, "npnet predict: error:", "config.json"), err


@pytest.mark.parametrize(
    "index",
    [["the", "film"], {"great": "1"}, {"great": 1.0}, {"great": None}, {"great": 2**63 - 2}, {"great": True}],
    ids=["a list", "string rank", "float rank", "null rank", "rank near 2**63", "bool rank"],
)
def test_a_bad_word_index_is_refused(run_dir: Path, index: object) -> None:
    (run_dir / runs.WORD_INDEX_JSON).write_text(json.dumps(index))
    code, _, err = run_cli("predict", "--run", run_dir, "great film")
    assert refused(code, err, "npnet predict: error:", "word_index.json"), err


@pytest.mark.parametrize(
    "lost", [runs.WEIGHTS_NPZ, run_report.REPORT_MD, run_report.METRICS_JSON, run_report.HISTORY_CSV]
)
@pytest.mark.slow
def test_resume_finishes_what_a_killed_run_lacks(run_dir: Path, lost: str) -> None:
    """Killed after the last checkpoint, before (or while) writing the outputs: resume writes them."""
    (run_dir / lost).unlink()
    before = {name: (run_dir / name).read_bytes() for name in (runs.CHECKPOINT_NPZ,)}
    code, out, err = run_cli("train", "--resume", run_dir, "--verbose", "2")
    assert code == 0, err
    assert "Finishing" in out and lost in out
    assert runs.missing_outputs(run_dir) == []
    assert (run_dir / runs.CHECKPOINT_NPZ).read_bytes() == before[runs.CHECKPOINT_NPZ]  # no epoch trained
    assert run_cli("evaluate", "--run", run_dir)[0] == 0
    code, _, err = run_cli("train", "--resume", run_dir, "--verbose", "0")
    assert refused(code, err, "has finished all 2 epochs")  # and now it is finished


@pytest.mark.slow
def test_resumed_weights_equal_the_checkpoint(run_dir: Path) -> None:
    weights = archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")[0]
    (run_dir / runs.WEIGHTS_NPZ).unlink()
    assert run_cli("train", "--resume", run_dir, "--verbose", "0")[0] == 0
    again = archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")[0]
    assert all(weights[k].tobytes() == again[k].tobytes() for k in weights)  # the same computation, saved


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--validation-split", "0.001"], 1),  # fails after the folder is made, before the first epoch
        (["--lr", "1e300", "--decay", "0"], 1),  # diverges in the first epoch
        (["--seed", "4294967296"], 2),  # usage: the range is the argument's
        (["--num-words", str(10**12)], 1),
        (["--lr", "inf"], 2),
        (["--lr", "nan"], 2),
        (["--seed", "-1"], 2),
    ],
)
@pytest.mark.slow
def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(
    data_dir: Path, tmp_path: Path, flags: list[str], code: int
) -> None:
    base = ["train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "x", *SETTINGS]
    got, _, err = run_cli(*base, *flags)
    assert got == code and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("npnet train: error:")
    assert not (tmp_path / "x").exists()
    assert run_cli(*base)[0] == 0  # the name is free


def test_runs_dir_or_data_dir_that_is_a_file(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli("train", "--data-dir", data_dir, "--runs-dir", blocker, *SETTINGS)
    assert refused(code, err, f"--runs-dir {blocker} is a file, not a folder")
    monkeypatch.setenv("NPNET_DATA_DIR", str(blocker))
    code, _, err = run_cli("train", "--runs-dir", tmp_path / "runs", *SETTINGS)
    assert refused(code, err, f"$NPNET_DATA_DIR is {blocker}, which is a file, not a folder")
    code, _, err = run_cli("data", "info", "--data-dir", blocker)
    assert refused(code, err, f"--data-dir is {blocker}, which is a file")


@pytest.mark.slow
def test_train_into_a_closed_pipe_ends_quietly_and_leaves_a_run_resume_can_finish(
    data_dir: Path, tmp_path: Path
):
    """`npnet train | head -1`: exit 0 or 141, no traceback; no folder (no epoch done) or a resumable one."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [
        "train",
        "--data-dir",
        data_dir,
        "--runs-dir",
        tmp_path,
        "--run-name",
        "p",
        *SMALL,
        "--epochs",
        "3",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "npnet", *map(str, argv), "--verbose", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) in (0, 141), err
    assert "Traceback" not in err and "Broken pipe" not in err, err
    if (tmp_path / "p").exists():
        code, _, err = run_cli("train", "--resume", tmp_path / "p", "--verbose", "0")
        assert code == 0 or "has finished all 3 epochs" in err, err
        assert runs.missing_outputs(tmp_path / "p") == []


@pytest.mark.slow
def test_a_full_disk_during_training_is_an_error_in_words(data_dir: Path, tmp_path: Path) -> None:
    """`ulimit -f 8` (8 KiB files): the first checkpoint cannot be written; exit 1, one line, no folder."""
    import resource

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "u", *SETTINGS]
    done = subprocess.run(
        [sys.executable, "-m", "npnet", *map(str, argv)],
        capture_output=True, text=True, env=env, preexec_fn=limit_file_size, timeout=300,
    )  # fmt: skip
    assert refused(
        done.returncode, done.stderr, "npnet train: error: cannot write the checkpoint", "File too large"
    )
    assert not (tmp_path / "u").exists()
