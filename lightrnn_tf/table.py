"""`WordTable`: the allocation of V words to the cells of an R x C table.

    word_row[w], word_col[w]   (V,) int32   cell of word w
    cell_word[r * C + c]       (R*C,) int32 word in that cell, or -1 if the cell is empty
    occupied                   (R, C) bool  cell_word >= 0

A table is always a bijection from the V words onto V distinct cells. Empty cells exist when
R * C > V; the model masks them out of the column softmax so they get no probability.
This module does not import TensorFlow or OR-Tools.
"""

from __future__ import annotations

import math

import numpy as np

from lightrnn_tf.errors import LightRNNError


def table_shape(vocab_size: int, rows=0, cols=0) -> tuple[int, int]:
    """`(R, C)` of the table for `vocab_size` words: `rows`/`cols` as given, a missing one (0 or None)
    chosen: R = ceil(sqrt(V)), or ceil(V / C) when only the columns are given; C = ceil(V / R)."""
    if rows:
        rows = int(rows)
    else:
        rows = math.ceil(vocab_size / int(cols)) if cols else math.ceil(math.sqrt(vocab_size))
    return rows, int(cols) if cols else math.ceil(vocab_size / rows)


class WordTable:
    """Word <-> cell allocation.

    Args:
        word_row: `(V,)` int, row of each word.
        word_col: `(V,)` int, column of each word.
        rows: R.
        cols: C.
    """

    def __init__(self, word_row, word_col, rows: int, cols: int):
        self.rows, self.cols = int(rows), int(cols)
        self.word_row = np.asarray(word_row, dtype=np.int32)
        self.word_col = np.asarray(word_col, dtype=np.int32)
        self.validate()

    @property
    def vocab_size(self) -> int:
        return len(self.word_row)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @property
    def word_cell(self) -> np.ndarray:
        """`(V,)` flat cell index r * C + c of every word."""
        return self.word_row.astype(np.int64) * self.cols + self.word_col

    @property
    def cell_word(self) -> np.ndarray:
        out = np.full(self.rows * self.cols, -1, dtype=np.int32)
        out[self.word_cell] = np.arange(self.vocab_size, dtype=np.int32)
        return out

    @property
    def occupied(self) -> np.ndarray:
        return (self.cell_word >= 0).reshape(self.rows, self.cols)

    def validate(self) -> None:
        """Raises `LightRNNError` unless the table is a bijection of the words onto distinct cells."""
        v = self.vocab_size
        if self.word_row.shape != (v,) or self.word_col.shape != (v,):
            raise LightRNNError(f"word_row and word_col must both have shape ({v},)")
        if self.rows * self.cols < v:
            raise LightRNNError(f"table {self.rows}x{self.cols} cannot hold {v} words")
        if v and (self.word_row.min() < 0 or self.word_row.max() >= self.rows):
            raise LightRNNError(f"a word's row is outside [0, {self.rows})")
        if v and (self.word_col.min() < 0 or self.word_col.max() >= self.cols):
            raise LightRNNError(f"a word's column is outside [0, {self.cols})")
        cells = self.word_cell
        if len(np.unique(cells)) != v:
            uniq, counts = np.unique(cells, return_counts=True)
            c = int(uniq[counts > 1][0])
            raise LightRNNError(f"cell ({c // self.cols}, {c % self.cols}) holds more than one word")

    @classmethod
    def from_cells(cls, word_cell, rows: int, cols: int) -> "WordTable":
        word_cell = np.asarray(word_cell, dtype=np.int64)
        return cls(word_cell // cols, word_cell % cols, rows, cols)

    @classmethod
    def random(cls, vocab_size: int, rows: int, cols: int, seed: int = 0) -> "WordTable":
        """Cold start: each word gets a distinct cell drawn uniformly at random."""
        if rows * cols < vocab_size:
            raise LightRNNError(f"table {rows}x{cols} cannot hold {vocab_size} words")
        rng = np.random.default_rng(seed)
        cells = rng.permutation(rows * cols)[:vocab_size]
        return cls.from_cells(cells, rows, cols)

    @classmethod
    def sequential(cls, vocab_size: int, rows: int, cols: int) -> "WordTable":
        """Word i in cell i (row-major); handy for tests."""
        return cls.from_cells(np.arange(vocab_size), rows, cols)

    def moved(self, other: "WordTable") -> int:
        """Number of words whose cell differs from `other`'s."""
        return int(np.sum(self.word_cell != other.word_cell))

    def save(self, path: str) -> None:
        """Writes an `.npz` with word_row, word_col and the shape (atomically)."""
        tmp = path + ".tmp.npz"
        np.savez(tmp, word_row=self.word_row, word_col=self.word_col, shape=np.array(self.shape))
        import os

        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "WordTable":
        try:
            with np.load(path) as z:
                rows, cols = (int(x) for x in z["shape"])
                return cls(z["word_row"], z["word_col"], rows, cols)
        except FileNotFoundError:
            raise LightRNNError(f"table file not found: {path}") from None
        except (KeyError, ValueError, OSError) as e:
            raise LightRNNError(f"table file {path} is corrupt: {e}") from None

    def to_tsv(self, path: str, words) -> None:
        """Writes `row<TAB>col<TAB>word` for every word, sorted by cell."""
        order = np.argsort(self.word_cell, kind="stable")
        with open(path, "w", encoding="utf-8") as f:
            f.write("row\tcol\tword\n")
            for w in order:
                f.write(f"{self.word_row[w]}\t{self.word_col[w]}\t{words[w]}\n")
