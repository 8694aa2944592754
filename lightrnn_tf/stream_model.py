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

The same `fit` runs under a `tf.distribute` strategy (model built and compiled in its scope):
B stays the global batch and each of the N replicas reads rows `r B/N : (r + 1) B/N` of every
window (`data.distribute_windows`, applied by `fit` and `evaluate`) and carries their state in
its own copy of the state variables; each replica's loss is divided by N, so the gradients Keras
sums over the replicas are one device's, and clipping is applied to that sum (`apply_gradients`).
"""

from __future__ import annotations

import math
import numbers
import re
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from lightrnn_tf import distribute
from lightrnn_tf.errors import LightRNNError, positive_int


# Markers in the messages of the run-time checks, turned into one line by fit, evaluate and predict.
BAD_IDS = "lightrnn_tf: word ids outside the vocabulary"
BATCH_MISMATCH = "lightrnn_tf: a window of another batch size"


class StreamState(tf.Module):
    """Non-trainable variables that carry a batch of recurrent states between windows.

    The batch dimension is left open (`(None, H)`), so one model trains and evaluates with any
    batch size. `fresh` is true until the first window writes a state, and after `reset()`.
    Under a `tf.distribute` strategy every replica has its own copy (its own streams, `(B/N, H)`);
    a checkpoint holds the first replica's, which does no harm: streams restart at every epoch.

    Args:
        num_layers: int, L.
        hidden_dim: int, H.
        dtype: dtype of the states (the model's compute dtype).
    """

    def __init__(self, num_layers: int, hidden_dim: int, dtype, name=None):
        super().__init__(name=name)
        spec = tf.TensorShape([None, hidden_dim])
        self.tensors = [
            [_replica_local(tf.zeros([0, hidden_dim], dtype), spec, f"{part}_{i}") for part in ("h", "c")]
            for i in range(num_layers)
        ]
        self.fresh = _replica_local(True, tf.TensorShape([]), "fresh")

    def read(self, start_fn, batch_size=None):
        """The stored state, or `start_fn()` when fresh (inside `tf.function`: a `tf.cond`); in a
        replica, its own copy. `batch_size`: the rows of the window it is read for; a stored state
        of another batch size fails with `BATCH_MISMATCH` in the error's message."""
        stored = [[tf.stop_gradient(v.read_value()) for v in pair] for pair in self.tensors]

        def carried():
            if batch_size is None:
                return stored
            check = tf.debugging.assert_equal(tf.shape(stored[0][0])[0], batch_size, message=BATCH_MISMATCH)
            with tf.control_dependencies([check]):
                return [[tf.identity(t) for t in pair] for pair in stored]

        return tf.cond(self.fresh, start_fn, carried)

    def write(self, state) -> None:
        for pair, values in zip(self.tensors, state):
            for var, value in zip(pair, values):
                var.assign(tf.stop_gradient(tf.cast(value, var.dtype)))
        self.fresh.assign(False)

    def reset(self) -> None:
        self.fresh.assign(True)


def _replica_local(initial, shape, name):
    """A non-trainable variable with one copy per replica under a `tf.distribute` strategy.

    Each replica reads and writes its own copy in `train_step` (the states of its own streams);
    outside the replicas (checkpoints, `reset`) it reads as the first replica's copy and an
    assignment goes to every copy. Without a strategy it is an ordinary variable.
    """
    return tf.Variable(initial, shape=shape, trainable=False, name=name,
                       synchronization=tf.VariableSynchronization.ON_READ,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def check_network_args(vocab_size, embedding_dim, hidden_dim, num_layers, dropout) -> None:
    """Raises `ValueError` naming the first bad constructor argument of a stream model (an
    `embedding_dim` of 0 would otherwise abort the process inside oneDNN)."""
    for value, name in ((vocab_size, "vocab_size"), (embedding_dim, "embedding_dim"), (hidden_dim, "hidden_dim"),
                        (num_layers, "num_layers")):
        positive_int(value, name, ValueError)
    if vocab_size < 2:
        raise ValueError(f"Received an invalid value for `vocab_size`, expected at least 2 (<unk> and <eos>), "
                         f"got {vocab_size}.")
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise ValueError(f"Received an invalid value for `dropout`, expected a rate in [0, 1), got {dropout}.")


class StreamLanguageModel(keras.Model):
    """Keras training API shared by the stream language models (see the module docstring).

    Subclasses call `super().__init__(**kwargs)`, set `num_layers` and `hidden_dim`, then call
    `self._init_stream_state()`, and implement `zero_state`, `start_state` and
    `target_log_probs`. `fit` and `evaluate` report the token-weighted `loss` (mean NLL per
    target word, `<eos>` included) and `perplexity = exp(loss)`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # XLA cannot compile the carried state: its variables are `(None, H)`, sized by the data
        # ("Shape of resource ... cannot be changed"), and `StreamState.read`'s `tf.cond` has no XLA
        # gradient (FakeParam). With this, `compile(jit_compile=True)` warns and runs without XLA
        # instead of failing, and "auto" never picks it. (On a CPU, XLA with fixed-size state was
        # measured 2.6x slower for LightRNN anyway; on a GPU the cuDNN LSTM is not XLA either.)
        self.supports_jit = False
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

    @property
    def statistics_stream(self) -> StreamState:
        """The carried state for passes outside `fit` (the loss statistics of reallocation): the
        evaluation stream's, which every `evaluate` restarts."""
        return self._eval_stream

    def reset_stream_state(self) -> None:
        """Starts the next training and evaluation windows from `start_state(x[:, 0])`."""
        self._train_stream.reset()
        self._eval_stream.reset()

    # === Keras training API ===

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _windows(self, data):
        """`(x, y)` of a batch: `stream_dataset`'s `(x, y)`, or `((x, y),)` from `fit(x=(x, y))`;
        integer ids, checked when the window runs to lie in `[0, vocab_size)` (`BAD_IDS`)."""
        while isinstance(data, (tuple, list)) and len(data) > 1 and data[-1] is None:
            data = data[:-1]  # train_on_batch hands over (x, y, None), or ((x, y), None, None)
        if isinstance(data, (tuple, list)) and len(data) == 1 and isinstance(data[0], (tuple, list)):
            data = data[0]
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError("a stream language model reads windows (x, y) of int word ids (B, T), y the next "
                             "words: give it stream_dataset(ids, batch_size, bptt) (lightrnn_tf.data)")
        if len(data) > 2:
            raise LightRNNError(f"{type(self).__name__} takes windows (x, y) without sample weights: every target "
                                "word counts once in its loss (a class_weight or sample_weight would be ignored)")
        x, y = data[0], data[1]
        for name, ids in (("x", x), ("y", y)):
            if not tf.as_dtype(ids.dtype).is_integer:
                raise LightRNNError(f"windows must hold integer word ids, got {name} of dtype "
                                    f"{tf.as_dtype(ids.dtype).name} (Vocabulary.encode_lines gives int32)")
        shapes = [tf.TensorShape(ids.shape) for ids in (x, y)]
        if any(s.rank is not None and s.rank != 2 for s in shapes) or not shapes[0].is_compatible_with(shapes[1]) \
                or any(s.rank == 2 and s[1] == 0 for s in shapes):
            raise LightRNNError(f"windows are (x, y) of the same shape (B, T), T >= 1, y the words after x (its "
                                f"first column starts each stream): got x {shapes[0]} and y {shapes[1]}")
        vocab_size = getattr(self, "vocab_size", None)
        if vocab_size is None:
            return x, y
        wide = [tf.cast(ids, tf.int64) for ids in (x, y)]  # V = 65,536 does not fit uint16 ids
        checks = [tf.debugging.Assert(tf.reduce_all((ids >= 0) & (ids < vocab_size)),
                                      [BAD_IDS, tf.reduce_min(ids), tf.reduce_max(ids)]) for ids in wide]
        with tf.control_dependencies(checks):
            return tf.identity(x), tf.identity(y)

    def train_step(self, data):
        x, y = self._windows(data)
        with tf.GradientTape() as tape:
            state = self._train_stream.read(lambda: self.start_state(x[:, 0], training=True), tf.shape(x)[0])
            loss, new_state = self.window_loss(y, state, training=True)
            # Gradients are summed over replicas: each contributes its share of the global mean.
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas if replicas > 1 else loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        apply_gradients(self.optimizer, grads, self.trainable_variables)
        self._train_stream.write(new_state)
        return self._update_metrics(loss, y)

    def test_step(self, data):
        x, y = self._windows(data)
        state = self._eval_stream.read(lambda: self.start_state(x[:, 0]), tf.shape(x)[0])
        loss, new_state = self.window_loss(y, state)
        self._eval_stream.write(new_state)
        return self._update_metrics(loss, y)

    def predict_step(self, data):
        """A window `(x, y)` -> `(B, T)` log-probs of its targets `y`, the state carried from the
        window before (as `evaluate`); `predict` over `stream_dataset(ids, B, bptt)` returns them
        window after window, `(windows * B, T)`."""
        x, y = self._windows(data)
        state = self._eval_stream.read(lambda: self.start_state(x[:, 0]), tf.shape(x)[0])
        log_probs, new_state = self.target_log_probs(y, state)
        self._eval_stream.write(new_state)
        return log_probs

    def _update_metrics(self, loss, y):
        self.loss_tracker.update_state(loss, sample_weight=ops.cast(ops.size(y), "float32"))
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Every replica reports the global token-weighted mean, so `perplexity` is exp of it
            # (Keras averages what the replicas report). `tf.identity`: MultiWorkerMirroredStrategy
            # cannot all-reduce a variable's read directly in TF 2.21.
            total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [
                tf.identity(self.loss_tracker.total), tf.identity(self.loss_tracker.count)])
            mean = tf.math.divide_no_nan(total, count)
        else:
            mean = self.loss_tracker.result()
        logs = {"loss": mean, "perplexity": ops.exp(mean)}
        if distribute.is_multi_worker(self.distribute_strategy):
            # Keras 3.15 averages what the workers report along axis 0 (tensorflow/tensorflow#72388)
            logs = {name: value[None] for name, value in logs.items()}
        return logs

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with the carried training state reset at the start of every epoch.

        The data must yield `(x, y)` windows in stream order (`data.stream_dataset`); `shuffle`
        defaults to False. For epochs shorter than the stream, pass an endless stream
        (`data.continuing_stream_dataset`) and `steps_per_epoch`. With several replicas, a
        `tf.data.Dataset` given as `x` or `validation_data` is split by rows among them
        (`data.distribute_windows`; it must have a known length, and `steps_per_epoch` is set from
        it, or be endless with `steps_per_epoch` given), and `steps_per_execution` runs as 1.
        """
        callbacks = kwargs.get("callbacks")
        if len(args) > 5:  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)
            raise TypeError("pass `callbacks` and the arguments after it to `fit` by keyword")
        self._check_compiled_for_streams()
        _check_weights(kwargs, "sample_weight", "class_weight")
        _check_not_empty(args[0] if args else kwargs.get("x"), "training")
        _check_not_empty(kwargs.get("validation_data"), "validation")
        _check_backup_callbacks(callbacks)
        if isinstance(callbacks, keras.callbacks.CallbackList):  # the caller's own: used as it is, plus ours
            ours = [] if any(isinstance(cb, ResetStreamState) for cb in callbacks.callbacks) else [ResetStreamState()]
            if not any(isinstance(cb, keras.callbacks.History) for cb in callbacks.callbacks):
                ours.append(keras.callbacks.History())  # what `fit` returns
            for cb in ours:
                cb.set_model(self)
            callbacks.callbacks[:0] = ours
        else:
            callbacks = [ResetStreamState()] + list(callbacks or [])
            if not any(isinstance(cb, keras.callbacks.ProgbarLogger) for cb in callbacks):
                callbacks.append(WindowProgbarLogger())  # silent with verbose=0, like Keras' own
            kwargs["callbacks"] = callbacks
        if kwargs.get("shuffle"):
            raise LightRNNError(f"fit(shuffle={kwargs['shuffle']!r}) would mix the windows of the streams, whose state "
                                "is carried from one window to the next: windows must stay in stream order (the "
                                "default here)")
        kwargs.setdefault("shuffle", False)  # windows must stay in stream order
        _check_arrays_batch_size(args, kwargs)
        _check_callback_order(kwargs.get("callbacks"))
        args, kwargs = self._distribute_windows(args, kwargs, "steps_per_epoch")
        if self._replicas() > 1 and isinstance(kwargs.get("validation_data"), tf.data.Dataset):
            from lightrnn_tf.data import distribute_windows

            try:
                kwargs["validation_data"], kwargs["validation_steps"] = distribute_windows(
                    kwargs["validation_data"], self.distribute_strategy)
            except LightRNNError as e:  # say which dataset: the training one may be fine
                raise LightRNNError(f"validation_data: {e}") from None
        # On endless data Keras (3.15) runs whole executions of `steps_per_execution` windows, so an
        # epoch whose `steps_per_epoch` is not a multiple would overrun: run executions of
        # gcd(steps_per_execution, steps_per_epoch) windows for this call instead.
        configured, steps = self.steps_per_execution, kwargs.get("steps_per_epoch")
        if steps and configured > 1 and steps % configured:
            self._set_steps_per_execution(math.gcd(configured, int(steps)))
        try:
            return self._one_line_errors(("train_function", "test_function"), super().fit, *args, **kwargs)
        finally:
            self._set_steps_per_execution(configured)

    def _one_line_errors(self, functions, run, *args, **kwargs):
        """`run(*args, **kwargs)`, its failed run-time checks of the windows raised as one line. On a
        failure the compiled `functions` of the call go (only they: an `evaluate` in a callback of a
        running `fit` leaves `fit`'s own): one whose first trace failed could not build the
        optimizer's variables in a later `fit` ("Creating variables on a non-first call")."""
        try:
            return run(*args, **kwargs)
        except BaseException as e:
            for name in functions:
                setattr(self, name, None)
            if not isinstance(e, tf.errors.InvalidArgumentError):
                raise
            if BAD_IDS in e.message:
                found = re.findall(r"\[(-?\d+)\]", e.message.split(BAD_IDS, 1)[1])[:2]
                seen = f" (a window holds ids {found[0]} to {found[1]})" if len(found) == 2 else ""
                raise LightRNNError(f"word ids must lie in [0, {self.vocab_size}), the model's vocabulary{seen}: "
                                    "encode the text with the vocabulary the model was built for") from None
            if BATCH_MISMATCH in e.message:
                raise LightRNNError("a window has another number of rows (batch size) than the one before it, so "
                                    "the state carried between them does not fit: every window of a stream has the "
                                    "same B rows (stream_dataset(ids, batch_size, bptt); arrays, or a dataset you "
                                    "batch yourself, need a multiple of B rows)") from None
            raise

    def _check_compiled_for_streams(self) -> None:
        """Refuses a `compile(loss=..., metrics=...)`: `train_step` computes the model's own loss
        (the NLL of its target words) and reports `loss` and `perplexity`, so Keras would ignore them."""
        config = getattr(getattr(self, "_compile_config", None), "config", {})  # the last `compile` call's
        given = [name for name in ("loss", "metrics", "weighted_metrics") if config.get(name)]
        if given:
            raise LightRNNError(f"{type(self).__name__} computes its own loss (the NLL of the next words) and reports "
                                f"`loss` and `perplexity`, so it takes no {' or '.join(given)}: compile it with "
                                "`compile(optimizer=...)` only")

    def _set_steps_per_execution(self, steps: int) -> None:
        """Changes `steps_per_execution`; the compiled functions loop over the old count, so they go."""
        if self.steps_per_execution != steps:
            self.steps_per_execution = steps
            self.train_function = self.test_function = self.predict_function = None

    def predict(self, *args, **kwargs):
        """`keras.Model.predict` over a stream (`predict_step`), from `start_state` of its first
        window: `(windows * B, T)` float32 log-probs; when the last window is shorter (T' < T),
        its missing positions are NaN (Keras alone would return a ragged tensor)."""
        _check_not_empty(args[0] if args else kwargs.get("x"), "prediction")
        _check_arrays_batch_size(args, kwargs, positional=1)
        self._eval_stream.reset()
        # Keras concatenates the windows of one execution inside the graph, which fails on the
        # shorter last window: one window an execution (prediction is no training bottleneck). The
        # train and test functions are kept: a `predict` in a callback of `fit` runs inside them.
        # So is the one-window predict function, until the next `compile`: traced again at every
        # call, a `predict` in a loop spent seconds a call tracing.
        configured = self.steps_per_execution
        if configured == 1:
            return self._predict_one_window(*args, **kwargs)
        kept = (self.train_function, self.test_function, self.predict_function)
        compiled = getattr(self, "_compile_config", None)
        cached_for, cached = self.__dict__.get("_one_window_predict", (None, None))
        self.steps_per_execution = 1
        self.predict_function = cached if cached_for is compiled else None
        try:
            return self._predict_one_window(*args, **kwargs)
        finally:
            self.__dict__["_one_window_predict"] = (compiled, self.predict_function)  # not tracked
            self.steps_per_execution = configured
            self.train_function, self.test_function, self.predict_function = kept

    def _predict_one_window(self, *args, **kwargs):
        out = self._one_line_errors(("predict_function",), super().predict, *args, **kwargs)
        if isinstance(out, tf.RaggedTensor):
            out = out.to_tensor(default_value=np.nan).numpy()
        return out

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate` over a stream, starting from `start_state` of its first window."""
        self._check_compiled_for_streams()
        _check_weights(kwargs, "sample_weight")
        _check_not_empty(args[0] if args else kwargs.get("x"), "evaluation")
        _check_arrays_batch_size(args, kwargs)
        self._eval_stream.reset()
        args, kwargs = self._distribute_windows(args, kwargs, "steps")
        return self._one_line_errors(("test_function",), super().evaluate, *args, **kwargs)

    # === Saving ===

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        """The model's children in TensorFlow's object graph (`tf.train.Checkpoint(model=...)`,
        SavedModel): Keras' own, plus what Keras tracks for its own saving only, so a checkpoint of
        the model alone holds every variable: the layers of a Python list (`lstms`; without this
        the LSTM weights came back only through an optimizer already built) and the RNG state
        (`rng_state_variables`)."""
        children = dict(super()._trackable_children(save_type, **kwargs))
        for i, layer in enumerate(getattr(self, "lstms", ())):
            children.setdefault(f"lstms_{i}", layer)
        for i, variable in enumerate(self.rng_state_variables()):
            children.setdefault(f"rng_{i}", variable)
        return children

    def rng_state_variables(self) -> list:
        """The state variables of the model's Keras `SeedGenerator`s (dropout masks, sampled
        classes), in a fixed order."""
        return [sg.state for layer in self._flatten_layers(include_self=True)
                for sg in getattr(layer, "_seed_generators", [])]

    def save_own_variables(self, store):
        """Keras' saving, plus the RNG state: `save_weights`, `save` and so `BackupAndRestore` keep
        where the dropout masks' random stream is (Keras leaves `SeedGenerator`s out), so that
        training resumed from the file draws the masks an uninterrupted run draws."""
        super().save_own_variables(store)
        for i, variable in enumerate(self.rng_state_variables()):
            store[f"rng_{i}"] = variable

    def load_own_variables(self, store):
        """Loads what `save_own_variables` wrote. A file without the RNG state (older), or with
        another model's (other dropout settings, a sampled-softmax model's sampler), loads the
        weights and leaves the RNG as it is."""
        own = self._trainable_variables + self._non_trainable_variables
        keys = set(store.keys())
        saved_rng = {key for key in keys if key.startswith("rng_")}
        if len(keys - saved_rng) != len(own):
            return super().load_own_variables(store)  # Keras' own check and message
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])
        rng = self.rng_state_variables()
        if saved_rng == {f"rng_{i}" for i in range(len(rng))}:  # else another model's (dropout on/off...)
            for i, variable in enumerate(rng):
                variable.assign(store[f"rng_{i}"])

    # === Several replicas ===

    def _replicas(self) -> int:
        return self.distribute_strategy.num_replicas_in_sync

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras builds the model's state from one input batch, which it averages over the replicas;
        under `MultiWorkerMirroredStrategy` (TF 2.21, Keras 3.15) that average fails for `(x, y)`
        batches. The first replica's batch has the same shapes."""
        if iterator is not None and self._replicas() > 1:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _distribute_windows(self, args, kwargs, steps_key):
        """With several replicas, `x` (a `tf.data.Dataset` of windows) split by rows among them
        (`data.distribute_windows`; Keras would shard it by window among workers) and its number
        of windows as `kwargs[steps_key]`."""
        if self._replicas() == 1:
            return args, kwargs
        from lightrnn_tf.data import distribute_windows

        x = args[0] if args else kwargs.get("x")
        if not isinstance(x, tf.data.Dataset):
            return args, kwargs
        endless = int(x.cardinality()) == tf.data.INFINITE_CARDINALITY
        if kwargs.get(steps_key) and not endless:
            raise LightRNNError(f"pass a stream dataset cut to length (.take(n)), or an endless one "
                                f"(data.continuing_stream_dataset), rather than a finite one with `{steps_key}` "
                                "when training on several replicas")
        x, kwargs[steps_key] = distribute_windows(x, self.distribute_strategy, kwargs.get(steps_key))
        mirrored = (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)
        if self.steps_per_execution > 1 and isinstance(self.distribute_strategy, mirrored):
            # Keras 3.15 runs several steps an execution inside a `tf.cond`, where the cross-replica sums of
            # these strategies fail at run time (keras-team/keras#19246).
            warnings.warn(f"steps_per_execution={self.steps_per_execution} fails with several mirrored replicas "
                          "in Keras 3.15 (keras-team/keras#19246); using 1", stacklevel=3)
            self._set_steps_per_execution(1)
        if args:
            return (x,) + tuple(args[1:]), kwargs
        return args, {**kwargs, "x": x}


def _check_weights(kwargs, *names) -> None:
    """Refuses `sample_weight` / `class_weight`: every target word counts once in the loss."""
    given = [name for name in names if kwargs.get(name) is not None]
    if given:
        raise LightRNNError(f"a stream language model takes no {' or '.join(given)}: every target word counts once "
                            "in its loss, and Keras would weight or index the windows' ids instead")


def _check_arrays_batch_size(args, kwargs, positional: int = 2) -> None:
    """Refuses arrays of windows without `batch_size` (`args[positional]` or by keyword): Keras would
    cut them into its default 32 rows, which mixes the streams unless B is 32."""
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 and positional > 1 else kwargs.get("y")
    arrays = (np.ndarray, tf.Tensor)
    given = len(args) > positional and args[positional] is not None or kwargs.get("batch_size") is not None
    windows = isinstance(x, arrays) and isinstance(y, arrays) or isinstance(x, (tuple, list)) and x and isinstance(
        x[0], arrays)  # x and y, or (x, y): a bare x is no window (`_windows` says so)
    if not given and windows:
        raise LightRNNError("arrays of windows need batch_size=B, the number of streams (rows) a window has: Keras "
                            "would otherwise cut them into batches of 32 rows and mix the streams")


def _check_callback_order(callbacks) -> None:
    """Warns when a Keras `ModelCheckpoint` or `EarlyStopping` comes after a `ReallocationCallback`:
    at the end of an epoch that reallocates it would save (or keep as the best) the weights with the
    new table before any training on it, a much worse model than the `val_loss` it logs."""
    from lightrnn_tf.realloc import ReallocationCallback

    listed = list(getattr(callbacks, "callbacks", callbacks) or [])
    first = next((i for i, cb in enumerate(listed) if isinstance(cb, ReallocationCallback)), None)
    late = [type(cb).__name__ for cb in listed[first + 1:] if isinstance(
        cb, (keras.callbacks.ModelCheckpoint, keras.callbacks.EarlyStopping))] if first is not None else []
    if late:
        warnings.warn(f"{', '.join(late)} comes after ReallocationCallback, so after an epoch that reallocates it "
                      "saves the model with the new table before any training on it, not the model its val_loss "
                      "measured: list it before ReallocationCallback", stacklevel=3)


def _check_not_empty(data, what: str) -> None:
    """Refuses a `tf.data.Dataset` known to hold no window (Keras would train or report nothing)."""
    if isinstance(data, tf.data.Dataset) and int(data.cardinality()) == 0:
        raise LightRNNError(f"the {what} dataset holds no window, so Keras would run nothing and say nothing")


def _check_backup_callbacks(callbacks) -> None:
    """Refuses Keras' `BackupAndRestore` saving inside epochs (`save_freq=N`: it restores the
    epoch, not the window), and beside a callback with state of its own (`get_state`:
    `ReallocationCallback`, `TimeBudget`, `WeightAveraging`...): it restores the weights and the
    epoch but not that state, so a resumed run would differ from an uninterrupted one (reallocate
    again, restart the time budget). `TrainingCheckpoint` keeps both."""
    callbacks = callbacks.callbacks if isinstance(callbacks, keras.callbacks.CallbackList) else list(callbacks or [])
    backups = [cb for cb in callbacks if isinstance(cb, keras.callbacks.BackupAndRestore)]
    if any(cb.save_freq not in ("epoch", False) for cb in backups):  # False: on preemption only
        raise LightRNNError("keras.callbacks.BackupAndRestore with save_freq=N restores the epoch but not the "
                            "window inside it, so a resumed run would train the epoch's first windows again from "
                            "mid-epoch weights: use save_freq='epoch', or lightrnn_tf.checkpoint.TrainingCheckpoint"
                            "(directory, save_every_windows=N) and its resume_dataset")
    stateful = sorted({type(cb).__name__ for cb in callbacks if hasattr(cb, "get_state")})
    if backups and stateful:
        raise LightRNNError(f"keras.callbacks.BackupAndRestore restores the weights and the epoch but not the state "
                            f"of {', '.join(stateful)}, so a resumed run would not continue this one: use "
                            "lightrnn_tf.checkpoint.TrainingCheckpoint(directory, callbacks=[...]) instead, which "
                            "keeps both")


def apply_gradients(optimizer, grads, variables) -> None:
    """`optimizer.apply(grads, variables)`, clipping the global batch's gradient as on one device.

    With several replicas, Keras (3.15) clips each replica's gradients before it sums them over
    the replicas (`BaseOptimizer.apply`), so `global_clipnorm` would bound each replica's share
    instead of their sum. When the optimizer clips, the replicas' dense gradients are summed here
    first (one more all-reduce, of the parameters' size) and clipped the way Keras clips on one
    device, then every replica hands the optimizer `1 / replicas` of the clipped sum: clipping a
    share that small changes nothing, and the optimizer's own all-reduce sums the shares back.

    An embedding's gradient is an `IndexedSlices` with one row per occurrence of a word (the
    replicas' rows together are one device's rows). On one device Keras measures its norm over
    those rows, and `global_clipnorm` hands the optimizer its dense sum while `clipnorm` and
    `clipvalue` keep the rows (Adam's second moment then adds up their squares); both are
    reproduced here.

    Args:
        optimizer: a Keras optimizer (possibly a `LossScaleOptimizer`).
        grads: list of gradients of the (loss-scaled) per-replica loss, one per variable.
        variables: the trainable variables.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    clipnorm, global_clipnorm, clipvalue = inner.clipnorm, inner.global_clipnorm, inner.clipvalue
    if replicas == 1 or not (clipnorm or global_clipnorm or clipvalue):
        optimizer.apply(grads, variables)
        return
    variables = [v for g, v in zip(grads, variables) if g is not None]
    grads = [g for g in grads if g is not None]
    scale = tf.cast(optimizer.scale_loss(1.0), "float32")  # loss scaling: gradients this many times too large
    rows = [isinstance(g, tf.IndexedSlices) for g in grads]
    # Each IndexedSlices' sum of squares of rows, and each dense gradient, summed over the replicas
    local = [tf.reduce_sum(tf.square(g.values)) if r else g for g, r in zip(grads, rows)]
    if global_clipnorm:  # the IndexedSlices are summed too: Keras hands the optimizer a dense gradient
        summed, squares = context.all_reduce(tf.distribute.ReduceOp.SUM, [
            [tf.convert_to_tensor(g) for g in grads], [sq for sq, r in zip(local, rows) if r] + [tf.zeros([])]])
        squares = iter(squares)
        norm = tf.sqrt(tf.add_n([next(squares) if r else tf.reduce_sum(tf.square(g)) for g, r in zip(summed, rows)]))
        limit = global_clipnorm * scale
        factor = limit * tf.minimum(1.0 / norm, 1.0 / limit) + (norm - norm)  # NaN if the norm is not finite
        optimizer.apply([g * factor / replicas for g in summed], variables)
        return
    sums = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    out = []
    for g, total, r in zip(grads, sums, rows):
        if clipnorm:
            limit = clipnorm * scale
            factor = limit / tf.maximum(tf.sqrt(total if r else tf.reduce_sum(tf.square(total))), limit)
            out.append(tf.IndexedSlices(g.values * factor, g.indices, g.dense_shape) if r
                       else total * factor / replicas)
        else:
            limit = clipvalue * scale
            out.append(tf.IndexedSlices(tf.clip_by_value(g.values, -limit, limit), g.indices, g.dense_shape) if r
                       else tf.clip_by_value(total, -limit, limit) / replicas)
    optimizer.apply(out, variables)


class WindowProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, never past the epoch's window count, and ending at the windows trained
    (added by `fit`).

    With `steps_per_execution` > 1 Keras 3.15 reports an epoch's last, partial execution as a
    whole one, so a 20-window epoch at 8 windows a call showed 24/20 (keras-team/keras#20861).
    And an epoch stopped before its end (`callbacks.TimeBudget`, `callbacks.FirstEpochCut`) ends
    its line at the windows it trained, "290/1165 - 75s - ...", where Keras' own fills the bar to
    the dataset's length.
    """

    def _update_progbar(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super()._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar is not None and self.target and 0 < self.seen < self.target:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=True)
        else:
            super().on_epoch_end(epoch, logs)


class ResetStreamState(keras.callbacks.Callback):
    """Restarts the carried training state at the start of every epoch (added by `fit`)."""

    def on_epoch_begin(self, epoch, logs=None):
        if getattr(self.model, "_resume_mid_epoch", False):  # a checkpoint restored the state mid-epoch
            self.model._resume_mid_epoch = False
            return
        self.model._train_stream.reset()


def stream_perplexity(model: StreamLanguageModel, ids, batch_size: int = 10, bptt: int = 35,
                      verbose: int = 0) -> tuple[float, int]:
    """Perplexity of a stream LM on an id stream `(N,)`, the state carried across windows.

    The stream is cut into `batch_size` rows (fewer if N is small; a multiple of the replicas under
    a `tf.distribute` strategy) and read in `bptt` windows, the layout of training
    (`data.stream_dataset`). Every token of the first
    `batch_size * (N // batch_size)` is a target except the first of each row. `verbose` is
    `evaluate`'s (1: a progress bar over the windows, on stdout).

    Returns:
        `(exp(total NLL / targets), targets)`.
    """
    from lightrnn_tf.data import evaluation_batch_size, stream_dataset

    ids = np.asarray(ids)
    batch_size = evaluation_batch_size(len(ids), batch_size, model.distribute_strategy.num_replicas_in_sync)
    if not model.compiled:
        model.compile()
    logs = model.evaluate(stream_dataset(ids, batch_size, bptt), verbose=verbose, return_dict=True)
    targets = batch_size * (len(ids) // batch_size - 1)
    try:
        return math.exp(logs["loss"]), targets
    except OverflowError:  # a diverged model (loss > 709 nats a word): infinite, not a crash
        return math.inf, targets
