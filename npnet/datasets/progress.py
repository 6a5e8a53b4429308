"""One progress display for every long job (downloads, `npnet data build`): count, rate and time left.

On a terminal the line is redrawn in place (`\\r`, at most ~10 times a second); into a file or a pipe it
writes no `\\r` at all, only a line when the job starts and one when it ends (a log then reads cleanly).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_REDRAW_SECONDS = 0.1


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """`done` of `total` units of a job named `label`; `update(done)` as it goes, `close()` at the end.

    `unit` names what is counted ("MB", "reviews"); `scale` divides raw counts for display (1e6: bytes
    shown as MB). `total` None: the size is unknown, so no percentage or time left is shown.
    """

    def __init__(
        self,
        label: str,
        total: float | None = None,
        *,
        unit: str = "",
        scale: float = 1.0,
        stream: TextIO | None = None,
        in_place: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.unit, self.scale = label, total, unit, scale
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.in_place = in_place if in_place is not None else bool(isatty and isatty())
        self._clock = clock
        self._start = clock()
        self._last_drawn = -float("inf")
        self.done = 0.0
        if not self.in_place:
            size = f" ({self._amount(total)})" if total else ""
            self._write(f"{label}{size} ...\n")

    def _amount(self, count: float | None) -> str:
        value = (count or 0) / self.scale
        text = f"{value:.1f}" if self.scale != 1 else f"{value:,.0f}"
        return f"{text} {self.unit}".rstrip()

    def line(self) -> str:
        """The progress line now: '<label>: 12.0/80.1 MB (15%), 3.2 MB/s, 0:21 left'."""
        elapsed = self._clock() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            text = f"{self._amount(self.done).split()[0]}/{self._amount(self.total)}"
            text += f" ({100 * self.done / self.total:.0f}%)"
        else:
            text = self._amount(self.done)
        text += f", {self._amount(rate)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", {_duration((self.total - self.done) / rate)} left"
        return f"{self.label}: {text}"

    def update(self, done: float) -> None:
        self.done = done
        if not self.in_place:
            return
        now = self._clock()
        if now - self._last_drawn < _REDRAW_SECONDS and done != self.total:
            return
        self._last_drawn = now
        self._write(f"\r{self.line()}\x1b[K")

    def close(self) -> None:
        """End the display: the final line, with the elapsed time."""
        elapsed = self._clock() - self._start
        final = f"{self.label}: {self._amount(self.done)} in {_duration(elapsed)}"
        self._write(f"\r{final}\x1b[K\n" if self.in_place else f"{final}\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
