"""`npnet predict`: same tokenization as training, every output format, and inputs that try to break it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.cli.predict import decode_bytes, split_lines
from npnet.datasets import imdb
from tests.training_helpers import NEGATIVE, POSITIVE, SMALL, build_data, run_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def run_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs, "--run-name", "r", "--epochs", "6",
        "--verbose", "0", *SMALL,
    )  # fmt: skip
    assert code == 0, err
    return runs / "r"


def predict_json(run_dir: Path, *args: str | Path) -> tuple[int, list[dict], str]:
    code, out, err = run_cli("predict", "--run", run_dir, "--format", "json", *args)
    return code, json.loads(out) if out else [], err


@pytest.mark.slow
def test_scores_follow_the_training_tokenization(run_dir: Path, data_dir: Path) -> None:
    """A test review given as raw text is scored on the very ids load_data gives for it."""
    run = runs.open_run(run_dir)
    source = next((data_dir.parent / "source" / "aclImdb" / "test" / "pos").glob("*.txt")).read_text()
    code, results, err = predict_json(run_dir, source)
    assert code == 0, err
    ids = run.encode(source)
    assert ids in runs.load_imdb(run.config, data_dir).test_seqs.to_lists()
    expected = run.model().predict(run.inputs([ids])).item()
    assert results[0]["probability"] == expected
    assert results[0]["label"] == ("positive" if expected > 0.5 else "negative")


def test_the_model_tells_the_synthetic_classes_apart(run_dir: Path) -> None:
    code, results, err = predict_json(run_dir, " ".join(POSITIVE), " ".join(NEGATIVE))
    assert code == 0
    assert (
        "has not learned" not in err
    )  # the warning is for runs like the notebook's (tests/cli/test_stall.py)
    assert [r["label"] for r in results] == ["positive", "negative"]
    assert results[0]["probability"] > 0.5 > results[1]["probability"]


def test_table_and_csv_carry_the_same_numbers(run_dir: Path) -> None:
    texts = ["great superb film", "awful, boring; dull!"]
    _, table, _ = run_cli("predict", "--run", run_dir, *texts)
    _, out, _ = run_cli("predict", "--run", run_dir, "--format", "csv", *texts)
    rows = list(csv.DictReader(io.StringIO(out)))
    _, results, _ = predict_json(run_dir, *texts)
    assert [float(r["probability"]) for r in rows] == [r["probability"] for r in results]
    assert [r["text"] for r in rows] == texts
    lines = table.splitlines()
    assert lines[0].split() == ["#", "probability", "label", "words", "unknown", "review"]
    for line, result in zip(lines[1:], results, strict=True):
        assert line.split()[1:3] == [f"{result['probability']:.4f}", result["label"]]


@pytest.mark.slow
def test_file_and_stdin_one_review_per_line(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"great film\r\nawful film\rsuperb\n")  # every newline style, a final newline
    code, from_file, err = predict_json(run_dir, "--file", path)
    assert code == 0, err
    assert [r["text"] for r in from_file] == ["great film", "awful film", "superb"]
    assert from_file[1]["source"] == f"line 2 of {path}"
    child = subprocess.run(
        [sys.executable, "-m", "npnet", "predict", "--run", str(run_dir), "--file", "-", "--format", "json"],
        input=path.read_bytes(),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    from_stdin = json.loads(child.stdout)
    assert [r["probability"] for r in from_stdin] == [r["probability"] for r in from_file]


def test_empty_reviews_get_their_own_error_and_the_rest_is_scored(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "reviews.txt"
    path.write_text("great film\n\n   \n?!... ---\nawful\n")
    code, results, err = predict_json(run_dir, "--file", path)
    assert code == 1
    assert [r["error"] is None for r in results] == [True, False, False, False, True]
    assert results[4]["probability"] is not None
    for number in (2, 3, 4):
        message = f"review {number} (line {number} of {path}) is empty: it has no words to score"
        assert results[number - 1]["error"] == message
        assert message in err
    code, results, err = predict_json(run_dir, "")
    assert code == 1 and results[0]["probability"] is None and "review 1 (argument 1) is empty" in err


def test_non_utf8_bytes_are_replaced_and_said_once(run_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("great café\nawful déjà vu\n".encode("latin-1") + b"\xff\xfe\x00 superb\n")
    code, results, err = predict_json(run_dir, "--file", path)
    assert code == 0
    assert err.count("not valid UTF-8") == 1
    assert [r["text"] for r in results] == [
        "great caf\ufffd",
        "awful d\ufffdj\ufffd vu",
        "\ufffd\ufffd\x00 superb",
    ]
    assert all(r["probability"] is not None for r in results)


def test_non_utf8_bytes_in_arguments(run_dir: Path) -> None:
    raw = os.fsdecode(b"superb \xe9\xff")  # how Python hands undecodable argv bytes over (surrogateescape)
    code, results, err = predict_json(run_dir, raw)
    assert code == 0
    assert results[0]["text"] == "superb \ufffd\ufffd"
    assert "not valid UTF-8" in err


def test_utf16_and_bom_files_are_read_as_text(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "u16.txt").write_bytes("great film\nawful film\n".encode("utf-16"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfgreat film\nawful film\n")
    _, u16, err16 = predict_json(run_dir, "--file", tmp_path / "u16.txt")
    _, bom, errbom = predict_json(run_dir, "--file", tmp_path / "bom.txt")
    assert [r["text"] for r in u16] == [r["text"] for r in bom] == ["great film", "awful film"]
    assert "UTF-8" not in err16 + errbom


def test_only_unknown_words_map_to_the_oov_id(run_dir: Path) -> None:
    code, results, _ = predict_json(run_dir, "zxqv blorp snarfle", "<br /> zxqv", "the zxqv")
    assert code == 0
    assert [(r["words"], r["unknown"]) for r in results] == [(3, 3), (2, 1), (2, 1)]
    run = runs.open_run(run_dir)
    assert run.encode("zxqv blorp snarfle") == [imdb.START_CHAR] + [imdb.OOV_CHAR] * 3
    # an all-unknown review is a real input: it is scored like its ids
    expected = run.model().predict(run.inputs([[1, 2, 2, 2]])).item()
    # scored in a batch of three here, alone there: other gemm shapes, so equal to float32 rounding only
    assert results[0]["probability"] == pytest.approx(expected, rel=1e-5)


def test_very_long_reviews_keep_their_last_maxlen_words(run_dir: Path) -> None:
    """Truncation is 'pre' as in training: a huge review scores as its last maxlen (32) ids."""
    tail = " ".join(["awful"] * 31)
    long_text = "great " * 200_000 + tail
    code, results, _ = predict_json(run_dir, long_text, tail)
    assert code == 0
    assert results[0]["words"] == 200_031
    run = runs.open_run(run_dir)
    last_ids = run.encode("great " + tail)[1:]  # the last 32 ids: no start marker, one "great", 31 "awful"
    # what the test means, exactly: the model's input row is the last maxlen ids (integers, so bitwise)
    np.testing.assert_array_equal(run.inputs([run.encode(long_text)]), run.inputs([last_ids]))
    # and the CLI scored that row; it ran in a batch of two (other gemm shapes), so to float32 rounding only
    expected = run.model().predict(run.inputs([last_ids])).item()
    assert results[0]["probability"] == pytest.approx(expected, rel=1e-5)
    assert results[0]["label"] == "negative"


def test_predict_usage_errors(run_dir: Path, tmp_path: Path) -> None:
    assert run_cli("predict", "--run", run_dir)[0] == 2  # nothing to score
    assert run_cli("predict", "great")[0] == 2  # --run missing
    assert run_cli("predict", "--run", run_dir, "--format", "xml", "great")[0] == 2
    code, _, err = run_cli("predict", "--run", tmp_path / "absent", "great")
    assert code == 1 and "no run folder at" in err
    code, _, err = run_cli("predict", "--run", run_dir, "--file", tmp_path / "absent.txt")
    assert code == 1 and "cannot read --file" in err
    (tmp_path / "empty.txt").write_bytes(b"")
    code, _, err = run_cli("predict", "--run", run_dir, "--file", tmp_path / "empty.txt")
    assert code == 1 and "holds no reviews" in err


def test_unfinished_run_says_to_resume(run_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("config.json", "word_index.json", "checkpoint.npz"):
        (partial / name).write_bytes((run_dir / name).read_bytes())
    code, _, err = run_cli("predict", "--run", partial, "great")
    assert code == 1 and f"npnet train --resume {partial}" in err


def test_decode_bytes_and_split_lines() -> None:
    assert decode_bytes("naïve".encode()) == ("naïve", False)
    assert decode_bytes(b"na\xefve") == ("na\ufffdve", True)
    assert split_lines("a\x0cb\u2028c\nd\n") == ["a\x0cb\u2028c", "d"]  # only real line breaks split
    assert split_lines("") == []
    assert np.array_equal(split_lines("a\n\nb"), ["a", "", "b"])


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(run_dir: Path) -> None:
    """`npnet predict ... | head -1`: no traceback, exit 0 or 141 (SIGPIPE's status)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reviews = ["great film"] * 20_000
    process = subprocess.Popen(
        [sys.executable, "-m", "npnet", "predict", "--run", str(run_dir), "--file", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    process.stdin.write("\n".join(reviews).encode())
    process.stdin.close()
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) in (0, 141), err
    assert "Traceback" not in err and "Broken pipe" not in err, err
