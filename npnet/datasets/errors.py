"""The one error type of `npnet.datasets`: something about the data files or their sources is wrong.

Every message says what failed and how to fix it; the CLI prints it as `npnet: error: ...` without a
traceback.
"""

from __future__ import annotations


class DataError(Exception):
    """A dataset file is missing, unreadable, corrupt or hostile, or a download or build failed."""


class DownloadError(DataError):
    """No source gave a verified file (offline, unreachable, HTTP errors, timeouts, wrong digests)."""
