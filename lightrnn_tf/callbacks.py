"""Small Keras callbacks of the training command: NaN guard and per-epoch speed and learning rate.

The rest of training's callbacks are Keras' own (`ReduceLROnPlateau`, `EarlyStopping`,
`TensorBoard`), `realloc.ReallocationCallback` and `checkpoint.TrainingCheckpoint`.
"""

from __future__ import annotations

import math
import time

import keras

from lightrnn_tf.errors import LightRNNError


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
    """

    def __init__(self, tokens_per_epoch: int):
        super().__init__()
        self.tokens_per_epoch = int(tokens_per_epoch)
        self._start = self._train_end = None
        self._lr = None

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._start, self._train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._train_end or time.perf_counter()) - self._start
        if logs is not None:
            logs.update(epoch_seconds=seconds, words_per_sec=self.tokens_per_epoch / max(seconds, 1e-9),
                        learning_rate=self._lr)
        self._start = None
