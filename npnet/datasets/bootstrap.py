"""Getting the IMDB data the first time, as `npnet train` does: one call, every step said, offline optional.

In order: the files already in the data directory (the per-user cache by default); else a local copy of
the Stanford reviews, built offline (`--from PATH`, else `$NPNET_IMDB_TARBALL`, else the project machine's
`../shared/data/aclImdb_v1_labeled.tar.gz` beside the checkout); else Keras's own imdb.npz downloaded; else
the official Stanford `aclImdb_v1.tar.gz` downloaded and built. `$NPNET_DATA_URL` (or `--url`) names a
mirror folder that serves all three files in place of their origins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from npnet.datasets.build import build_imdb
from npnet.datasets.fetch import Source, fetch_file
from npnet.datasets.files import NPZ_NAME, WORD_INDEX_NAME, resolve_data_dir
from npnet.datasets.imdb import FOREIGN_FILE_HINT, OFFLINE_HINT, STANFORD_DIGESTS, STANFORD_URL, fetch_data
from npnet.errors import DataError, DownloadError, HashMismatchError

TARBALL_ENV = "NPNET_IMDB_TARBALL"
MIRROR_ENV = "NPNET_DATA_URL"
STANFORD_NAME = "aclImdb_v1.tar.gz"
# The project machine keeps the Stanford reviews in ../shared/data/ beside the repository root: a convenience
# for a checkout (an installed package has no such neighbour, and then this path simply does not exist).
CHECKOUT_TARBALL = Path(__file__).resolve().parents[3] / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"


def has_imdb(directory: Path) -> bool:
    return (directory / NPZ_NAME).is_file() and (directory / WORD_INDEX_NAME).is_file()


def local_tarball(source: str | os.PathLike[str] | None = None) -> Path | None:
    """The local Stanford reviews to build from: `source` (DataError if it is missing), else
    `$NPNET_IMDB_TARBALL` (DataError if set and missing), else CHECKOUT_TARBALL when it exists, else None."""
    for given, what in ((source, "--from"), (os.environ.get(TARBALL_ENV) or None, f"${TARBALL_ENV}")):
        if given is not None:
            path = Path(given)
            if not path.exists():
                raise DataError(
                    f"{what} names {path}, which does not exist; give the Stanford reviews "
                    f"(aclImdb_v1.tar.gz from {STANFORD_URL}, or its extracted folder), or leave {what} "
                    "out to download the data"
                )
            return path
    return CHECKOUT_TARBALL if CHECKOUT_TARBALL.is_file() else None


def ensure_imdb(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    say: Callable[[str], None] = print,
    progress: bool = True,
) -> Path:
    """Make sure the data directory holds imdb.npz and imdb_word_index.json; returns the directory.

    `say` gets one line per step taken (nothing when the files are there); `progress` shows downloads and
    builds as they run. DownloadError, saying every way to get the data, when no way works.
    """
    directory = resolve_data_dir(data_dir)
    if has_imdb(directory):
        return directory
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    say(f"data: no IMDB files in {directory} yet; getting them (once: later runs read them from there)")
    tarball = local_tarball(source)
    if tarball is not None:
        say(f"data: building them offline from the Stanford reviews at {tarball} (15-30 s)")
        build_imdb(tarball, directory, progress=progress)
        return directory
    origin = f"the mirror {mirror}" if mirror else "Keras's origins"
    say(
        f"data: no local Stanford reviews (--from PATH or ${TARBALL_ENV}); downloading imdb.npz from {origin}"
    )
    try:
        fetch_data(directory, mirror=mirror, progress=progress)
        return directory
    except DownloadError as keras_error:
        url = mirror.rstrip("/") + "/" + STANFORD_NAME if mirror else STANFORD_URL
        say(f"data: that failed; downloading the Stanford reviews from {url} to build them instead")
        target = directory / STANFORD_NAME
        try:
            fetch_file(target, [Source(url, STANFORD_DIGESTS)], progress=progress)
        except DownloadError as stanford_error:
            raise DownloadError(
                f"could not get the IMDB data. Keras's files: {_first_part(keras_error)}. The Stanford "
                f"reviews: {stanford_error}. Fix: {_fixes(keras_error, mirror)}"
            ) from None
    say(f"data: building them from {target}")
    build_imdb(target, directory, progress=progress)
    target.unlink()  # the built files hold everything it had; keeping it would double the cache
    return directory


def _first_part(error: DownloadError) -> str:
    """A download error without its advice (the caller gives its own)."""
    text = str(error)
    for hint in (FOREIGN_FILE_HINT, OFFLINE_HINT):
        text = text.split("; " + hint, 1)[0]
    return text


def _fixes(keras_error: DownloadError, mirror: str | None) -> str:
    """What to do when neither Keras's files nor the Stanford reviews came: a mirror that served other files
    than Keras's is told to use them as a folder instead; a mirror is suggested only to whom named none."""
    fixes = [f"download {STANFORD_URL} by any means and run `npnet train --from aclImdb_v1.tar.gz`"]
    if isinstance(keras_error, HashMismatchError):
        fixes.insert(0, FOREIGN_FILE_HINT)
    elif mirror:
        fixes.insert(0, f"check that the mirror {mirror} serves Keras's {NPZ_NAME} and {WORD_INDEX_NAME}")
    else:
        fixes.insert(0, "check the internet connection (or proxy) and run again")
        fixes.append(f"serve Keras's files from a mirror folder: --url URL or ${MIRROR_ENV}")
    return "; or ".join(fixes)
