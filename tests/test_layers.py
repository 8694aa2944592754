"""Layer and model math against the NumPy reference in numpy_reference.py."""

import numpy as np
import pytest

from lightrnn_tf.layers import TwoComponentEmbedding, TwoStageSoftmax
from lightrnn_tf.table import WordTable
from numpy_reference import NumpyLightRNN, log_softmax


def test_log_probs_match_numpy_reference(tiny_model, rng):
    model = tiny_model(layers=2)
    ref = NumpyLightRNN(model)
    x0 = rng.integers(0, 10, 3)
    y = rng.integers(0, 10, (3, 7))
    got = model((np.stack([x0] + [y[:, t] for t in range(6)], 1), y)).numpy()
    want = ref.stream_log_probs(x0, y)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_empty_cells_get_no_probability_and_words_sum_to_one(tiny_model, rng):
    model = tiny_model()  # V=10 in 4x3: two empty cells
    assert model.rows * model.cols > model.vocab_size
    state = model.start_state(rng.integers(0, 10, 4))
    logp = model.next_word_log_probs(state).numpy()  # (4, V)
    np.testing.assert_allclose(np.exp(logp.astype(np.float64)).sum(axis=1), 1.0, atol=1e-5)
    ref = NumpyLightRNN(model)
    ref_state = [(h.numpy().astype(np.float64), c.numpy().astype(np.float64)) for h, c in state]
    np.testing.assert_allclose(logp, ref.all_word_log_probs(ref_state), atol=1e-5)
    # The column softmax of a row with an empty cell puts exactly zero mass there.
    table = model.get_table()
    empty_r, empty_c = np.argwhere(~table.occupied)[0]
    h = np.random.default_rng(1).normal(size=(1, model.hidden_dim)).astype(np.float32)
    col_lp = model.softmax.col_log_probs(h, model.embedding.column_mask(np.array([empty_r]))).numpy()
    assert np.exp(col_lp[0, empty_c]) == 0.0
    np.testing.assert_allclose(np.exp(col_lp[0]).sum(), 1.0, atol=1e-6)


@pytest.mark.parametrize("vocab_size, rows, cols", [(10, 4, 4), (5, 3, 3), (6, 4, 2)])
def test_empty_rows_get_no_probability(tiny_model, rng, vocab_size, rows, cols):
    """R*C - V >= C leaves whole rows empty (a sequential table fills rows in order)."""
    model = tiny_model(vocab_size=vocab_size, rows=rows, cols=cols)
    model.set_table(WordTable.sequential(vocab_size, rows, cols))
    assert not model.get_table().occupied.any(axis=1).all()
    state = model.start_state(rng.integers(0, vocab_size, 3))
    logp = model.next_word_log_probs(state).numpy().astype(np.float64)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-5)
    ref_state = [(h.numpy().astype(np.float64), c.numpy().astype(np.float64)) for h, c in state]
    np.testing.assert_allclose(logp, NumpyLightRNN(model).all_word_log_probs(ref_state), atol=1e-5)
    # ... and the sequence path (training, evaluation) gives the same log-probs.
    y = rng.integers(0, vocab_size, (3, 1))
    lp, _ = model.target_log_probs(y, state)
    np.testing.assert_allclose(lp.numpy()[:, 0], logp[np.arange(3), y[:, 0]], atol=1e-5)


def test_two_component_embedding_looks_up_through_the_table():
    emb = TwoComponentEmbedding(vocab_size=5, rows=2, cols=3, embedding_dim=4)
    emb.build()
    table = WordTable.from_cells([5, 0, 3, 1, 4], 2, 3)
    emb.assign_table(table)
    row_vec, col_vec = emb(np.array([[0, 2]]))
    np.testing.assert_array_equal(row_vec.numpy()[0], emb.row_embeddings.numpy()[[1, 1]])
    np.testing.assert_array_equal(col_vec.numpy()[0], emb.col_embeddings.numpy()[[2, 0]])
    np.testing.assert_array_equal(emb.cell_occupied.numpy(), table.occupied.astype(np.float32))
    with pytest.raises(ValueError, match="V=5, 3x3"):
        emb.assign_table(WordTable.sequential(5, 3, 3))


def test_two_stage_softmax_is_row_then_masked_column_log_softmax(rng):
    layer = TwoStageSoftmax(rows=3, cols=4)
    h_r = rng.normal(size=(2, 5)).astype(np.float32)
    h_c = rng.normal(size=(2, 5)).astype(np.float32)
    mask = np.array([[0, 0, -1e9, 0], [0, 0, 0, 0]], np.float32)
    row_mask = np.array([0, -1e9, 0], np.float32)
    row_lp, col_lp = layer(h_r, h_c, mask, row_mask)
    Wr, br = layer.row_head.kernel.numpy(), layer.row_head.bias.numpy()
    Wc, bc = layer.col_head.kernel.numpy(), layer.col_head.bias.numpy()
    np.testing.assert_allclose(row_lp, log_softmax(h_r @ Wr + br + row_mask), atol=1e-6)
    assert np.all(np.exp(row_lp.numpy()[:, 1]) == 0.0)
    np.testing.assert_allclose(col_lp, log_softmax(h_c @ Wc + bc + mask), atol=1e-6)


def test_sequence_path_equals_single_steps(tiny_model, rng):
    model = tiny_model(layers=2)
    x0 = rng.integers(0, 10, 2)
    y = rng.integers(0, 10, (2, 5))
    state = model.start_state(x0)
    row_t, col_t, final = model.target_log_prob_parts(y, state)
    s = state
    for t in range(5):
        full = model.next_word_log_probs(s).numpy()
        np.testing.assert_allclose(full[np.arange(2), y[:, t]], (row_t + col_t).numpy()[:, t], atol=1e-5)
        s = model.feed_word(y[:, t], s)
    for (h1, c1), (h2, c2) in zip(final, s):
        np.testing.assert_allclose(h1, h2, atol=1e-5)
        np.testing.assert_allclose(c1, c2, atol=1e-5)


def test_carried_vectors_are_the_weighted_means_of_the_moved_words_vectors(rng):
    """Brute force: slot n gets sum_w weight[w] * old[before[w]] / sum_w weight[w] over the words
    that now sit in n; slots that receive no weight keep their vectors; and it is the least-squares
    choice (any other vectors change the weighted inputs more)."""
    from lightrnn_tf.layers import carried_vectors

    vectors = rng.normal(size=(6, 3))
    before = rng.integers(0, 6, 40)
    after = rng.integers(0, 5, 40)  # slot 5 receives nothing
    weights = rng.integers(0, 4, 40).astype(float)
    weights[after == 4] = 0.0  # slot 4 receives only weightless words
    got = carried_vectors(vectors, before, after, weights)
    for n in range(6):
        words = [w for w in range(40) if after[w] == n]
        total = sum(weights[w] for w in words)
        want = sum(weights[w] * vectors[before[w]] for w in words) / total if total else vectors[n]
        np.testing.assert_allclose(got[n], want, atol=1e-12)

    def change(new):
        return sum(weights[w] * np.sum((new[after[w]] - vectors[before[w]]) ** 2) for w in range(40))

    for _ in range(5):
        assert change(got) < change(got + 0.01 * rng.normal(size=got.shape))


def test_assign_table_carries_row_and_column_vectors_with_the_words(rng):
    emb = TwoComponentEmbedding(vocab_size=5, rows=2, cols=3, embedding_dim=4)
    emb.build()
    start = WordTable.from_cells([0, 1, 2, 3, 4], 2, 3)
    emb.assign_table(start)
    row0, col0 = emb.row_embeddings.numpy().copy(), emb.col_embeddings.numpy().copy()
    weights = np.array([1.0, 3.0, 0.0, 2.0, 5.0])
    new = WordTable.from_cells([4, 3, 0, 1, 2], 2, 3)  # rows: [1, 1, 0, 0, 0]; cols: [1, 0, 0, 1, 2]
    emb.assign_table(new, carry_weights=weights)
    np.testing.assert_array_equal(emb.get_table().word_cell, new.word_cell)
    # New row 0 holds words 2 (weight 0, was row 0), 3 (2, row 1), 4 (5, row 1) -> old row 1.
    # New row 1 holds words 0 (1, row 0), 1 (3, row 0) -> old row 0.
    np.testing.assert_allclose(emb.row_embeddings.numpy(), row0[[1, 0]], atol=1e-6)
    # New col 0: words 1 (3, col 1), 2 (0, col 2); col 1: words 0 (1, col 0), 3 (2, col 0); col 2: word 4 (col 1).
    np.testing.assert_allclose(emb.col_embeddings.numpy(), col0[[1, 0, 1]], atol=1e-6)
    # Without weights the vectors stay.
    emb.assign_table(start)
    np.testing.assert_allclose(emb.col_embeddings.numpy(), col0[[1, 0, 1]], atol=1e-6)
    with pytest.raises(ValueError, match="carry_weights"):
        emb.assign_table(new, carry_weights=-weights)


def _numpy_lstm_stack(weights, seq, recurrent_kernels):
    """`seq (B, S, E)` through LSTM layers `(K, U, b)` from the zero state, each layer's U replaced."""
    x = np.asarray(seq, np.float64)
    for (K, _, bias), U in zip(weights, recurrent_kernels):
        h = c = np.zeros((x.shape[0], K.shape[1] // 4))
        out = []
        for t in range(x.shape[1]):
            i, f, g, o = np.split(x[:, t] @ K + h @ U + bias, 4, axis=-1)
            c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(g)
            h = 1 / (1 + np.exp(-o)) * np.tanh(c)
            out.append(h)
        x = np.stack(out, 1)
    return x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lstm_sequence_gradients_equal_automatic_differentiation(rng, dtype):
    """The hand-written backward pass of `lstm_sequence` against `tf.GradientTape` through a plain
    unrolled loop of the same cell, with loss weights on every h and every c (so the carried-state
    gradients, dh0 and dc0 included, are all exercised); the forward pass against NumPy."""
    import tensorflow as tf

    from lightrnn_tf.model import lstm_sequence

    S, B, H = 7, 3, 5
    xw, w_h, w_c = (tf.constant(rng.normal(size=(S, B, 4 * H)), dtype) for _ in range(3))
    h0, c0 = (tf.constant(rng.normal(size=(B, H)) * 0.5, dtype) for _ in range(2))
    u = tf.constant(rng.normal(size=(H, 4 * H)) * 0.5, dtype)
    w_h, w_c = w_h[..., :H], w_c[..., :H]

    def reference(xw, h0, c0, u):
        h, c, hs, cs = h0, c0, [], []
        for t in range(S):
            i, f, g, o = tf.split(xw[t] + h @ u, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            hs.append(h)
            cs.append(c)
        return tf.stack(hs), tf.stack(cs)

    def loss_and_grads(fn):
        args = [xw, h0, c0, u]
        with tf.GradientTape() as tape:
            tape.watch(args)
            hs, cs = fn(*args)
            loss = tf.reduce_sum(hs * w_h) + tf.reduce_sum(cs * w_c)
        return hs, cs, tape.gradient(loss, args)

    hs, cs, grads = loss_and_grads(lstm_sequence)
    ref_hs, ref_cs, ref_grads = loss_and_grads(reference)
    tol = 1e-10 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(hs.numpy(), ref_hs.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(cs.numpy(), ref_cs.numpy(), rtol=tol, atol=tol)
    for name, got, want in zip(["xw", "h0", "c0", "recurrent"], grads, ref_grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol, err_msg=name)
    u64 = np.asarray(u, np.float64)  # from h0 = c0 = 0 the forward pass is the NumPy LSTM's (K = I, b = 0)
    np.testing.assert_allclose(
        lstm_sequence(xw, tf.zeros_like(h0), tf.zeros_like(c0), u)[0].numpy().transpose(1, 0, 2),
        _numpy_lstm_stack([(np.eye(4 * H), u64, np.zeros(4 * H))], np.asarray(xw).transpose(1, 0, 2), [u64]),
        rtol=tol, atol=tol)


def test_weight_drop_masks_each_recurrent_kernel_once_per_window_and_only_while_training(tiny_model, rng):
    """DropConnect on U: the scan equals a NumPy LSTM run with the dropped kernels it drew (zeros or
    U / (1 - p), about p of them zero, a new mask per layer); in inference U is untouched."""
    import keras

    from lightrnn_tf.model import make_weight_dropout, run_lstm_stack

    model = tiny_model(layers=2)
    weights = [tuple(np.asarray(w.numpy(), np.float64) for w in (l.cell.kernel, l.cell.recurrent_kernel, l.cell.bias))
               for l in model.lstms]
    seq = rng.normal(size=(3, 6, 8)).astype(np.float32)
    no_dropout = keras.layers.Dropout(0.0)
    layer, drawn = make_weight_dropout(0.5), []

    def spy(kernel, training):
        out = layer(kernel, training=training)
        drawn.append(np.asarray(out.numpy(), np.float64))
        return out

    out, _ = run_lstm_stack(model.lstms, no_dropout, seq, model.zero_state(3), training=True, weight_dropout=spy)
    assert len(drawn) == 2
    for (_, U, _), dropped in zip(weights, drawn):
        kept = dropped != 0
        np.testing.assert_allclose(dropped[kept], 2.0 * U[kept], rtol=1e-6)
        assert 0.35 < 1 - kept.mean() < 0.65
    assert not np.array_equal(drawn[0] != 0, drawn[1] != 0)
    np.testing.assert_allclose(out.numpy(), _numpy_lstm_stack(weights, seq, drawn), atol=1e-5)

    drawn.clear()
    out, _ = run_lstm_stack(model.lstms, no_dropout, seq, model.zero_state(3), training=False, weight_dropout=spy)
    assert drawn == []
    np.testing.assert_allclose(out.numpy(), _numpy_lstm_stack(weights, seq, [w[1] for w in weights]), atol=1e-5)
    with pytest.raises(ValueError, match="weight_drop"):
        make_weight_dropout(1.0)


@pytest.mark.parametrize("name", ["lightrnn", "full_softmax"])
def test_weight_drop_changes_training_windows_only_and_survives_saving(name, rng, tmp_path):
    import keras

    from lightrnn_tf.baselines import FullSoftmaxLSTM
    from lightrnn_tf.model import LightRNNModel

    def make(weight_drop):
        keras.utils.set_random_seed(0)
        if name == "lightrnn":
            return LightRNNModel(10, 4, 3, embedding_dim=8, hidden_dim=8, dropout=0.0, weight_drop=weight_drop)
        return FullSoftmaxLSTM(10, embedding_dim=8, hidden_dim=8, dropout=0.0, weight_drop=weight_drop)

    plain, dropped = make(0.0), make(0.5)
    assert plain.weight_dropout is None and len(dropped.variables) == len(plain.variables) + 1  # its RNG state
    x, y = rng.integers(0, 10, (2, 5)), rng.integers(0, 10, (2, 5))
    np.testing.assert_allclose(dropped((x, y), training=False), plain((x, y), training=False), atol=1e-6)
    assert not np.allclose(dropped((x, y), training=True), plain((x, y), training=True), atol=1e-4)
    before = dropped.weight_dropout.seed_generator.state.numpy().copy()
    from lightrnn_tf.data import stream_dataset

    dropped.compile(optimizer="adam")
    dropped.fit(stream_dataset(rng.integers(0, 10, 60).astype(np.int32), 2, 5), epochs=1, verbose=0)
    assert not np.array_equal(before, dropped.weight_dropout.seed_generator.state.numpy())  # fit drew masks
    dropped.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.weight_drop == 0.5 and loaded.get_config()["weight_drop"] == 0.5
