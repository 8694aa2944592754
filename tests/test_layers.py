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
