"""Interpolated Kneser–Ney trigram over word ids, vectorised: the whole next-word distribution at once.

    kn = KneserNeyTrigram.fit(sentences, vocab_size=V)      # sentences: lists of ids in [0, V)
    p = kn.probs((u, v))                                     # (V + 2,) float64, P(w | u v)
    kn.perplexity(test_sentences)                            # every word and each </s> a target

The keyboard evaluation (`export.evaluate`) ranks words with it and `python -m lightrnn_tf.compare`
reports its test perplexity beside the neural models'.

It computes exactly what NLTK's `nltk.lm.KneserNeyInterpolated(order=3, discount=d)` computes on
the same sentences padded by `nltk.lm.preprocessing.padded_everygram_pipeline` (two `<s>` before,
two `</s>` after each sentence; tested against NLTK), but for all words in one NumPy expression
instead of one Python loop over the n-gram table per word (NLTK takes seconds per query at |V| = 6k):

    P1(w)     = N1+(. w) / N1+(. .)                                      continuation unigram
    P2(w|v)   = max(N1+(. v w) - d, 0) / N1+(. v .) + d N1+(v .) / N1+(. v .) P1(w)
    P3(w|u v) = max(c(u v w) - d, 0) / c(u v .)     + d N1+(u v .) / c(u v .) P2(w|v)

With `uniform_floor=True` (what `perplexity` comparisons use) P1 is interpolated with the uniform
distribution, `P1(w) = (max(N1+(. w) - d, 0) + d N1+(. *) / (V + 2)) / N1+(. .)`, so that a word
never seen in training (e.g. `<unk>` when the training text has none) does not get probability 0.

NLTK's quirk, kept: the bigram (<s>, <s>) counts in N1+(<s> .) but no trigram continues it, so
after `<s>` the distribution sums to slightly more than 1 (rankings are unaffected); every other
context sums to 1 (tested). A context never seen falls back to the next lower order (NLTK: alpha 0, gamma 1). Ids: words are
`0..V-1`, `BOS = V` is `<s>` and `EOS = V + 1` is `</s>`.
"""

from __future__ import annotations

import math

import numpy as np

from lightrnn_tf.errors import LightRNNError


class KneserNeyTrigram:
    """Interpolated Kneser–Ney trigram model (NLTK's formulas) with vectorised distributions.

    Args:
        vocab_size: int, V (word ids 0..V-1; `BOS = V`, `EOS = V + 1`).
        discount: float, d in [0, 1]. Default: `0.1` (NLTK's default).
        uniform_floor: bool, interpolate the unigram level with the uniform distribution (see the
            module docstring). Default: `False` (NLTK's formulas exactly).
    """

    def __init__(self, vocab_size: int, discount: float = 0.1, uniform_floor: bool = False):
        if not 0 <= discount <= 1:
            raise ValueError(f"Received an invalid value for argument `discount`, expected 0 <= d <= 1, got {discount}.")
        self.vocab_size, self.discount, self.uniform_floor = int(vocab_size), float(discount), bool(uniform_floor)
        self.bos, self.eos = self.vocab_size, self.vocab_size + 1
        self.size = self.vocab_size + 2
        self._cache: dict = {}

    @classmethod
    def fit(cls, sentences, vocab_size: int, discount: float = 0.1, uniform_floor: bool = False) -> "KneserNeyTrigram":
        kn = cls(vocab_size, discount, uniform_floor)
        kn._count(sentences)
        return kn

    def _count(self, sentences):
        n = self.size
        tri = []
        for s in sentences:
            ids = np.concatenate([[self.bos, self.bos], np.asarray(s, np.int64), [self.eos, self.eos]])
            tri.append(np.stack([ids[:-2], ids[1:-1], ids[2:]], axis=1))
        tri = np.concatenate(tri) if tri else np.zeros((0, 3), np.int64)
        # Bigrams of padded_everygram_pipeline: every adjacent pair of the padded sentence; each one
        # is the last two words of exactly one trigram, plus the first pair (<s>, <s>) of each sentence.
        first = np.tile([[self.bos, self.bos]], (len(sentences), 1))
        bi = np.concatenate([first, tri[:, 1:]]) if len(tri) else first
        tri_key, tri_count = np.unique((tri[:, 0] * n + tri[:, 1]) * n + tri[:, 2], return_counts=True)
        bi_key = np.unique(bi[:, 0] * n + bi[:, 1])
        # P1: N1+(. w) over bigram types
        cont = np.bincount(bi_key % n, minlength=n).astype(np.float64)
        if self.uniform_floor:
            d = self.discount
            self.p_uni = (np.maximum(cont - d, 0.0) + d * np.count_nonzero(cont) / n) / max(len(bi_key), 1)
        else:
            self.p_uni = cont / max(len(bi_key), 1)
        # N1+(v .): distinct followers of v
        self.n1_after = np.bincount(bi_key // n, minlength=n)
        # N1+(. v w) for each (v, w) among trigram types, grouped by v
        vw, vw_cont = np.unique(tri_key % (n * n), return_counts=True)
        self.mid = _group(vw // n, vw % n, vw_cont)
        # c(u v w) grouped by (u, v)
        self.top = _group(tri_key // n, tri_key % n, tri_count)
        self._cache.clear()

    def probs(self, context) -> np.ndarray:
        """`P(w | context)` for every id w `(V + 2,)` float64; `context` is `(u, v)` (pads allowed)."""
        u, v = (int(c) for c in context)
        key = (u, v)
        if key not in self._cache:
            d = self.discount
            p = self.p_uni.copy()
            if v in self.mid:  # NLTK: counts[(v,)] non-empty
                ws, cont = self.mid[v]
                total = cont.sum()
                p = d * self.n1_after[v] / total * p
                p[ws] += np.maximum(cont - d, 0) / total
            if u * self.size + v in self.top:
                ws, cnt = self.top[u * self.size + v]
                total = cnt.sum()
                p = d * len(ws) / total * p
                p[ws] += np.maximum(cnt - d, 0) / total
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = p
        return self._cache[key]

    def start(self) -> tuple:
        return (self.bos, self.bos)

    def perplexity(self, sentences) -> float:
        """`exp(-mean log P)` over every word of `sentences` (lists of ids) and each one's `</s>`."""
        total, count = 0.0, 0
        for s in sentences:
            ctx = self.start()
            for w in list(np.asarray(s, np.int64)) + [self.eos]:
                total += math.log(self.probs(ctx)[int(w)])
                count += 1
                ctx = (ctx[1], int(w))
        if not count:
            raise LightRNNError("no sentences to score")
        return math.exp(-total / count)


def _group(keys, values, counts) -> dict:
    """`{key: (values, counts)}` from parallel arrays sorted by key."""
    if len(keys) == 0:
        return {}
    cut = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate([[0], cut])
    return {int(keys[s]): (v, c) for s, v, c in zip(starts, np.split(values, cut), np.split(counts, cut))}
