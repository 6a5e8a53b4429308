"""Callbacks: hooks that `fit` calls around epochs and batches, under Keras's names.

- `base`: `Callback` (the hooks) and `CallbackList`;
- `history`: `History` (what `fit` returns) and `LearningRateLogger`;
- `progress`: `ProgbarLogger` and `progress_line`;
- `monitored`: `EarlyStopping` and `ModelCheckpoint` (Keras 3.15's `MonitorCallback` rules);
- `learning_rate`: `ReduceLROnPlateau` and `LearningRateScheduler`;
- `csv_logger`: `CSVLogger`; `lambda_callback`: `LambdaCallback`;
- `backprop_monitor`: `BackpropMonitor`, gradient, update and activation statistics while training;
- `tensorboard`: `TensorBoard` (Keras's name) and `TensorBoardLogger` (they need the optional tensorboardX
  extra when training starts);
- `epoch_checkpoint`: `EpochCheckpoint`, the run checkpoint `npnet train` writes after every epoch.
"""

from npnet.callbacks.backprop_monitor import BackpropMonitor
from npnet.callbacks.base import Callback, CallbackList, Logs
from npnet.callbacks.csv_logger import CSVLogger
from npnet.callbacks.epoch_checkpoint import EpochCheckpoint
from npnet.callbacks.history import History, LearningRateLogger
from npnet.callbacks.lambda_callback import LambdaCallback
from npnet.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from npnet.callbacks.monitored import EarlyStopping, ModelCheckpoint, MonitorCallback
from npnet.callbacks.progress import ProgbarLogger, progress_line
from npnet.callbacks.tensorboard import TensorBoard, TensorBoardLogger

__all__ = [
    "BackpropMonitor",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "EpochCheckpoint",
    "History",
    "LambdaCallback",
    "LearningRateLogger",
    "LearningRateScheduler",
    "Logs",
    "ModelCheckpoint",
    "MonitorCallback",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TensorBoardLogger",
    "progress_line",
]
