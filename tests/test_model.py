"""LightRNNModel: perplexity, serialization, and model.fit against the custom loop."""

import math

import keras
import numpy as np

from lightrnn_tf.data import stream_dataset
from lightrnn_tf.model import LightRNNModel
from lightrnn_tf.table import WordTable
from lightrnn_tf.train import Trainer, evaluate_stream
from lightrnn_tf.config import ModelConfig, TrainConfig
from numpy_reference import NumpyLightRNN


def test_perplexity_equals_numpy_exp_mean_nll(tiny_model, rng):
    model = tiny_model(layers=1)
    ids = rng.integers(0, 10, 41).astype(np.int32)
    ppl, n = evaluate_stream(model, ids, batch_size=2, bptt=6)
    # NumPy: two rows of 20 tokens; each row's first token starts the state, the rest are targets.
    data = ids[:40].reshape(2, 20)
    ref = NumpyLightRNN(model)
    logp = ref.stream_log_probs(data[:, 0], data[:, 1:])
    assert n == logp.size == 38
    assert math.isclose(ppl, math.exp(-logp.mean()), rel_tol=1e-5)


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


def test_fit_and_custom_loop_agree_on_one_batch(tmp_path, rng):
    ids = rng.integers(0, 12, 200).astype(np.int32)
    batch = next(iter(stream_dataset(ids, batch_size=4, bptt=8)))
    cfg = ModelConfig(vocab_size=12, rows=4, cols=3, embedding_dim=8, hidden_dim=8, num_layers=2, dropout=0.0)

    trainer = Trainer(cfg, TrainConfig(out=str(tmp_path / "run"), learning_rate=0.01, seed=3))
    initial = [w.numpy() for w in trainer.model.weights]
    loss_loop, _ = trainer.first_step(*batch)

    keras.utils.set_random_seed(3)
    fit_model = LightRNNModel.from_model_config(cfg, table_seed=3)
    fit_model.set_weights(initial)
    fit_model.compile(optimizer=keras.optimizers.Adam(0.01, global_clipnorm=1.0))
    history = fit_model.fit(stream_dataset(ids, 4, 8).take(1), epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], float(loss_loop), rtol=1e-5)
    np.testing.assert_allclose(history.history["perplexity"][0], math.exp(float(loss_loop)), rtol=1e-5)
    # ... and they took the same optimizer step.
    for a, b in zip(trainer.model.trainable_variables, fit_model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_fit_evaluate_reduce_loss(tiny_model, rng):
    ids = np.tile(np.arange(10, dtype=np.int32), 30)  # a cycle: perfectly predictable
    model = tiny_model(layers=1)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    before = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    model.fit(stream_dataset(ids, 4, 10), epochs=15, verbose=0)
    after = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    assert after < 0.5 * before
