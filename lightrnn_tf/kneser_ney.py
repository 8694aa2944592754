"""Interpolated Kneser–Ney trigram language model over an id stream, in NumPy.

    lm = KneserNeyTrigram(train_ids, vocab_size, discount=0.75)
    lm.perplexity(test_ids)              # targets test_ids[1:], each given up to two previous ids

The formulas are those of NLTK's `nltk.lm.KneserNeyInterpolated` (order 3), which the tests
compare position by position on a small text; NLTK itself needs minutes for a corpus the size of
the KJV, this needs about a second. With u v w a trigram, c(.) counts and N1+ the number of
distinct words filling a `.`:

    P3(w | u v) = max(c(u v w) - d, 0) / c(u v .) + d N1+(u v .) / c(u v .) * P2(w | v)
    P2(w | v)   = max(N1+(. v w) - d, 0) / N1+(. v .) + d N1+(v .) / N1+(. v .) * P1(w)
    P1(w)       = N1+(. w) / N1+(. .)

(a context never seen falls through to the next order with weight 1). NLTK's P1 gives zero to a
word that never follows another, which makes perplexity infinite; by default P1 is therefore
interpolated with the uniform distribution, `max(N1+(. w) - d, 0) / N1+(. .) + d N1+(. *) /
N1+(. .) / V` (`nltk_unigram=True` gives NLTK's). The stream is read as one sequence: contexts cross
`<eos>`, as the LSTM's state does when it reads a stream.
"""

from __future__ import annotations

import math

import numpy as np

from lightrnn_tf.errors import LightRNNError


class KneserNeyTrigram:
    """Counts of a training id stream and interpolated Kneser–Ney probabilities.

    Args:
        ids: `(N,)` int training ids, N >= 3.
        vocab_size: int, V; ids lie in `[0, V)`.
        discount: float, d in (0, 1). Default: `0.75`.
        nltk_unigram: bool, NLTK's unigram (no uniform floor). Default: `False`.
    """

    def __init__(self, ids, vocab_size: int, discount: float = 0.75, nltk_unigram: bool = False):
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) < 3:
            raise LightRNNError(f"a trigram model needs at least 3 training tokens, got {len(ids)}")
        if not 0.0 < discount < 1.0:
            raise LightRNNError(f"Received an invalid value for `discount`, expected 0 < d < 1, got {discount}.")
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise LightRNNError(f"ids must lie in [0, {vocab_size}), got [{ids.min()}, {ids.max()}]")
        self.V, self.d, self.nltk_unigram = int(vocab_size), float(discount), nltk_unigram
        V = self.V
        u, v, w = ids[:-2], ids[1:-1], ids[2:]
        # Trigrams: c(u v w), then per context c(u v .) and N1+(u v .).
        self.tri_keys, tri_counts = np.unique((u * V + v) * V + w, return_counts=True)
        self.tri_counts = tri_counts.astype(np.float64)
        uv = self.tri_keys // V
        self.ctx2_keys, first = np.unique(uv, return_index=True)
        self.ctx2_total = np.add.reduceat(self.tri_counts, first)  # c(u v .)
        self.ctx2_types = np.diff(np.append(first, len(uv))).astype(np.float64)  # N1+(u v .)
        # Continuation counts for the middle order, from distinct trigrams: N1+(. v w), N1+(. v .).
        vw = self.tri_keys % (V * V)
        self.cont2_keys, cont2 = np.unique(vw, return_counts=True)
        self.cont2 = cont2.astype(np.float64)  # N1+(. v w)
        self.cont2_total = np.bincount(self.cont2_keys // V, weights=self.cont2, minlength=V)  # N1+(. v .)
        # Bigrams: N1+(v .) (distinct followers) and whether v was seen as a context; N1+(. w).
        bi_keys = np.unique(ids[:-1] * V + ids[1:])
        self.bi_types = np.bincount(bi_keys // V, minlength=V).astype(np.float64)  # N1+(v .)
        self.cont1 = np.bincount(bi_keys % V, minlength=V).astype(np.float64)  # N1+(. w)
        self.cont1_total = float(len(bi_keys))  # N1+(. .)

    # === Probabilities ===

    def unigram(self, w) -> np.ndarray:
        """`P1(w)` for ids `w (n,)`."""
        w = np.asarray(w, dtype=np.int64)
        if self.nltk_unigram:
            return self.cont1[w] / self.cont1_total
        seen = float(np.count_nonzero(self.cont1))
        return (np.maximum(self.cont1[w] - self.d, 0.0) + self.d * seen / self.V) / self.cont1_total

    def bigram(self, v, w) -> np.ndarray:
        """`P2(w | v)` for ids `v, w (n,)`."""
        v, w = np.asarray(v, dtype=np.int64), np.asarray(w, dtype=np.int64)
        lower = self.unigram(w)
        total = self.cont2_total[v]
        seen = self.bi_types[v] > 0  # NLTK: a context without counts falls through with weight 1
        cont = _lookup(self.cont2_keys, self.cont2, v * self.V + w)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(total > 0, np.maximum(cont - self.d, 0.0) / total, 0.0)
            gamma = np.where(total > 0, self.d * self.bi_types[v] / total, 1.0)
        return np.where(seen, alpha + gamma * lower, lower)

    def trigram(self, u, v, w) -> np.ndarray:
        """`P3(w | u v)` for ids `u, v, w (n,)`."""
        u, v, w = (np.asarray(a, dtype=np.int64) for a in (u, v, w))
        lower = self.bigram(v, w)
        ctx = u * self.V + v
        total = _lookup(self.ctx2_keys, self.ctx2_total, ctx)
        types = _lookup(self.ctx2_keys, self.ctx2_types, ctx)
        count = _lookup(self.tri_keys, self.tri_counts, ctx * self.V + w)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.maximum(count - self.d, 0.0) / total + self.d * types / total * lower
        return np.where(total > 0, p, lower)

    def log_probs(self, ids) -> np.ndarray:
        """`(N - 1,)` natural-log probabilities of `ids[1:]`, the first with one id of context."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) < 2:
            raise LightRNNError(f"need at least 2 tokens to score, got {len(ids)}")
        first = self.bigram(ids[:1], ids[1:2])
        rest = self.trigram(ids[:-2], ids[1:-1], ids[2:])
        with np.errstate(divide="ignore"):
            return np.log(np.concatenate([first, rest]))

    def perplexity(self, ids) -> float:
        """`exp(-mean log P)` over `ids[1:]`."""
        return float(math.exp(-self.log_probs(ids).mean()))


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """`values` at `queries` in `sorted_keys`, 0 where a query is absent."""
    pos = np.searchsorted(sorted_keys, queries)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == queries, values[pos], 0.0)
