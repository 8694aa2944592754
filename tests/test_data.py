import dataclasses
import os
import re

import numpy as np
import pytest

from lightrnn_tf.config import TrainConfig
from lightrnn_tf.data import (EOS, UNK, Tokenizer, Vocabulary, load_corpus, read_lines, split_lines,
                              stream_dataset, unigram_perplexity)
from lightrnn_tf.errors import LightRNNError


def test_tokenizer_options():
    line = "And God said, Let there be light: and there was <unk>."
    assert Tokenizer()(line) == line.split()
    assert Tokenizer(lowercase=True, split_punct=True)(line) == [
        "and", "god", "said", ",", "let", "there", "be", "light", ":", "and", "there", "was", "<unk>", "."]
    assert Tokenizer(split_punct=True)("don't stop") == ["don't", "stop"]


def _reference_invisible(line):
    """Rules 4's invisible characters written out by hand: a zero-width space and a control character
    that is not whitespace read as a space; any other format character (Cf) but the zero-width
    (non-)joiners and the tag characters is removed."""
    import unicodedata

    out = []
    for c in line:
        category = unicodedata.category(c)
        if c == "\u200b" or category == "Cc" and not c.isspace():
            out.append(" ")
        elif category != "Cf" or c in "\u200c\u200d" or "\U000E0020" <= c <= "\U000E007F":
            out.append(c)
    return "".join(out)


def _reference_split_punct(line):
    """The `--split-punct` rule written out by hand, character by character: a word is a run of
    letters, digits, `_` and combining marks (with apostrophes or zero-width joiners between two
    such characters), an invisible format character (Cf) is skipped, two regional indicators are
    one flag, any other non-space character is a token together with the marks, skin-tone
    modifiers and tag characters after it and the symbols a zero-width joiner adds; then every
    token in NFC."""
    import unicodedata

    word = lambda c: c.isalnum() or c == "_" or unicodedata.category(c)[0] == "M"  # noqa: E731
    skipped = lambda c: c.isspace() or unicodedata.category(c) == "Cf" and not word(c)  # noqa: E731
    extend = lambda c: (unicodedata.category(c)[0] == "M" or "\U0001F3FB" <= c <= "\U0001F3FF"  # noqa: E731
                        or "\U000E0020" <= c <= "\U000E007F")
    flag = lambda c: "\U0001F1E6" <= c <= "\U0001F1FF"  # noqa: E731
    joiners = "'\u2019\u200c\u200d"
    tokens, i = [], 0
    line = _reference_invisible(line)
    while i < len(line):
        c = line[i]
        if skipped(c):
            i += 1
            continue
        j = i + 1
        if word(c):
            while j < len(line) and (word(line[j]) or (line[j] in joiners and j + 1 < len(line) and word(line[j + 1]))):
                j += 1
        elif flag(c) and j < len(line) and flag(line[j]):
            j += 1
        else:
            while j < len(line):
                if extend(line[j]):
                    j += 1
                elif line[j] == "\u200d" and j + 1 < len(line) and not word(line[j + 1]) and not skipped(line[j + 1]):
                    j += 2
                else:
                    break
        tokens.append(line[i:j])
        i = j
    return [unicodedata.normalize("NFC", t) for t in tokens]


def test_words_keep_their_combining_marks_and_tokens_are_nfc():
    """Random text of letters, combining marks (accents, Devanagari vowel signs, Arabic harakat),
    digits, apostrophes, punctuation and spaces, precomposed and decomposed, against the rule
    written out by hand; a decomposed word is the precomposed one."""
    import unicodedata

    assert Tokenizer(split_punct=True)("हिन्दी भाषा,") == ["हिन्दी", "भाषा", ","]
    assert Tokenizer(split_punct=True)("می\u200cخواهم l’homme \ufeff\u200c.") == ["می\u200cخواهم", "l’homme", "."]
    for tok in (Tokenizer(), Tokenizer(split_punct=True)):
        assert tok(unicodedata.normalize("NFD", "naïve Café")) == tok("naïve Café") == ["naïve", "Café"]
    alphabet = list("abcé'-,. 1_") + ["e\u0301", "\u0301", "\u093f", "\u094d", "ह", "न", "\u064e", "ر", "\u20dd",
                                      "\u2019", "\u200c", "\u200d", "\ufeff", "\u200e", "\x1f",
                                      "\u00ad", "\u200b", "\u2060", "\x00", "\x7f", "\x9f", "\U000E0001",
                                      # emoji: heart, VS16, hand, skin tone, keycap, two regional
                                      # indicators, black flag, two tag characters
                                      "❤", "\ufe0f", "👍", "\U0001F3FD", "\u20e3", "\U0001F1FA", "\U0001F1F8",
                                      "🏴", "\U000E0067", "\U000E007F"]
    rng = np.random.default_rng(0)
    for _ in range(2000):
        line = "".join(rng.choice(alphabet, size=rng.integers(1, 25)))
        assert Tokenizer(split_punct=True)(line) == _reference_split_punct(line), repr(line)
        assert Tokenizer()(line) == [unicodedata.normalize("NFC", t) for t in _reference_invisible(line).split()], repr(line)


def test_ascii_text_is_split_as_the_full_rules_split_it():
    """ASCII lines take a shorter pattern (3x as fast); on every ASCII character, control characters
    and U+001C-U+001F (whitespace to str.split) included, it gives the tokens of the rule written
    out by hand (and `<special>` tokens whole), and under the older rules those of their own full
    patterns."""
    import lightrnn_tf.data as data

    alphabet = [chr(c) for c in range(128)] + list("aeiou st''<<>>..,-") * 4
    rng = np.random.default_rng(1)
    older = [Tokenizer(split_punct=True, rules=r) for r in (1, 2, 3)]
    for _ in range(3000):
        line = "".join(rng.choice(alphabet, size=rng.integers(1, 30)))
        full = Tokenizer(split_punct=True).pattern.findall(_reference_invisible(line))
        assert Tokenizer(split_punct=True)(line) == full, repr(line)
        if "<" not in line:  # (the hand-written rule knows no <special> tokens)
            assert full == _reference_split_punct(line), repr(line)
        assert Tokenizer(lowercase=True, split_punct=True)(line) == \
            Tokenizer(split_punct=True).pattern.findall(_reference_invisible(line.lower())), repr(line)
        assert Tokenizer()(line) == _reference_invisible(line).split(), repr(line)
        for tok in older:
            assert tok(line) == tok.pattern.findall(line), (tok.rules, repr(line))
    # lowercasing can make a line ASCII (the Kelvin sign is "k"), and so can removing a soft hyphen
    assert Tokenizer(lowercase=True, split_punct=True)("\u212aing's \u00adx,") == ["king's", "x", ","]
    assert data._ASCII_PUNCT_RE.pattern != Tokenizer(split_punct=True).pattern.pattern  # two patterns, not one


def test_build_and_encode_equals_build_then_encode_lines():
    """The one-pass `build_and_encode` (a corpus is tokenized once) gives the vocabulary, counts and
    ids of `build` followed by `encode_lines`: random Zipfian text with ties in the counts, words
    written `<unk>` and `<eos>`, blank lines and non-ASCII words, under every `min_count` and
    `max_size` cut."""
    words = [f"w{i}" for i in range(60)] + ["é", "naïve", UNK, EOS, ","]
    rng = np.random.default_rng(2)
    for trial in range(30):
        p = 1.0 / np.arange(1, len(words) + 1) ** rng.uniform(0.5, 1.5)
        lines = [" ".join(rng.choice(words, size=rng.integers(0, 12), p=p / p.sum()))
                 for _ in range(rng.integers(1, 80))]
        lines += ["x y", "  "]
        tok = Tokenizer(split_punct=bool(trial % 2))
        for min_count, max_size in ((1, 0), (2, 0), (3, 10), (1, 5), (1000, 0)):
            try:
                expected = Vocabulary.build(tok, lines, max_size=max_size, min_count=min_count)
            except LightRNNError as e:
                with pytest.raises(LightRNNError, match=re.escape(str(e))):
                    Vocabulary.build_and_encode(tok, lines, max_size=max_size, min_count=min_count)
                continue
            vocab, ids = Vocabulary.build_and_encode(tok, iter(lines), max_size=max_size, min_count=min_count)
            assert vocab.words == expected.words and vocab.counts == expected.counts
            assert ids.dtype == np.int32
            np.testing.assert_array_equal(ids, expected.encode_lines(lines, tok))
    with pytest.raises(LightRNNError, match="a list of lines, not one string"):
        Vocabulary.build_and_encode(Tokenizer(), "a b")


def test_build_and_encode_in_worker_processes_equals_one_process(monkeypatch):
    """Chunks tokenized in two worker processes, each with provisional ids of its own, give the
    vocabulary, counts and ids of one process (and of `build` + `encode_lines`), for a generator of
    lines too."""
    import lightrnn_tf.data as data

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)] + ["über", UNK, EOS]
    p = 1.0 / np.arange(1, len(words) + 1)
    lines = [" ".join(rng.choice(words, size=rng.integers(0, 15), p=p / p.sum())) for _ in range(1000)]
    tok = Tokenizer(split_punct=True)
    expected = Vocabulary.build(tok, lines, min_count=2)
    monkeypatch.setattr(data, "PARALLEL_MIN_LINES", 500)
    monkeypatch.setattr(data, "CHUNK_LINES", 37)  # 27 chunks, more than 2 a worker ahead
    for source in (lines, (line for line in lines)):
        vocab, ids = Vocabulary.build_and_encode(tok, source, min_count=2, workers=2)
        assert vocab.words == expected.words and vocab.counts == expected.counts
        np.testing.assert_array_equal(ids, expected.encode_lines(lines, tok))
    with pytest.raises(LightRNNError, match="at least 2 distinct words"):
        Vocabulary.build_and_encode(tok, [" "] * 600, workers=2)


def test_an_emoji_is_one_token_with_its_modifiers_joined_symbols_and_flags():
    tok = Tokenizer(split_punct=True)
    assert tok("I ❤️ you 👍🏽!") == ["I", "❤\ufe0f", "you", "👍\U0001F3FD", "!"]
    assert tok("us 👨\u200d👩\u200d👧 🇺🇸🇬🇧🇫 #️⃣ 1️⃣") == [
        "us", "👨\u200d👩\u200d👧", "\U0001F1FA\U0001F1F8", "\U0001F1EC\U0001F1E7", "\U0001F1EB", "#\ufe0f\u20e3", "1\ufe0f\u20e3"]
    scotland = "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
    assert tok(f"go{scotland}!") == ["go", scotland, "!"]
    # a run trained with the rules before emoji keeps them: a heart and an invisible U+FE0F
    assert Tokenizer(split_punct=True, rules=2)("I ❤️ you") == ["I", "❤", "\ufe0f", "you"]


def test_invisible_characters_are_no_part_of_a_token_from_rules_4_on():
    """A soft hyphen, bidi marks, a byte-order mark or a word joiner is removed; a zero-width space
    or a control character is a space; in both modes. A run of rules 3 keeps what it read."""
    text = "a hy\u00adphen is\u200bgood\x00ok \u200fword\u200e \ufeffDie x\u2060y"
    expected = ["a", "hyphen", "is", "good", "ok", "word", "Die", "xy"]
    assert Tokenizer(split_punct=True)(text) == Tokenizer()(text) == expected
    assert Tokenizer(split_punct=True, rules=3)(text) == ["a", "hy", "phen", "is", "good", "\x00", "ok", "word", "Die", "x", "y"]
    assert Tokenizer(rules=3)(text) == text.split()
    rules = Tokenizer().to_dict()
    assert rules["rules_version"] == 4 and [0xAD, 0xAD] in rules["remove_chars"] and [0, 8] in rules["space_chars"]
    assert "remove_chars" not in Tokenizer(rules=3).to_dict()


def test_the_invisible_character_classes_against_every_code_point():
    """`SPACE_CHARS` and `REMOVE_CHARS` against every code point's Unicode category (the hand-written
    rule of `_reference_invisible`), and no code point in both."""
    import sys

    from lightrnn_tf.data import REMOVE_CHARS, SPACE_CHARS

    def members(ranges):
        return {cp for a, b in ranges for cp in range(a, b + 1)}

    space, removed = members(SPACE_CHARS), members(REMOVE_CHARS)
    assert not space & removed
    for cp in range(sys.maxunicode + 1):
        ref = _reference_invisible(chr(cp))
        assert (cp in space, cp in removed) == (ref == " " and cp != 0x20, ref == ""), hex(cp)


def test_what_attaches_to_a_symbol_is_marks_skin_tones_and_tags():
    """The class of what follows a symbol in its token against every assigned code point's category."""
    import sys
    import unicodedata

    from lightrnn_tf.data import SYMBOL_EXTEND

    extend = re.compile(SYMBOL_EXTEND)
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        if unicodedata.category(c) != "Cn":
            expected = unicodedata.category(c)[0] == "M" or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F
            assert bool(extend.match(c)) == expected, hex(cp)


def test_word_characters_are_letters_digits_underscore_and_combining_marks():
    """The class in the tokenizer's pattern (ranges joined over unassigned code points) against
    every assigned code point's Unicode category."""
    import sys
    import unicodedata

    from lightrnn_tf.data import WORD_CHARS

    word = re.compile(f"[{WORD_CHARS}]")
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        category = unicodedata.category(c)
        if category != "Cn":
            assert bool(word.match(c)) == (c.isalnum() or c == "_" or category[0] == "M"), hex(cp)


def test_vocabulary_counts_order_and_unk(tmp_path):
    tok = Tokenizer()
    vocab = Vocabulary.build(tok, ["a b a c", "a b d"], min_count=2)
    assert vocab.words == [UNK, EOS, "a", "b"]
    assert vocab.counts == [2, 2, 3, 2]  # c and d become <unk>; one <eos> a line
    ids = vocab.encode_lines(["a z b"], tok)
    np.testing.assert_array_equal(ids, [2, 0, 3, 1])
    p = str(tmp_path / "vocab.txt")
    vocab.save(p)
    assert Vocabulary.load(p) == vocab and Vocabulary.load(p).counts == vocab.counts
    assert len(Vocabulary.build(tok, ["a b c d e f"], max_size=4)) == 4


def test_encode_lines_skips_blank_lines_as_the_command_line_reads_them(tmp_path):
    """Python code that encodes a file's lines gets the ids the CLI reads (`read_lines` drops blank
    lines): no `<eos>` for a blank line, in the ids or in the vocabulary's count; a string is refused."""
    tok = Tokenizer()
    path = tmp_path / "t.txt"
    path.write_text("a b\n\n  \t\na c\n\n", encoding="utf-8")
    vocab = Vocabulary.build(tok, path.read_text(encoding="utf-8").splitlines())
    assert vocab == Vocabulary.build(tok, read_lines(str(path))) and vocab.counts[1] == 2  # two lines, two <eos>
    np.testing.assert_array_equal(vocab.encode_lines(path.read_text(encoding="utf-8").splitlines(), tok),
                                  vocab.encode_lines(read_lines(str(path)), tok))
    assert vocab.decode(vocab.encode_lines(["a", " ", "", "b"], tok)) == ["a", EOS, "b", EOS]
    for call in (lambda: vocab.encode_lines("a b", tok), lambda: Vocabulary.build(tok, "a b")):
        with pytest.raises(LightRNNError, match="a list of lines, not one string"):
            call()


def test_split_errors_say_what_the_split_needs():
    with pytest.raises(LightRNNError, match="need at least 3 to split into train/valid/test"):
        split_lines(["a b", "c d"])
    with pytest.raises(LightRNNError, match=r"^training text has 1 non-empty line\(s\); need at least 2 to cut a "
                                            r"validation split from it \(or give --valid\)$"):
        split_lines(["a b"], valid_frac=0.05, test_frac=0.0)
    assert split_lines(["a b", "c d"], valid_frac=0.05, test_frac=0.0) == (["a b"], ["c d"], [])


def test_vocabulary_needs_two_distinct_words():
    with pytest.raises(LightRNNError, match="at least 2 distinct words"):
        Vocabulary.build(Tokenizer(), ["<unk> <unk>", "<unk>"])


def test_stream_dataset_layout_matches_numpy():
    ids = np.arange(103, dtype=np.int32)
    windows = list(stream_dataset(ids, batch_size=4, bptt=7))
    data = ids[:100].reshape(4, 25)
    x = np.concatenate([w[0].numpy() for w in windows], axis=1)
    y = np.concatenate([w[1].numpy() for w in windows], axis=1)
    np.testing.assert_array_equal(x, data[:, :-1])
    np.testing.assert_array_equal(y, data[:, 1:])
    assert [w[0].shape[1] for w in windows] == [7, 7, 7, 3]


def test_continuing_stream_dataset_wraps_around_the_stream():
    from lightrnn_tf.data import continuing_stream_dataset

    ids = np.arange(103, dtype=np.int32)
    once = list(stream_dataset(ids, batch_size=4, bptt=7))  # 4 windows
    for start in (0, 3, 9):
        got = list(continuing_stream_dataset(ids, 4, 7, start_window=start).take(6))
        for k, (x, y) in enumerate(got):
            want_x, want_y = once[(start + k) % 4]
            np.testing.assert_array_equal(x.numpy(), want_x.numpy())
            np.testing.assert_array_equal(y.numpy(), want_y.numpy())


def test_stream_datasets_run_without_tf_data_autotuning():
    # TF 2.21: deleting an autotuned iterator waits out the autotuner's sleep (up to 60 s, growing
    # with the iterator's age); Keras deletes the training iterator at every epoch's start.
    from lightrnn_tf.data import continuing_stream_dataset

    ids = np.arange(103, dtype=np.int32)
    for ds in (stream_dataset(ids, 4, 7), continuing_stream_dataset(ids, 4, 7), stream_dataset(ids, 4, 7).take(2)):
        assert ds.options().autotune.enabled is False


def test_stream_sample_is_the_beginning_of_every_stream_row():
    from lightrnn_tf.data import stream_sample

    ids = np.arange(103, dtype=np.int32)  # 4 rows of 25
    sample = stream_sample(ids, 4, 30)  # 7 tokens a row
    np.testing.assert_array_equal(sample, np.concatenate([np.arange(25 * b, 25 * b + 7) for b in range(4)]))
    rows = np.concatenate([w[0].numpy() for w in stream_dataset(sample, 4, 3)], axis=1)
    np.testing.assert_array_equal(rows[:, 0], [0, 25, 50, 75])  # the same rows, each from its start
    assert stream_sample(ids, 4, 0) is ids and stream_sample(ids, 4, 103) is ids


def test_read_lines_errors(tmp_path):
    with pytest.raises(LightRNNError, match="file not found: .*nope.txt"):
        read_lines(str(tmp_path / "nope.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(LightRNNError, match="file is empty"):
        read_lines(str(empty))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nsecond line\nbad \xff byte\n")
    with pytest.raises(LightRNNError, match=r"bad.txt:3: not valid UTF-8 \(byte 0xff"):
        read_lines(str(bad))


def test_corpus_split_and_flags(tmp_path):
    lines = [f"line {i}" for i in range(100)]
    train, valid, test = split_lines(lines)
    assert (len(train), len(valid), len(test)) == (85, 5, 10)
    assert train + valid + test == lines
    f = tmp_path / "c.txt"
    f.write_text("\n".join(lines))
    corpus = load_corpus(TrainConfig(corpus=str(f)))
    assert corpus.test == lines[90:]
    with pytest.raises(LightRNNError, match="missing --test"):
        load_corpus(TrainConfig(train=str(f), valid=str(f)))
    held_out = load_corpus(TrainConfig(train=str(f), test=str(f)))  # no --valid: last 5% of train
    assert held_out.train == lines[:95] and held_out.valid == lines[95:] and held_out.test == lines


def test_ptb_download_fails_offline_with_one_line(tmp_path, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(LightRNNError) as e:
        load_corpus(TrainConfig(ptb=True))
    assert "--train/--valid/--test" in str(e.value) and "\n" not in str(e.value)


def test_no_data_flag_reads_the_built_in_kjv_and_checks_it(data_dir, monkeypatch):
    """The built-in corpus is the shared KJV, byte for byte, split like --corpus."""
    import hashlib

    with open(os.path.join(data_dir, "kjv", "kjv.txt"), encoding="utf-8") as f:
        shared = [ln for ln in f.read().splitlines() if ln.strip()]
    corpus = load_corpus(TrainConfig())
    assert corpus.source == "builtin:kjv"
    assert corpus.train + corpus.valid + corpus.test == shared
    assert len(corpus.test) == round(0.10 * len(shared)) and len(corpus.valid) == round(0.05 * len(shared))
    from lightrnn_tf import data

    monkeypatch.setitem(data.BUILTIN_CORPORA, "kjv", ("kjv.txt.xz", hashlib.sha256(b"other").hexdigest()))
    with pytest.raises(LightRNNError, match="fails its sha256 check"):
        load_corpus(TrainConfig())


def test_tfds_source_reads_a_local_dataset(tmp_path):
    """The real tfds.load path, over a dataset prepared locally (no network)."""
    import tensorflow_datasets as tfds

    from lightrnn_tf.data import load_tfds

    with tfds.testing.mock_data(num_examples=6, as_dataset_fn=None):
        corpus = load_tfds("lm1b", data_dir=str(tmp_path))
    assert corpus.source == "tfds:lm1b"
    assert len(corpus.train) > 0 and all(isinstance(s, str) for s in corpus.test)


def test_unigram_perplexity_matches_counts():
    train = np.array([0, 1, 1, 2, 2, 2], np.int32)
    ev = np.array([2, 1, 2], np.int32)
    p = (np.bincount(train, minlength=4) + 1) / (6 + 4)
    assert np.isclose(unigram_perplexity(train, ev, 4), np.exp(-np.mean(np.log(p[[1, 2]]))))


def test_read_lines_drops_a_byte_order_mark(tmp_path):
    from lightrnn_tf.data import read_lines

    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffIn the beginning\nGod created\n".encode("utf-8"))
    assert read_lines(str(path)) == ["In the beginning", "God created"]


@pytest.mark.parametrize("ids, batch_size, bptt, expected", [
    (np.array([3, -1, 4, 5] * 5), 2, 5, "word ids are >= 0, got -1 at position 1"),
    (np.arange(20) * 1.5, 2, 5, "integer word ids, got shape (20,) and dtype float64"),
    (np.arange(20), 0, 5, "`batch_size`, expected a positive integer, got 0"),
    (np.arange(20), 2, 0, "`bptt`, expected a positive integer, got 0"),
    (np.arange(20), 2, -1, "`bptt`, expected a positive integer, got -1"),
])
def test_stream_dataset_refuses_bad_ids_and_sizes(ids, batch_size, bptt, expected):
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.errors import LightRNNError

    with pytest.raises(LightRNNError, match=re.escape(expected)):
        stream_dataset(ids, batch_size, bptt)


@dataclasses.dataclass(frozen=True)
class _DiesOnALine(Tokenizer):
    """A tokenizer whose worker process dies on the line "die" (as one the kernel kills)."""

    def __call__(self, line):
        if line == "die":
            os._exit(1)
        return super().__call__(line)


def test_a_worker_that_dies_is_one_line_error(monkeypatch):
    import lightrnn_tf.data as data

    monkeypatch.setattr(data, "PARALLEL_MIN_LINES", 500)
    monkeypatch.setattr(data, "CHUNK_LINES", 100)
    with pytest.raises(LightRNNError, match=r"^a worker process tokenizing the corpus died \(killed, or out of "
                                            r"memory\?\); nothing was saved$"):
        Vocabulary.build_and_encode(_DiesOnALine(), ["a b"] * 600 + ["die"] + ["c d"] * 300, workers=2)


def test_a_large_split_is_read_with_a_progress_bar_on_stderr(monkeypatch, capsys):
    """From `PROGRESS_MIN_LINES` lines on, the lines pass through a tqdm bar on stderr (closed on the
    way out, also on an error); below it, they are handed over as they are."""
    import lightrnn_tf.data as data

    lines = ["a b"] * 50
    with data.with_progress(lines, "reading train") as same:
        assert same is lines
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(data, "PROGRESS_MIN_LINES", 50)
    with data.with_progress(lines, "reading train") as bar:
        vocab, ids = Vocabulary.build_and_encode(Tokenizer(), bar)
    assert len(ids) == 150 and "reading train: 100%" in capsys.readouterr().err
    with pytest.raises(LightRNNError):
        with data.with_progress(lines, "reading valid") as bar:
            Vocabulary.build_and_encode(Tokenizer(), bar, min_count=100)
    assert "reading valid" in capsys.readouterr().err
