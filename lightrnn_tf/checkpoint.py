"""`TrainingCheckpoint`: the whole training state after every epoch, restored when `fit` starts.

    ckpt = TrainingCheckpoint("runs/x/checkpoints", callbacks=[early_stopping, reduce_lr, realloc])
    model.fit(ds, epochs=20, validation_data=valid, callbacks=[early_stopping, reduce_lr, realloc, ckpt])
    # killed? the same call continues after the last saved epoch.

One checkpoint (a `tf.train.CheckpointManager` entry numbered by epoch) holds, all from the same
moment:
  - every model variable, by position in `model.variables`: weights, the word table, the dropout
    RNG state (Keras `SeedGenerator`s), plus the carried stream states;
  - every optimizer variable: iteration count, learning rate, moments;
  - the best weights `EarlyStopping(restore_best_weights=True)` holds, as variables;
  - the variables of the callbacks it was given that have `checkpoint_variables(model)` (the
    reallocation statistics gathered so far in the epoch);
  - a JSON string: the epoch, the training windows of the finished epochs, every epoch's logs (the
    history, across resumes), and the state of
    the callbacks it was given: `EarlyStopping` (best, wait, best epoch, stopped epoch),
    `ReduceLROnPlateau` (best, wait, cooldown) and any object with `get_state()`/`set_state()`
    (`ReallocationCallback`).

Keras resets those callbacks in `on_train_begin`, so put this callback AFTER them in the list:
it restores their state after their reset, and saves it after they have seen the epoch.

Inside an epoch (`save_every_windows`, `save_every_seconds`) it also saves, with the same
contents plus the position in the epoch (`step`, windows trained) and the running training-loss
metric. Such a checkpoint resumes mid-epoch: `resume_dataset(ds)` skips the windows already
trained for the rest of that epoch, and the carried stream state continues where it was:

    ckpt = TrainingCheckpoint(dir, [...], save_every_seconds=1800)
    ckpt.set_model(model); ckpt.restore()                      # if dir holds a checkpoint
    if ckpt.step:                                              # killed inside an epoch
        model.fit(ckpt.resume_dataset(ds), epochs=epochs, callbacks=[..., ckpt, ckpt.stop_after_epoch()])
    model.fit(ds, epochs=epochs, callbacks=[..., ckpt])        # the following epochs

With epochs shorter than the stream (`data.continuing_stream_dataset`, `steps_per_epoch=N`), give
`resume_dataset` the stream from window `ckpt.windows` on (`ckpt.epoch * N` unless an epoch was
stopped early, e.g. by a time budget) and the first `fit` `N - ckpt.step` steps, as
`python -m lightrnn_tf.train` does.
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from lightrnn_tf.errors import LightRNNError, disk_full
from lightrnn_tf.fault_injection import kill_point

MID_EPOCH = 1_000_000  # checkpoint number of a save S windows into epoch E + 1: E * MID_EPOCH + S
_EARLY_STOPPING_KEYS = ("wait", "best", "best_epoch", "stopped_epoch")
_REDUCE_LR_KEYS = ("wait", "best", "cooldown_counter")


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves everything training needs to continue, after every epoch.

    Args:
        directory: str, where the numbered checkpoints go: `ckpt-E` after epoch E, and
            `ckpt-{E * 1000000 + S}` S windows into epoch E + 1.
        callbacks: the callbacks whose state is saved with the model (see module docstring).
        max_to_keep: int, checkpoints kept. Default: `2`.
        verbose: int, print a line when resuming. Default: `1`.
        save_every_windows: int, also save inside an epoch every this many training windows
            (rounded up to `steps_per_execution`); 0 never. Default: `0`.
        save_every_seconds: float, also save inside an epoch when this much time has passed since
            the last save; 0 never. Default: `0`.

    Attributes:
        history: list of dict, the logs of every finished epoch (epoch numbers from 1), restored
            on resume.
        epoch: int, epochs finished.
        step: int, windows of epoch `epoch + 1` already trained (0 at an epoch boundary).
        windows: int, training windows of the `epoch` finished epochs, all runs together: where
            epoch `epoch + 1` starts in a stream read on across epochs. An epoch stopped before
            its end counts the windows it trained. Restored from a checkpoint written before it
            was recorded: `None`.
    """

    def __init__(self, directory: str, callbacks=(), max_to_keep: int = 2, verbose: int = 1,
                 save_every_windows: int = 0, save_every_seconds: float = 0.0):
        super().__init__()
        self.directory = directory
        self.callbacks = list(callbacks)
        self.max_to_keep = max_to_keep
        self.verbose = verbose
        self.save_every_windows = int(save_every_windows)
        self.save_every_seconds = float(save_every_seconds)
        self.history: list[dict] = []
        self.epoch = 0
        self.step = 0
        self.windows: int | None = 0
        self._epoch_windows = 0  # windows of the current epoch trained so far, skipped ones included
        self.restored_from: str | None = None
        self._saved: str | None = None  # the checkpoint this object wrote last (restoring it says nothing)
        self._manager = None
        self._skipped = 0  # windows the current epoch skipped (resumed mid-epoch)
        self._resumed_metrics = None  # metric variable values to put back at the resumed epoch's start
        self._last_save_windows, self._last_save_time = 0, time.monotonic()
        self._warned_replicas = False
        self._resume_prepared = False  # `resume_dataset` was called for the next fit

    # === What a checkpoint holds ===

    def _build(self) -> None:
        if self._manager is not None:
            return
        model = self.model
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model_vars = list(model.variables) + list(getattr(model, "stream_state_variables", []))
        opt_vars = list(model.optimizer.variables) if model.optimizer is not None else []
        self._best = [tf.Variable(tf.zeros(w.shape, w.dtype), trainable=False) for w in model.weights]
        self._state = tf.Variable("{}", dtype=tf.string, trainable=False)
        self._metric_vars = [v for m in model.metrics for v in m.variables]  # the running training loss
        # e.g. the reallocation statistics gathered so far in the epoch (`ReallocationCallback(source="epoch")`)
        cb_vars = [v for cb in self.callbacks if hasattr(cb, "checkpoint_variables")
                   for v in cb.checkpoint_variables(model)]
        groups = {"callbacks": {f"v{i:04d}": v for i, v in enumerate(cb_vars)}} if cb_vars else {}
        ckpt = tf.train.Checkpoint(
            model={f"v{i:04d}": v for i, v in enumerate(model_vars)},
            optimizer={f"v{i:04d}": v for i, v in enumerate(opt_vars)},
            best_weights={f"v{i:04d}": v for i, v in enumerate(self._best)},
            metrics={f"v{i:04d}": v for i, v in enumerate(self._metric_vars)},
            state=self._state,
            **groups,
        )
        os.makedirs(self.directory, exist_ok=True)
        self._tf_checkpoint = ckpt
        self._repair_index()
        self._manager = tf.train.CheckpointManager(ckpt, self.directory, max_to_keep=self.max_to_keep)

    @property
    def latest(self) -> str | None:
        """Path of the newest checkpoint, or None."""
        if not os.path.isdir(self.directory):
            return None
        return self._repair_index()

    def _on_disk(self) -> list[str]:
        """`ckpt-N` prefixes with an index file in the directory, oldest first: by the time their index
        was written (a mid-epoch checkpoint's number, E * 1000000 + S, is larger than the next epoch's)."""
        found = []
        for name in os.listdir(self.directory):
            stem, _, rest = name.partition(".")
            if rest == "index" and stem.startswith("ckpt-") and stem[5:].isdigit():
                path = os.path.join(self.directory, stem)
                found.append((os.path.getmtime(path + ".index"), int(stem[5:]), path))
        return [path for _, _, path in sorted(found)]

    def _repair_index(self) -> str | None:
        """The newest checkpoint, or None; rewrites a lost `checkpoint` index file from the `ckpt-N`
        files on disk first, so that a resume finds them instead of training from the start over them."""
        latest = tf.train.latest_checkpoint(self.directory)
        found = [] if latest else self._on_disk()
        if found:
            logger, level = tf.get_logger(), tf.get_logger().level
            logger.setLevel("ERROR")  # its deprecation notice is noise here: this is what it is for
            try:  # with timestamps, or CheckpointManager ignores the list
                tf.compat.v1.train.update_checkpoint_state(
                    self.directory, found[-1], all_model_checkpoint_paths=found,
                    all_model_checkpoint_timestamps=[os.path.getmtime(p + ".index") for p in found])
            finally:
                logger.setLevel(level)
            if self._manager is not None:  # it read the (missing) index when it was made: read it again
                self._manager = tf.train.CheckpointManager(self._tf_checkpoint, self.directory,
                                                           max_to_keep=self.max_to_keep)
            print(f"warning: the checkpoint index of {self.directory} was missing; rebuilt it from "
                  f"{', '.join(os.path.basename(p) for p in found)}", file=sys.stderr)
            latest = found[-1]
        return latest

    # === Save ===

    def on_epoch_begin(self, epoch, logs=None):
        if self._resumed_metrics is not None:  # Keras has just reset the metrics: the epoch's running loss
            for var, value in zip(self._metric_vars, self._resumed_metrics):
                var.assign(value)
            self._resumed_metrics = None
        self._last_save_windows, self._last_save_time = self._skipped, time.monotonic()
        self._epoch_windows = self._skipped

    def on_train_batch_end(self, batch, logs=None):
        windows = self._epoch_windows = self._skipped + batch + 1
        if not (self.save_every_windows or self.save_every_seconds) or self._several_replicas():
            return
        due = (self.save_every_windows and windows - self._last_save_windows >= self.save_every_windows) or \
              (self.save_every_seconds and time.monotonic() - self._last_save_time >= self.save_every_seconds)
        if not due or not all(math.isfinite(v) for v in _floats(logs or {}).values()):
            return
        self._build()
        self.step = windows
        self._write_state()
        self._save(self.epoch * MID_EPOCH + self.step)
        self._last_save_windows, self._last_save_time = windows, time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self._skipped = 0
        logs = dict(logs or {})
        if not all(math.isfinite(v) for v in _floats(logs).values()):
            return  # a diverged epoch is never saved over a good one
        self._build()
        self.epoch, self.step = epoch + 1, 0
        if self.windows is not None:
            self.windows += self._epoch_windows
        self._epoch_windows = 0
        self.history.append({"epoch": epoch + 1, **_floats(logs)})
        self._write_state()
        self._save(self.epoch)

    def _several_replicas(self) -> bool:
        """Under several replicas a checkpoint holds only the first replica's stream state, so
        only epoch ends (where every stream restarts) are saved."""
        several = self.model.distribute_strategy.num_replicas_in_sync > 1
        if several and not self._warned_replicas:
            self._warned_replicas = True
            print("note: checkpoints inside an epoch are off with several replicas; one is saved after every epoch",
                  file=sys.stderr)
        return several

    def _write_state(self) -> None:
        early = self._early_stopping()
        has_best = bool(early is not None and early.best_weights is not None)
        if has_best:
            for var, value in zip(self._best, early.best_weights):
                var.assign(value)
        self._state.assign(json.dumps({
            "epoch": self.epoch,
            "step": self.step,
            "windows": self.windows,
            "history": self.history,
            "has_best_weights": has_best,
            "callbacks": [_get_state(cb) for cb in self.callbacks],
        }))

    # === Resuming inside an epoch ===

    def resume_dataset(self, dataset):
        """`dataset` without the windows the restored epoch already trained (`step` of them).
        Fit it with `stop_after_epoch()` to finish that epoch, then fit the whole dataset. Call
        `set_model(model)` and `restore()` first: before a restore `step` is 0, and nothing would
        be skipped (raises `LightRNNError` then, if the directory holds a checkpoint)."""
        if self.restored_from is None:
            if glob.glob(os.path.join(glob.escape(self.directory), "*.index")):  # a checkpoint is there
                raise LightRNNError(
                    f"resume_dataset: nothing was restored yet, so it would skip no window of the epoch the "
                    f"checkpoint in {self.directory} stopped in; call checkpoint.set_model(model) and "
                    f"checkpoint.restore() first")
        self._resume_prepared = True
        return dataset.skip(self.step)

    def stop_after_epoch(self) -> keras.callbacks.Callback:
        """A callback (put it last) that ends `fit` after the epoch it starts in: that first,
        shortened epoch of a mid-epoch resume runs alone, before `fit` over the whole dataset."""
        return _StopAfterEpoch()

    def _save(self, number: int) -> None:
        """Writes checkpoint `number` atomically: TensorFlow writes `ckpt-N_temp/` and renames it; the
        `checkpoint` index names ckpt-N only after that. A failed write (disk full) removes its
        partial files and raises `LightRNNError`; the previous checkpoint stays the latest."""
        prefix = os.path.join(self.directory, f"ckpt-{number}")
        options = tf.train.CheckpointOptions(experimental_write_callbacks=[lambda _path: kill_point("checkpoint")])
        try:
            self._saved = self._manager.save(checkpoint_number=number, options=options)
        except (tf.errors.OpError, OSError) as e:
            for leftover in tf.io.gfile.glob(prefix + "_temp*") + tf.io.gfile.glob(prefix + ".*"):
                try:
                    (tf.io.gfile.rmtree if tf.io.gfile.isdir(leftover) else tf.io.gfile.remove)(leftover)
                except (tf.errors.OpError, OSError):
                    pass
            reason = "disk full" if disk_full(e) else _first_line(e)
            kept = self.latest
            raise LightRNNError(f"could not write checkpoint {prefix} ({reason}); "
                                + (f"the previous checkpoint {kept} is kept" if kept else "no earlier checkpoint"))

    # === Restore ===

    def on_train_begin(self, logs=None):
        self._build()
        if self._manager.latest_checkpoint:
            self.restore()
            if self.step and not self._resume_prepared and self.epoch < (self.params or {}).get("epochs", math.inf):
                raise LightRNNError(
                    f"{self.restored_from} was saved {self.step} windows into epoch {self.epoch + 1}: this fit would "
                    f"train those windows again, from the wrong state. Finish that epoch first (the checkpoint is now "
                    f"restored): fit(checkpoint.resume_dataset(dataset), callbacks=[..., checkpoint, "
                    f"checkpoint.stop_after_epoch()]), "
                    f"then fit as before (docs/training.md)")

    def on_train_end(self, logs=None):
        self._resume_prepared = False
        self.model._initial_epoch = None  # the next `fit` starts where it is told

    def restore(self, path: str | None = None) -> None:
        """Restores the newest readable checkpoint (or `path`) into the model, optimizer and callbacks.

        A checkpoint that cannot be read falls back to the one before it, with a warning; if
        none can, raises `LightRNNError` naming the newest.
        """
        self._build()
        candidates = [path] if path else list(reversed(self._manager.checkpoints))
        if not candidates:
            raise LightRNNError(f"no checkpoint in {self.directory}")
        errors = []
        for candidate in candidates:
            try:
                self._manager.checkpoint.restore(candidate).assert_consumed()
                state = json.loads(self._state.numpy().decode("utf-8"))
                break
            except Exception as e:  # corrupt file, or a checkpoint of another model
                errors.append(f"checkpoint {candidate} is corrupt or does not match this model: {_first_line(e)}")
                if self.verbose:
                    print(f"warning: {errors[-1]}", file=sys.stderr)
        else:
            raise LightRNNError(errors[0])
        self.epoch = int(state["epoch"])
        self.step = int(state.get("step", 0))
        self.windows = state.get("windows")  # None from a checkpoint written before it was recorded
        self._skipped = self._epoch_windows = self.step
        self._resumed_metrics = [v.numpy() for v in self._metric_vars] if self.step else None
        self.history = list(state["history"])
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            _set_state(cb, cb_state)
        early = self._early_stopping()
        if early is not None and state["has_best_weights"]:
            early.best_weights = [v.numpy() for v in self._best]
        self.model._initial_epoch = self.epoch
        self.model._resume_mid_epoch = bool(self.step)  # ResetStreamState keeps the restored stream state
        # (a fit after this object's own: the state it restores is the one training ended with)
        announce = self.verbose and candidate not in (self.restored_from, self._saved)
        self.restored_from = candidate
        if announce:
            where = f"{self.step} windows into epoch {self.epoch + 1}" if self.step else f"epoch {self.epoch}"
            print(f"resumed from {candidate} ({where})", file=sys.stderr)

    def _early_stopping(self):
        return next((cb for cb in self.callbacks if isinstance(cb, keras.callbacks.EarlyStopping)), None)


class _StopAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _floats(logs: dict) -> dict:
    out = {}
    for key, value in logs.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _get_state(cb) -> dict:
    if hasattr(cb, "get_state"):
        return cb.get_state()
    keys = _EARLY_STOPPING_KEYS if isinstance(cb, keras.callbacks.EarlyStopping) else \
        _REDUCE_LR_KEYS if isinstance(cb, keras.callbacks.ReduceLROnPlateau) else ()
    return {k: _plain(getattr(cb, k, None)) for k in keys}


def _set_state(cb, state: dict) -> None:
    if hasattr(cb, "set_state"):
        cb.set_state(state)
        return
    for key, value in state.items():
        if value is not None:
            setattr(cb, key, value)


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)) or hasattr(value, "numpy"):
        value = np.asarray(value).item()
    return value
