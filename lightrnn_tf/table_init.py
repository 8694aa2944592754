"""Initial tables: where each word sits before the first epoch.

    table = WordTable.random(V, R, C, seed)                        # the paper's cold start
    table = context_table(train_ids, vocab.counts, R, C, seed)     # words read in like contexts share rows
    model.set_table(table)                                         # before model.fit

`context_table` groups words by the words read just before them, as class-based language models
do (Brown et al. 1992): each word's left-context counts over the `contexts` most frequent words
(the rest pooled in one column) become a probability vector, whose square root (Hellinger) is
centred and reduced by an SVD to `dim` numbers. A balanced k-means on those (k-means++ seeding,
`iterations` rounds) gives each of the R rows at most C words; within a row the columns are drawn
at random. Words read fewer than `min_count` times, and those beyond the `max_words` most
frequent, have no reliable contexts: they take the cells left over, at random.

Why: the row softmax predicts a word's row from the history, and its row vector is the first
input the LSTM reads of it; words that follow the same words are predicted by, and predict, much
the same. Reallocation (`lightrnn_tf.realloc`) moves words after an epoch; from a context table
the first epoch already trains on such rows (docs/reallocation.md, "Initial table").
This module does not import TensorFlow.
"""

from __future__ import annotations

import numpy as np

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable

TABLE_INITS = ("random", "context")


def context_features(ids, vocab_size: int, words, contexts: int = 300, dim: int = 48) -> np.ndarray:
    """`(len(words), dim)` float32 unit vectors: the words' left-context distributions, Hellinger-mapped,
    centred and projected on their top `dim` principal directions.

    Args:
        ids: `(N,)` int training stream (ids below `vocab_size`; ids are frequency ranks).
        vocab_size: V.
        words: `(n,)` int, the words to describe.
        contexts: left-context words kept (ids below it: the most frequent); the others share a column.
        dim: output dimension (at most the number of context columns).
    """
    ids = np.asarray(ids, dtype=np.int64)
    words = np.asarray(words, dtype=np.int64)
    k = int(min(contexts, vocab_size))
    index = np.full(vocab_size, -1, np.int64)
    index[words] = np.arange(len(words))
    target = index[ids[1:]]
    keep = target >= 0
    prev = np.minimum(ids[:-1][keep], k)  # k: any less frequent word
    counts = np.bincount(target[keep] * (k + 1) + prev, minlength=len(words) * (k + 1))
    m = counts.reshape(len(words), k + 1).astype(np.float32)
    m = np.sqrt(m / np.maximum(m.sum(1, keepdims=True), 1.0))
    m -= m.mean(0)
    # The top right singular vectors from the (k+1)^2 Gram matrix: cheap for any number of words.
    gram = (m.T @ m).astype(np.float64)
    _, vectors = np.linalg.eigh(gram)  # eigenvalues ascending
    top = vectors[:, ::-1][:, :min(dim, k + 1)].astype(np.float32)
    f = m @ top
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def balanced_assignment(scores, capacity: int, priority) -> np.ndarray:
    """Each of n items to one of R bins, at most `capacity` a bin, preferring higher `scores`.

    Deferred acceptance in which every bin prefers items of higher `priority`: the result is what
    handing out bins one item at a time in priority order would give (each taking its best bin with
    room), computed a round of proposals at a time.

    Args:
        scores: `(n, R)` float, higher is better (modified: rejected pairs become -inf).
        capacity: items per bin; `n <= R * capacity`.
        priority: `(n,)`, higher chooses first (ties: the lower index).

    Returns:
        `(n,)` int64 bin of each item.
    """
    n, bins = scores.shape
    if n > bins * capacity:
        raise LightRNNError(f"{n} items do not fit {bins} bins of {capacity}")
    rank_of = np.empty(n, np.int64)
    rank_of[np.lexsort((np.arange(n), -np.asarray(priority)))] = np.arange(n)  # 0: chooses first
    held = np.full(n, -1, np.int64)
    while True:
        free = np.flatnonzero(held < 0)
        if not free.size:
            return held
        held[free] = np.argmax(scores[free], axis=1)
        order = np.lexsort((rank_of, held))  # by bin, then priority
        sorted_bins = held[order]
        place = np.arange(n) - np.searchsorted(sorted_bins, sorted_bins, side="left")
        rejected = order[place >= capacity]
        scores[rejected, held[rejected]] = -np.inf
        held[rejected] = -1


def context_table(ids, counts, rows: int, cols: int, seed: int = 0, *, min_count: int = 3,
                  max_words: int = 50_000, contexts: int = 300, dim: int = 48, iterations: int = 10) -> WordTable:
    """A table whose rows hold words read after similar words (see the module docstring).

    Args:
        ids: `(N,)` int training stream.
        counts: `(V,)` int, each word's training count (`Vocabulary.counts`).
        rows, cols: R, C with R * C >= V.
        seed: seeds the k-means start, the columns within rows and the leftover cells.
        min_count: words counted fewer times take leftover cells at random.
        max_words: at most this many words (the most frequent) are clustered.
        contexts, dim: see `context_features`.
        iterations: k-means rounds.

    Returns:
        a `WordTable` (a random one when fewer than `rows` words qualify).
    """
    counts = np.asarray(counts, dtype=np.int64)
    v = len(counts)
    if rows * cols < v:
        raise LightRNNError(f"table {rows}x{cols} cannot hold {v} words")
    rng = np.random.default_rng(seed)
    words = np.flatnonzero(counts >= max(min_count, 1))
    words = words[np.argsort(-counts[words], kind="stable")][:max_words]
    if len(words) < rows:
        return WordTable.random(v, rows, cols, seed)
    f = context_features(ids, v, words, contexts, dim)
    centroids = _kmeans_plus_plus(f, rows, rng)
    priority = counts[words]
    for _ in range(iterations):
        row = balanced_assignment(f @ centroids.T, cols, priority)
        sums = np.zeros_like(centroids)
        np.add.at(sums, row, f)
        filled = np.linalg.norm(sums, axis=1) > 0
        centroids[filled] = sums[filled] / np.linalg.norm(sums[filled], axis=1, keepdims=True)
    word_row = np.full(v, -1, np.int64)
    word_row[words] = row
    room = np.full(rows, cols) - np.bincount(row, minlength=rows)
    rest = np.flatnonzero(word_row < 0)
    word_row[rest] = rng.permutation(np.repeat(np.arange(rows), room))[:len(rest)]
    word_col = np.empty(v, np.int64)
    by_row = np.argsort(word_row, kind="stable")
    starts = np.searchsorted(word_row[by_row], np.arange(rows + 1))
    for r in range(rows):
        members = by_row[starts[r]:starts[r + 1]]
        word_col[members] = rng.permutation(cols)[:len(members)]
    return WordTable(word_row, word_col, rows, cols)


def _kmeans_plus_plus(f, k: int, rng) -> np.ndarray:
    """`(k, dim)` starting centroids among the rows of `f` (unit vectors), by k-means++ seeding:
    each next one drawn with probability proportional to its squared distance from the nearest so far."""
    chosen = [int(rng.integers(len(f)))]
    nearest = np.full(len(f), np.inf, np.float32)
    for _ in range(k - 1):
        nearest = np.minimum(nearest, np.maximum(2.0 - 2.0 * (f @ f[chosen[-1]]), 0.0))
        total = float(nearest.sum())
        chosen.append(int(rng.choice(len(f), p=nearest / total)) if total > 0 else int(rng.integers(len(f))))
    return f[chosen].copy()


def initial_table(name: str, ids, counts, rows: int, cols: int, seed: int = 0) -> WordTable:
    """`"random"` (`WordTable.random`) or `"context"` (`context_table`)."""
    if name == "random":
        return WordTable.random(len(counts), rows, cols, seed)
    if name == "context":
        return context_table(ids, counts, rows, cols, seed)
    raise LightRNNError(f"unknown table init {name!r}; expected one of {', '.join(TABLE_INITS)}")
