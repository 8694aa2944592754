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


def test_moving_the_cursor_in_a_long_text_feeds_at_most_a_checkpoint_span(files):
    """States kept every CHECKPOINT_EVERY words: a context anywhere in a 3,000-word text costs fewer
    feeds than that, and every state equals a straight feed of its words."""
    from export.keyboard import CHECKPOINT_EVERY, KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    p = kb.predictor
    rng = np.random.default_rng(0)
    ids = [p.text.eos_id, *rng.integers(2, len(kb.words), 3000).tolist()]

    def straight(prefix):
        state = p.start_state()
        for w in prefix[1:]:
            state = p.feed(w, state)
        return state

    np.testing.assert_allclose(kb.context(ids).state, straight(ids), atol=1e-6)
    for n in [1700, 40, 2999, 1000, 1, 2048]:
        before = kb.stats["feed"]
        np.testing.assert_allclose(kb.context(ids[:n]).state, straight(ids[:n]), atol=1e-6, err_msg=str(n))
        assert kb.stats["feed"] - before < CHECKPOINT_EVERY, (n, kb.stats["feed"] - before)
    other = ids[:1500] + [5, 6, 7]  # a text that differs after word 1500
    before = kb.stats["feed"]
    np.testing.assert_allclose(kb.context(other).state, straight(other), atol=1e-6)
    assert kb.stats["feed"] - before < CHECKPOINT_EVERY + 3


def test_typing_a_long_text_word_by_word_costs_one_feed_a_word(files):
    """Contexts of 1, 2, ..., 700 words in turn (typing), across the lengths where states are kept
    (256, 512) and where the cache window ends: every step feeds exactly one word, and the states
    at those lengths equal a straight feed; then the cursor goes back to such lengths."""
    from export.keyboard import CHECKPOINT_EVERY, KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    p = kb.predictor
    ids = [p.text.eos_id, *np.random.default_rng(1).integers(2, len(kb.words), 700).tolist()]
    straight, states = p.start_state(), {}
    for n in range(2, len(ids) + 1):
        straight = p.feed(ids[n - 1], straight)
        states[n] = straight
    kb.context(ids[:1])
    for n in range(2, len(ids) + 1):
        before = kb.stats["feed"]
        state = kb.context(ids[:n]).state
        assert kb.stats["feed"] - before == 1, n
        if n % CHECKPOINT_EVERY in (0, 1, 44, 63, 64, 65, 255):
            np.testing.assert_allclose(state, states[n], atol=1e-6, err_msg=str(n))
    for n in (512, 256, 513, 257, 300, 700, 2 * CHECKPOINT_EVERY - 1):
        before = kb.stats["feed"]
        np.testing.assert_allclose(kb.context(ids[:n]).state, states[n], atol=1e-6, err_msg=str(n))
        assert kb.stats["feed"] - before < CHECKPOINT_EVERY, n


def test_context_keys_of_different_texts_differ():
    """Every prefix of 1,024 texts built from two 128-word Thue-Morse blocks has its own key, and
    equal prefixes of different texts share theirs."""
    from export.keyboard import CHECKPOINT_EVERY, prefix_keys

    tm = [7 if bin(i).count("1") % 2 else 9 for i in range(128)]
    co = [16 - t for t in tm]
    texts = [[1] + [w for j in range(10) for w in (tm if (m >> j) & 1 else co)] for m in range(1024)]
    keys = {}
    for ids in texts:
        key = prefix_keys(np.array(ids))
        for n in [1, *range(CHECKPOINT_EVERY, len(ids), CHECKPOINT_EVERY), len(ids) - 1, len(ids)]:
            keys.setdefault(key(n), set()).add(tuple(ids[:n]))
    assert all(len(prefixes) == 1 for prefixes in keys.values())
    assert len(keys) == len({tuple(ids[:n]) for ids in texts
                             for n in [1, *range(CHECKPOINT_EVERY, len(ids), CHECKPOINT_EVERY), len(ids) - 1, len(ids)]})


def test_accept_replaces_partial_word(files):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    assert kb.accept("The ca", "cat") == "The cat "
    assert kb.accept("The ", "cat") == "The cat "
    assert kb.accept("", "the") == "the "


def test_a_tap_keeps_the_typed_capitals(files):
    import copy

    from export.keyboard import KeyboardPredictor, match_case

    kb = KeyboardPredictor(files["none"])  # lowercases: "Ca" completes to "cat" and inserts "Cat"
    assert kb.text.lowercase and "cat" in kb.suggest("The Ca")
    assert kb.accept("The Ca", "cat") == "The Cat " and kb.cased("The Ca", "cat") == "Cat"
    assert kb.accept("THE CA", "cat") == "THE CAT "
    assert kb.accept("the (Ca", "cat") == "the (Cat "
    assert kb.accept("The ", "cat") == "The cat "  # a next word: nothing typed, nothing to copy
    assert kb.accept("I", "in") == "In "  # one capital letter: the first letter only
    assert [match_case(t, "über") for t in ("ü", "Ü", "ÜB", "Üb", "1A", "1")] == [
        "über", "Über", "ÜBER", "Über", "über", "über"]  # "1A": one letter, not first
    # capitals inside the word stay where they were typed, whatever the model's casing
    assert kb.accept("OMG!!! McD", "mcdonald") == "OMG!!! McDonald "
    assert [match_case(t, w) for t, w in (("iPh", "iphone"), ("O'Br", "o'brien"), ("mcD", "mcdonald"),
                                          ("mc", "McDonald"), ("İSt", "i\u0307stanbul"), ("Cafe\u0301", "café"))] == [
        "iPhone", "O'Brien", "mcDonald", "McDonald", "İStanbul", "Café"]  # decomposed: the first letter only
    # the caret inside the text: the whole word under it is replaced, one space after it
    assert kb.accept_at("the com", "pany, said", "cat") == ("the cat ", ", said")
    assert kb.accept_at("the Ca", "t sat", "cat") == ("the Cat ", "sat")
    assert kb.accept_at("the ", "cat sat", "dog") == ("the dog ", "cat sat")
    assert kb.accept_at("the ca", "\nnext", "cat") == ("the cat", "\nnext")
    assert kb.accept_at("do", "n't go", "dog") == ("dog ", "go")
    keeps = KeyboardPredictor(files["none"])  # a model that keeps capitals inserts the word as it is
    keeps.text = copy.copy(keeps.text)
    keeps.text.lowercase = False
    assert keeps.cased("The ca", "cat") == "cat"


def test_a_typed_apostrophe_is_read_as_the_vocabularys(files):
    """A phone types ’ or ' depending on its keyboard: the keyboard reads the one the vocabulary
    lacks as the one it has (the tiny vocabulary has "don't", "it's"); a vocabulary with both, or
    neither, reads text as it is, and so does the predictor (as training read it)."""
    from export.keyboard import KeyboardPredictor
    from export.text import apostrophe_fold

    assert apostrophe_fold(["<unk>", "don't", "'"]) == {0x2019: 0x27}
    assert apostrophe_fold(["<unk>", "don\u2019t", "'"]) == {0x27: 0x2019}  # a lone quote mark holds no letter
    assert apostrophe_fold(["don't", "l\u2019homme"]) is None and apostrophe_fold(["dont", "'"]) is None
    kb = KeyboardPredictor(files["none"])
    assert "don't" in kb.words and not any("\u2019" in w for w in kb.words)
    for typed in ("Dogs don", "It", "the cat"):
        assert kb.split_typed(typed + "\u2019") == kb.split_typed(typed + "'")
        assert kb.suggest(typed + "\u2019") == kb.suggest(typed + "'") != []
        assert kb.split_typed(typed + "\u2019s ") == kb.split_typed(typed + "'s ")
    assert kb.accept("Dogs Don\u2019", "don't") == "Dogs Don't "  # the vocabulary's apostrophe, the typed capital
    assert kb.accept("It\u2019s the c", "cat") == "It\u2019s the cat "  # the text typed before stays as it is
    assert kb.predictor.text.tokenize("don\u2019t") == ["don\u2019t"]  # the predictor reads as training did


def test_history_reads_long_texts_from_the_end_only(files):
    """The history of the last N committed tokens equals the one from tokenizing the whole text, on
    long single lines, many lines, special tokens and partial words; and costs less on long texts."""
    from export.keyboard import History, KeyboardPredictor

    def reference(kb, text):
        hist = History(kb.history_words)
        tokens = [t for ln in text.splitlines() for t in kb.text.tokenize(ln)]
        if text and not text[-1].isspace() and text.splitlines() and kb.text.tokenize(text.splitlines()[-1]):
            tokens.pop()
        for t in tokens:
            hist.add(t)
        return hist

    rng = np.random.default_rng(0)
    words = "the cat sat on the mat , and Zorblat met the dog . <unk> quux".split()
    for n in (0, 1, 3, 40):
        kb = KeyboardPredictor(files["none"], history_words=n)
        for _ in range(150):
            seps = rng.choice([" ", "\n", "  ", "\u2028", " \t"], size=int(rng.integers(0, 300)))
            text = "".join(str(rng.choice(words)) + s for s in seps) + str(rng.choice(["", "th", " ", "x" * 90]))
            got, want = kb.history(text), reference(kb, text)
            assert list(got._tokens) == list(want._tokens), repr(text[-60:])
            last = kb.text.tokenize(text.splitlines()[-1]) if text and not text[-1].isspace() else []
            assert kb.text.typed_word(text) == ((last[-1], 1) if last else ("", 0))
        assert kb.history("").counts == {} and kb.text.typed_word("") == ("", 0)


def test_bad_k_and_cache_size(files):
    from export.keyboard import KeyboardPredictor
    from lightrnn_tf.errors import LightRNNError

    kb = KeyboardPredictor(files["none"])
    for k in (0, -1, 2.5, True):
        with pytest.raises(LightRNNError, match="`k`"):
            kb.suggest("the ca", k=k)
    assert len(kb.suggest("the ", k=kb.predictor.max_k + 2)) == kb.predictor.max_k + 2  # beyond top_k: expands
    with pytest.raises(LightRNNError, match="cache_size"):
        KeyboardPredictor(files["none"], cache_size=0)


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


# === Typed-word history ===

def history_reference(predictor, text, lam, size):
    """Brute force over the whole vocabulary plus every typed word: `{word: score}` for the text
    before the cursor, from the full distribution and a history counted independently."""
    from collections import Counter

    enc = predictor.text
    tokens = [t for ln in text.splitlines() for t in enc.tokenize(ln)]
    partial = ""
    if text and not text[-1].isspace() and enc.tokenize(text.splitlines()[-1]):
        partial, tokens = tokens[-1], tokens[:-1]
    kept = [t for t in tokens if t not in ("<unk>", "<eos>")][-size:] if size else []
    counts, n = Counter(kept), len(kept)
    from export.keyboard import HISTORY_RAMP

    lam = lam * n / (n + HISTORY_RAMP)  # the documented weight after n typed words
    state = predictor.state_for(text[: len(text) - len(partial)] if partial else text)
    p = np.exp(predictor.log_probs(state).astype(np.float64))
    scores = {}
    for i, w in enumerate(predictor.words):
        if i not in (enc.unk_id, enc.eos_id) and w.startswith(partial):
            scores[w] = (1 - lam) * p[i] + lam * counts[w] / n if n else p[i]  # nothing typed: the model
    for w, c in counts.items():
        if w not in enc.index and w.startswith(partial):
            scores[w] = lam * c / n
    return scores


def history_texts():
    """Prefixes of texts that repeat words, type words outside the vocabulary and span lines."""
    texts = ["Zorblat the cat met Zorblat and the dog. Then Zorb", "the mat the mat the mat the m",
             "Quux quux, the log.\nA quux dog sat on the qu", "a brown <unk> cat; the cat"]
    out = []
    for t in texts:
        out += [t[:j] for j in range(0, len(t) + 1, 2)] + [t, t + " "]
    return out


@pytest.mark.parametrize("lam,size", [(0.2, 500), (0.5, 6), (0.05, 1)])
def test_history_suggestions_equal_brute_force(files, lam, size):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["narrow"], history_weight=lam, history_words=size)
    from_history = 0
    for text in history_texts():
        got = kb.with_history(kb.context(kb.split_typed(text)[0]), kb.split_typed(text)[1], kb.history(text), 3)
        ref = history_reference(kb.predictor, text, lam, size)
        ref_best = sorted(ref.items(), key=lambda kv: -kv[1])[:3]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in ref_best], rtol=1e-4, err_msg=text)
        scores = sorted(ref.values(), reverse=True)
        if all(abs(a - b) > 1e-5 for a, b in zip(scores[:3], scores[1:4])):  # no near-ties
            assert [w for w, _ in got] == [w for w, _ in ref_best], text
        assert kb.suggest(text) == [w for w, _ in got]
        from_history += any(w not in kb.text.index for w, _ in got)
    if size > 1:  # a one-word window weighs lam / (1 + HISTORY_RAMP): exact, but it rarely decides
        assert from_history > 3  # words outside the vocabulary were suggested from the history


def test_history_suggests_a_typed_unknown_word(files):
    from export.keyboard import KeyboardPredictor

    plain = KeyboardPredictor(files["none"], history_weight=0)
    kb = KeyboardPredictor(files["none"])  # on by default
    assert kb.history_weight == 0.1
    text = "Zorblat sat on the mat. The dog met zorb"
    assert "zorblat" not in plain.suggest(text) and plain.suggest(text) == []
    assert kb.suggest(text)[0] == "zorblat"  # lowercased, as the model's tokenizer does
    assert kb.accept(text, "zorblat") == "Zorblat sat on the mat. The dog met zorblat "
    assert kb.suggest("the mat")[:1] == plain.suggest("the mat")[:1]  # nothing typed before: the model alone


def test_history_window_and_bad_arguments(files):
    from export.keyboard import KeyboardPredictor
    from lightrnn_tf.errors import LightRNNError

    kb = KeyboardPredictor(files["none"], history_weight=0.1, history_words=3)
    hist = kb.history("one two <unk> three four fi")  # the partial word and <unk> are not kept
    assert dict(hist.counts) == {"two": 1, "three": 1, "four": 1} and len(hist) == 3
    for bad in ({"history_weight": 1.0}, {"history_weight": -0.1}, {"history_words": -1}):
        with pytest.raises(LightRNNError, match="history_"):
            KeyboardPredictor(files["none"], **bad)


def test_decomposed_and_combining_mark_text_is_read_as_training_read_it(tmp_path):
    """Words with combining marks stay whole (Devanagari vowel signs, a decomposed "é"), and text
    typed decomposed ("e" + U+0301, as macOS and some keyboards write it) finds the precomposed
    words the model was trained on: tokens, completion, taps and the rest of the word."""
    import unicodedata

    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run

    nfd = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731
    lines = ["the café is open", "a naïve café", "हिन्दी भाषा है", "the café and the naïve cat"] * 2
    run = make_run(tmp_path / "run", [nfd(line) if i % 2 else line for i, line in enumerate(lines)], train_steps=0)
    path = str(tmp_path / "m.tflite")
    export_run(run, path, quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    kb = KeyboardPredictor(path)
    assert {"café", "naïve", "हिन्दी", "भाषा"} <= set(kb.words)  # NFC, whole, whichever form was trained
    assert nfd("café") not in kb.words
    enc = kb.text
    assert enc.tokenize("हिन्दी भाषा, the Café") == ["हिन्दी", "भाषा", ",", "the", "café"]
    assert enc.encode_context(nfd("the café is ")) == enc.encode_context("the café is ")
    assert kb.split_typed(nfd("the café"))[1] == "café"
    assert "café" in kb.suggest(nfd("the cafe\u0301")) and "café" in kb.suggest("the caf")
    assert kb.accept(nfd("the Café"), "café") == nfd("the ") + "Café "
    assert kb.accept_at("the cafe", "\u0301 is open", "café") == ("the café ", "is open")
    assert kb.accept("the İs", "is") == "the Is "  # "İ" lowercases to two characters: both replaced


def test_a_punctuation_tap_keeps_the_next_word_and_sits_against_the_word_before(files):
    """Tapping "," with the caret after "said," keeps the word after the caret (it used to be cut
    as the rest of the word being typed); closing punctuation goes against the word before it,
    opening punctuation against the word after it."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    assert kb.accept_at("and they said,", "Lord, help", ",") == ("and they said, ", "Lord, help")
    assert kb.accept_at("what time?", "Tomorrow", "?") == ("what time? ", "Tomorrow")
    assert kb.accept_at("the ca", "t sat", "cat") == ("the cat ", "sat")  # inside a word: its rest goes
    assert kb.accept("the heaven ", ",") == "the heaven, "
    assert kb.accept("the heaven  ", "...") == "the heaven... "
    assert kb.accept("line\n", ",") == "line\n, " and kb.accept(" ", "?") == " ? "  # no word before: kept
    assert kb.accept("see ", "(") == "see (" and kb.accept("he said ", "“") == "he said “"
    assert kb.accept_at("see ", " now", "(") == ("see (", " now")
    assert kb.accept_at("the heaven ", "\nnext", ",") == ("the heaven,", "\nnext")


def test_names_come_back_with_the_capitals_they_were_typed_with(files):
    """With a lowercasing model, the typed-word history keeps the capitals a word was typed with
    where they are its own ("McDonald", "iPhone", "Zoë" or "I" away from a sentence start), and the
    chips and taps show them; a capital that only starts a sentence is not kept; with the history
    off, the model's own lowercase word."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    text = "I met McDonald and Zoë at the iPhone store. Then i "
    assert kb.history(text).surfaces == {"mcdonald": "McDonald", "zoë": "Zoë", "iphone": "iPhone"}
    assert kb.cased(text, "mcdonald") == "McDonald" and kb.accept(text + "mc", "mcdonald") == text + "McDonald "
    assert kb.cased(text + "ZO", "zoë") == "ZOË" and kb.cased(text + "ip", "iphone") == "iPhone"
    assert kb.history("The cat. The dog, so I said").surfaces == {"i": "I"}
    assert kb.cased("so I said ", "i") == "I" and kb.cased("The cat. The ", "the") == "the"
    # a capital after an opening quote, a bracket or ":" may be the sentence's: not learnt; a word
    # typed in lowercase forgets the capitals seen before
    assert kb.cased("“The cat sat,” he said. the dog and the ", "the") == "the"
    assert kb.cased("Dogs: The cat (The dog) and ", "the") == "the"
    assert kb.cased("We met on 5 May. you may go, you may ", "may") == "may"
    assert kb.cased("We met on 5 May. you may go, May ", "may") == "May"
    assert kb.suggest("the \ud800 ")  # a lone surrogate typed: no error in the tie order
    off = KeyboardPredictor(files["none"], history_weight=0)
    assert off.cased(text, "mcdonald") == "mcdonald" and off.cased(text + "Mc", "mcdonald") == "Mcdonald"


def test_emoji_are_whole_words_on_the_keyboard(tmp_path):
    """A model trained on chat text with emoji: "❤️", "👍🏽", "👨‍👩‍👧" and "🇺🇸" are words of the
    vocabulary (no invisible U+FE0F or lone skin tone that would be a blank chip), typing the first
    part of one completes it, and a tap replaces the part typed."""
    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run

    heart, thumbs, family, flag = "❤\ufe0f", "👍\U0001F3FD", "👨\u200d👩\u200d👧", "\U0001F1FA\U0001F1F8"
    lines = [f"i {heart} you", f"ok {thumbs} see you", f"my {family} is here", f"go {flag}!", "ok 👍 fine"] * 2
    path = str(tmp_path / "m.tflite")
    export_run(make_run(tmp_path / "run", lines, train_steps=0), path, quantize="none", max_k=4, expand_rows=1,
               fold_inputs=True)
    kb = KeyboardPredictor(path, history_weight=0)
    assert {heart, thumbs, family, flag, "👍"} <= set(kb.words)
    assert not {"\ufe0f", "\U0001F3FD", "\U0001F1FA", "👨", "❤"} & set(kb.words)
    for before, typed, word in [("i ", "❤", heart), ("my ", "👨\u200d", family), ("my ", "👨\u200d👩", family),
                                ("go ", "\U0001F1FA", flag)]:
        assert kb.split_typed(before + typed) == (tuple(kb.text.encode_context(before)), typed), typed
        assert kb.suggest(before + typed) == [word], typed
        assert kb.accept(before + typed, word) == before + word + " "
    assert set(kb.suggest("ok 👍")) == {"👍", thumbs}
    # a file of rules 2 (no rules_version) keeps them: a joiner after an emoji is no part of the word
    from export.metadata import read_metadata
    from export.text import TextEncoder
    from lightrnn_tf.data import Tokenizer

    meta = read_metadata(path)
    del meta["tokenizer"]["rules_version"]
    meta["tokenizer"]["split_punct_pattern"] = Tokenizer(rules=2).pattern.pattern
    old = TextEncoder(meta)
    assert old.rules_version == 2 and old.typed_word("my 👨\u200d") == ("👨", 1)
    assert kb.text.rules_version >= 3 and kb.text.typed_word("my 👨\u200d") == ("👨\u200d", 1)


def test_a_joiner_typed_after_a_word_is_part_of_the_word_being_typed(tmp_path):
    """"l’", "don'" and Persian "می" + U+200C are words being typed (completed by "l’homme",
    "don't", "می‌خواهم"), not a committed word and a separate apostrophe (or nothing, for the
    zero-width non-joiner, which alone is no token); an invisible mark at the end is skipped and
    replaced with the word."""
    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run

    lines = ["l’homme don't می\u200cخواهم words"] * 4
    path = str(tmp_path / "m.tflite")
    export_run(make_run(tmp_path / "run", lines, train_steps=0), path, quantize="none", max_k=4, expand_rows=1,
               fold_inputs=True)
    kb = KeyboardPredictor(path, history_weight=0)
    enc = kb.text
    for before, typed, word in [("the ", "l’", "l’homme"), ("the ", "don'", "don't"), ("", "می\u200c", "می\u200cخواهم")]:
        ids, partial = kb.split_typed(before + typed)
        assert partial == typed and list(ids) == enc.encode_context(before), typed
        assert kb.suggest(before + typed) == [word]
        assert kb.accept(before + typed, word) == before + word + " "
        assert kb.history(before + typed + "")._tokens == kb.history(before)._tokens
    assert kb.split_typed("the word\u200e")[1] == "word" and kb.accept("the word\u200e", "words") == "the words "
    assert kb.split_typed("a '")[1] == "'" and kb.split_typed("\u200e")[1] == ""


def test_invisible_characters_on_the_keyboard(tmp_path):
    """Rules 4 on the keyboard: a soft hyphen or a bidi mark is no part of what is typed or tapped
    (the rest of a word after the caret takes it along; a joiner after one still belongs to the
    word; the tap keeps one before the word); a zero-width space ends a word as a space does, and
    the typed-word history of a line joined by them is cut there and equals the whole line's."""
    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run

    lines = ["hyphen hyphenated cat istanbul می‌خواهم hello's words"] * 4
    path = str(tmp_path / "m.tflite")
    export_run(make_run(tmp_path / "run", lines, train_steps=0), path, quantize="none", max_k=4, expand_rows=1,
               fold_inputs=True)
    kb = KeyboardPredictor(path, history_weight=0)
    assert kb.accept_at("the hy", "­phen is", "hyphen") == ("the hyphen ", "is")
    assert kb.accept_at("the hyph", "en­ated x", "hyphenated") == ("the hyphenated ", "x")
    assert kb.accept_at("the ca", "‎t sat", "cat") == ("the cat ", "sat")
    assert kb.split_typed("hy­ph")[1] == "hyph" and kb.accept("the hy­ph", "hyphen") == "the hyphen "
    assert kb.split_typed("می‏‌")[1] == "می‌" and kb.accept("می‏‌", "می‌خواهم") == "می‌خواهم "
    assert kb.split_typed("hello­'")[1] == "hello'" and kb.accept("hello­'", "hello's") == "hello's "
    assert kb.accept("x ‎İst", "i̇stanbul") == "x ‎İstanbul "  # the mark before the word stays
    assert kb.split_typed("word󠁧")[1] == "word" and kb.accept("word󠁧", "words") == "words "
    assert kb.split_typed("cat​") == kb.split_typed("cat ") and kb.split_typed("cat\x00")[1] == ""
    line = "​".join(["the cat", "Hello's", "hyphen"] * 200) + "​the"
    history = KeyboardPredictor(path, history_words=12).history(line)
    assert list(history._tokens) == kb.text.tokenize(line)[-13:-1]  # committed: all but the word being typed


def test_malformed_invisible_character_sets_are_refused_with_one_message():
    """`space_chars` / `remove_chars` in a file's metadata: a list of integral [first, last] code
    points (an empty list removes nothing); anything else, or a file of rules 4 without them, is
    refused in one line, as the JS and Java engines do."""
    from export.text import TextEncoder
    from lightrnn_tf.errors import LightRNNError

    meta = {"tokenizer": {"lowercase": False, "split_punct": False}, "vocab": ["<unk>", "<eos>"],
            "special_tokens": {"<unk>": 0, "<eos>": 1}}
    for bad in ([[10, 5]], [[173.5, 174]], [[True, 5]], [173], "x", [[-1, 3]], [[0, 0x110000]]):
        with pytest.raises(LightRNNError, match=r"^metadata: tokenizer remove_chars must be a list of \[first, last\]"):
            TextEncoder({**meta, "tokenizer": {**meta["tokenizer"], "remove_chars": bad}})
    with pytest.raises(LightRNNError, match="^metadata: tokenizer rules 4 without space_chars$"):
        TextEncoder({**meta, "tokenizer": {**meta["tokenizer"], "rules_version": 4, "remove_chars": []}})
    none = TextEncoder({**meta, "tokenizer": {**meta["tokenizer"], "remove_chars": [], "space_chars": []}})
    assert none.tokenize("hy\u00adphen\x00x") == ["hy\u00adphen\x00x"]
    integral = TextEncoder({**meta, "tokenizer": {**meta["tokenizer"], "remove_chars": [[173.0, 173]]}})
    assert integral.tokenize("hy\u00adphen") == ["hyphen"]


def test_a_capital_sigma_typed_last_completes_as_an_unfinished_word(tmp_path):
    """"ΜΙΣ" lowercases to "μις" (a final sigma), but the word is still being typed: it completes
    to "μισθός", and a tap replaces the three letters typed."""
    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run

    path = str(tmp_path / "m.tflite")
    export_run(make_run(tmp_path / "run", ["ο μισθός του μις"] * 4, train_steps=0), path, quantize="none",
               max_k=4, expand_rows=1, fold_inputs=True)
    kb = KeyboardPredictor(path, history_weight=0)
    assert kb.split_typed("Ο ΜΙΣ")[1] == "μισ" and kb.suggest("Ο ΜΙΣ") == ["μισθός"]
    assert kb.accept("Ο ΜΙΣ", "μισθός") == "Ο ΜΙΣΘΌΣ "
    assert kb.split_typed("ο μις")[1] == "μις"  # a final sigma typed as such stays one


# === Early stopping: the fewest `expand` calls the bound allows (audit K1, K2) ===

def _minimal_expands(top, lps, row_of, ok, k, m, start, only_matching):
    """`expand` calls an exact top-k needs by the bound argument, from a fresh context: rows are
    visited in `top["row_order"]` (only those holding a word of `ok`), M = `m` at a time, from
    position `start` of that list (the rows `top_k` already expanded are skipped); it stops as soon
    as the k-th best word of `ok` in the rows visited (`lps`: brute-force log-probs) reaches the
    score of the next row to visit, or no row is left. `only_matching`: visit only the rows that
    hold a word of `ok` (completion); else every row (next words). Returns `(calls, rows it could visit)`."""
    score = dict(zip(top["row_order"].tolist(), top["row_log_probs"].tolist()))
    ok_rows = set(row_of[ok].tolist())
    rows = [int(r) for r in top["row_order"] if int(r) in ok_rows or not only_matching]
    visited = set(int(r) for r in top["row_order"][:start])
    rows_left = [r for r in rows if r not in visited] if start else rows
    total, calls = len(rows_left), 0
    while True:
        seen = np.sort(lps[ok & np.isin(row_of, list(visited))])[::-1]
        if not rows_left or (len(seen) >= k and seen[k - 1] >= score[rows_left[0]]):
            return calls, total
        visited.update(rows_left[:m])
        rows_left = rows_left[m:]
        calls += 1


def _contexts():
    return ["", "the ", "the cat sat on the ", "a red ", "dogs and cats don't ", "it's the cat's ",
            "the dog sat on the log !\n", "a brown dog ; the "]


@pytest.mark.parametrize("name", ["narrow", "none"])
def test_next_words_expand_only_the_rows_the_bound_needs(files, name):
    """`next_words` stops as soon as its k-th best candidate reaches the next unexpanded row's score:
    its `expand` calls (fresh context each time) equal the count worked out here from the row scores
    and a brute-force distribution, and on some contexts that is fewer rows than are left."""
    from export.keyboard import KeyboardPredictor
    from export.predictor import NextWordPredictor

    p = NextWordPredictor(files[name])
    m = p.expand_rows
    special = {p.text.unk_id, p.text.eos_id}
    ok = np.array([i not in special for i in range(len(p.words))])
    stopped_early = 0
    for text in _contexts():
        for k in range(1, p.max_k + 3):
            kb = KeyboardPredictor(p, history_weight=0)  # a fresh cache: no row expanded yet
            ctx = kb.context(kb.split_typed(text)[0])
            top = kb._top(ctx)
            lps = p.log_probs(ctx.state).astype(np.float64)
            listed = [int(w) for w in top["words"] if w >= 0 and int(w) not in special]
            start = m if len(listed) >= k else 0  # the top_k list stands for its M rows while it holds k words
            want, left = _minimal_expands(top, lps, kb.word_row, ok, k, m, start, False)
            before = kb.stats["expand"]
            ids, got_lps = kb.next_words(ctx, k)
            assert kb.stats["expand"] - before == want, (text, k)
            ref = np.sort(lps[ok])[::-1][:k]
            np.testing.assert_allclose(got_lps, ref, atol=1e-5, err_msg=f"{text!r} k={k}")
            stopped_early += want < -(-left // m)
    assert stopped_early > 5


@pytest.mark.parametrize("name", ["narrow", "none"])
def test_completion_expands_only_the_rows_the_bound_needs(files, name):
    """`complete` visits the rows holding a word with the prefix in decreasing score and stops as soon
    as its k-th best match reaches the next such row's score: its `expand` calls (fresh context each
    time) equal the count worked out here, fewer than all matching rows for some prefixes."""
    from export.keyboard import KeyboardPredictor
    from export.predictor import NextWordPredictor

    p = NextWordPredictor(files[name])
    m = p.expand_rows
    special = {p.text.unk_id, p.text.eos_id}
    stopped_early = 0
    for text in _contexts():
        for prefix in ["", "a", "c", "d", "i", "s", "t", "th", "o", "l", "m", "r", "b", "."]:
            ok = np.array([w.startswith(prefix) and i not in special for i, w in enumerate(p.words)])
            if not ok.any():
                continue
            for k in (1, 2, 3, 5):
                kb = KeyboardPredictor(p, history_weight=0)
                ctx = kb.context(kb.split_typed(text)[0])
                top = kb._top(ctx)
                lps = p.log_probs(ctx.state).astype(np.float64)
                want, left = _minimal_expands(top, lps, kb.word_row, ok, k, m, 0, True)
                before = kb.stats["expand"]
                ids, got_lps = kb.complete(ctx, prefix, k)
                assert kb.stats["expand"] - before == want, (text, prefix, k)
                ref = np.sort(lps[ok])[::-1][:k]
                np.testing.assert_allclose(got_lps, ref, atol=1e-5, err_msg=f"{text!r} {prefix!r} k={k}")
                stopped_early += want < -(-left // m)
    assert stopped_early > 10


# === Ties (audit K4, K5) ===

def test_equal_model_scores_rank_by_id():
    """"Ties: higher score first, then vocabulary words by id": `_best` ranks equal log-probs by
    increasing id, whatever order the candidates come in."""
    from export.keyboard import KeyboardPredictor

    ids, lps = KeyboardPredictor._best([5, 2, 9, 1, 7, 3], [-1.0, -1.0, -0.5, -1.0, -2.0, -1.0], 6)
    assert ids.tolist() == [9, 1, 2, 3, 5, 7]
    np.testing.assert_array_equal(lps, np.float32([-0.5, -1.0, -1.0, -1.0, -1.0, -2.0]))
    ids, _ = KeyboardPredictor._best([8, 4, 6], [-3.0, -3.0, -3.0], 2)  # the cut keeps the lower ids
    assert ids.tolist() == [4, 6]


def test_equal_history_scores_rank_other_words_by_spelling(files):
    """"... then other words by spelling": typed words outside the vocabulary with equal counts tie,
    and come in spelling order (UTF-16 code units, as the web and Android engines compare strings:
    "😀" (U+D83D U+DE00) before U+FFFF), whatever order they were typed in."""
    from export.keyboard import History, KeyboardPredictor

    kb = KeyboardPredictor(files["none"])
    ctx = kb.context(kb.split_typed("the ")[0])
    typed = ["zulu", "\uffffx", "mike", "alpha", "😀", "kilo"]
    assert not set(typed) & set(kb.words)
    for order in (typed, typed[::-1], typed[2:] + typed[:2]):
        hist = History(50)
        for w in order:
            hist.add(w)
        got = kb.with_history(ctx, "", hist, k=6, weight=0.99)
        assert [w for w, _ in got] == ["alpha", "kilo", "mike", "zulu", "😀", "\uffffx"], order
        assert len({s for _, s in got}) == 1
    # a prefix: only the matching typed words, still in spelling order
    hist = History(50)
    for w in ["zz", "zb", "za", "zc"]:
        hist.add(w)
    assert [w for w, _ in kb.with_history(ctx, "z", hist, k=3, weight=0.99)] == ["za", "zb", "zc"]
