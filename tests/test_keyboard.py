"""Tests of `export.keyboard`: exact next-word and completion top-k against a brute-force NumPy ranking."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from export_fixtures import PTB_TEST, TINY_TEXT, files, ptb_lines  # noqa: E402,F401


def brute_force(predictor, state, prefix, k, special):
    """Top-k ids of the full distribution among words starting with `prefix`, specials removed."""
    lps = predictor.log_probs(state).astype(np.float64)
    ok = np.array([w.startswith(prefix) and i not in special for i, w in enumerate(predictor.words)])
    ids = np.flatnonzero(ok)
    order = np.lexsort((ids, -lps[ids]))[:k]
    return ids[order], lps[ids[order]]


@pytest.fixture(scope="module", params=["none", "narrow", "dynamic"])
def kb(request, files):
    from export.keyboard import KeyboardPredictor

    return KeyboardPredictor(files[request.param])


def typed_texts():
    """Every prefix (character by character) of a few lines: next-word and completion positions."""
    out = []
    for line in TINY_TEXT[:4] + ["Unknownword the c", "dogs and CATS d"]:
        for j in range(len(line) + 1):
            out.append(line[:j])
    return out


def test_split_typed(files):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])  # lowercase, split_punct
    enc = kb.text
    ids, partial = kb.split_typed("The cat sa")
    assert partial == "sa" and list(ids) == enc.encode_context("The cat ")
    ids, partial = kb.split_typed("The cat ")
    assert partial == "" and list(ids) == enc.encode_context("The cat ")
    ids, partial = kb.split_typed("")
    assert partial == "" and list(ids) == [enc.eos_id]
    ids, partial = kb.split_typed("The Cat,")  # split_punct: the comma is the token being typed
    assert partial == "," and list(ids) == enc.encode_context("the cat ")
    ids, partial = kb.split_typed("Done.\nA")  # a finished line ends with <eos>
    assert partial == "a" and list(ids) == enc.encode_context("done.\n")
    assert list(kb.split_typed("Zzzz q")[0]) == [enc.eos_id, enc.unk_id]  # unknown typed word -> <unk>


def test_suggestions_equal_brute_force(kb):
    special = {kb.text.unk_id, kb.text.eos_id}
    checked = {"next": 0, "complete": 0, "empty": 0}
    for text in typed_texts():
        ids, lps, partial = kb.suggest_ids(text, k=3)
        ctx_ids, _ = kb.split_typed(text)
        state = kb.context(ctx_ids).state
        ref_ids, ref_lps = brute_force(kb.predictor, state, partial, 3, special)
        np.testing.assert_allclose(lps, ref_lps, atol=1e-5, err_msg=text)
        gaps = np.diff(ref_lps)
        if len(gaps) == 0 or np.min(np.abs(gaps)) > 1e-5:  # no near-ties: the words themselves agree
            assert list(ids) == list(ref_ids), text
        assert not set(int(i) for i in ids) & special
        assert all(kb.words[int(i)].startswith(partial) for i in ids)
        checked["complete" if partial else "next"] += 1
        checked["empty"] += len(ids) == 0
    assert checked["next"] > 10 and checked["complete"] > 50


def test_completion_expands_only_matching_rows(files):
    """Exact with early stopping: the rows a completion expands all hold a matching word, and a
    prefix whose words share one row expands just that row."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["narrow"])  # expand_rows 1: one row per expand call
    ctx = kb.context(kb.split_typed("the cat ")[0])
    word = next(w for w in kb.words if w.isalpha() and len(w) > 3)
    before = kb.stats["expand"]
    ids, _ = kb.complete(ctx, word, k=3)
    assert kb.words[int(ids[0])] == word
    rows_with_match = {int(kb.word_row[i]) for i in kb.index.matching(word)}
    assert set(ctx.rows) == rows_with_match
    assert kb.stats["expand"] - before == len(rows_with_match)
    again = kb.stats["expand"]
    kb.complete(ctx, word, k=3)  # cached rows: no new expand
    assert kb.stats["expand"] == again


def test_state_cache_costs_one_feed_per_word(files):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    line = "the cat sat on the mat"
    feeds = []
    for j in range(len(line) + 1):
        before = kb.stats["feed"]
        kb.suggest(line[:j])
        feeds.append(kb.stats["feed"] - before)
    assert sum(feeds) == line.count(" ")  # one feed per committed word (start state not counted)
    assert max(feeds) == 1
    # the cached state equals a from-scratch state
    ids, _ = kb.split_typed(line + " ")
    np.testing.assert_allclose(kb.context(ids).state, kb.predictor.state_for(line + " "), atol=1e-6)


def test_accept_replaces_partial_word(files):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    assert kb.accept("The ca", "cat") == "The cat "
    assert kb.accept("The ", "cat") == "The cat "
    assert kb.accept("", "the") == "the "


def test_unknown_prefix_gives_no_suggestion(files):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    assert kb.suggest("the qqqx") == []
    assert "<unk>" not in kb.suggest("the <") and "<eos>" not in kb.suggest("the <")


def test_real_ptb_prefixes_equal_brute_force(files, data_dir):
    """Completions on real ptb.test sentences (tiny model trained on the fixture text)."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["narrow"])
    special = {kb.text.unk_id, kb.text.eos_id}
    for line in ptb_lines(PTB_TEST, 3):
        for j in range(0, min(len(line), 60) + 1, 3):
            ids, lps, partial = kb.suggest_ids(line[:j])
            state = kb.context(kb.split_typed(line[:j])[0]).state
            ref_ids, ref_lps = brute_force(kb.predictor, state, partial, 3, special)
            np.testing.assert_allclose(lps, ref_lps, atol=1e-5)
