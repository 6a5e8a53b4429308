"""npnet.progress: in place with rate and time left on a terminal; plain lines, no \\r, into a file."""

from __future__ import annotations

import io

from npnet.datasets.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_redrawn_with_rate_and_time_left():
    clock, stream = _Clock(), _Terminal()
    progress = Progress("downloading x", 80e6, unit="MB", scale=1e6, stream=stream, clock=clock)
    clock.now = 5.0
    progress.update(20e6)
    assert progress.line() == "downloading x: 20.0/80.0 MB (25%), 4.0 MB/s, 0:15 left"
    assert stream.getvalue() == "\rdownloading x: 20.0/80.0 MB (25%), 4.0 MB/s, 0:15 left\x1b[K"
    clock.now = 5.05
    progress.update(21e6)  # within 0.1 s of the last redraw: not drawn
    assert stream.getvalue().count("\r") == 1
    clock.now = 20.0
    progress.update(80e6)
    progress.close()
    assert stream.getvalue().endswith("\rdownloading x: 80.0 MB in 0:20\x1b[K\n")


def test_into_a_file_there_is_no_carriage_return_only_a_start_and_an_end_line():
    clock, stream = _Clock(), io.StringIO()
    progress = Progress("reading reviews", 50_000, unit="reviews", stream=stream, clock=clock)
    for done in range(0, 50_001, 500):
        clock.now = done / 1000
        progress.update(done)
    progress.close()
    assert (
        stream.getvalue() == "reading reviews (50,000 reviews) ...\nreading reviews: 50,000 reviews in 0:50\n"
    )


def test_unknown_total_shows_count_and_rate_only():
    clock = _Clock()
    progress = Progress("downloading y", None, unit="MB", scale=1e6, stream=_Terminal(), clock=clock)
    clock.now = 2.0
    progress.update(3e6)
    assert progress.line() == "downloading y: 3.0 MB, 1.5 MB/s"
