"""Downloading a file into the data directory: streamed, time-limited, retried, verified, atomic.

The cache never holds a partial or unverified file: bytes go to a temp file beside the target, the digest
is checked, and only then is the temp file renamed over the target. A failed download leaves a file that was
already there untouched.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests

from npnet.atomic import atomic_write
from npnet.datasets.files import ensure_writable_dir, file_digests
from npnet.errors import DownloadError
from npnet.progress import Progress

_CHUNK = 1 << 16
DEFAULT_TIMEOUT = (10.0, 30.0)  # (connect, read) seconds; read = the longest silence between two chunks


@dataclass(frozen=True)
class Source:
    """A URL and the digests its file may have: {"sha256": hex} or {"md5": hex}; one match is enough."""

    url: str
    digests: Mapping[str, str]

    def accepts(self, digests: Mapping[str, str]) -> bool:
        return any(digests.get(algorithm) == expected for algorithm, expected in self.digests.items())


class _RetryableError(Exception):
    """A failure that may pass on its own: connection trouble, a timeout, a 5xx, a cut-off body."""


class _SourceError(Exception):
    """A failure that retrying the same URL will not fix: 404, a wrong digest."""


def fetch_file(
    target: Path,
    sources: Sequence[Source],
    *,
    force: bool = False,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> bool:
    """Make sure `target` holds a verified copy of the file that `sources` describe.

    Returns True when it downloaded the file, False when a present file was verified and kept. A present
    file whose digest one source accepts is used as it is (no request). Otherwise the sources
    are tried in order, each up to `1 + retries` times for failures that may pass (waiting
    `backoff * 2**k` s), until one gives a verified file. DownloadError listing every source's failure when
    none does.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    ensure_writable_dir(target.parent)
    if target.exists() and not force and _verified(target, sources):
        return False
    failures = []
    with requests.Session() as session:
        for source in sources:
            try:
                _download(session, source, target, timeout, retries, backoff, progress)
                return True
            except (_RetryableError, _SourceError) as e:
                failures.append(f"{source.url}: {e}")
    raise DownloadError(f"could not download {target.name}: " + "; ".join(failures))


def _verified(path: Path, sources: Sequence[Source]) -> bool:
    algorithms = {a for s in sources for a in s.digests}
    digests = file_digests(path, algorithms)
    return any(s.accepts(digests) for s in sources)


def _download(
    session: requests.Session,
    source: Source,
    target: Path,
    timeout: tuple[float, float],
    retries: int,
    backoff: float,
    progress: bool,
) -> None:
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _download_once(session, source, target, timeout, progress)
            return
        except _RetryableError as e:
            last = e
    attempts = f"{retries + 1} attempt" + ("s" if retries else "")
    raise _RetryableError(f"{last} (gave up after {attempts})")


def _download_once(
    session: requests.Session, source: Source, target: Path, timeout: tuple[float, float], progress: bool
) -> None:
    try:
        # identity: Content-Length then counts the bytes we receive, so a cut-off body is detectable.
        headers = {"Accept-Encoding": "identity"}
        with session.get(source.url, stream=True, timeout=timeout, headers=headers) as r:
            if r.status_code >= 500 or r.status_code == 429:
                raise _RetryableError(f"HTTP {r.status_code} {r.reason}")
            if r.status_code != 200:
                raise _SourceError(f"HTTP {r.status_code} {r.reason}")
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            label = f"downloading {target.name} from {source.url}"
            report = Progress(label, total, unit="MB", scale=1e6) if progress else None
            atomic_write(target, lambda f: _receive(r, f, source, total, report))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
        raise _RetryableError(_describe(e)) from e
    except requests.RequestException as e:
        raise _SourceError(_describe(e)) from e


def _receive(
    response: requests.Response,
    f: BinaryIO,
    source: Source,
    total: int | None,
    report: Progress | None,
) -> None:
    """Stream the body into `f`, hashing as it goes; raise (so the temp file is dropped) unless complete and
    verified."""
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in source.digests}
    received = 0
    for chunk in response.iter_content(_CHUNK):
        f.write(chunk)
        for h in hashers.values():
            h.update(chunk)
        received += len(chunk)
        if report:
            report.update(received)
    if report:
        report.close()
    if total is not None and received != total:
        raise _RetryableError(f"the body ended after {received} of {total} bytes")
    digests = {algorithm: h.hexdigest() for algorithm, h in hashers.items()}
    if not source.accepts(digests):
        found = ", ".join(f"{a} {d}" for a, d in digests.items())
        expected = ", ".join(f"{a} {d}" for a, d in source.digests.items())
        raise _SourceError(f"hash mismatch: got {found}, expected {expected}")


_REASONS = {
    "Connection refused": "connection refused",
    "timed out": "timed out",
    "IncompleteRead": "the connection closed before the whole body arrived",
    "Name or service not known": "host name not found (offline?)",
    "Temporary failure in name resolution": "host name not found (offline?)",
    "nodename nor servname": "host name not found (offline?)",
}


def _describe(error: requests.RequestException) -> str:
    """A one-line reason: requests nests the useful part (refused, timed out) inside long reprs."""
    text = str(error)
    for marker, reason in _REASONS.items():
        if marker in text:
            return f"{reason} ({type(error).__name__})"
    return f"{type(error).__name__}: {text[:200]}"
