"""Keyboard suggestions from an exported LightRNN: next words and completions of the typed word.

    from export.keyboard import KeyboardPredictor
    kb = KeyboardPredictor("ptb.tflite")
    kb.suggest("the company said it ")     # next word:  ['will', 'is', 'was']
    kb.suggest("the company said it w")    # completion: ['will', 'was', 'would']

What the keyboard shows for a text before the cursor (`split_typed`):
  - the text is empty or ends with whitespace: every token is committed; the three most probable
    next words (`next_words`);
  - otherwise the last token of the tokenizer (same lowercasing and punctuation rules as training,
    read from the model's metadata) is the word being typed: the three most probable vocabulary
    words that start with it (`complete`). The committed tokens before it give the state.
`<unk>` and `<eos>` are never suggested; typed words outside the vocabulary are read as `<unk>`
by the model (the typed-word history below can still suggest them).

Capitals: with a model that lowercases (`--lowercase`), a tap keeps the capitals of the typed
prefix (`cased`): "Ze" + "zebedee" inserts "Zebedee", "ZE" inserts "ZEBEDEE". A model that keeps
capitals matches them exactly, as training did: "Th" completes to "The", not "the", and a word
whose capitalised form it never saw reads as `<unk>`; `python -m export` says so when a vocabulary
is (almost) all lowercase but its model keeps capitals. Lines end where Python's `str.splitlines` ends them
(the web and Android engines map the same characters to line ends).

Exact completion (same bound argument as `NextWordPredictor.top_k`): a word's log-prob is its
row's score plus a column log-prob <= 0. The rows that hold a word matching the prefix are visited
in decreasing row score; each batch of M of them is expanded with the `expand` signature, and the
loop stops as soon as the k-th best matching candidate reaches the score of the next unexpanded
matching row (no word there can beat it), or when no matching row is left.

State cache: a context (the committed ids, `<eos>` first) keeps its state, its `top_k` output
(row order and scores) and every row expanded for it, so typing more letters of the same word
re-uses them; a new committed word costs one `feed`. The state after every `CHECKPOINT_EVERY`
words is kept too, so a cursor moved anywhere in a long text costs fewer feeds than that.

Typed-word history (`history_weight` lam, `HISTORY_WEIGHT` = 0.1 by default; 0 turns it off): the
keyboard also learns from the text already in the field, as phone keyboards do. The last
`history_words` committed tokens (specials left out, words outside the vocabulary kept) form a
unigram cache (Kuhn & De Mori 1990), and a word's score is `(1 - lam) p_model(w) + lam count(w) / N`
with lam = `history_weight` N / (N + `HISTORY_RAMP`) (N = 20 words typed: half the weight), so
that the first words of a text do not come back as chips on their own (with nothing typed yet:
`p_model(w)`). A word the model cannot produce can then be suggested once
it has been typed. Still exact: a word neither among the model's top k nor in the history scores at
most the model's k-th candidate, so the candidates are those k plus the history's words with the
prefix; a history word's row is expanded only while its bound `(1 - lam) exp(row score) + lam
count / N` can beat the k-th best score. Ties: higher score first, then vocabulary words by id,
then other words by spelling. The web and Android engines do the same.
"""

from __future__ import annotations

import bisect
import math
import unicodedata
from collections import Counter, OrderedDict, deque

import numpy as np

from export.metadata import decode_allocation
from export.predictor import NextWordPredictor
from export.text import WORD_JOINERS, TextEncoder, word_char
from lightrnn_tf.errors import LightRNNError, positive_int

_MAX_CHAR = chr(0x10FFFF)
HISTORY_WEIGHT = 0.1  # lam of the typed-word history (module docstring); 0 turns it off
HISTORY_RAMP = 20  # kappa: the history's weight is lam N / (N + kappa) after N typed words
HISTORY_WORDS = 500  # committed tokens the history keeps
SPECIAL_TOKENS = frozenset({"<unk>", "<eos>"})  # never suggested, never kept in the history
CHECKPOINT_EVERY = 256  # committed words between kept states (`KeyboardPredictor.context`)
MAX_CHECKPOINTS = 4096  # kept states at most (about 2 KB each at H = 256); then they start again


def history_lambda(weight: float, n: int) -> float:
    """The weight of a history of `n` typed words: `weight * n / (n + HISTORY_RAMP)`, so that a word
    or two typed at the start of a text do not outweigh the model (the word just typed came back as
    a chip: "Moses " gave and, moses, said). The web and Android engines compute the same."""
    return weight * n / (n + HISTORY_RAMP)


class WordIndex:
    """Vocabulary words by prefix, special tokens left out.

    Args:
        words: list of str, the vocabulary in id order.
        skip: set of int, ids never returned (e.g. `<unk>`, `<eos>`).
    """

    def __init__(self, words, skip=()):
        skip = set(int(i) for i in skip)
        pairs = sorted((w, i) for i, w in enumerate(words) if i not in skip)
        self._words = [w for w, _ in pairs]
        self._ids = np.array([i for _, i in pairs], np.int64)

    def matching(self, prefix: str) -> np.ndarray:
        """Ids of the words that start with `prefix` (all of them for `""`), sorted by word."""
        lo = bisect.bisect_left(self._words, prefix)
        hi = bisect.bisect_left(self._words, prefix + _MAX_CHAR, lo)
        return self._ids[lo:hi]


class History:
    """The last `size` committed tokens of a text (strings, special tokens left out) and their counts.

    Args:
        size: int, tokens kept (the oldest go first).
        special: set of str never kept. Default: `SPECIAL_TOKENS`.
    """

    def __init__(self, size: int, special=SPECIAL_TOKENS):
        self.size = int(size)
        self.special = frozenset(special)
        self._tokens: deque = deque()
        self.counts: Counter = Counter()
        # token -> the capitals it was last typed with, where they are the word's own: a capital
        # inside it ("McDonald", "iPhone", "NASA") or a first one away from a sentence start ("Zoë",
        # "I"); filled for a lowercasing model
        self.surfaces: dict = {}

    def add(self, token: str) -> None:
        if token in self.special or self.size <= 0:
            return
        self._tokens.append(token)
        self.counts[token] += 1
        if len(self._tokens) > self.size:
            old = self._tokens.popleft()
            self.counts[old] -= 1
            if not self.counts[old]:
                del self.counts[old]

    def __len__(self) -> int:
        return len(self._tokens)


def prefix_keys(ids: np.ndarray, window: int = CHECKPOINT_EVERY):
    """`key(n)`: a key of `ids[:n]` (int64 ids) for n = 1, each multiple of `CHECKPOINT_EVERY`, and
    every n in the last `window` lengths (`len(ids) - window` to `len(ids)`): a 128-bit BLAKE2b
    digest of the prefix's bytes and its length, all from one pass over `ids` (slicing and hashing
    every prefix cost O(n^2) when the cursor moved in a long text). Other lengths raise `KeyError`."""
    import hashlib

    data = memoryview(np.ascontiguousarray(ids, dtype="<i8")).cast("B")
    n = len(ids)
    keys = {}
    h = hashlib.blake2b(digest_size=16)
    done = 0
    for m in sorted({1, *range(CHECKPOINT_EVERY, n + 1, CHECKPOINT_EVERY), *range(max(1, n - window), n + 1)}):
        h.update(data[8 * done: 8 * m])
        keys[m] = (m, h.digest())
        done = m
    return keys.__getitem__


class _Context:
    """What one committed context keeps: its state, its `top_k` output and its expanded rows."""

    __slots__ = ("state", "top", "rows")

    def __init__(self, state):
        self.state = state
        self.top = None  # dict of the top_k signature's outputs
        self.rows = {}  # row -> (words (C,), log_probs (C,))


class KeyboardPredictor:
    """Next-word and completion suggestions with a per-context state cache.

    Args:
        model: str path of a `.tflite` written by `python -m export`, or a `NextWordPredictor`.
        cache_size: int, contexts kept (each holds one state and its expanded rows). Default: `64`.
        history_weight: float in [0, 1), the weight lam of the typed-word history (module
            docstring); `0` turns it off. Default: `HISTORY_WEIGHT`.
        history_words: int, committed tokens the history keeps. Default: `HISTORY_WORDS`.
    """

    def __init__(self, model, cache_size: int = 64, history_weight: float = None, history_words: int = None):
        self.predictor = model if isinstance(model, NextWordPredictor) else NextWordPredictor(model)
        p = self.predictor
        self.text = TextEncoder(p.meta, fold_apostrophes=True)  # typed ’ read as a vocabulary of ' reads it
        self.words = p.words
        self.special = {p.text.unk_id, p.text.eos_id}
        self.index = WordIndex(self.words, self.special)
        self.word_row, self.word_col = decode_allocation(p.meta["table"])
        self.cache_size = int(cache_size)
        if self.cache_size < 1:
            raise LightRNNError(f"cache_size must be >= 1, got {cache_size}")
        self._cache: OrderedDict = OrderedDict()  # prefix_keys key -> _Context, the last cache_size used
        self._checkpoints: dict = {}  # key -> state, every CHECKPOINT_EVERY words of the texts read
        self._history_memo = (None, None)  # (text, its History)
        self.stats = {"feed": 0, "top_k": 0, "expand": 0}
        self.history_weight = HISTORY_WEIGHT if history_weight is None else float(history_weight)
        self.history_words = HISTORY_WORDS if history_words is None else int(history_words)
        if not 0 <= self.history_weight < 1:
            raise LightRNNError(f"history_weight must be in [0, 1), got {self.history_weight}")
        if self.history_words < 0:
            raise LightRNNError(f"history_words must be >= 0, got {self.history_words}")

    # === Text -> (context, partial word) ===

    def history(self, text: str) -> History:
        """The typed-word history of the text before the cursor (its committed tokens only).

        Reads lines from the end only until it has the last `history_words` tokens, so the history's
        part of a keystroke costs no more in a long text than in a short one."""
        if self._history_memo[0] == (text, self.history_words):  # `cased` asks again for each chip
            return self._history_memo[1]
        hist = History(self.history_words)
        tail: list[list[str]] = []
        typed_tail: list[list[str]] = []  # the same tokens as typed (no lowercasing), when they align
        kept = 0  # tokens read that the history would keep
        for ln in reversed(text.splitlines()):
            if kept > self.history_words:  # one spare: the word being typed is dropped below
                break
            tokens, cut = self._last_tokens(ln, self.history_words + 1 - kept, hist.special)
            tail.append(tokens)
            typed_tail.append(self._typed_capitals(ln, cut, tokens) if self.text.lowercase else [None] * len(tokens))
            kept += sum(t not in hist.special for t in tail[-1])
        tokens = [t for toks in reversed(tail) for t in toks]
        surfaces = [s for toks in reversed(typed_tail) for s in toks]
        covered = self.text.typed_word(text)[1]  # the word being typed is not committed yet
        del tokens[len(tokens) - covered:], surfaces[len(surfaces) - covered:]
        pairs = [(t, s) for t, s in zip(tokens, surfaces) if t not in hist.special]
        for t, s in pairs[max(0, len(pairs) - self.history_words):]:
            hist.add(t)
            if s:
                hist.surfaces[t] = s
            elif s == "":  # typed in lowercase: the capitals seen before were not the word's own
                hist.surfaces.pop(t, None)
        self._history_memo = ((text, self.history_words), hist)
        return hist

    def _typed_capitals(self, line: str, cut: int, tokens: list) -> list:
        """For each of `tokens` (those of `line[cut:]`), the token as typed where its capitals are
        the word's own (`History.surfaces`), `""` where it was typed in lowercase (which forgets
        capitals seen before), else None (a capital that may be the sentence's); all None where
        typed and lowercased tokens do not align one to one."""
        typed = self.text.tokenize(line[cut:], lowercase=False)
        if len(typed) != len(tokens):
            return [None] * len(tokens)
        out = []
        for j, (t, s) in enumerate(zip(tokens, typed)):
            if s == t:
                out.append("")
                continue
            sentence_start = j == 0 or typed[j - 1] in SENTENCE_STARTS_AFTER
            own = any(c.isupper() for c in s[1:]) or (s[:1].isupper() and not sentence_start)
            out.append(s if own else None)
        return out

    def _last_tokens(self, line: str, need: int, special) -> tuple[list[str], int]:
        """`(tokens, cut)`: the tokens of `line[cut:]`, the end of `line` with at least `need` tokens
        not in `special` (all of the line's tokens if it has fewer): tokenizes a growing tail cut at
        whitespace or what reads as it (`TextEncoder.separates`: a zero-width space), where no token
        spans, so a long line costs what its end does."""
        span = 16 * (need + 1)
        while span < len(line):
            cut = len(line) - span
            while cut > 0 and not self.text.separates(line[cut - 1]):
                cut -= 1
            tokens = self.text.tokenize(line[cut:])
            if sum(t not in special for t in tokens) >= need:
                return tokens, cut
            span *= 2
        return self.text.tokenize(line), 0

    def split_typed(self, text: str) -> tuple[tuple, str]:
        """`(committed ids with <eos> first, partial word or "")` of the text before the cursor
        (`TextEncoder.typed_word`: "l’" is the partial word, not a committed "l" and "’")."""
        ids = self.text.encode_context(text)
        partial, covered = self.text.typed_word(text)
        return tuple(ids[: len(ids) - covered]), partial

    # === States ===

    def context(self, ids) -> _Context:
        """The cached context of committed `ids` (`<eos>` first), computed from its longest cached prefix.

        Besides the last `cache_size` contexts, the state after every `CHECKPOINT_EVERY` committed
        words is kept, so moving the cursor anywhere in a long text feeds at most that many words
        again, not the whole text up to it (as the web engine)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not ids.size or ids[0] != self.text.eos_id:
            raise LightRNNError("a context starts with <eos>")
        window = max(self.cache_size, CHECKPOINT_EVERY)  # the cached contexts lie within it, or at checkpoints
        key = prefix_keys(ids, window)
        n = len(ids)
        while n > 1 and key(n) not in self._cache and key(n) not in self._checkpoints:
            # one word at a time over the window, then from checkpoint to checkpoint
            n = n - 1 if n > len(ids) - window else max(1, (n - 1) // CHECKPOINT_EVERY * CHECKPOINT_EVERY)
        if key(n) in self._cache:
            ctx = self._cache[key(n)]
        elif key(n) in self._checkpoints:
            ctx = _Context(self._checkpoints[key(n)])
        else:
            ctx, n = _Context(self.predictor.start_state()), 1
        self._put(key(n), ctx)
        for m in range(n, len(ids)):
            ctx = _Context(self.predictor.feed(int(ids[m]), ctx.state))
            self.stats["feed"] += 1
            if (m + 1) % CHECKPOINT_EVERY == 0:
                if len(self._checkpoints) >= MAX_CHECKPOINTS:
                    self._checkpoints.clear()
                self._checkpoints[key(m + 1)] = ctx.state
            if m >= len(ids) - self.cache_size:  # the others would be evicted below anyway
                self._put(key(m + 1), ctx)
        return ctx

    def _put(self, key, ctx):
        self._cache[key] = ctx
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _top(self, ctx) -> dict:
        if ctx.top is None:
            ctx.top = self.predictor._run["top_k"](state=ctx.state)
            self.stats["top_k"] += 1
        return ctx.top

    def _expand(self, ctx, rows):
        """Expands the rows of `rows` not yet expanded for `ctx` (M at a time)."""
        todo = [r for r in dict.fromkeys(int(r) for r in rows) if r not in ctx.rows]
        m = self.predictor.expand_rows
        for start in range(0, len(todo), m):
            batch = todo[start : start + m]
            padded = np.array(batch + batch[-1:] * (m - len(batch)), np.int32)
            out = self.predictor._run["expand"](state=ctx.state, rows=padded)
            self.stats["expand"] += 1
            for j, r in enumerate(batch):
                ctx.rows[r] = (out["words"][j], out["log_probs"][j])

    # === Suggestions ===

    @staticmethod
    def _check_k(k):
        positive_int(k, "k")

    def next_words(self, ctx, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Exact k most probable next words, specials left out: `(ids (<=k,), log_probs)`, best first."""
        self._check_k(k)
        top = self._top(ctx)
        order, row_scores = top["row_order"], top["row_log_probs"]
        m, rows = self.predictor.expand_rows, self.predictor.rows
        words, lps = top["words"], top["log_probs"]
        keep = (words >= 0) & ~np.isin(words, list(self.special))
        cand_ids, cand_lps = list(words[keep]), list(lps[keep])
        # Words of the first M rows missing from top_k's list score <= its last entry, so the list is
        # usable only while the k-th candidate comes from it (k <= its non-special entries).
        if len(cand_ids) < k:
            cand_ids, cand_lps, expanded = [], [], 0
        else:
            expanded = m
        while True:
            bound = row_scores[expanded] if expanded < rows else -np.inf
            if len(cand_lps) >= k and np.sort(cand_lps)[::-1][k - 1] >= bound:
                break
            if expanded >= rows:
                break
            batch = order[expanded : expanded + m]
            self._expand(ctx, batch)
            for r in batch:
                w, lp = ctx.rows[int(r)]
                ok = (w >= 0) & ~np.isin(w, list(self.special))
                cand_ids.extend(w[ok])
                cand_lps.extend(lp[ok])
            expanded += len(batch)
        return self._best(cand_ids, cand_lps, k)

    def complete(self, ctx, prefix: str, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Exact k most probable words starting with `prefix`: `(ids (<=k,), log_probs)`, best first."""
        self._check_k(k)
        match = self.index.matching(prefix)
        if len(match) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        top = self._top(ctx)
        order, row_scores = top["row_order"], top["row_log_probs"]
        has_match = np.zeros(self.predictor.rows, bool)
        has_match[self.word_row[match]] = True
        ranked = np.flatnonzero(has_match[order])  # positions in `order` of rows with a match
        cand = {}  # word id -> log-prob
        matching = set(int(i) for i in match)
        m, pos = self.predictor.expand_rows, 0
        while True:
            bound = row_scores[ranked[pos]] if pos < len(ranked) else -np.inf
            if len(cand) >= k and np.sort(list(cand.values()))[::-1][k - 1] >= bound:
                break
            if pos >= len(ranked):
                break
            batch = order[ranked[pos : pos + m]]
            self._expand(ctx, batch)
            for r in batch:
                w, lp = ctx.rows[int(r)]
                for wi, li in zip(w, lp):
                    if int(wi) in matching:
                        cand[int(wi)] = float(li)
            pos += len(batch)
        return self._best(list(cand), list(cand.values()), k)

    def with_history(self, ctx, prefix: str, history: History, k: int = 3,
                     weight: float = None) -> list[tuple[str, float]]:
        """Exact k best words starting with `prefix` (`""`: next words) under the model mixed with
        `history`: `[(word, score)]`, best first, score = `(1 - lam) p_model + lam count / N`, lam =
        `history_lambda(weight, N)` (`weight` default: `history_weight`)."""
        self._check_k(k)
        n = len(history)
        lam = history_lambda(self.history_weight if weight is None else float(weight), n)
        ids, lps = self.complete(ctx, prefix, k) if prefix else self.next_words(ctx, k)
        if lam == 0 or n == 0:
            return [(self.words[int(i)], math.exp(float(lp))) for i, lp in zip(ids, lps)]
        index = self.text.index
        cand = {}  # word -> (score, tie key)
        for i, lp in zip(ids, lps):
            w = self.words[int(i)]
            cand[w] = ((1 - lam) * math.exp(float(lp)) + lam * history.counts.get(w, 0) / n, int(i))
        to_score = []  # (word, id, count) of vocabulary words in the history the model has to score
        for w, c in history.counts.items():
            if w in cand or not w.startswith(prefix):
                continue
            i = index.get(w)
            if i is None:
                cand[w] = (lam * c / n, len(self.words))
            else:
                to_score.append((w, i, c))
        pending = []  # (bound, word, id, count), the highest bound first
        if to_score:
            top = self._top(ctx)
            row_score = {int(r): float(s) for r, s in zip(top["row_order"], top["row_log_probs"])}
            pending = sorted((((1 - lam) * math.exp(row_score[int(self.word_row[i])]) + lam * c / n, w, i, c)
                              for w, i, c in to_score), key=lambda t: (-t[0], t[2]))
        m = self.predictor.expand_rows
        pos = 0
        while pos < len(pending):
            if len(cand) >= k and self._kth(cand, k) >= pending[pos][0]:
                break
            batch = pending[pos : pos + m]
            self._expand(ctx, [int(self.word_row[i]) for _, _, i, _ in batch])
            for _, w, i, c in batch:
                words, lps_row = ctx.rows[int(self.word_row[i])]
                col = int(self.word_col[i])  # expand returns a row's cells in column order
                lp = float(lps_row[col if words[col] == i else int(np.flatnonzero(words == i)[0])])
                cand[w] = ((1 - lam) * math.exp(lp) + lam * c / n, int(i))
            pos += len(batch)
        # ties: by id, then by word in UTF-16 code units, the order of JS and Java strings
        best = sorted(cand.items(),
                      key=lambda kv: (-kv[1][0], kv[1][1], kv[0].encode("utf-16-be", "surrogatepass")))[:k]
        return [(w, s) for w, (s, _) in best]

    @staticmethod
    def _kth(cand, k):
        return sorted((s for s, _ in cand.values()), reverse=True)[k - 1]

    @staticmethod
    def _best(ids, lps, k):
        ids, lps = np.asarray(ids, np.int64), np.asarray(lps, np.float32)
        best = np.lexsort((ids, -lps))[:k]  # by log-prob, ties by id
        return ids[best], lps[best]

    def suggest_ids(self, text: str, k: int = 3) -> tuple[np.ndarray, np.ndarray, str]:
        """`(ids, log_probs, partial)` of the model's own k suggestions for the text before the cursor
        (vocabulary words only, without the typed-word history; `suggest` adds it)."""
        ids, partial = self.split_typed(text)
        ctx = self.context(ids)
        if partial:
            return (*self.complete(ctx, partial, k), partial)
        return (*self.next_words(ctx, k), partial)

    def suggest(self, text: str, k: int = 3) -> list[str]:
        """The k suggestions (words) for the text before the cursor, best first; with the typed-word
        history when `history_weight` > 0 (then a word outside the vocabulary can be suggested)."""
        self._check_k(k)
        if self.history_weight == 0:
            ids, _, _ = self.suggest_ids(text, k)
            return [self.words[int(i)] for i in ids]
        ids, partial = self.split_typed(text)
        return [w for w, _ in self.with_history(self.context(ids), partial, self.history(text), k)]

    def cased(self, text: str, word: str, partial: str | None = None) -> str:
        """`word` as a tap inserts it after `text`: with a lowercasing model, in the capitals of the
        typed prefix (`match_case`); otherwise as it is. `partial`: the word being typed, when the
        caller has it (`split_typed`'s), to save reading the text again."""
        if partial is None:
            _, partial = self.split_typed(text)
        if not self.text.lowercase:
            return word
        if self.history_weight > 0:  # the capitals the word was typed with ("McDonald", "Zoë", "I")
            word = self.history(text).surfaces.get(word, word)
        if not partial:
            return word
        cased = match_case(self.text.folded(text[len(text) - self.text.typed_length(text, partial):]), word)
        # "İst" + "i̇stanbul" gives "İstanbul", not "I" + U+0307 + "stanbul"
        return unicodedata.normalize(self.text.normalization, cased) if self.text.normalization else cased

    def accept(self, text: str, word: str, partial: str | None = None) -> str:
        """The text after tapping the suggestion `word`: the partial word replaced (its capitals kept,
        `cased`), then a space. Closing punctuation (`CLOSING_PUNCT`: "," "." "?" ")"...) goes
        against the word before it, the spaces between them removed; opening punctuation
        (`OPENING_PUNCT`) gets no space after it. `partial` as in `cased`."""
        if partial is None:
            _, partial = self.split_typed(text)
        cased = self.cased(text, word, partial)
        if partial:
            # the partial is the last token, lowercased and normalized: cut the characters it was typed as
            text = text[: len(text) - self.text.typed_length(text, partial)]
        if cased and all(c in CLOSING_PUNCT for c in cased):
            attached = text.rstrip(" ")
            if attached and not attached[-1].isspace():  # after a word, not at a line's start
                text = attached
        elif cased and all(c in OPENING_PUNCT for c in cased):
            return text + cased
        return text + cased + " "

    def accept_at(self, before: str, after: str, word: str) -> tuple[str, str]:
        """The text around the caret after tapping `word` with the caret between `before` and
        `after`: `(before', after')`, the caret at `len(before')`. The word being typed is replaced
        whole: its part before the caret (`accept`) and the rest of it after the caret
        (`word_prefix_length`: "com|pany, said" + company -> "company |, said"). One space follows the word: a space or tab
        right after it is re-used, and before a line end none is added."""
        _, partial = self.split_typed(before)
        head = self.accept(before, word, partial)
        if partial and (word_char(partial[-1]) or partial[-1] in WORD_JOINERS):
            # the caret is inside a word: its rest (letters, digits, _, combining marks, inner
            # apostrophes and joiners) goes too; after a punctuation mark the next word stays
            after = after[word_prefix_length(after, self.text.removed):]
        if head.endswith(" "):
            if after[:1] in (" ", "\t"):
                after = after[1:]
            elif after[:1] and after[:1].splitlines() == [""]:  # a line end: no space before it
                head = head[:-1]
        return head, after


# Punctuation a tap puts against the word before it (the spaces between them removed) and, opening,
# against the word after it (no space follows). The web and Android engines use the same sets.
CLOSING_PUNCT = ",.!?:;)]}”’»›…、。，．！？：；）」』】،؛؟।॥"
OPENING_PUNCT = "([{“‘«‹¿¡（「『【"


# Tokens after which a sentence (or a quotation, a parenthesis) may start, so a capital there may
# be the sentence's, not the word's.
SENTENCE_STARTS_AFTER = frozenset((".", "!", "?", "…", "。", "！", "？", "؟", "।", ":", '"', "'", "“", "‘", "«", "(",
                                   "[", "{", "¿", "¡", "—", "–", "-"))


def word_prefix_length(text: str, removed=lambda c: False) -> int:
    r"""How many characters `text` starts with that continue a word: word characters (letters,
    digits, `_`: Python's `\w`; and combining marks, which the tokenizer keeps in words) and
    apostrophes or zero-width joiners followed by one (`export.text.WORD_JOINERS`); characters the
    tokenizer removes (`removed`: `TextEncoder.removed`, a soft hyphen) count in before a word
    character or a joiner that continues the word. The web and Android engines do the same."""
    def skip(i):  # past the removed characters from i
        while i < len(text) and removed(text[i]):
            i += 1
        return i

    n = 0
    while True:
        m = skip(n)
        if m < len(text) and (word_char(text[m]) or text[m] in WORD_JOINERS and skip(m + 1) < len(text)
                              and word_char(text[skip(m + 1)])):
            n = m + 1
        else:
            return n


def match_case(typed: str, word: str) -> str:
    """`word` in the capitals of the `typed` prefix it completes: all capitals if every letter typed
    is one and there are two or more ("ZE" -> "ZEBEDEE"); else each capital typed where it was
    typed and the rest of `word` as it is ("McD" -> "McDonald", "iPh" -> "iPhone", "O'Br" ->
    "O'Brien", "Ze" -> "Zebedee"), when `typed` lowercased character by character spells the start
    of `word` (any case); otherwise (typed decomposed, or with a character the tokenizer drops) a
    capital first letter if the typed one is, else `word` unchanged. The web and Android engines do
    the same."""
    letters = [c for c in typed if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return word.upper()
    out, j = [], 0
    for c in typed:
        lower = c.lower()  # "İ" -> "i̇", two code points
        chunk = word[j:j + len(lower)]
        if chunk.lower() != lower:
            break
        out.append(c if c.isupper() else chunk)
        j += len(lower)
    else:
        return "".join(out) + word[j:]
    if typed[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
