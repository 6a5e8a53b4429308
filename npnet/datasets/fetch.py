"""Downloading a file into the data directory: streamed, time-limited, retried, verified, atomic.

The cache never holds a partial or unverified file: bytes go to a temp file beside the target, the digest
is checked, and only then is the temp file renamed over the target. A failed or interrupted download
(Ctrl-C included) leaves a file that was already there untouched and no temp file behind.

Three time limits: `timeout` = (connect, stall) seconds, the longest silence the server may keep; a minimum
speed, `min_speed` bytes/s averaged over the last `speed_window` seconds (curl's --speed-limit/--speed-time:
a server that drips one byte a second never stalls, but that attempt ends within the window); `deadline` =
the most seconds one file may take in all, every attempt and wait included. Retries and the waits between
them are capped.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3.exceptions

from npnet import validation
from npnet.atomic import atomic_write
from npnet.datasets.files import ensure_writable_dir, file_digests
from npnet.datasets.progress import Progress
from npnet.errors import DownloadError, HashMismatchError

_CHUNK = 1 << 16
DEFAULT_TIMEOUT = (10.0, 30.0)  # (connect, read) seconds; read = the longest silence between two chunks
DEFAULT_DEADLINE = 900.0  # seconds for one file, all attempts: Keras's imdb.npz (17 MB) at ~20 kB/s
# An attempt whose average speed over the last MIN_SPEED_WINDOW seconds is below MIN_SPEED is abandoned as
# stalled (then retried, or the next source tried). 1 kB/s is a stall, not a slow line: Keras's imdb.npz
# (17 MB) would take 5 hours, and the deadline needs ~20 kB/s. 30 s rides out a healthy line's pauses (TCP
# backing off after a loss, a mirror's brief hiccup) that a shorter window would take for a stall.
MIN_SPEED = 1000.0  # bytes per second; 0 turns the check off (`npnet data fetch --min-speed`)
MIN_SPEED_WINDOW = 30.0  # seconds
MAX_RETRIES = 10
MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts


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


class _MismatchError(_SourceError):
    """The whole file arrived and its digest is not one the source accepts."""


def fetch_file(
    target: Path,
    sources: Sequence[Source],
    *,
    force: bool = False,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 3,
    backoff: float = 1.0,
    deadline: float = DEFAULT_DEADLINE,
    progress: bool = True,
    min_speed: float = MIN_SPEED,
    speed_window: float = MIN_SPEED_WINDOW,
) -> bool:
    """Make sure `target` holds a verified copy of the file that `sources` describe.

    Returns True when it downloaded the file, False when a present file was verified and kept. A present
    file whose digest one source accepts is used as it is (no request). Otherwise the sources
    are tried in order, each up to `1 + retries` times for failures that may pass (waiting
    `min(backoff * 2**k, MAX_BACKOFF)` s), until one gives a verified file or `deadline` seconds have passed.
    An attempt slower than `min_speed` bytes/s over `speed_window` seconds fails as one that may pass.
    DownloadError listing every source's failure when none does (also for settings out of range); its
    subclass HashMismatchError when a source sent a whole file with the wrong digest.
    """
    check_limits(timeout, retries, backoff, deadline)
    check_speed_limit(min_speed, speed_window)
    ensure_writable_dir(target.parent)
    if target.exists() and not force and is_verified(target, sources):
        return False
    failures = []
    mismatched = False
    ends = time.monotonic() + deadline
    speed = _SpeedLimit(min_speed, speed_window)
    with requests.Session() as session:
        for source in sources:
            try:
                _download(session, source, target, timeout, retries, backoff, ends, progress, speed)
                return True
            except (_RetryableError, _SourceError) as e:
                failures.append(f"{source.url}: {e}")
                mismatched |= isinstance(e, _MismatchError)
            except _DeadlineError as e:
                failures.append(f"{source.url}: {e} (the deadline for one file is {deadline:g} s)")
                break
    error = HashMismatchError if mismatched else DownloadError
    raise error(f"could not download {target.name}: " + "; ".join(failures))


def check_limits(timeout: tuple[float, float], retries: int, backoff: float, deadline: float) -> None:
    """DownloadError unless every limit is a finite number in range (nan, inf and negatives are refused)."""
    for name, value in (("connect timeout", timeout[0]), ("timeout", timeout[1]), ("deadline", deadline)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise DownloadError(f"the {name} must be a finite number of seconds > 0, got {value!r}")
    if not (isinstance(backoff, (int, float)) and math.isfinite(backoff) and backoff >= 0):
        raise DownloadError(f"the backoff must be a finite number of seconds >= 0, got {backoff!r}")
    try:
        validation.int_in(retries, "retries", 0, MAX_RETRIES)
    except ValueError as e:
        raise DownloadError(str(e)) from None


def check_speed_limit(min_speed: float, speed_window: float) -> None:
    """DownloadError unless `min_speed` is a finite number >= 0 (0: no minimum) and `speed_window` one > 0."""
    if not (isinstance(min_speed, (int, float)) and math.isfinite(min_speed) and min_speed >= 0):
        raise DownloadError(f"the minimum speed must be a finite number of bytes/s >= 0, got {min_speed!r}")
    if not (isinstance(speed_window, (int, float)) and math.isfinite(speed_window) and speed_window > 0):
        raise DownloadError(f"the speed window must be a finite number of seconds > 0, got {speed_window!r}")


@dataclass(frozen=True)
class _SpeedLimit:
    """The least average speed an attempt must keep, `minimum` bytes/s over the last `window` seconds."""

    minimum: float
    window: float

    def watch(self) -> _SpeedWatch | None:
        """A new attempt's watch; None when there is no minimum."""
        return _SpeedWatch(self.minimum, self.window) if self.minimum > 0 else None


class _SpeedWatch:
    """One attempt's speed over a sliding window: `update(received)` after each chunk raises
    `_RetryableError` once a whole window has passed whose average is below the minimum."""

    def __init__(self, minimum: float, window: float) -> None:
        self.minimum, self.window = minimum, window
        # (time, bytes received by then): the newest sample at least a window old, then the newer ones, at
        # most ~32 a window (one per chunk would be thousands a second on a fast line)
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def update(self, received: int) -> None:
        now = time.monotonic()
        if now - self.samples[-1][0] >= self.window / 32:
            self.samples.append((now, received))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
            self.samples.popleft()
        since, before = self.samples[0]
        seconds = now - since
        speed = (received - before) / seconds if seconds > 0 else math.inf
        if seconds >= self.window and speed < self.minimum:
            raise _RetryableError(
                f"too slow: {speed:.0f} bytes/s over the last {seconds:.1f} s, below the minimum of "
                f"{self.minimum:g} bytes/s; try another mirror (--url), or copy the files into a folder and "
                "pass --data-dir, or lower the minimum with --min-speed (0: none)"
            )


class _DeadlineError(Exception):
    """The file's overall deadline passed: no further attempt or source is tried."""


def is_verified(path: Path, sources: Sequence[Source]) -> bool:
    """Whether one of `sources` accepts the digest of the file at `path`."""
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
    ends: float,
    progress: bool,
    speed: _SpeedLimit,
) -> None:
    last: _RetryableError | None = None
    for attempt in range(retries + 1):
        if attempt:
            wait = min(backoff * 2 ** (attempt - 1), MAX_BACKOFF)
            if time.monotonic() + wait >= ends:
                raise _DeadlineError(f"{last}; no time left for another attempt")
            time.sleep(wait)
        try:
            _download_once(session, source, target, timeout, ends, progress, speed)
            return
        except _RetryableError as e:
            last = e
    attempts = f"{retries + 1} attempt" + ("s" if retries else "")
    raise _RetryableError(f"{last} (gave up after {attempts})")


def _download_once(
    session: requests.Session,
    source: Source,
    target: Path,
    timeout: tuple[float, float],
    ends: float,
    progress: bool,
    speed: _SpeedLimit,
) -> None:
    try:
        # identity: Content-Length then counts the bytes we receive, so a cut-off body is detectable.
        headers = {"Accept-Encoding": "identity"}
        connect = min(timeout[0], max(ends - time.monotonic(), 0.001))
        with session.get(source.url, stream=True, timeout=(connect, timeout[1]), headers=headers) as r:
            if r.status_code >= 500 or r.status_code == 429:
                raise _RetryableError(f"HTTP {r.status_code} {r.reason}")
            if r.status_code != 200:
                raise _SourceError(f"HTTP {r.status_code} {r.reason}")
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            label = f"downloading {target.name} from {source.url}"
            report = Progress(label, total, unit="MB", scale=1e6) if progress else None
            watch = speed.watch()
            atomic_write(target, lambda f: _receive(r, f, source, total, ends, report, watch))
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ReadTimeoutError,  # read1 raises urllib3's own errors, unwrapped
        urllib3.exceptions.ProtocolError,
    ) as e:
        raise _RetryableError(_describe(e)) from e
    except requests.RequestException as e:
        raise _SourceError(_describe(e)) from e


def _receive(
    response: requests.Response,
    f: BinaryIO,
    source: Source,
    total: int | None,
    ends: float,
    report: Progress | None,
    watch: _SpeedWatch | None,
) -> None:
    """Stream the body into `f`, hashing as it goes; raise (so the temp file is dropped) unless complete and
    verified before `ends` (a `time.monotonic()` value), never slower than `watch` allows."""
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in source.digests}
    received = 0
    # read1 returns what has arrived (up to _CHUNK) instead of waiting for a whole chunk, so a server that
    # drips bytes cannot hold one read past the deadline; each read still ends after the stall timeout.
    while chunk := response.raw.read1(_CHUNK):
        if time.monotonic() > ends:
            raise _DeadlineError(f"still downloading when the deadline passed ({received} bytes received)")
        f.write(chunk)
        for h in hashers.values():
            h.update(chunk)
        received += len(chunk)
        if watch:
            watch.update(received)
        if report:
            report.update(received)
    if report:
        report.close()
    if total is not None and received != total:
        raise _RetryableError(f"the body ended after {received} of {total} bytes")
    digests = {algorithm: h.hexdigest() for algorithm, h in hashers.items()}
    if not source.accepts(digests):
        found = ", ".join(f"{a} {d}" for a, d in digests.items())
        expected = " or ".join(f"{a} {d}" for a, d in source.digests.items())
        raise _MismatchError(f"hash mismatch: got {found}, expected {expected}")


def _describe(error: Exception) -> str:
    """A one-line reason from the exception's type (requests nests urllib3's inside long reprs)."""
    causes = _chain(error)
    if any(isinstance(e, urllib3.exceptions.NameResolutionError) for e in causes):
        return f"host name not found (offline?) ({type(error).__name__})"
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        return f"connection refused ({type(error).__name__})"
    if any(isinstance(e, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)) for e in causes):
        return f"timed out ({type(error).__name__})"
    if any(isinstance(e, (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError))
           for e in causes):  # fmt: skip
        return f"the connection closed before the whole body arrived ({type(error).__name__})"
    return f"{type(error).__name__}: {str(error)[:200]}"


def _chain(error: BaseException) -> list[BaseException]:
    """`error`, its causes and contexts, and the `reason` urllib3 keeps, as far as they go."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [error]
    while stack:
        e = stack.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        stack += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        stack += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
    return seen
