"""One system in its own process: `python -m benchmarks.worker SYSTEM WORKLOAD.npz SEED`.

Protocol (lines on stdin/stdout; protocol lines start with PREFIX so library chatter is ignored):
build the trainer and run one warm-up epoch (compilation, caches), answer {"ready": ...}; then each "epoch"
line runs one timed epoch and answers {"train_s", "val_s"}; "stop" answers {"peak_rss_mb", ...} and exits.
Only one worker runs at a time, so all systems see the same machine.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

PREFIX = "@@bench "


def say(message: dict) -> None:
    sys.stdout.write(PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    VmHWM (Linux) belongs to the process image; getrusage's ru_maxrss survives exec, so a worker started
    by a big harness process would report the harness's peak. ru_maxrss is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def main(argv: list[str]) -> int:
    name, workload_path, seed = argv[0], Path(argv[1]), int(argv[2])
    from benchmarks.systems import ALL_SYSTEMS
    from benchmarks.workload import Workload

    try:
        data = Workload.load(workload_path)
        trainer = ALL_SYSTEMS[name].make(data, seed)
        start = time.perf_counter()
        trainer.epoch()
        warmup = time.perf_counter() - start
    except Exception as error:  # reported to the harness, which skips this system
        say({"error": f"{type(error).__name__}: {error}"})
        return 1
    say({"ready": True, "setup_s": trainer.setup_seconds, "warmup_s": warmup})
    for line in sys.stdin:
        command = line.strip()
        if command == "epoch":
            train, val = trainer.epoch()
            say({"train_s": train, "val_s": val})
        elif command == "stop":
            break
    say({"peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
