"""Small Keras callbacks of the training command: NaN guard, per-epoch speed and learning rate, time budget.

The rest of training's callbacks are Keras' own (`ReduceLROnPlateau`, `EarlyStopping`,
`TensorBoard`), `realloc.ReallocationCallback` and `checkpoint.TrainingCheckpoint`.
"""

from __future__ import annotations

import math
import time

import keras

from lightrnn_tf import distribute
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.fault_injection import kill_point


class NaNLossError(LightRNNError):
    """Training loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Raises `NaNLossError` at the first non-finite batch loss, before the epoch can be saved.

    With `steps_per_execution` > 1 Keras reports every that many batches, so the batch named is the
    last of the group in which the loss went bad.

    Args:
        hint: str, appended to the message (e.g. where the last good checkpoint is).
    """

    def __init__(self, hint: str = ""):
        super().__init__(raise_error=True)
        self.hint = hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NaNLossError(f"loss became {float(loss)} at epoch {self._epoch + 1}, by batch {batch + 1}"
                               + (f"; {self.hint}" if self.hint else ""))


class EpochStats(keras.callbacks.Callback):
    """Adds `epoch_seconds` (training, without validation), `words_per_sec` and `learning_rate`
    (the rate the epoch trained with) to every epoch's logs. Put it first.

    Args:
        tokens_per_epoch: int, target words one epoch trains on.
        steps_per_epoch: int, windows an epoch has; an epoch cut short (time budget) is counted
            by the windows it ran. Default: `0` (always whole epochs).
    """

    def __init__(self, tokens_per_epoch: int, steps_per_epoch: int = 0):
        super().__init__()
        self.tokens_per_epoch, self.steps_per_epoch = int(tokens_per_epoch), int(steps_per_epoch)
        self._start = self._train_end = None
        self._lr = None
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._start, self._train_end, self._batches = time.perf_counter(), None, 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        kill_point("batch")

    def on_test_begin(self, logs=None):
        if self._start is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._train_end or time.perf_counter()) - self._start
        tokens = self.tokens_per_epoch
        if self.steps_per_epoch and 0 < self._batches < self.steps_per_epoch:
            tokens = tokens * self._batches / self.steps_per_epoch
        if logs is not None:
            logs.update(epoch_seconds=seconds, words_per_sec=tokens / max(seconds, 1e-9), learning_rate=self._lr)
        self._start = None


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have been spent, validation and reallocation included.

    Checked after every batch (a stop mid-epoch still validates that epoch) and at every epoch end,
    where the time spent so far is logged as `elapsed_seconds`. Put it after the reallocation
    callback, so that an epoch's reallocation counts in that epoch. With several workers
    (`MultiWorkerMirroredStrategy`) every worker must stop at the same step, so the budget is
    checked at epoch ends only, on the chief's clock, and its decision is sent to every worker.

    Args:
        seconds: float, the budget; 0 means none.
        spent: float, seconds already spent by earlier runs of the same training (resume).

    Attributes:
        exhausted: bool, whether this callback stopped training.
    """

    def __init__(self, seconds: float = 0.0, spent: float = 0.0):
        super().__init__()
        self.seconds, self.spent = float(seconds), float(spent)
        self.exhausted = False
        self._start = None

    def elapsed(self) -> float:
        return self.spent + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def _check(self) -> None:
        over = self.elapsed() >= self.seconds  # (callers check that there is a budget)
        strategy = self.model.distribute_strategy
        if distribute.is_multi_worker(strategy):
            over = bool(distribute.broadcast_json(strategy, over))  # the chief's decision, on every worker
        if over:
            self.exhausted = self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        if self.seconds:
            self._check()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and not distribute.is_multi_worker(self.model.distribute_strategy):
            self._check()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["elapsed_seconds"] = self.elapsed()
        if self.seconds:
            self._check()

    def on_train_end(self, logs=None):
        self.spent, self._start = self.elapsed(), None

    def get_state(self) -> dict:
        return {"spent": self.elapsed()}

    def set_state(self, state: dict) -> None:
        """Restores the time spent (`TrainingCheckpoint`); a running clock restarts from now."""
        self.spent = float(state["spent"])
        if self._start is not None:
            self._start = time.perf_counter()
