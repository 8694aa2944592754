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
`<unk>` and `<eos>` are never suggested; typed words outside the vocabulary are read as `<unk>`.

Exact completion (same bound argument as `NextWordPredictor.top_k`): a word's log-prob is its
row's score plus a column log-prob <= 0. The rows that hold a word matching the prefix are visited
in decreasing row score; each batch of M of them is expanded with the `expand` signature, and the
loop stops as soon as the k-th best matching candidate reaches the score of the next unexpanded
matching row (no word there can beat it), or when no matching row is left.

State cache: a context (the committed ids, `<eos>` first) keeps its state, its `top_k` output
(row order and scores) and every row expanded for it, so typing more letters of the same word
re-uses them; a new committed word costs one `feed`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict

import numpy as np

from export.metadata import decode_allocation
from export.predictor import NextWordPredictor
from lightrnn_tf.errors import LightRNNError

_MAX_CHAR = chr(0x10FFFF)


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
    """

    def __init__(self, model, cache_size: int = 64):
        self.predictor = model if isinstance(model, NextWordPredictor) else NextWordPredictor(model)
        p = self.predictor
        self.text = p.text
        self.words = p.words
        self.special = {p.text.unk_id, p.text.eos_id}
        self.index = WordIndex(self.words, self.special)
        self.word_row, _ = decode_allocation(p.meta["table"])
        self.cache_size = int(cache_size)
        self._cache: OrderedDict = OrderedDict()
        self.stats = {"feed": 0, "top_k": 0, "expand": 0}

    # === Text -> (context, partial word) ===

    def split_typed(self, text: str) -> tuple[tuple, str]:
        """`(committed ids with <eos> first, partial word or "")` of the text before the cursor."""
        ids = self.text.encode_context(text)
        if text and not text[-1].isspace():
            last_line = text.splitlines()[-1]
            tokens = self.text.tokenize(last_line)
            if tokens:
                return tuple(ids[:-1]), tokens[-1]
        return tuple(ids), ""

    # === States ===

    def context(self, ids) -> _Context:
        """The cached context of committed `ids` (`<eos>` first), computed from its longest cached prefix."""
        ids = tuple(int(i) for i in ids)
        if not ids or ids[0] != self.text.eos_id:
            raise LightRNNError("a context starts with <eos>")
        n = len(ids)
        while n > 1 and ids[:n] not in self._cache:
            n -= 1
        if ids[:n] in self._cache:
            ctx = self._cache[ids[:n]]
            self._cache.move_to_end(ids[:n])
        else:
            ctx = _Context(self.predictor.start_state())
            self._put(ids[:1], ctx)
        for m in range(n, len(ids)):
            ctx = _Context(self.predictor.feed(ids[m], ctx.state))
            self.stats["feed"] += 1
            self._put(ids[: m + 1], ctx)
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
        todo = [int(r) for r in rows if int(r) not in ctx.rows]
        m = self.predictor.expand_rows
        for start in range(0, len(todo), m):
            batch = todo[start : start + m]
            padded = np.array(batch + batch[-1:] * (m - len(batch)), np.int32)
            out = self.predictor._run["expand"](state=ctx.state, rows=padded)
            self.stats["expand"] += 1
            for j, r in enumerate(batch):
                ctx.rows[r] = (out["words"][j], out["log_probs"][j])

    # === Suggestions ===

    def next_words(self, ctx, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Exact k most probable next words, specials left out: `(ids (<=k,), log_probs)`, best first."""
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

    @staticmethod
    def _best(ids, lps, k):
        ids, lps = np.asarray(ids, np.int64), np.asarray(lps, np.float32)
        best = np.lexsort((ids, -lps))[:k]  # by log-prob, ties by id
        return ids[best], lps[best]

    def suggest_ids(self, text: str, k: int = 3) -> tuple[np.ndarray, np.ndarray, str]:
        """`(ids, log_probs, partial)` of the k suggestions for the text before the cursor."""
        ids, partial = self.split_typed(text)
        ctx = self.context(ids)
        if partial:
            return (*self.complete(ctx, partial, k), partial)
        return (*self.next_words(ctx, k), partial)

    def suggest(self, text: str, k: int = 3) -> list[str]:
        """The k suggestions (words) for the text before the cursor, best first."""
        ids, _, _ = self.suggest_ids(text, k)
        return [self.words[int(i)] for i in ids]

    def accept(self, text: str, word: str) -> str:
        """The text after tapping the suggestion `word`: the partial word replaced, then a space."""
        _, partial = self.split_typed(text)
        if partial:
            # the partial is the last token, possibly lowercased: cut as many characters
            text = text[: len(text) - len(partial)]
        return text + word + " "
