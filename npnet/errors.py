"""npnet's error types: one base class, one subclass per kind of thing that can be wrong.

Every message says what failed, in which file or argument, and how to fix it. The CLI catches `NpnetError`
alone and prints it as `npnet <command>: error: ...` without a traceback; any other exception is a bug.
"""

from __future__ import annotations


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
