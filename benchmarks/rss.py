"""Peak memory of the real `npnet train`: `python -m benchmarks.rss DATA_DIR [EPOCHS [TRAIN_ARGS...]]`.

Runs the command itself (`npnet.cli.main(["train", ...])`, the notebook preset) in this process, into a
temporary runs folder, and reports this process's VmHWM at exit (benchmarks.worker.peak_rss_mb: ru_maxrss
would carry over the harness's own peak across exec). The harness (`benchmarks.run --data DIR`) starts it
as a child process; EPOCHS (default: the preset's 60) may be lowered for a quicker check; TRAIN_ARGS go to
`npnet train` as they are (e.g. `--preset fasttext`).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time

from benchmarks.worker import peak_rss_mb, say


def main(argv: list[str]) -> int:
    data_dir = argv[0]
    epochs = ["--epochs", argv[1]] if len(argv) > 1 else []
    extra = argv[2:]
    from npnet.cli import main as npnet_main

    with tempfile.TemporaryDirectory(prefix="npnet-rss-") as runs:
        command = ["train", "--data-dir", data_dir, "--runs-dir", runs, "--verbose", "0", *epochs, *extra]
        printed = io.StringIO()  # the command's own printout, kept only to explain a failure
        start = time.perf_counter()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = npnet_main(command)
        seconds = time.perf_counter() - start
    answer = {"command": "npnet " + " ".join(command), "exit_code": code, "seconds": seconds}
    if code != 0:
        answer["error"] = printed.getvalue().strip()[-500:]
    say({**answer, "peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
