"""Training runs under `tf.distribute` strategies, for tests/test_distribute.py.

Each strategy needs TensorFlow configured before it starts, so the test runs this file in fresh
processes:

    python tests/distributed_runs.py mirrored OUT.json CORPUS RUN_DIR   # MirroredStrategy on 2 logical CPUs
    TF_CONFIG=... python tests/distributed_runs.py worker OUT.json CORPUS RUN_DIR   # one worker of MultiWorkerMirroredStrategy
    python tests/distributed_runs.py statistics OUT.json   # statistics passes under MirroredStrategy on 2 logical CPUs

and compares what they write with `tiny_run` and the command line under the default strategy
(one device), run meanwhile in the test's own process (the statistics passes, with a fresh model's).
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

V, ROWS, COLS, B, T = 30, 6, 5, 4, 7


def corpus_ids():
    """Training and validation ids, `(88,)` and `(44,)` int32 over V = 30 words: 4 training streams
    of 22 tokens (3 windows of 7 targets: the state is carried across two of them) and 2 validation
    streams of 22."""
    ids = np.random.default_rng(0).integers(0, V, 132).astype(np.int32)
    return ids[:88], ids[88:]


def tiny_model(strategy, clip=1.0):
    """A 2-layer LightRNN (E = H = 8, dropout 0) built and compiled in `strategy.scope()`."""
    import keras

    from lightrnn_tf.model import LightRNNModel

    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = LightRNNModel(V, ROWS, COLS, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.0, table_seed=0)
        model.compile(optimizer=keras.optimizers.Adam(0.05, global_clipnorm=clip), steps_per_execution=1)
    return model


def tiny_run(strategy, checkpoint_dir=None, epochs=2, interrupt_after=None):
    """`fit` for `epochs` of 3 windows of B = 4 streams, validation, a reallocation after epoch 1.

    Returns a JSON-able dict: `steps` (the running epoch loss after every window), `history`,
    `cells` (the word -> cell table), `table_sha` (its SHA-256), `weights` (every trainable
    variable, as nested lists), `report` (the reallocation's), `replicas`, and the trained
    model's loss statistics over the training ids, both kinds (`statistics`: `dense_row`,
    `dense_col`, `factored_row`, `factored_col`, `tokens`).
    """
    import keras

    from lightrnn_tf.checkpoint import TrainingCheckpoint
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.realloc import ReallocationCallback, factored_statistics, loss_statistics

    train, valid = corpus_ids()
    model = tiny_model(strategy)
    steps = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(float(logs["loss"])))
    realloc = ReallocationCallback(train, every=1, rounds=1, batch_size=B, bptt=T, solver="sparse", verbose=0)
    callbacks = [record, realloc]
    if checkpoint_dir:
        callbacks.append(TrainingCheckpoint(checkpoint_dir, [realloc], verbose=0))
    if interrupt_after:
        from fault_callbacks import Interrupt

        callbacks.append(Interrupt(interrupt_after))
    try:
        history = model.fit(stream_dataset(train, B, T), validation_data=stream_dataset(valid, 2, T), epochs=epochs,
                            callbacks=callbacks, verbose=0).history
    except KeyboardInterrupt:
        return None
    cells = model.get_table().word_cell
    dense_row, dense_col, tokens = loss_statistics(model, train, B, T)
    factored, factored_tokens = factored_statistics(model, train, B, T)
    assert tokens == factored_tokens
    statistics = {"dense_row": dense_row.tolist(), "dense_col": dense_col.tolist(), "tokens": tokens,
                  "factored_row": factored.row_costs(slice(None)).tolist(),
                  "factored_col": factored.col_costs(slice(None)).tolist()}
    return {
        "steps": steps,
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "cells": cells.tolist(),
        "table_sha": hashlib.sha256(cells.astype(np.int64).tobytes()).hexdigest(),
        "weights": [v.numpy().tolist() for v in model.trainable_variables],
        "report": realloc.reports[0] if realloc.reports else None,
        "replicas": strategy.num_replicas_in_sync,
        "statistics": statistics,
    }


CLI_FLAGS = ["--epochs", "2", "--embedding-dim", "8", "--hidden-dim", "8", "--bptt", "5", "--batch-size", "4",
             "--dropout", "0", "--realloc-every", "1", "--solver", "sparse", "--realloc-min-count", "0"]

# Epochs of 8 of the 18 windows, going on through the stream: the third wraps around its end;
# the reallocations read statistics gathered while those 8 windows trained. (It was 40 windows, more
# than the stream has, so every epoch read the whole stream.)
# Weight averaging with a momentum short enough for the 36 windows of CLI_FLAGS (>= 3 / (1 - 0.9) = 30)
AVERAGED = ["--ema-momentum", "0.9"]
SHORT_EPOCHS = ["--steps-per-epoch", "8", "--epochs", "3", "--realloc-source", "epoch", "--realloc-recovery-epochs", "1"]


def write_cli_corpus(path):
    """40 lines of 10 words (16 distinct): 34 lines (374 tokens) train, 18 windows of B = 4, T = 5."""
    with open(path, "w") as f:
        f.write("".join(f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}\n" for i in range(40)))
    return path


def _mirrored(out_path, corpus, run_dir):
    """MirroredStrategy over 2 logical CPUs: `tiny_run`, an interrupted and resumed `tiny_run`, and the
    command line (`CLI_FLAGS` on `corpus`, into `run_dir/mirrored`; also with a batch the replicas
    cannot share)."""
    import tempfile

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from lightrnn_tf import train as train_cli
    from lightrnn_tf.distribute import make_strategy

    mirrored = make_strategy("mirrored")
    result = {"mirrored": tiny_run(mirrored)}
    from lightrnn_tf.layers import ReplicaDropout

    with mirrored.scope():
        dropout = ReplicaDropout(0.5, seed=3)
    masks = mirrored.run(tf.function(lambda: dropout(tf.ones((2, 64)), training=True)))
    result["dropout_masks"] = [m.numpy().tolist() for m in mirrored.experimental_local_results(masks)]
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.errors import LightRNNError

    train, valid = corpus_ids()
    try:  # a validation batch the replicas cannot share, the training one fine: the error names validation_data
        tiny_model(mirrored).fit(stream_dataset(train, B, T), validation_data=stream_dataset(valid, 3, T), epochs=1,
                                 verbose=0)
        result["odd_validation_batch"] = None
    except LightRNNError as e:
        result["odd_validation_batch"] = str(e)
    with tempfile.TemporaryDirectory() as tmp:
        # Interrupted after epoch 1 (its reallocation done and checkpointed), resumed by a new `fit`.
        assert tiny_run(mirrored, os.path.join(tmp, "ckpt"), interrupt_after=1) is None
        result["resumed"] = tiny_run(mirrored, os.path.join(tmp, "ckpt"))
    flags = ["--corpus", corpus] + CLI_FLAGS + ["--strategy", "mirrored"]
    result["cli_code"] = train_cli.main(flags + ["--out", os.path.join(run_dir, "mirrored")])
    result["odd_batch_code"] = train_cli.main(flags + ["--batch-size", "3", "--out", os.path.join(run_dir, "odd")])
    result["short_epochs_code"] = train_cli.main(flags + SHORT_EPOCHS + ["--out", os.path.join(run_dir, "short")])
    result["averaged_code"] = train_cli.main(flags + AVERAGED + ["--out", os.path.join(run_dir, "averaged")])
    with open(out_path, "w") as f:
        json.dump(result, f)


def _statistics_passes(out_path):
    """MirroredStrategy over 2 logical CPUs: two `loss_statistics` passes of `tiny_model`, a new table
    and new weights in between, a float32 pass, two passes with totals over
    `CACHED_TOTALS_MAX_BYTES`, then the same pass of a fresh model with those weights. Writes the
    sums, `traces` (the replicas' graph-mode calls of `distributions` after each of the six passes),
    the number of kept functions and the variables a checkpoint of the model holds before and after."""
    import tempfile

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from lightrnn_tf.distribute import make_strategy
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf import realloc
    from lightrnn_tf.realloc import loss_statistics
    from lightrnn_tf.table import WordTable

    traces = [0]
    distributions = LightRNNModel.distributions

    def counted(self, *args, **kwargs):
        traces[0] += not tf.executing_eagerly()
        return distributions(self, *args, **kwargs)

    LightRNNModel.distributions = counted
    strategy = make_strategy("mirrored")
    train, _ = corpus_ids()
    model = tiny_model(strategy)

    def saved(tmp, name):  # what a checkpoint of the model holds, and `model.variables` (TrainingCheckpoint's)
        path = tf.train.Checkpoint(model=model).write(os.path.join(tmp, name))
        return sorted(name for name, _ in tf.train.list_variables(path)) + [v.path for v in model.variables]

    with tempfile.TemporaryDirectory() as tmp:
        before = saved(tmp, "before")
        result = {"first": loss_statistics(model, train, B, T)[:2]}
        counts = [traces[0]]
        model.set_table(WordTable.random(V, ROWS, COLS, seed=5))
        rng = np.random.default_rng(0)
        model.set_weights([w + 0.1 * rng.normal(size=w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
                           for w in model.get_weights()])
        result["again"] = loss_statistics(model, train, B, T)[:2]
        counts.append(traces[0])
        result["float32"] = loss_statistics(model, train, B, T, dtype="float32")[:2]
        counts.append(traces[0])
        limit, realloc.CACHED_TOTALS_MAX_BYTES = realloc.CACHED_TOTALS_MAX_BYTES, 0  # totals over the limit:
        for name in ("uncached", "uncached_again"):  # made (and traced) for each pass, not kept
            result[name] = loss_statistics(model, train, B, T)[:2]
            counts.append(traces[0])
        realloc.CACHED_TOTALS_MAX_BYTES = limit
        entries = len(model.__dict__["_statistics_windows"])
        result["saved"] = [before, saved(tmp, "after")]
    fresh = tiny_model(strategy)
    fresh.set_weights(model.get_weights())
    result["fresh"] = loss_statistics(fresh, train, B, T)[:2]
    counts.append(traces[0])
    result = {key: [a.tolist() for a in value] if key != "saved" else value for key, value in result.items()}
    result.update(traces=counts, replicas=strategy.num_replicas_in_sync, entries=entries)
    with open(out_path, "w") as f:
        json.dump(result, f)


def _worker(out_path, corpus, run_dir):
    """One worker of a MultiWorkerMirroredStrategy cluster described by TF_CONFIG: `tiny_run`, then the
    command line (`CLI_FLAGS` on `corpus`, into `run_dir`: the chief's run, or `run_dir/worker-<i>`)."""
    from lightrnn_tf import train as train_cli
    from lightrnn_tf.distribute import is_chief, make_strategy

    strategy = make_strategy("multiworker")
    result = tiny_run(strategy)
    result["chief"] = is_chief(strategy)
    # --time-budget: every worker checks it at epoch ends on the chief's clock (a long budget: no stop)
    result["cli_code"] = train_cli.main(["--corpus", corpus] + CLI_FLAGS + ["--strategy", "multiworker",
                                                                            "--time-budget", "3600",
                                                                            "--out", run_dir])
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    {"mirrored": _mirrored, "worker": _worker, "statistics": _statistics_passes}[sys.argv[1]](*sys.argv[2:])
