"""Keras callbacks that inject faults into a training run, for tests."""

import keras
import numpy as np


class Interrupt(keras.callbacks.Callback):
    """Ctrl-C at the end of an epoch (after the callbacks before it, e.g. a checkpoint, have run)."""

    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            raise KeyboardInterrupt


class InterruptAtBatch(keras.callbacks.Callback):
    """Ctrl-C after training window `batch` (1-based) of the first epoch that reaches it."""

    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.batch:
            raise KeyboardInterrupt


class Poison(keras.callbacks.Callback):
    """Sets the row vectors to NaN at the start of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            emb = self.model.embedding.row_embeddings
            emb.assign(np.full(emb.shape, np.nan, np.float32))
