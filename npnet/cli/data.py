"""`npnet data fetch|build|info`: get the IMDB data (download or offline build) and show what is there."""

from __future__ import annotations

import argparse
import time

import numpy as np

from npnet.cli.argtypes import int_in, non_negative_float, positive_float
from npnet.cli.errors import error
from npnet.datasets.build import build_imdb
from npnet.datasets.fetch import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, MAX_RETRIES, MIN_SPEED, MIN_SPEED_WINDOW
from npnet.datasets.files import (
    DATA_DIR_HELP,
    NPZ_NAME,
    WORD_INDEX_NAME,
    data_dir_source,
    describes_files,
    file_digests,
    read_provenance,
    resolve_data_dir,
)
from npnet.datasets.imdb import STANFORD_URL, fetch_data, published_digests
from npnet.datasets.safe_npz import load_imdb_npz


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="fetch, build or inspect the IMDB data",
        description="Get the IMDB data: download Keras's imdb.npz (fetch) or build it offline from the "
        "Stanford reviews (build); show what is in the data directory (info).",
    )
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"the data directory ({DATA_DIR_HELP})",
    )

    fetch = actions.add_parser(
        "fetch",
        parents=[common],
        help="download imdb.npz and imdb_word_index.json from Keras's origins",
        description="Download imdb.npz and imdb_word_index.json (Keras's origins: Google Cloud Storage, then "
        "the S3 bucket), verify their hashes and store them in the data directory.",
    )
    fetch.add_argument(
        "--url", metavar="URL", help="download from this mirror folder instead of Keras's origins"
    )
    fetch.add_argument(
        "--force", action="store_true", help="download even when verified or built files are there"
    )
    fetch.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT[1],
        metavar="SECONDS",
        help=f"give up on a silent connection after this long (default {DEFAULT_TIMEOUT[1]:g})",
    )
    fetch.add_argument(
        "--deadline",
        type=positive_float,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help=f"give up on a file that takes longer than this in all, retries included "
        f"(default {DEFAULT_DEADLINE:g})",
    )
    fetch.add_argument(
        "--min-speed",
        type=non_negative_float,
        default=MIN_SPEED,
        metavar="BYTES",
        help=f"give up on an attempt slower than this many bytes/s over {MIN_SPEED_WINDOW:g} s (a stalled "
        f"mirror), then retry; 0 for no minimum (default {MIN_SPEED:g})",
    )
    fetch.add_argument(
        "--retries",
        type=int_in(0, MAX_RETRIES),
        default=3,
        help=f"retries per origin for passing failures, at most {MAX_RETRIES} (default 3)",
    )
    fetch.set_defaults(run=_fetch)

    build = actions.add_parser(
        "build",
        parents=[common],
        help="build imdb.npz offline from the Stanford reviews",
        description="Build imdb.npz, imdb_word_index.json and imdb_provenance.json from the Stanford reviews "
        f"(aclImdb_v1.tar.gz, downloadable from {STANFORD_URL}, or its extracted folder), in Keras's "
        "format. With internet access and no tarball, `npnet data fetch` downloads Keras's own imdb.npz "
        "instead (and `npnet train` does whichever is needed by itself).",
    )
    build.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="PATH",
        help=f"aclImdb_v1.tar.gz (from {STANFORD_URL}; on the project machine "
        "../shared/data/aclImdb_v1_labeled.tar.gz) or its extracted folder",
    )
    build.add_argument("--force", action="store_true", help="replace the data already in the data directory")
    build.set_defaults(run=_build)

    info = actions.add_parser(
        "info",
        parents=[common],
        help="show the data files, their hashes and provenance",
        description="Show the IMDB files in the data directory, whether they are Keras's published files "
        "or a local build, and the build's provenance.",
    )
    info.add_argument("--verify", action="store_true", help="also read imdb.npz safely and count its reviews")
    info.set_defaults(run=_info)


def _fetch(args: argparse.Namespace) -> int:
    outcome = fetch_data(
        args.data_dir,
        mirror=args.url,
        force=args.force,
        timeout=(DEFAULT_TIMEOUT[0], args.timeout),
        retries=args.retries,
        deadline=args.deadline,
        min_speed=args.min_speed,
    )
    directory = resolve_data_dir(args.data_dir)
    for name, what in outcome.items():
        print(f"{directory / name}: {what}")
    return 0


def _build(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    provenance = build_imdb(args.source, args.data_dir, force=args.force, progress=True)
    seconds = time.perf_counter() - start
    counts = provenance["counts"]
    directory = resolve_data_dir(args.data_dir)
    print(
        f"built {directory / NPZ_NAME} from {args.source} in {seconds:.1f} s: "
        f"{counts['train']} train + {counts['test']} test reviews, {counts['words']} words, "
        f"{counts['tokens']} tokens"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    directory = resolve_data_dir(args.data_dir)
    print(f"data directory: {directory} (from {data_dir_source(args.data_dir)}; {DATA_DIR_HELP})")
    missing = []
    for name in (NPZ_NAME, WORD_INDEX_NAME):
        path = directory / name
        if not path.is_file():
            missing.append(name)
            print(f"  {name}: missing")
            continue
        digests = file_digests(path, ("sha256", "md5"))
        keras = any(digests[a] == d for a, d in published_digests(name).items())
        origin = "Keras's published file" if keras else "not Keras's published file"
        print(f"  {name}: {path.stat().st_size} bytes, sha256 {digests['sha256']} ({origin})")
    provenance = read_provenance(directory)
    if provenance is None:
        print("  provenance: none (not made by `npnet data build`)")
    else:
        source = provenance.get("source", {})
        state = "matches the files" if describes_files(provenance, directory) else "STALE: the files changed"
        print(f"  provenance ({state}): {provenance.get('made_by')} from {source.get('path')}")
        print(f"    source sha256 {source.get('sha256')}, reviews sha256 {source.get('reviews_sha256')}")
        print(f"    tokenizer: {provenance.get('tokenizer')}")
        print(f"    ranking: {provenance.get('ranking')}")
        print(f"    counts: {provenance.get('counts')}")
    if args.verify and (directory / NPZ_NAME).is_file():
        arrays = load_imdb_npz(directory / NPZ_NAME)
        ranks = np.concatenate([arrays.x_train.values, arrays.x_test.values])
        print(
            f"  verified {NPZ_NAME}: {len(arrays.x_train)} train, {len(arrays.x_test)} test reviews, "
            f"{int(arrays.y_train.sum())} + {int(arrays.y_test.sum())} positive, "
            f"largest rank {ranks.max(initial=0)}"
        )
    if missing:
        return error(
            "data info",
            f"{', '.join(missing)} missing in {directory}; get them with `npnet data fetch` (Keras's files), "
            f"`npnet data build --from aclImdb_v1.tar.gz` (offline; the tarball is at {STANFORD_URL}), or "
            "just `npnet train`, which does one or the other",
        )
    return 0
