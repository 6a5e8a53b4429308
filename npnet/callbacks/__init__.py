"""Callbacks: hooks that `fit` calls around epochs and batches, under Keras's names.

- `base`: `Callback` (the hooks) and `CallbackList`;
- `history`: `History` (what `fit` returns) and `LearningRateLogger`;
- `progress`: `ProgbarLogger` and `progress_line`;
- `monitored`: `EarlyStopping` and `ModelCheckpoint` (Keras 3.15's `MonitorCallback` rules);
- `backprop_monitor`: `BackpropMonitor`, gradient, update and activation statistics while training;
- `tensorboard`: `TensorBoardLogger` (the optional tensorboardX extra; import it from its module);
- `epoch_checkpoint`: `EpochCheckpoint`, the run checkpoint `npnet train` writes after every epoch.
"""

from npnet.callbacks.backprop_monitor import BackpropMonitor
from npnet.callbacks.base import Callback, CallbackList, Logs
from npnet.callbacks.epoch_checkpoint import EpochCheckpoint
from npnet.callbacks.history import History, LearningRateLogger
from npnet.callbacks.monitored import EarlyStopping, ModelCheckpoint, MonitorCallback
from npnet.callbacks.progress import ProgbarLogger, progress_line

__all__ = [
    "BackpropMonitor",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "EpochCheckpoint",
    "History",
    "LearningRateLogger",
    "Logs",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "progress_line",
]
