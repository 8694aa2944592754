"""The stream language-model contract, its stateful `train_step`, and stream perplexity.

Letters: B batch (parallel streams), T words in a window, H hidden size, L layers.
A *state* is a list of L pairs `[h, c]`, each `(B, H)`: the recurrent state after the last
word read.

A token stream is cut into B rows and read in consecutive windows (`data.stream_dataset`):
window k + 1 of every row continues window k of the same row. Every stream language model here
(`LightRNNModel`, `FullSoftmaxLSTM`) implements three methods:

    zero_state(batch_size)                    -> state of zeros
    start_state(first_words (B,), training)   -> state after reading first_words from zeros
    target_log_probs(y (B, T), state, training)
                                              -> (log P(y_t | ...) (B, T), state after y[:, -1])

and inherits the rest:

    window_loss(y, state, training)           -> (mean NLL per target word (), new state)
    train_step / test_step                    carry each stream's state across windows
    fit / evaluate                            reset that state at every epoch / evaluation
    stream_perplexity(model, ids, B, T)       exp(mean NLL) over a whole stream

So `model.fit(stream_dataset(ids, B, T))` trains with truncated back-propagation through time
the way Keras' `stateful=True` RNN layers do: the state after window k is kept in
non-trainable variables and starts window k + 1; at the start of every epoch (and of every
`evaluate`) it restarts from `start_state(x[:, 0])`. `python -m lightrnn_tf.train` uses this
same `fit`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops


class StreamState(tf.Module):
    """Non-trainable variables that carry a batch of recurrent states between windows.

    The batch dimension is left open (`(None, H)`), so one model trains and evaluates with any
    batch size. `fresh` is true until the first window writes a state, and after `reset()`.

    Args:
        num_layers: int, L.
        hidden_dim: int, H.
        dtype: dtype of the states (the model's compute dtype).
    """

    def __init__(self, num_layers: int, hidden_dim: int, dtype, name=None):
        super().__init__(name=name)
        spec = tf.TensorShape([None, hidden_dim])
        self.tensors = [
            [tf.Variable(tf.zeros([0, hidden_dim], dtype), shape=spec, trainable=False, name=f"{part}_{i}")
             for part in ("h", "c")]
            for i in range(num_layers)
        ]
        self.fresh = tf.Variable(True, trainable=False, name="fresh")

    def read(self, start_fn):
        """The stored state, or `start_fn()` when fresh (inside `tf.function`: a `tf.cond`)."""
        stored = [[tf.stop_gradient(v.read_value()) for v in pair] for pair in self.tensors]
        return tf.cond(self.fresh, start_fn, lambda: stored)

    def write(self, state) -> None:
        for pair, values in zip(self.tensors, state):
            for var, value in zip(pair, values):
                var.assign(tf.stop_gradient(tf.cast(value, var.dtype)))
        self.fresh.assign(False)

    def reset(self) -> None:
        self.fresh.assign(True)


class StreamLanguageModel(keras.Model):
    """Keras training API shared by the stream language models (see the module docstring).

    Subclasses call `super().__init__(**kwargs)`, set `num_layers` and `hidden_dim`, then call
    `self._init_stream_state()`, and implement `zero_state`, `start_state` and
    `target_log_probs`. `fit` and `evaluate` report the token-weighted `loss` (mean NLL per
    target word, `<eos>` included) and `perplexity = exp(loss)`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def _init_stream_state(self) -> None:
        self._train_stream = StreamState(self.num_layers, self.hidden_dim, self.compute_dtype, name="train_stream")
        self._eval_stream = StreamState(self.num_layers, self.hidden_dim, self.compute_dtype, name="eval_stream")

    # === The contract ===

    def zero_state(self, batch_size):
        z = ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
        return [[z, z] for _ in range(self.num_layers)]

    def start_state(self, first_words, training=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def target_log_probs(self, y, state, training=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def window_loss(self, y, state, training=False):
        """Mean NLL per target word of a window: `(loss (), new_state)`."""
        log_probs, new_state = self.target_log_probs(y, state, training)
        return -ops.mean(log_probs), new_state

    def call(self, inputs, training=False):
        """`(x, y)` int `(B, T)` -> `(B, T)` log-probs of `y`, the window read from `start_state(x[:, 0])`."""
        x, y = inputs
        log_probs, _ = self.target_log_probs(y, self.start_state(x[:, 0], training), training)
        return log_probs

    # === Carried state ===

    @property
    def stream_state_variables(self) -> list:
        """The variables of the training and evaluation stream states (for checkpoints)."""
        return list(self._train_stream.variables) + list(self._eval_stream.variables)

    def reset_stream_state(self) -> None:
        """Starts the next training and evaluation windows from `start_state(x[:, 0])`."""
        self._train_stream.reset()
        self._eval_stream.reset()

    # === Keras training API ===

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            state = self._train_stream.read(lambda: self.start_state(x[:, 0], training=True))
            loss, new_state = self.window_loss(y, state, training=True)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self._train_stream.write(new_state)
        return self._update_metrics(loss, y)

    def test_step(self, data):
        x, y = data[0], data[1]
        state = self._eval_stream.read(lambda: self.start_state(x[:, 0]))
        loss, new_state = self.window_loss(y, state)
        self._eval_stream.write(new_state)
        return self._update_metrics(loss, y)

    def _update_metrics(self, loss, y):
        self.loss_tracker.update_state(loss, sample_weight=ops.cast(ops.size(y), "float32"))
        mean = self.loss_tracker.result()
        return {"loss": mean, "perplexity": ops.exp(mean)}

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with the carried training state reset at the start of every epoch.

        The data must yield `(x, y)` windows in stream order (`data.stream_dataset`); `shuffle`
        defaults to False.
        """
        callbacks = kwargs.get("callbacks")
        if len(args) > 5:  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)
            raise TypeError("pass `callbacks` and the arguments after it to `fit` by keyword")
        if isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks.append(ResetStreamState())
        else:
            kwargs["callbacks"] = [ResetStreamState()] + list(callbacks or [])
        kwargs.setdefault("shuffle", False)  # windows must stay in stream order
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate` over a stream, starting from `start_state` of its first window."""
        self._eval_stream.reset()
        return super().evaluate(*args, **kwargs)


class ResetStreamState(keras.callbacks.Callback):
    """Restarts the carried training state at the start of every epoch (added by `fit`)."""

    def on_epoch_begin(self, epoch, logs=None):
        if getattr(self.model, "_resume_mid_epoch", False):  # a checkpoint restored the state mid-epoch
            self.model._resume_mid_epoch = False
            return
        self.model._train_stream.reset()


def stream_perplexity(model: StreamLanguageModel, ids, batch_size: int = 10, bptt: int = 35) -> tuple[float, int]:
    """Perplexity of a stream LM on an id stream `(N,)`, the state carried across windows.

    The stream is cut into `batch_size` rows (fewer if N is small) and read in `bptt` windows,
    the layout of training (`data.stream_dataset`). Every token of the first
    `batch_size * (N // batch_size)` is a target except the first of each row.

    Returns:
        `(exp(total NLL / targets), targets)`.
    """
    from lightrnn_tf.data import stream_dataset

    ids = np.asarray(ids)
    batch_size = max(1, min(batch_size, len(ids) // 2))
    if not model.compiled:
        model.compile(jit_compile=False)
    logs = model.evaluate(stream_dataset(ids, batch_size, bptt), verbose=0, return_dict=True)
    targets = batch_size * (len(ids) // batch_size - 1)
    return math.exp(logs["loss"]), targets
