"""History (the epoch logs fit returns) and LearningRateLogger (adds the next step's learning rate to
them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from npnet.callbacks.base import Callback, Logs


class History(Callback):
    """Records the epoch logs: `history[key]` is one value per epoch; `epoch` lists the epoch indices."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class LearningRateLogger(Callback):
    """Adds "learning_rate", the optimizer's rate for the next step, to each epoch's logs (so the callbacks
    after it, `History` included, record it; Keras's LearningRateScheduler logs it under the same name)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None and self.model is not None and self.model.optimizer is not None:
            logs["learning_rate"] = self.model.optimizer.current_learning_rate
