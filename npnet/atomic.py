"""Atomic file writing: readers see the old file or the complete new one, never a partial file.

Every file npnet writes (weights, checkpoints, datasets, reports' data) goes through `atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Write a file through `write(f)` into a temp file beside `path`, fsync it, then rename it over `path`.

    The temp file lives in the same directory so the final `os.replace` is a rename on one file system (atomic
    on POSIX). On any error, Ctrl-C included, the temp file is removed and `path` is left as it was.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); npnet's files are ordinary readable files.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
