"""NBSVM on IMDB, npnet against scikit-learn on the same features:
`python -m benchmarks.nbsvm [--data DIR] [--seeds 0 1 2 3 4] [--ngrams 2] [--out DIR]`.

Both systems get the binarized bags of words and n-grams and the log-count ratio that
`npnet.preprocessing.nbsvm.nbsvm_inputs` makes from the 25,000 training reviews (full vocabulary, as
`imdb.load_ragged()`; the n-gram table and the ratio from the training split only), and are scored on the
25,000 test reviews. Each system runs in its own child process, so each peak RSS is its own:

- npnet: `npnet.models.nbsvm`, Adam(1e-2), batch 32, 4 epochs (chosen on a validation split held out of
  train: docs/derivations/nbsvm.md), once per seed; test accuracy per seed, median and range, seconds of
  `fit`;
- scikit-learn (the `bench` extra): logistic regression on r * x̂ (liblinear, C=1, its default) and
  Wang & Manning's NBSVM (LinearSVC, squared hinge, C=1, then w = (1 - beta) mean|w| + beta w with
  beta = 0.25, as the paper), built as a CSR matrix from the same bags; deterministic, so one run.

Writes nbsvm.json to --out (default benchmarks/out/) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.worker import peak_rss_mb
from npnet import models, optimizers
from npnet.atomic import atomic_write
from npnet.datasets import imdb
from npnet.preprocessing.nbsvm import NBSVMData, nbsvm_inputs

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
LEARNING_RATE, BATCH_SIZE, EPOCHS = 1e-2, 32, 4
SVM_BETA = 0.25  # Wang & Manning's interpolation


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # stdout carries a child's JSON


def features(data_dir: str | None, ngrams: int) -> tuple[NBSVMData, np.ndarray, np.ndarray, float]:
    """The padded bags, the ratio, the labels of both splits, and the seconds it took."""
    start = time.perf_counter()
    npz = None if data_dir is None else Path(data_dir) / "imdb.npz"
    (train, y_train), (test, y_test) = imdb.load_ragged(npz)
    data = nbsvm_inputs(train, y_train, test, ngram_range=ngrams)
    return data, y_train, y_test, time.perf_counter() - start


def run_npnet(data_dir: str | None, ngrams: int, seeds: list[int]) -> dict[str, Any]:
    data, y_train, y_test, prep = features(data_dir, ngrams)
    runs = []
    for seed in seeds:
        model = models.nbsvm(data.input_dim, data.ratio, seed=seed)
        model.compile(optimizers.Adam(learning_rate=LEARNING_RATE), "binary_crossentropy", ["accuracy"])
        start = time.perf_counter()
        model.fit(data.x_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(data.x_test, y_test, batch_size=512)
        runs.append({"seed": seed, "test_accuracy": accuracy, "fit_seconds": seconds})
        progress(f"npnet seed {seed}: test accuracy {accuracy:.4f}, fit {seconds:.0f} s")
    accuracies = [r["test_accuracy"] for r in runs]
    return {
        "system": "npnet",
        "settings": {"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": EPOCHS},
        "features": {"input_dim": data.input_dim, "padded_length": data.x_train.shape[1]},
        "feature_seconds": prep,
        "runs": runs,
        "median": statistics.median(accuracies),
        "range": [min(accuracies), max(accuracies)],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_sklearn(data_dir: str | None, ngrams: int) -> dict[str, Any]:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    data, y_train, y_test, prep = features(data_dir, ngrams)

    def scaled(x: np.ndarray) -> sparse.csr_matrix:
        """r * x̂ as CSR (n, input_dim): one entry per id of each padded bag."""
        rows, cols = np.nonzero(x)
        ids = x[rows, cols]
        return sparse.csr_matrix((data.ratio[ids], (rows, ids)), shape=(len(x), data.input_dim))

    X_train, X_test = scaled(data.x_train), scaled(data.x_test)
    results: dict[str, Any] = {"system": "scikit-learn", "feature_seconds": prep}
    start = time.perf_counter()
    logistic = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000).fit(X_train, y_train)
    results["nb_logistic_regression"] = {
        "test_accuracy": float(logistic.score(X_test, y_test)),
        "fit_seconds": time.perf_counter() - start,
    }
    start = time.perf_counter()
    svm = LinearSVC(C=1.0, max_iter=10_000).fit(X_train, y_train)
    w = svm.coef_.ravel()
    w = (1 - SVM_BETA) * np.abs(w).mean() + SVM_BETA * w
    predicted = (X_test @ w + SVM_BETA * svm.intercept_[0]) > 0
    results["nbsvm"] = {
        "test_accuracy": float(np.mean(predicted == y_test)),
        "fit_seconds": time.perf_counter() - start,
    }
    results["peak_rss_mb"] = peak_rss_mb()
    for name in ("nb_logistic_regression", "nbsvm"):
        progress(f"scikit-learn {name}: test accuracy {results[name]['test_accuracy']:.4f}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbsvm", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="folder of imdb.npz (default: npnet's data folder)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--ngrams", type=int, default=2, help="largest n-gram order (default 2: bigrams)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--system", choices=("npnet", "sklearn"), help=argparse.SUPPRESS)  # a child's part
    args = parser.parse_args(argv)
    if args.system == "npnet":
        print(json.dumps(run_npnet(args.data, args.ngrams, args.seeds)))
        return 0
    if args.system == "sklearn":
        print(json.dumps(run_sklearn(args.data, args.ngrams)))
        return 0
    results = {"load_before": os.getloadavg()}
    for system in ("npnet", "sklearn"):
        command = [sys.executable, "-m", "benchmarks.nbsvm", "--system", system, "--ngrams", str(args.ngrams)]
        command += ["--seeds", *map(str, args.seeds)] + ([] if args.data is None else ["--data", args.data])
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        results[system] = json.loads(done.stdout.strip().splitlines()[-1])
    results["load_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "nbsvm.json", lambda f: f.write(text.encode()))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
