"""`npnet predict --run runs/<name>`: the probability that each review is positive, and its label.

    npnet predict --run runs/notebook-1 "A wonderful film." "Dull and far too long."
    npnet predict --run runs/notebook-1 --file reviews.txt --format csv     # one review per line
    cat reviews.txt | npnet predict --run runs/notebook-1 --file - --format json
    npnet predict --run runs/transformer-1 --attention maps/ "A wonderful film."  # + maps/attention_1.png

Reviews are tokenized exactly as the training data (the data package's tokenizer and the run's word index);
words the model does not know become the out-of-vocabulary id. Input in any encoding is read: bytes that are
not UTF-8 are replaced by U+FFFD (said once on stderr). An empty review (no words) gets its own error and the
others are still scored; the exit status is then 1. A run whose model has not learned (its test loss in
metrics.json barely below that of one answer for every review, as the notebook's settings end) gets a warning
on stderr that says so and where a working model comes from.
A softmax model's (the transformer's) probability is its
positive class's.

`--attention OUT_DIR` (a run whose model attends: the transformer preset) also draws, for each scored review,
its attention weights per head among its words as OUT_DIR/attention_<review number>.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from npnet import runs
from npnet.cli._stall import predict_warning
from npnet.cli.errors import EXIT_USAGE, error
from npnet.datasets import imdb
from npnet.metrics import positive_probability, predicted_labels
from npnet.reports.attention_report import plot_attention, review_title
from npnet.reports.run_report import CLASS_NAMES, METRICS_JSON, run_title
from npnet.runs import RunError, build_model
from npnet.runs.attention import attention_layer, review_attention

COMMAND = "predict"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_PREVIEW = 60  # characters of a review shown in the table


@dataclass
class Prediction:
    """One review's result; `probability` and `label` are None when `error` says why it was not scored."""

    review: int
    source: str
    text: str
    words: int = 0
    unknown: int = 0
    probability: float | None = None
    label: str | None = None
    error: str | None = None


MAX_INPUT_BYTES = 256 * 2**20  # reviews read at once (IMDB's 50 000 reviews are 65 MB)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        COMMAND,
        help="score new reviews with a trained run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # dest is not "run": that attribute holds the subcommand's function.
    parser.add_argument(
        "--run", dest="run_dir", type=Path, required=True, metavar="RUN_DIR", help="runs/<name>"
    )
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="reviews to score")
    parser.add_argument("--file", help="a file with one review per line; - reads standard input")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)"
    )
    parser.add_argument("--batch-size", type=int, default=512, help="reviews per forward pass (default: 512)")
    parser.add_argument(
        "--attention",
        type=Path,
        metavar="OUT_DIR",
        help="also draw each review's attention weights per head over its words into "
        "OUT_DIR/attention_<n>.png (a transformer run)",
    )
    parser.set_defaults(run=run_predict)


def decode_bytes(data: bytes) -> tuple[str, bool]:
    """Text from bytes in any encoding, never failing: UTF-8 (a BOM is dropped) or UTF-16 with a BOM; bytes
    that do not decode become U+FFFD. Returns (text, whether anything was replaced)."""
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding), False
    except UnicodeDecodeError:
        return data.decode(encoding, errors="replace"), True


def split_lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n or \\r only (str.splitlines would also split on form feeds and U+2028); a
    final newline does not start another review."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_reviews(texts: Iterable[str], file: str | None) -> tuple[list[tuple[str, str]], bool]:
    """[(source, text)] from the arguments, then the file's lines; and whether any bytes were replaced."""
    reviews: list[tuple[str, str]] = []
    replaced = False
    for i, arg in enumerate(texts, start=1):
        # The OS hands over bytes; Python keeps undecodable ones as surrogates, which fsencode turns back.
        text, bad = decode_bytes(os.fsencode(arg))
        replaced |= bad
        reviews.append((f"argument {i}", text))
    if file is not None:
        if file == "-":
            if sys.stdin is None:  # started with stdin closed (`<&-`)
                raise RunError("--file - reads standard input, which is closed; pipe the reviews in")
            data, name = _read_bounded(sys.stdin.buffer, "standard input"), "standard input"
        else:
            try:
                with open(file, "rb") as f:
                    data, name = _read_bounded(f, f"--file {file}"), file
            except OSError as e:
                raise RunError(f"cannot read --file {file} ({e.strerror or e}); check the path") from None
        text, bad = decode_bytes(data)
        replaced |= bad
        reviews += [(f"line {n} of {name}", line) for n, line in enumerate(split_lines(text), start=1)]
    return reviews, replaced


def _read_bounded(f: BinaryIO, name: str) -> bytes:
    """All of `f`, refused past `MAX_INPUT_BYTES` (a device such as /dev/zero never ends)."""
    data = f.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise RunError(
            f"{name} holds more than {MAX_INPUT_BYTES // 2**20} MiB of reviews; split it and score each part"
        )
    return data


def predict_reviews(run: runs.Run, reviews: list[tuple[str, str]], batch_size: int) -> list[Prediction]:
    """Encode and score every review; an empty one (no words after tokenizing) gets an error instead."""
    results, scored, inputs = [], [], []
    for number, (source, text) in enumerate(reviews, start=1):
        ids = run.encode(text)
        words = ids[1:]  # after the start marker: one id per word
        result = Prediction(number, source, text, words=len(words), unknown=words.count(imdb.OOV_CHAR))
        if words:
            scored.append(result)
            inputs.append(ids)
        else:
            result.error = f"review {number} ({source}) is empty: it has no words to score"
        results.append(result)
    if scored:
        output = run.model().predict(run.inputs(inputs), batch_size=batch_size)  # (n, 1) or (n, 2)
        labels = predicted_labels(output).tolist()
        for result, p, label in zip(scored, positive_probability(output).tolist(), labels, strict=True):
            result.probability = p
            result.label = CLASS_NAMES[label]
    return results


def _check_attention(run: runs.Run, out_dir: Path) -> None:
    """RunError, before anything is scored, unless the run's model attends and `out_dir` can be a folder."""
    try:
        attention_layer(build_model(run.config, run.ngrams))
    except RunError as e:
        raise RunError(
            f"--attention: run {run.path} ({run.config.preset} preset, {run.config.architecture} model) "
            f"cannot show attention: {e}"
        ) from None
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"--attention {out_dir} is a file; give a folder for the attention maps")


def draw_attention(run: runs.Run, results: list[Prediction], out_dir: Path) -> list[Path]:
    """OUT_DIR/attention_<review number>.png for every scored review; returns their paths."""
    scored = [r for r in results if r.probability is not None]
    if not scored:
        return []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(
            f"cannot create --attention {out_dir} ({e.strerror or e}); pick a writable folder"
        ) from None
    model = run.model()
    inputs = run.inputs([run.encode(r.text) for r in scored])
    title = run_title(run.name, run.config.to_dict())
    paths = []
    for result, review in zip(scored, review_attention(model, inputs, run.word_index), strict=True):
        assert result.probability is not None and result.label is not None
        path = out_dir / f"attention_{result.review}.png"
        what = f"review {result.review} ({result.source})"
        plot_attention(
            path,
            review.weights,
            review.words,
            title=review_title(title, what, result.text, result.label, result.probability, review),
        )
        paths.append(path)
    return paths


def run_predict(args: argparse.Namespace) -> int:
    if not args.texts and args.file is None:
        error(
            COMMAND, "nothing to score: give review texts as arguments, or --file FILE (- for standard input)"
        )
        return EXIT_USAGE
    if args.batch_size <= 0:
        return error(COMMAND, f"--batch-size must be a positive integer, got {args.batch_size}")
    run = runs.open_run(args.run_dir)
    if args.attention is not None:
        _check_attention(run, args.attention)
    reviews, replaced = read_reviews(args.texts, args.file)
    if not reviews:
        return error(COMMAND, f"{args.file} holds no reviews (one review per line expected)")
    if replaced:
        print(
            "npnet predict: warning: the input is not valid UTF-8; undecodable bytes became U+FFFD",
            file=sys.stderr,
        )
    results = predict_reviews(run, reviews, args.batch_size)
    {"table": _print_table, "csv": _print_csv, "json": _print_json}[args.format](results)
    metrics_path = run.path / METRICS_JSON
    if metrics_path.is_file() and (warning := predict_warning(runs.read_json(metrics_path, "test metrics"))):
        print(f"npnet predict: warning: {warning}", file=sys.stderr)
    if args.attention is not None:
        paths = draw_attention(run, results, args.attention)
        # the table is for people; csv and json stay parseable on stdout
        out = sys.stdout if args.format == "table" else sys.stderr
        for path in paths:
            print(f"attention map: {path}", file=out)
    failed = [r.error for r in results if r.error is not None]
    for message in failed:
        error(COMMAND, message)
    return 1 if failed else 0


def _print_table(results: list[Prediction]) -> None:
    print(f"{'#':>4}  {'probability':>11}  {'label':<8}  {'words':>6}  {'unknown':>7}  review")
    for r in results:
        preview = " ".join(r.text.split())
        preview = preview if len(preview) <= _PREVIEW else preview[: _PREVIEW - 3] + "..."
        score = "-" if r.probability is None else f"{r.probability:.4f}"
        print(f"{r.review:>4}  {score:>11}  {r.label or 'error':<8}  {r.words:>6}  {r.unknown:>7}  {preview}")


def _print_csv(results: list[Prediction]) -> None:
    columns = list(Prediction.__dataclass_fields__)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow({k: "" if v is None else v for k, v in asdict(r).items()})


def _print_json(results: list[Prediction]) -> None:
    print(json.dumps([asdict(r) for r in results], indent=2, ensure_ascii=False))
