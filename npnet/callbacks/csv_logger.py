"""CSVLogger: one row of epoch logs per epoch, streamed to a CSV file as Keras's does."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO, Any

from npnet.callbacks.base import Callback, Logs


class CSVLogger(Callback):
    """Write each epoch's logs to `filename` (Keras 3.15's CSVLogger): columns "epoch" (0-based) and the
    first epoch's keys, sorted, plus a "val_" column for each when that epoch had no validation keys; a
    key absent later is written "NA". The file is flushed after every row, so a crash loses no finished
    epoch. `append=True` continues an existing file (a header only if it is empty), for a resumed run.
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        path = Path(self.filename)
        self._header = not (self.append and path.exists() and path.stat().st_size > 0)
        self.close()
        self._file = path.open("a" if self.append else "w", newline="")
        self.keys, self._writer = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self._file is None:
            raise RuntimeError("CSVLogger is not open: pass it to fit(callbacks=)")
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys], delimiter=self.sep)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (also after an interrupted fit)."""
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None
