"""npnet's error types: one base class, one subclass per kind of thing that can be wrong.

Every message says what failed, in which file or argument, and how to fix it. The CLI catches `NpnetError`
alone and prints it as `npnet <command>: error: ...` without a traceback; any other exception is a bug.
"""

from __future__ import annotations

import errno


class NpnetError(Exception):
    """Base class: an input, file or setting npnet refuses, with a message a user can act on."""


class DataError(NpnetError):
    """A dataset file is missing, unreadable, corrupt or hostile, or a download or build failed."""


class DownloadError(DataError):
    """No source gave a verified file (offline, unreachable, HTTP errors, timeouts, wrong digests)."""


class HashMismatchError(DownloadError):
    """A source sent a whole file whose digest is not the expected one: it serves another file (e.g. a
    mirror holding a local build instead of Keras's published imdb.npz), so asking again will not help."""


class RunError(NpnetError):
    """A run folder or run setting is unusable; the message says what is wrong and how to fix it."""


class FileFormatError(NpnetError, ValueError):
    """A weights or checkpoint file is missing, damaged, foreign or inconsistent (also a ValueError, which
    library callers caught before this type existed)."""


class MissingFileError(FileFormatError, FileNotFoundError):
    """A weights or checkpoint file is not there (also a FileNotFoundError)."""


class FileWriteError(NpnetError, OSError):
    """A file could not be written (a full disk, the file size limit, a read-only folder): the message names
    the file and the fix for its errno (`os_error_fix`); `errno` and `strerror` are the failed write's, so
    callers that catch OSError by errno still can."""

    def __init__(self, message: str, cause: OSError, filename: str) -> None:
        super().__init__(message)
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, filename

    def __str__(self) -> str:
        return str(self.args[0])  # the message alone, not OSError's "[Errno N] strerror: filename"


# The fix for an OSError, by its errno: only the one that applies (space only when space is what ran out).
_FIXES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space (you are over your disk quota)",
    errno.EFBIG: "free some space, or raise the file size limit (ulimit -f)",
    errno.EACCES: "choose a writable folder",
    errno.EPERM: "choose a writable folder",
    errno.EROFS: "choose a folder on a writable disk",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder, not a file; choose another path",
    errno.EEXIST: "it is a file, not a folder; choose another path",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.ENOENT: "check the path",
}


def os_error_fix(e: OSError) -> str:
    """What to do about `e`, by its errno (`check the path and try again` when none is known)."""
    return _FIXES.get(e.errno or 0, "check the path and try again")
