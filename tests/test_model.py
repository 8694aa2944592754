"""LightRNNModel and the baseline through the stream-model contract: perplexity, serialization, fit."""

import math

import keras
import numpy as np
import pytest

from lightrnn_tf.baselines import FullSoftmaxLSTM
from lightrnn_tf.data import stream_dataset
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.model import LightRNNModel
from lightrnn_tf.stream_model import stream_perplexity
from lightrnn_tf.table import WordTable
from numpy_reference import NumpyLightRNN


def test_stream_perplexity_equals_numpy_exp_mean_nll_with_state_carried(tiny_model, rng):
    model = tiny_model(layers=1)
    ids = rng.integers(0, 10, 41).astype(np.int32)
    ppl, n = stream_perplexity(model, ids, batch_size=2, bptt=6)
    # NumPy: two rows of 20 tokens; each row's first token starts the state, the rest are targets,
    # read straight through (the state crosses the 6-word windows).
    data = ids[:40].reshape(2, 20)
    logp = NumpyLightRNN(model).stream_log_probs(data[:, 0], data[:, 1:])
    assert n == logp.size == 38
    assert math.isclose(ppl, math.exp(-logp.mean()), rel_tol=1e-5)


def test_stream_perplexity_shows_progress_only_when_asked(tiny_model, rng, capsys):
    model = tiny_model(layers=1)
    ids = rng.integers(0, 10, 41).astype(np.int32)
    quiet, _ = stream_perplexity(model, ids, batch_size=2, bptt=6)
    assert capsys.readouterr().out == ""
    shown, _ = stream_perplexity(model, ids, batch_size=2, bptt=6, verbose=1)
    assert "4/4" in capsys.readouterr().out  # 19 targets a row in windows of 6
    assert shown == quiet


@pytest.mark.parametrize("make", [
    lambda: LightRNNModel(12, 4, 3, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.0),
    lambda: FullSoftmaxLSTM(12, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.0),
])
def test_both_models_implement_one_contract(make, rng):
    """zero/start state, target_log_probs -> ((B, T), state), window_loss, and a window split in two
    gives the same log-probs as the whole window (the state carries everything)."""
    keras.utils.set_random_seed(0)
    model = make()
    y = rng.integers(0, 12, (3, 8))
    state = model.start_state(rng.integers(0, 12, 3))
    assert [tuple(t.shape) for pair in model.zero_state(3) for t in pair] == [(3, 8)] * 4
    lp, end = model.target_log_probs(y, state)
    assert tuple(lp.shape) == (3, 8)
    lp1, mid = model.target_log_probs(y[:, :5], state)
    lp2, end2 = model.target_log_probs(y[:, 5:], mid)
    np.testing.assert_allclose(np.concatenate([lp1, lp2], axis=1), lp, atol=1e-5)
    for (h1, c1), (h2, c2) in zip(end, end2):
        np.testing.assert_allclose(h1, h2, atol=1e-5)
    loss, _ = model.window_loss(y, state)
    np.testing.assert_allclose(float(loss), -np.mean(lp), rtol=1e-6)
    assert np.all(np.asarray(lp) < 0)


def test_keras_save_load_round_trip(tiny_model, rng, tmp_path):
    model = tiny_model()
    model.set_table(WordTable.random(10, 4, 3, seed=7))
    x = rng.integers(0, 10, (2, 5))
    y = rng.integers(0, 10, (2, 5))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, LightRNNModel)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.get_table().word_cell, model.get_table().word_cell)
    np.testing.assert_allclose(loaded((x, y)).numpy(), model((x, y)).numpy(), atol=1e-6)


def test_table_shape_defaults_to_square_root():
    model = LightRNNModel(30, embedding_dim=4, hidden_dim=4)
    assert (model.rows, model.cols) == (6, 5)
    assert (LightRNNModel(771, cols=20).rows, LightRNNModel(771, rows=20).cols) == (39, 39)  # one side given
    for make in (lambda: LightRNNModel(30, num_layers=0), lambda: FullSoftmaxLSTM(30, num_layers=0)):
        with pytest.raises(ValueError, match="num_layers"):
            make()


def test_predict_gives_the_stream_log_probs(tiny_model, rng):
    """`predict` over a stream: each window's (B, T) target log-probs with the state carried, as
    NumPy's straight read of the rows; and what is not a stream of windows gets a message saying so."""
    model = tiny_model(layers=1)
    ids = rng.integers(0, 10, 41).astype(np.int32)
    got = model.predict(stream_dataset(ids, 2, 6), verbose=0)  # windows of 6, 6, 6, 1: (4 * 2, 6)
    data = ids[:40].reshape(2, 20)
    want = NumpyLightRNN(model).stream_log_probs(data[:, 0], data[:, 1:])  # (2, 19)
    rows = [np.concatenate([got[2 * w + b] for w in range(4)])[:19] for b in range(2)]
    np.testing.assert_allclose(np.stack(rows), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="reads windows"):
        model.predict(ids[None, :40], verbose=0)


def test_mixed_float16_call_is_finite():
    """Under mixed_float16, Keras' autocast in `__call__` must not turn the empty-cell mask into
    -inf (0 * -inf = NaN): `model((x, y))` equals `model.call((x, y))`."""
    model = LightRNNModel(30, embedding_dim=8, hidden_dim=8, dtype="mixed_float16")
    x = np.random.default_rng(0).integers(0, 30, (2, 6)).astype(np.int32)
    via_call = np.asarray(model((x, x)))
    assert np.isfinite(via_call).all()
    np.testing.assert_allclose(via_call, np.asarray(model.call((x, x))), rtol=1e-6)


def test_fit_carries_the_state_across_windows(tiny_model, rng):
    """With a zero learning rate, fit's epoch loss is the NLL of the stream read straight through
    (NumPy), not of windows each restarted from their first word."""
    model = tiny_model(layers=1)
    for var in model.trainable_variables:  # larger weights: the past matters more than at init
        var.assign(var * 4.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    ids = rng.integers(0, 10, 61).astype(np.int32)
    history = model.fit(stream_dataset(ids, 3, 4), epochs=2, verbose=0)
    data = ids[:60].reshape(3, 20)
    ref = NumpyLightRNN(model)
    carried = -ref.stream_log_probs(data[:, 0], data[:, 1:]).mean()
    restarted = -np.mean(np.concatenate(
        [ref.stream_log_probs(data[:, s], data[:, s + 1 : s + 5]) for s in range(0, 19, 4)], axis=1))
    assert abs(carried - restarted) > 1e-2  # the two readings differ on this stream...
    for loss in history.history["loss"]:  # ...and every epoch restarts the state, then carries it
        assert loss == pytest.approx(carried, rel=1e-5)
    assert model.evaluate(stream_dataset(ids, 3, 4), verbose=0, return_dict=True)["loss"] == \
        pytest.approx(carried, rel=1e-5)


def test_short_epochs_go_on_through_the_stream(tiny_model, rng):
    """Epochs of 3 windows over a 5-window stream (`continuing_stream_dataset`, `steps_per_epoch`):
    epoch e trains windows 3e..3e+2 mod 5, each epoch restarting the state at its first window and
    carrying it on, across the stream's end too (NumPy, zero learning rate). Exactly 3 windows an
    epoch although 3 is not a multiple of `steps_per_execution` (Keras would run whole executions),
    which is restored after `fit`, with an `evaluate` that then reads every window."""
    from lightrnn_tf.data import continuing_stream_dataset

    model = tiny_model(layers=1)
    for var in model.trainable_variables:
        var.assign(var * 4.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), steps_per_execution=2)
    ids = rng.integers(0, 10, 61).astype(np.int32)
    history = model.fit(continuing_stream_dataset(ids, 3, 4), steps_per_epoch=3, epochs=4, verbose=0,
                        validation_data=stream_dataset(ids, 3, 4))
    assert int(model.optimizer.iterations) == 12 and model.steps_per_execution == 2
    data = ids[:60].reshape(3, 20)
    windows = [(s, min(s + 4, 19)) for s in range(0, 19, 4)]  # 5 windows, the last one of 3 words
    ref = NumpyLightRNN(model)
    for epoch, loss in enumerate(history.history["loss"]):
        read = [windows[(3 * epoch + i) % 5] for i in range(3)]
        targets = np.concatenate([data[:, a + 1 : b + 1] for a, b in read], axis=1)
        want = -ref.stream_log_probs(data[:, read[0][0]], targets).mean()
        assert loss == pytest.approx(want, rel=1e-5), epoch
    whole = -ref.stream_log_probs(data[:, 0], data[:, 1:]).mean()
    assert history.history["val_loss"][-1] == pytest.approx(whole, rel=1e-5)
    assert model.evaluate(stream_dataset(ids, 3, 4), verbose=0, return_dict=True)["loss"] == \
        pytest.approx(whole, rel=1e-5)


def test_fit_evaluate_reduce_loss(tiny_model):
    ids = np.tile(np.arange(10, dtype=np.int32), 30)  # a cycle: perfectly predictable
    model = tiny_model(layers=1)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    before = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    model.fit(stream_dataset(ids, 4, 10), epochs=15, verbose=0)
    after = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    assert after < 0.5 * before


@pytest.mark.parametrize("make", [
    lambda: LightRNNModel(12, 4, 3, embedding_dim=8, hidden_dim=8, dropout=0.0),
    lambda: FullSoftmaxLSTM(12, embedding_dim=8, hidden_dim=8, dropout=0.0),
])
def test_jit_compile_is_declined_and_training_still_runs(make):
    """XLA cannot compile the carried state (a variable sized by the data): asking for it warns,
    and fit runs without it (it used to fail with an XLA error)."""
    model = make()
    with pytest.warns(UserWarning, match="jit_compile"):
        model.compile(optimizer="adam", jit_compile=True)
    assert model.jit_compile is False
    history = model.fit(stream_dataset(np.arange(120, dtype=np.int32) % 12, 4, 5), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_progress_bar_never_passes_the_window_count(tiny_model, capsys, monkeypatch):
    """10 windows at 4 per call into TensorFlow: Keras alone would move its bar to 12/10 (keras#20861)."""
    from keras.src.utils.progbar import Progbar

    shown = []
    update = Progbar.update
    monkeypatch.setattr(Progbar, "update", lambda self, current, *a, **k: (shown.append((current, self.target)),
                                                                            update(self, current, *a, **k))[1])
    ids = np.arange(4 * 51, dtype=np.int32) % 10
    ds = stream_dataset(ids, 4, 5)
    assert int(ds.cardinality()) == 10
    model = tiny_model(layers=1)
    model.compile(optimizer="adam", steps_per_execution=4)
    model.fit(ds, epochs=1, verbose=1)
    assert [current for current, target in shown if target == 10] == [4, 8, 10, 10]  # the last: end of epoch
    assert "10/10" in capsys.readouterr().out
    model.fit(ds, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    # An epoch stopped after its first call (a time budget does so) ends its line there, not at 10/10
    shown.clear()
    stop = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: setattr(model, "stop_training", True))
    model.fit(ds, epochs=1, verbose=2, callbacks=[stop])
    assert shown[-1] == (4, 10) and capsys.readouterr().out.lstrip().startswith("4/10 - ")


@pytest.mark.parametrize("compile_kwargs, named", [({"loss": "sparse_categorical_crossentropy"}, "loss"),
                                                   ({"metrics": ["accuracy"]}, "metrics")])
def test_a_loss_or_metrics_given_to_compile_is_refused_not_ignored(compile_kwargs, named):
    """`train_step` computes the model's own loss and reports `loss` and `perplexity`; Keras would
    silently ignore a `loss` or `metrics` given to `compile`, so `fit` and `evaluate` refuse them."""
    model = LightRNNModel(12, 4, 4, embedding_dim=8, hidden_dim=8)
    model.compile(optimizer="adam", **compile_kwargs)
    ds = stream_dataset(np.arange(200, dtype=np.int32) % 12, 4, 5)
    for run in (lambda: model.fit(ds, epochs=1, verbose=0), lambda: model.evaluate(ds, verbose=0)):
        with pytest.raises(LightRNNError, match=rf"takes no {named}: compile it with `compile\(optimizer=...\)` only"):
            run()
    model.compile(optimizer="adam", metrics=[])  # compiled again as advised (an empty list is no metric)
    assert np.isfinite(model.evaluate(ds, verbose=0, return_dict=True)["perplexity"])


def test_predict_pads_a_short_last_window_with_nan(tiny_model, rng):
    """Keras alone returns a ragged tensor when the last window is shorter; `predict` gives the
    documented `(windows * B, T)` array, NaN where the last window has no target, and the mean of
    the others is `evaluate`'s loss."""
    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    ids = rng.integers(0, 10, 41).astype(np.int32)
    ds = stream_dataset(ids, 2, 6)  # windows of 6, 6, 6, 1
    got = model.predict(ds, verbose=0)
    assert isinstance(got, np.ndarray) and got.shape == (8, 6)
    assert np.isnan(got[6:, 1:]).all() and np.isfinite(got[:6]).all() and np.isfinite(got[6:, 0]).all()
    loss = model.evaluate(ds, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(-np.nanmean(got), loss, rtol=1e-5)


def _windows_of(x, y, batch=2):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)


def test_windows_with_ids_outside_the_vocabulary_are_refused_in_one_line(tiny_model, rng):
    """Windows built without `stream_dataset`: an id of -1 (which a gather reads as the last word)
    or of V fails `fit`, `evaluate` and `predict` with one line naming the range; float ids and
    sample weights are refused before anything runs."""
    import tensorflow as tf

    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    x = rng.integers(0, 10, (4, 5)).astype(np.int32)
    for bad in (-1, 10):
        y = x.copy()
        y[3, 2] = bad
        for run in (lambda d: model.fit(d, epochs=1, verbose=0), lambda d: model.evaluate(d, verbose=0),
                    lambda d: model.predict(d, verbose=0)):
            with pytest.raises(LightRNNError, match=rf"^word ids must lie in \[0, 10\), the model's vocabulary "
                                                    r"\(a window holds ids -?\d+ to \d+\)") as e:
                run(_windows_of(x, y))
            assert "\n" not in str(e.value)
    with pytest.raises(LightRNNError, match="must hold integer word ids, got y of dtype float32"):
        model.fit(_windows_of(x, x.astype(np.float32) + 0.7), epochs=1, verbose=0)
    weighted = tf.data.Dataset.from_tensor_slices((x, x, np.ones(x.shape, np.float32))).batch(2)
    with pytest.raises(LightRNNError, match="without sample weights"):
        model.evaluate(weighted, verbose=0)
    with pytest.raises(LightRNNError, match="takes no class_weight"):
        model.fit(_windows_of(x, x), class_weight={0: 0.0, 1: 1.0}, epochs=1, verbose=0)
    with pytest.raises(LightRNNError, match="takes no sample_weight"):
        model.evaluate(x, x, sample_weight=np.ones(4), verbose=0)


def test_a_window_of_another_batch_size_and_an_empty_dataset_are_refused(tiny_model, rng):
    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    x = rng.integers(0, 10, (5, 4)).astype(np.int32)
    uneven = _windows_of(x, x, batch=2).concatenate(_windows_of(x[:3], x[:3], batch=3))
    with pytest.raises(LightRNNError, match=r"^a window has another number of rows \(batch size\) than the one "):
        model.fit(uneven, epochs=1, verbose=0)
    empty = stream_dataset(rng.integers(0, 10, 41).astype(np.int32), 2, 6).take(0)
    for run, what in ((lambda: model.fit(empty, verbose=0), "training"), (lambda: model.evaluate(empty), "evaluation"),
                      (lambda: model.predict(empty), "prediction")):
        with pytest.raises(LightRNNError, match=f"the {what} dataset holds no window"):
            run()


def test_windows_of_a_bad_shape_shuffling_and_arrays_without_a_batch_size_are_refused(tiny_model, rng):
    """One line instead of a TensorFlow graph error (1-D or 3-D windows, x and y of other shapes, an
    empty window) or a silently mixed stream (`shuffle=True`, arrays cut into Keras' 32 rows)."""
    import tensorflow as tf

    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    x = rng.integers(0, 10, (4, 5)).astype(np.int32)
    for xs, ys in ((x[0], x[0]), (x[None], x[None]), (x, x[:2]), (x[:, :0], x[:, :0]), (x, x[:, :3])):
        with pytest.raises(LightRNNError, match=r"^windows are \(x, y\) of the same shape \(B, T\), T >= 1"):
            model.fit(tf.data.Dataset.from_tensors((xs, ys)), epochs=1, verbose=0)
    with pytest.raises(LightRNNError, match=r"^fit\(shuffle=True\) would mix the windows of the streams"):
        model.fit(_windows_of(x, x), shuffle=True, epochs=1, verbose=0)
    with pytest.raises(LightRNNError, match=r"^arrays of windows need batch_size=B"):
        model.fit(x, x, epochs=1, verbose=0)
    for run in (lambda: model.evaluate(x, x, verbose=0), lambda: model.predict((x, x), verbose=0)):
        with pytest.raises(LightRNNError, match=r"^arrays of windows need batch_size=B"):
            run()
    model.fit(x, x, batch_size=2, epochs=1, verbose=0)  # with it: fine
    assert np.isfinite(model.evaluate(x, x, batch_size=2, verbose=0)[0])
    for loss in (model.train_on_batch(x[:2], x[:2]), model.train_on_batch((x[:2], x[:2])),  # (x, y, None),
                 model.test_on_batch(x[:2], x[:2]), model.test_on_batch((x[:2], x[:2]))):  # ((x, y), None, None)
        assert np.all(np.isfinite(loss))


def test_a_failed_evaluate_in_a_callback_leaves_the_running_fit_alone(tiny_model, rng):
    """An `evaluate` on bad windows inside `fit`, its error caught by the callback: only its own
    compiled function goes, and training carries on with the losses of a run without it."""
    ds = stream_dataset(rng.integers(0, 10, 81).astype(np.int32), 2, 6)
    bad = _windows_of(np.full((2, 6), 10, np.int32), np.full((2, 6), 10, np.int32))
    caught = []

    class EvaluateBadWindows(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            try:
                self.model.evaluate(bad, verbose=0)
            except LightRNNError as e:
                caught.append(str(e))

    losses = []
    for callbacks in ([], [EvaluateBadWindows()]):
        model = tiny_model(layers=1)
        model.compile(optimizer="adam", steps_per_execution=2)
        losses.append(model.fit(ds, epochs=3, verbose=0, validation_data=ds, callbacks=callbacks).history["loss"])
    assert len(caught) == 3 and all(c.startswith("word ids must lie in [0, 10)") for c in caught)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)


def test_a_checkpoint_callback_after_reallocation_gets_a_warning(tiny_model, rng):
    """`ModelCheckpoint` or `EarlyStopping` listed after `ReallocationCallback` would save the new
    table with weights not yet trained on it; `fit` says so once, and not when it comes before."""
    import warnings

    from lightrnn_tf.realloc import ReallocationCallback

    ids = rng.integers(0, 10, 81).astype(np.int32)
    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    realloc = ReallocationCallback(ids, every=0, batch_size=2, bptt=6)
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    with pytest.warns(UserWarning, match="EarlyStopping comes after ReallocationCallback"):
        model.fit(stream_dataset(ids, 2, 6), epochs=1, verbose=0, callbacks=[realloc, stop])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*comes after ReallocationCallback")
        model.fit(stream_dataset(ids, 2, 6), epochs=1, verbose=0, callbacks=[stop, realloc])


def test_fit_takes_a_keras_callback_list(tiny_model, rng):
    """`fit(callbacks=keras.callbacks.CallbackList([...]))`, which Keras accepts: the carried state
    is still reset every epoch (the same losses as with a plain list) and `fit` returns its history."""
    ds = stream_dataset(rng.integers(0, 10, 81).astype(np.int32), 2, 6)
    losses = []
    for wrap in (list, keras.callbacks.CallbackList):
        model = tiny_model(layers=1)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        history = model.fit(ds, epochs=2, verbose=0, callbacks=wrap([keras.callbacks.TerminateOnNaN()]))
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)


def test_ids_of_a_narrow_type_up_to_its_largest_value_are_accepted():
    """The range check compares in int64: with V = 256, uint8 ids up to 255 are all valid."""
    import tensorflow as tf

    model = LightRNNModel(256, embedding_dim=4, hidden_dim=4)
    model.compile(optimizer="adam")
    x = np.array([[0, 255, 7], [255, 3, 1]], np.uint8)
    ds = tf.data.Dataset.from_tensors((x, x))
    assert np.isfinite(model.evaluate(ds, verbose=0, return_dict=True)["loss"])


def test_predict_with_several_windows_an_execution(tiny_model, rng):
    """`steps_per_execution` > 1: Keras would concatenate the shorter last window in the graph and fail."""
    model = tiny_model(layers=1)
    ds = stream_dataset(rng.integers(0, 10, 41).astype(np.int32), 2, 6)
    want = model.predict(ds, verbose=0)
    model.compile(optimizer="adam", steps_per_execution=2)
    np.testing.assert_allclose(model.predict(ds, verbose=0), want, rtol=1e-6)
    assert model.steps_per_execution == 2


def test_predict_in_a_callback_of_fit_with_several_windows_an_execution(tiny_model, rng):
    """A `predict` inside `fit` (a callback at every window) with `steps_per_execution` > 1: it
    once dropped the running train function, and `fit` failed with "'NoneType' object is not
    callable". Training goes on, and its losses equal a run without the callback."""
    import keras

    ds = stream_dataset(rng.integers(0, 10, 201).astype(np.int32), 2, 6)
    seen = []

    class PredictEveryWindow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(self.model.predict(ds.take(2), verbose=0).shape)

    losses = []
    for callbacks in ([], [PredictEveryWindow()]):
        model = tiny_model(layers=1)
        model.compile(optimizer="adam", steps_per_execution=2)
        losses.append(model.fit(ds, epochs=2, verbose=0, callbacks=callbacks).history["loss"])
    assert seen and all(shape == (4, 6) for shape in seen)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)


def test_predict_traces_once_until_the_next_compile(tiny_model, rng):
    """With `steps_per_execution` > 1, `predict` runs one window an execution: that function is kept
    between calls (it was traced again at every call, seconds each) and goes with a new `compile`.
    A `fit` between two calls does not make it stale: its outputs follow the trained weights."""
    ds = stream_dataset(rng.integers(0, 10, 61).astype(np.int32), 2, 6)
    model = tiny_model(layers=1)
    model.compile(optimizer="adam", steps_per_execution=4)
    first = model.predict(ds, verbose=0)
    function = model.__dict__["_one_window_predict"][1]
    traces = function.experimental_get_tracing_count()  # the whole windows and the shorter last one
    assert 1 <= traces <= 2 and model.steps_per_execution == 4
    np.testing.assert_array_equal(model.predict(ds, verbose=0), first)
    model.fit(ds, epochs=1, verbose=0)
    trained = model.predict(ds, verbose=0)
    assert model.__dict__["_one_window_predict"][1] is function
    assert function.experimental_get_tracing_count() == traces
    model.steps_per_execution = 1  # the reference: Keras's own one-window predict, traced afresh
    model.predict_function = None
    np.testing.assert_allclose(model.predict(ds, verbose=0), trained, rtol=1e-6)
    assert not np.allclose(trained, first)
    model.compile(optimizer="adam", steps_per_execution=4)
    model.predict(ds, verbose=0)
    assert model.__dict__["_one_window_predict"][1] is not function


@pytest.mark.parametrize("cls", [LightRNNModel, FullSoftmaxLSTM])
@pytest.mark.parametrize("kwargs, named", [({"vocab_size": 0}, "vocab_size"), ({"vocab_size": 10.5}, "vocab_size"),
                                           ({"vocab_size": 1}, "vocab_size"), ({"embedding_dim": 0}, "embedding_dim"),
                                           ({"hidden_dim": -1}, "hidden_dim"), ({"dropout": 1.0}, "dropout")])
def test_bad_constructor_arguments_are_named(cls, kwargs, named):
    """An embedding_dim of 0 used to abort the process inside oneDNN at the first fit."""
    with pytest.raises(ValueError, match=rf"^Received an invalid value for `{named}`"):
        cls(**{"vocab_size": 12, **kwargs})
