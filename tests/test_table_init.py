"""`lightrnn_tf.table_init`: the context table against brute force, an SVD and a planted structure;
`--table-init` on the command line."""

import json
import os

import numpy as np
import pytest

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable
from lightrnn_tf.table_init import balanced_assignment, context_features, context_table, initial_table


def _serial_dictatorship(scores, capacity, priority):
    """Items in priority order (ties: lower index), each taking its best bin with room."""
    n, bins = scores.shape
    room, out = np.full(bins, capacity), np.empty(n, np.int64)
    for i in sorted(range(n), key=lambda i: (-priority[i], i)):
        s = np.where(room > 0, scores[i], -np.inf)
        out[i] = int(np.argmax(s))
        room[out[i]] -= 1
    return out


@pytest.mark.parametrize("n, bins, capacity", [(12, 4, 3), (30, 5, 7), (50, 7, 8), (1, 1, 1)])
def test_balanced_assignment_is_serial_dictatorship(n, bins, capacity):
    rng = np.random.default_rng(n)
    for _ in range(20):
        scores = rng.normal(size=(n, bins))
        priority = rng.integers(0, 5, n)  # ties broken by index
        got = balanced_assignment(scores.copy(), capacity, priority)
        np.testing.assert_array_equal(got, _serial_dictatorship(scores, capacity, priority))
        assert np.bincount(got, minlength=bins).max() <= capacity


def test_balanced_assignment_refuses_too_many_items():
    with pytest.raises(LightRNNError, match="13 items do not fit 4 bins of 3"):
        balanced_assignment(np.zeros((13, 4)), 3, np.zeros(13))


def test_context_features_are_the_top_principal_directions_of_the_hellinger_contexts():
    rng = np.random.default_rng(0)
    v, contexts, dim = 40, 10, 5
    ids = rng.zipf(1.3, 5000) % v
    words = np.arange(3, 33)
    got = context_features(ids, v, words, contexts=contexts, dim=dim)
    # Reference: the dense (word, left context) counts, Hellinger, centred, NumPy's SVD.
    m = np.zeros((len(words), contexts + 1))
    for prev, w in zip(ids[:-1], ids[1:]):
        if w in words:
            m[w - 3, min(prev, contexts)] += 1
    m = np.sqrt(m / np.maximum(m.sum(1, keepdims=True), 1))
    m -= m.mean(0)
    u, s, _ = np.linalg.svd(m, full_matrices=False)
    ref = u[:, :dim] * s[:dim]
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    signs = np.sign(np.sum(ref * got, axis=0))  # each direction is defined up to its sign
    np.testing.assert_allclose(got, ref * signs, atol=2e-4)


def _planted_stream(groups=8, size=8, tokens=30_000, seed=0):
    """Words w in group w // size; a word's group is fixed by the group of the word before it, the
    word within its group drawn uniformly: words of one group have the same left contexts."""
    rng = np.random.default_rng(seed)
    ids = np.empty(tokens, np.int64)
    g = 0
    for t in range(tokens):
        g = (3 * g + 1 + (t % 2) * rng.integers(0, 2)) % groups
        ids[t] = g * size + rng.integers(0, size)
    return ids, np.bincount(ids, minlength=groups * size)


def _planted_corpus(tmp_path, tokens):
    """`_planted_stream` written as a text file of 12-word lines ("w3 w17 ..."); returns its path
    and the lines."""
    ids, _ = _planted_stream(tokens=tokens)
    lines = [" ".join(f"w{i}" for i in ids[k:k + 12]) for k in range(0, len(ids), 12)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(lines) + "\n")
    return str(corpus), lines


def _purity(table, size):
    """Fraction of rows whose words all come from one group."""
    groups = [set(np.flatnonzero(table.word_row == r) // size) for r in range(table.rows)]
    return np.mean([len(g) == 1 for g in groups if g])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_context_table_puts_words_with_the_same_left_contexts_in_one_row(seed):
    ids, counts = _planted_stream(seed=seed)
    table = context_table(ids, counts, 8, 8, seed=seed)
    table.validate()
    assert _purity(table, 8) == 1.0
    assert _purity(WordTable.random(64, 8, 8, seed), 8) < 0.5  # what the test tells apart


def test_rare_words_take_the_leftover_cells_and_the_table_is_reproducible():
    ids, counts = _planted_stream(groups=8, size=8)
    rare = np.array([64, 65, 66])  # read once or twice
    ids = np.concatenate([ids, [64, 65, 66, 66]])
    counts = np.bincount(ids, minlength=67)
    table = context_table(ids, counts, 9, 8, seed=3)  # 72 cells, 67 words
    table.validate()
    assert _purity(WordTable(table.word_row[:64], table.word_col[:64], 9, 8), 8) == 1.0
    assert np.bincount(table.word_row, minlength=9).max() <= 8
    assert set(table.word_row[rare]) <= set(range(9))
    same = context_table(ids, counts, 9, 8, seed=3)
    np.testing.assert_array_equal(same.word_cell, table.word_cell)


def test_initial_table_names():
    ids, counts = _planted_stream()
    assert initial_table("random", ids, counts, 8, 8, 5).word_cell.tolist() == \
        WordTable.random(64, 8, 8, 5).word_cell.tolist()
    with pytest.raises(LightRNNError, match="unknown table init 'brown'; expected one of random, context"):
        initial_table("brown", ids, counts, 8, 8)
    with pytest.raises(LightRNNError, match="table 7x9 cannot hold 64 words"):
        context_table(ids, counts, 7, 9)


@pytest.mark.parametrize("init", ["context", "random"])
def test_cli_trains_from_the_table_init_names(tmp_path, init):
    """`--realloc-every 0`: the saved model holds exactly the initial table, computed here again
    from the run's own vocabulary and training ids."""
    from lightrnn_tf import train as train_cli
    from lightrnn_tf.data import split_lines
    from lightrnn_tf.rundir import load_run

    corpus, lines = _planted_corpus(tmp_path, tokens=6000)
    out = str(tmp_path / "run")
    assert train_cli.main(["--corpus", corpus, "--out", out, "--epochs", "1", "--realloc-every", "0",
                           "--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "4", "--bptt", "5",
                           "--table-init", init, "--seed", "11"]) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["train"]["table_init"] == init
    run = load_run(out)
    vocab, table = run.vocab, run.model.get_table()
    train_ids = vocab.encode_lines(split_lines(lines)[0], run.tokenizer)
    expected = initial_table(init, train_ids, vocab.counts, table.rows, table.cols, 11)
    np.testing.assert_array_equal(table.word_cell, expected.word_cell)


def test_a_config_written_before_table_init_resumes_with_the_random_table():
    from lightrnn_tf.config import ModelConfig, TrainConfig, from_json, to_json

    doc = json.loads(to_json(ModelConfig(), TrainConfig()))
    assert doc["train"].pop("table_init") == "context"
    _, train = from_json(json.dumps(doc))
    assert train.table_init == "random"


def test_resume_installs_the_initial_table_only_when_no_checkpoint_holds_one(tmp_path, monkeypatch, capsys):
    """A run killed before its first checkpoint (config.json and vocab.txt only) resumes from the
    initial table, as the run would have started; a run with a checkpoint restores the checkpoint's
    table and never computes the initial one (at |V| = 1M that costs tens of seconds)."""
    import shutil

    from lightrnn_tf import table_init
    from lightrnn_tf import train as train_cli
    from lightrnn_tf.rundir import CONFIG, VOCAB, load_run

    corpus, _ = _planted_corpus(tmp_path, tokens=2000)
    whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
    assert train_cli.main(["--corpus", corpus, "--out", whole, "--epochs", "1", "--realloc-every", "0",
                           "--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "8", "--bptt", "10",
                           "--seed", "11"]) == 0
    os.makedirs(killed)
    for name in (CONFIG, VOCAB):
        shutil.copy(os.path.join(whole, name), killed)
    assert train_cli.main(["--out", killed, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "no checkpoint in" in err and "initial table: context" in err
    table = load_run(whole).model.get_table()
    initial = table.word_cell
    np.testing.assert_array_equal(load_run(killed).model.get_table().word_cell, initial)
    random = WordTable.random(len(initial), table.rows, table.cols, 11)
    assert initial.tolist() != random.word_cell.tolist()  # it was the context table

    def refuse(*args, **kwargs):
        raise AssertionError("initial_table computed on a resume from a checkpoint")

    monkeypatch.setattr(table_init, "initial_table", refuse)
    assert train_cli.main(["--out", whole, "--resume", "--epochs", "2"]) == 0
    np.testing.assert_array_equal(load_run(whole).model.get_table().word_cell, initial)
