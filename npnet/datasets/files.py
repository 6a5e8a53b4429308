"""Where the data lives and how files get there: the data directory and its file names, atomic writes,
digests, and the provenance record of a build."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from npnet.errors import DataError, os_error_fix

DATA_DIR_ENV = "NPNET_DATA_DIR"
# Like Keras's ~/.keras/datasets: one per-user cache, so a new working folder never downloads or builds again.
CACHE_HOME_ENV = "XDG_CACHE_HOME"
DATA_DIR_HELP = (
    f"default: ${DATA_DIR_ENV} if set, else ${CACHE_HOME_ENV}/npnet/datasets (~/.cache/npnet/datasets)"
)

NPZ_NAME = "imdb.npz"
WORD_INDEX_NAME = "imdb_word_index.json"
PROVENANCE_NAME = "imdb_provenance.json"
FLAT_CACHE_NAME = "imdb.flat.npz"  # the pickle-free copy of imdb.npz (npnet.datasets.imdb.read_flat)

_CHUNK = 1 << 20


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: `data_dir` if given, else `$NPNET_DATA_DIR` if set, else the per-user cache
    (`default_data_dir`)."""
    if data_dir is not None:
        return _not_a_file(Path(data_dir), "--data-dir")
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return _not_a_file(Path(env), f"${DATA_DIR_ENV}")
    return _not_a_file(default_data_dir(), "the per-user data cache")


def default_data_dir() -> Path:
    """The per-user dataset cache: `$XDG_CACHE_HOME/npnet/datasets`, `~/.cache/npnet/datasets` when
    XDG_CACHE_HOME is unset or empty (the XDG base-directory rule)."""
    cache_home = os.environ.get(CACHE_HOME_ENV)
    base = Path(cache_home) if cache_home else Path.home() / ".cache"
    return base / "npnet" / "datasets"


def data_dir_source(data_dir: str | os.PathLike[str] | None = None) -> str:
    """Why `resolve_data_dir(data_dir)` chose its folder, in words (for `npnet data info`)."""
    if data_dir is not None:
        return "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return f"${DATA_DIR_ENV}"
    return "the per-user cache" + (f" under ${CACHE_HOME_ENV}" if os.environ.get(CACHE_HOME_ENV) else "")


def _not_a_file(path: Path, what: str) -> Path:
    if path.exists() and not path.is_dir():
        raise DataError(
            f"{what} is {path}, which is a file, not a folder: point it at the data folder "
            "(the one that holds imdb.npz and imdb_word_index.json)"
        )
    return path


def file_digests(path: str | os.PathLike[str], algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file's bytes, read in chunks, one per algorithm name (hashlib names: sha256, md5)."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def sha256_file(path: str | os.PathLike[str]) -> str:
    return file_digests(path, ("sha256",))["sha256"]


def ensure_writable_dir(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be made in it; DataError naming the fix otherwise."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise DataError(
            f"cannot write to the data directory {directory} ({e.strerror or e}); "
            f"choose a writable one with --data-dir DIR or the {DATA_DIR_ENV} environment variable"
        ) from e


@contextlib.contextmanager
def dataset_update(directory: Path) -> Iterator[Path]:
    """Replace the dataset in `directory` as one unit: yields a staging folder inside it (after removing the
    ones killed updates left, `remove_stale_stages`); write every new file there (same names as in
    `directory`). When the block ends without an error each staged file replaces its namesake; a provenance
    record or flat cache that was not staged is removed when it describes a replaced file. On any error,
    Ctrl-C included, the staging folder is deleted and `directory` is left exactly as it was.
    """
    ensure_writable_dir(directory)
    remove_stale_stages(directory)
    stage, lock = _claim_stage(directory)
    try:
        try:
            yield stage
        except OSError as e:  # a full disk, `ulimit -f`, a folder made read-only meanwhile
            raise DataError(
                f"could not write the new data into {directory} ({e.strerror or e}); nothing there changed: "
                f"{os_error_fix(e)} (--data-dir names another folder)"
            ) from e
        staged = {p.name for p in stage.iterdir()}
        # The old files' companions, gone first, so an interruption between the renames below never leaves
        # a record vouching for a file it does not describe.
        for companion, describes in ((PROVENANCE_NAME, staged), (FLAT_CACHE_NAME, {NPZ_NAME})):
            if companion not in staged and staged & describes:
                (directory / companion).unlink(missing_ok=True)
        for name in sorted(staged, key=lambda n: n == PROVENANCE_NAME):  # the record last
            os.replace(stage / name, directory / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        os.close(lock)


# A staging folder is in use while its process holds an flock on the folder itself (no lock file to make;
# the instant between making the folder and locking it is `_claim_stage`'s to cover). The OS drops the lock
# when the process ends, even by SIGKILL, so "not locked" is exactly "its owner is gone" -- unlike an
# owner's pid (reused by another process, meaningless on another host sharing the folder) or an age (a slow
# download over a bad line is old and alive; a folder killed a second ago is young and dead).
STAGE_PREFIX = ".update-"


def _claim_stage(directory: Path) -> tuple[Path, int]:
    """A new staging folder in `directory` and the descriptor that holds its lock until closed."""
    while True:
        stage = Path(tempfile.mkdtemp(dir=directory, prefix=STAGE_PREFIX))
        try:
            lock = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:  # another process's cleanup removed it before this open: take a new one
            continue
        # Blocks only while another process's `remove_stale_stages` holds it, which saw the folder before
        # this lock and is removing it: then take a new one.
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:  # a file system without locks, where no cleanup can take the lock either
            return stage, lock
        try:
            if os.path.samestat(os.fstat(lock), os.stat(stage)):
                return stage, lock
        except FileNotFoundError:
            pass
        os.close(lock)


def remove_stale_stages(directory: Path) -> None:
    """Remove the staging folders in `directory` that no process holds: those a fetch or build killed
    mid-way (SIGKILL, a power cut) left behind. A folder another process is staging into is left alone."""
    for stage in directory.glob(f"{STAGE_PREFIX}*"):
        try:
            lock = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # finished and removed meanwhile, or not a folder
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # in use (or on a file system without locks: never judged stale there)
            pass
        else:
            shutil.rmtree(stage, ignore_errors=True)
        finally:
            os.close(lock)


def read_provenance(data_dir: str | os.PathLike[str] | None = None) -> dict | None:
    """The provenance record `npnet data build` left in the data directory, or None when there is none."""
    path = resolve_data_dir(data_dir) / PROVENANCE_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(
            f"{path} is not a valid provenance record ({e}); delete it or build the data again"
        ) from None
    if not isinstance(record, dict):
        raise DataError(
            f"{path} is not a valid provenance record (not a JSON object); delete it or build again"
        )
    return record


def describes_files(provenance: dict | None, data_dir: Path) -> bool:
    """Whether `provenance` records exactly the files now in `data_dir` (same sha256), i.e. is not stale."""
    files = (provenance or {}).get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, meta in files.items():
        path = data_dir / name
        if not path.is_file() or not isinstance(meta, dict) or sha256_file(path) != meta.get("sha256"):
            return False
    return True
