"""Tests of `export.predictor.NextWordPredictor`: no TensorFlow, tokenization, exact top-k, errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from export_fixtures import (TINY_HELD_OUT, files, keras_state, keras_stream_log_probs,  # noqa: E402,F401
                             ptb_files, ptb_run, ptb_test_text, run)

from lightrnn_tf.errors import LightRNNError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




@pytest.fixture(scope="module")
def predictor(files):
    from export.predictor import NextWordPredictor

    return NextWordPredictor(files["none"])


def _states(run):
    """Keras states along held-out text (start state included) -> list of (keras_state, exported_state)."""
    ids = [1] + list(run.vocab.encode_lines(TINY_HELD_OUT, run.tokenizer))
    state = run.model.start_state(np.array(ids[:1]))
    out = []
    for w in ids[1:]:
        out.append((state, keras_state(state).astype(np.float32)))
        state = run.model.feed_word(np.array([w]), state)
    return out


# === Runs without TensorFlow ===

def test_predictor_imports_no_tensorflow(files):
    code = (
        "import sys\n"
        "from export.predictor import NextWordPredictor\n"
        "import export.inspect, export.metadata, export.text\n"
        f"p = NextWordPredictor({files['dynamic']!r})\n"
        "print(p.suggest('the cat sat on', k=2)); print(p.perplexity('the cat sat on the mat .'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')\n"
        "             or m in ('lightrnn_tf.model', 'lightrnn_tf.layers', 'lightrnn_tf.data', 'lightrnn_tf.train'))\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# === Tokenization ===

TEXTS = [
    "The cat's mat, isn't it?  Yes!!",
    "U.S. stocks fell 2.5% -- the <unk> index's worst day since 1987...",
    "Ünïcödé wörds — and “quotes” & dashes – ok",
    "tabs\tand   spaces\u00a0nbsp",
    "<UNK> <eos> <foo bar> <b>bold</b>",
    "",
]


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("split_punct", [False, True])
def test_tokenization_matches_training(lowercase, split_punct):
    from export.text import TextEncoder
    from lightrnn_tf.data import PUNCT_RE, Tokenizer, Vocabulary

    tok = Tokenizer(lowercase=lowercase, split_punct=split_punct)
    vocab = Vocabulary.build(tok, TEXTS[:2])
    enc = TextEncoder({"tokenizer": {"lowercase": lowercase, "split_punct": split_punct,
                                     "split_punct_pattern": PUNCT_RE.pattern},
                       "vocab": vocab.words, "special_tokens": {"<unk>": 0, "<eos>": 1}})
    for text in TEXTS:
        assert enc.tokenize(text) == tok(text)
    text = "\n".join(TEXTS)
    assert enc.encode_lines(text) == list(vocab.encode_lines([ln for ln in text.splitlines() if ln.strip()], tok))


def test_golden_tokenization(predictor):
    # the fixture model lowercases and splits punctuation
    assert predictor.text.tokenize("It's the Cat's mat, isn't it? <unk>!") == [
        "it's", "the", "cat's", "mat", ",", "isn't", "it", "?", "<unk>", "!"]
    unk, eos = predictor.text.unk_id, predictor.text.eos_id
    ids = predictor.encode("The cat zebra.\nA dog")
    words = predictor.text.decode(ids)
    assert words == ["the", "cat", "<unk>", ".", "<eos>", "a", "dog", "<eos>"] and ids[2] == unk
    assert predictor.text.encode_context("The cat\nA") == [eos] + ids[:2] + [eos] + ids[5:6]
    assert predictor.text.encode_context("The cat\n") == [eos] + ids[:2] + [eos]


# === Exact top-k and distributions ===

def test_exact_top_k_matches_numpy(files, run):
    from export.predictor import NextWordPredictor

    for path in (files["none"], files["narrow"]):  # narrow: one row a step, so `expand` must run
        p = NextWordPredictor(path)
        for kstate, state in _states(run)[:15]:
            full = np.asarray(run.model.next_word_log_probs(kstate))[0]
            ref = np.argsort(-full, kind="stable")
            for k in range(1, p.max_k + 1):
                ids, lps = p.top_k(state, k)
                np.testing.assert_array_equal(ids, ref[:k])
                np.testing.assert_allclose(lps, full[ref[:k]], atol=1e-5)
            ids, lps = p._exact_top_k(state, p.vocab_size)  # beyond max_k: the whole vocabulary
            np.testing.assert_array_equal(ids, ref)
        if path == files["narrow"]:
            assert p.stats["expand_calls"] > p.stats["top_k_calls"]


def test_full_log_probs_match_keras(predictor, run):
    for kstate, state in _states(run)[:5]:
        full = np.asarray(run.model.next_word_log_probs(kstate))[0]
        got = predictor.log_probs(state)
        np.testing.assert_allclose(got, full, atol=1e-5)
        assert abs(np.logaddexp.reduce(got.astype(np.float64))) < 1e-4


def test_perplexity_and_stream_match_keras_on_ptb_slice(ptb_files, ptb_run):
    from export.predictor import NextWordPredictor

    predictor, run = NextWordPredictor(ptb_files["none"]), ptb_run
    text = ptb_test_text(run, 2)
    ids = [1] + list(run.vocab.encode_lines(text.splitlines(), run.tokenizer))
    ref = keras_stream_log_probs(run.model, ids)
    np.testing.assert_allclose(predictor.stream_log_probs(ids), ref, atol=1e-5)
    assert predictor.perplexity(text) == pytest.approx(np.exp(-ref.mean()), rel=1e-5)


def test_suggest(predictor, run):
    text = "The cat sat on the"
    got = predictor.suggest(text, k=3)
    ids = [1] + list(run.vocab.encode(run.tokenizer(text)))
    state = run.model.start_state(np.array(ids[:1]))
    for w in ids[1:]:
        state = run.model.feed_word(np.array([w]), state)
    full = np.array(run.model.next_word_log_probs(state))[0]
    full[[0, 1]] = -np.inf  # <unk>, <eos> skipped
    ref = np.argsort(-full)[:3]
    assert [w for w, _ in got] == run.vocab.decode(ref)
    np.testing.assert_allclose([lp for _, lp in got], full[ref], atol=1e-5)
    with_special = predictor.suggest(text, k=3, skip_special=False)
    assert len(with_special) == 3 and with_special[0][1] >= got[0][1]


def test_unknown_words_map_to_unk(predictor):
    a = predictor.state_for("the zyzzyva quux")
    b = predictor.state_for("the <unk> <unk>")
    np.testing.assert_array_equal(a, b)


# === Errors ===

def test_empty_text_errors(predictor):
    from export.predictor import EmptyTextError

    for call in (lambda: predictor.perplexity(""), lambda: predictor.perplexity(" \n\t"),
                 lambda: predictor.suggest("   ")):
        with pytest.raises(EmptyTextError, match="^empty text: ") as info:
            call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, LightRNNError)
        assert "\n" not in str(info.value)


def test_bad_k(predictor):
    with pytest.raises(LightRNNError, match=r"expected 1 <= k <= 6"):
        predictor.suggest("the cat", k=7)
    with pytest.raises(LightRNNError, match=r"got 0"):
        predictor.top_k(predictor.start_state(), 0)


def test_model_file_errors(tmp_path, files):
    from export.baseline_graph import convert_baseline
    from export.predictor import NextWordPredictor
    from lightrnn_tf.baselines import FullSoftmaxLSTM

    with pytest.raises(LightRNNError, match="^model file not found: "):
        NextWordPredictor(str(tmp_path / "missing.tflite"))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(LightRNNError, match="is not a TFLite model"):
        NextWordPredictor(str(junk))
    bare = tmp_path / "bare.tflite"  # a valid .tflite without LightRNN metadata
    bare.write_bytes(convert_baseline(FullSoftmaxLSTM(12, 4, 4, dropout=0.0), max_k=3))
    with pytest.raises(LightRNNError, match=r"has no LightRNN metadata \(was it written by `python -m export`\?\)"):
        NextWordPredictor(str(bare))
    with open(files["none"], "rb") as f:  # metadata present, appended zip broken (no end record)
        data = f.read()
    cut = tmp_path / "cut.tflite"  # an incomplete download: the zip's end is missing
    cut.write_bytes(data[:-22])
    with pytest.raises(LightRNNError, match=r"cut.tflite is truncated or corrupt: the vocabulary \(vocab.txt\)"):
        NextWordPredictor(str(cut))
    stripped = tmp_path / "stripped.tflite"  # the zip removed whole
    stripped.write_bytes(data[:data.rfind(b"PK\x03\x04")])
    with pytest.raises(LightRNNError, match="vocab.txt is missing"):
        NextWordPredictor(str(stripped))
    half = tmp_path / "half.tflite"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(LightRNNError, match=r"half.tflite is truncated or corrupt"):
        NextWordPredictor(str(half))


def test_inspect_errors(tmp_path, capsys):
    from export.inspect import main

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    assert main([str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a TFLite model" in err and err.count("\n") == 1


# === Exact top-k: the bound (audit P1) ===

def test_exact_top_k_matches_brute_force_on_hundreds_of_random_states(files):
    """On the narrow export (one row expanded per step, so the bound decides when to stop), `top_k`
    equals a brute-force ranking of the full distribution (`log_probs`, every row expanded) for 300
    random states and every k <= max_k, and for k = V (expanded from scratch): the loop may stop
    only once the k-th candidate reaches the best unexpanded row's score, not a lower one."""
    from export.predictor import NextWordPredictor

    p = NextWordPredictor(files["narrow"])
    assert p.expand_rows == 1
    rng = np.random.default_rng(0)
    expands_before = p.stats["expand_calls"]
    for n in range(300):
        scale = (0.5, 1.5, 3.0)[n % 3]
        state = (scale * rng.standard_normal(p.state_shape)).astype(np.float32)
        full = p.log_probs(state).astype(np.float64)
        ref = np.argsort(-full, kind="stable")
        gaps = np.abs(np.diff(full[ref]))
        for k in list(range(1, p.max_k + 1)) + [p.vocab_size]:
            ids, lps = p.top_k(state, k) if k <= p.max_k else p._exact_top_k(state, k)
            np.testing.assert_allclose(lps, full[ref[:k]], atol=1e-5, err_msg=f"state {n}, k {k}")
            if np.all(gaps[: k] > 1e-5):  # no near-tie at the cut: the words themselves agree
                np.testing.assert_array_equal(ids, ref[:k], err_msg=f"state {n}, k {k}")
    assert p.stats["expand_calls"] > expands_before


def _stub_predictor(row_order, row_probs, col_probs, max_k=3, expand_rows=1):
    """A `NextWordPredictor` whose `top_k` and `expand` signatures are NumPy stubs of a hand-made
    table: word `r * C + c` sits in row r, column c; `row_probs[j]` is the probability of row
    `row_order[j]`; `col_probs[r]` the column distribution of row r. Returns `(predictor, full)`,
    `full` the words' log-probs."""
    from export.predictor import NextWordPredictor

    row_order = np.asarray(row_order, np.int32)
    rows, cols = len(row_order), len(col_probs[0])
    row_lp = np.zeros(rows)
    row_lp[row_order] = np.log(row_probs)
    full = (row_lp[:, None] + np.log(np.asarray(col_probs, np.float64))).ravel()  # word r * C + c

    def expand(state, rows):
        words = np.asarray(rows, np.int32)[:, None] * cols + np.arange(cols, dtype=np.int32)
        return {"words": words, "log_probs": full[words].astype(np.float32)}

    def top_k(state):
        ex = expand(state, row_order[:expand_rows])
        words, lps = ex["words"].ravel(), ex["log_probs"].ravel()
        best = np.argsort(-lps, kind="stable")[:max_k]
        return {"row_order": row_order, "row_log_probs": row_lp[row_order].astype(np.float32),
                "words": words[best], "log_probs": lps[best]}

    p = NextWordPredictor.__new__(NextWordPredictor)  # no model file: the stubs are the graph
    p.max_k, p.expand_rows, p.rows, p.cols, p.vocab_size = max_k, expand_rows, rows, cols, rows * cols
    p.stats = {"top_k_calls": 0, "expand_calls": 0}
    p._run = {"top_k": top_k, "expand": expand}
    return p, full


def test_exact_top_k_expands_the_row_whose_score_beats_the_candidates():
    """R = 4, C = 3, one row expanded at a time, rows of probabilities .40, .38, .12, .10 (in that
    order of score, stored as rows 2, 0, 3, 1), and the .38 row holding one word of .98: the top
    row's best word (.40 x .34 = .136) is below the next row's score .38, so that row must be
    expanded (its word scores .3724) and the loop then stops, at the .12 row. Stopping against the
    score of the row after the next one (.12) would return .136 as the best word."""
    row_order = [2, 0, 3, 1]
    col_probs = np.zeros((4, 3))
    col_probs[2] = [.34, .33, .33]  # row of .40
    col_probs[0] = [.01, .98, .01]  # row of .38: word 0 * 3 + 1 = 1 scores .3724
    col_probs[3] = [.5, .3, .2]  # row of .12
    col_probs[1] = [.4, .4, .2]  # row of .10
    p, full = _stub_predictor(row_order, [.40, .38, .12, .10], col_probs)
    ref = np.argsort(-full, kind="stable")
    for k in (1, 2, 3):
        before = p.stats["expand_calls"]
        ids, lps = p.top_k(np.zeros((1, 2, 4), np.float32), k)
        np.testing.assert_array_equal(ids, ref[:k], err_msg=f"k {k}")
        np.testing.assert_allclose(lps, full[ref[:k]], rtol=1e-6)
        assert p.stats["expand_calls"] - before == 1, k  # exactly the .38 row: the .12 row is not needed
    assert ids[0] == 1 and np.exp(lps[0]) == pytest.approx(.38 * .98, rel=1e-6)
    ids, lps = p._exact_top_k(np.zeros((1, 2, 4), np.float32), 12)  # every word, from scratch
    np.testing.assert_array_equal(ids, ref)
