"""Keras layers of LightRNN: the shared row/column embedding and the two-stage softmax.

Letters: B batch, T time steps, V vocabulary size, R rows, C columns, E embedding size,
H hidden size.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lightrnn_tf.table import WordTable

# Added to the column logits of empty cells: exp(-1e9 - max) is exactly 0 in float32, and unlike
# -inf it keeps gradients finite.
EMPTY_CELL_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class TwoComponentEmbedding(keras.layers.Layer):
    """Row and column vectors shared by the words of a row / a column of the word table.

    Word `w` in cell `(r(w), c(w))` is read as two vectors: `row_embeddings[r(w)]` and
    `col_embeddings[c(w)]`. The allocation is held as non-trainable integer weights
    (`word_row`, `word_col`) plus the `(R, C)` occupancy mask, so reallocation can reassign
    them in place (`assign_table`) and they are saved with the model.

    Example:

    >>> emb = TwoComponentEmbedding(vocab_size=10, rows=4, cols=3, embedding_dim=8)
    >>> row_vec, col_vec = emb(np.array([[1, 2]]))   # (1, 2, 8) each

    Args:
        vocab_size: int, V.
        rows: int, R.
        cols: int, C; `R * C >= V`.
        embedding_dim: int, E.
        embeddings_initializer: initializer of both tables. Default: `"uniform"`.
        table_seed: int, seed of the random cold-start allocation. Default: `0`.

    Call arguments:
        word_ids: int tensor of any shape `S`.

    Returns:
        `(row_vectors, col_vectors)`, each of shape `S + (E,)`.
    """

    def __init__(self, vocab_size, rows, cols, embedding_dim, embeddings_initializer="uniform", table_seed=0, **kwargs):
        super().__init__(**kwargs)
        if rows * cols < vocab_size:
            raise ValueError(f"Received a table {rows}x{cols} with fewer cells than `vocab_size`={vocab_size}.")
        self.vocab_size = vocab_size
        self.rows = rows
        self.cols = cols
        self.embedding_dim = embedding_dim
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.table_seed = table_seed

    def build(self, input_shape=None):
        if self.built:
            return
        self.row_embeddings = self.add_weight(
            name="row_embeddings", shape=(self.rows, self.embedding_dim), initializer=self.embeddings_initializer
        )
        self.col_embeddings = self.add_weight(
            name="col_embeddings", shape=(self.cols, self.embedding_dim), initializer=self.embeddings_initializer
        )
        table = WordTable.random(self.vocab_size, self.rows, self.cols, seed=self.table_seed)
        self.word_row = self.add_weight(
            name="word_row", shape=(self.vocab_size,), dtype="int32", trainable=False,
            initializer=keras.initializers.Constant(table.word_row),
        )
        self.word_col = self.add_weight(
            name="word_col", shape=(self.vocab_size,), dtype="int32", trainable=False,
            initializer=keras.initializers.Constant(table.word_col),
        )
        self.cell_occupied = self.add_weight(  # never autocast: in float16, EMPTY_CELL_LOGIT is -inf and 0 * -inf NaN
            name="cell_occupied", shape=(self.rows, self.cols), dtype="float32", trainable=False, autocast=False,
            initializer=keras.initializers.Constant(table.occupied.astype(np.float32)),
        )
        self.built = True

    def call(self, word_ids):
        rows, cols = self.locate(word_ids)
        return self.row_vectors(rows), self.col_vectors(cols)

    def locate(self, word_ids):
        """Returns `(rows, cols)` int32 tensors shaped like `word_ids`."""
        word_ids = ops.cast(word_ids, "int32")
        return ops.take(self.word_row, word_ids, axis=0), ops.take(self.word_col, word_ids, axis=0)

    def row_vectors(self, rows):
        return ops.cast(ops.take(self.row_embeddings, rows, axis=0), self.compute_dtype)

    def col_vectors(self, cols):
        return ops.cast(ops.take(self.col_embeddings, cols, axis=0), self.compute_dtype)

    def row_mask(self):
        """Additive mask for the row logits: `(R,)`, 0 for rows holding a word, -1e9 for empty rows."""
        occupied = ops.max(self.cell_occupied, axis=1)
        return (1.0 - occupied) * EMPTY_CELL_LOGIT

    def column_mask(self, rows):
        """Additive mask for the column logits: `(..., C)`, 0 for words' cells, -1e9 for empty ones."""
        occupied = ops.take(self.cell_occupied, rows, axis=0)
        return (1.0 - occupied) * EMPTY_CELL_LOGIT

    def get_table(self) -> WordTable:
        return WordTable(ops.convert_to_numpy(self.word_row), ops.convert_to_numpy(self.word_col), self.rows, self.cols)

    def assign_table(self, table: WordTable, carry_weights=None) -> None:
        """Moves words to the cells of `table` (same V, R, C).

        Args:
            table: the new `WordTable`.
            carry_weights: optional `(V,)` non-negative word weights (e.g. token counts). Without
                them the row and column vectors keep their values (the paper). With them, every
                row vector becomes the weighted mean of the row vectors its new words were read
                with, and likewise every column vector: the least-squares choice, over the
                weighted words, of the vectors that change the LSTM's inputs least. Rows and
                columns whose words weigh nothing keep their vectors.
        """
        if (table.vocab_size, table.rows, table.cols) != (self.vocab_size, self.rows, self.cols):
            raise ValueError(
                f"Received a table for V={table.vocab_size}, {table.rows}x{table.cols}; "
                f"this layer has V={self.vocab_size}, {self.rows}x{self.cols}."
            )
        if carry_weights is not None:
            old = self.get_table()
            weights = np.asarray(carry_weights, dtype=np.float64)
            if weights.shape != (self.vocab_size,) or not np.all(weights >= 0):
                raise ValueError(f"Received `carry_weights` of shape {weights.shape}; expected ({self.vocab_size},) "
                                 f"non-negative weights.")
            for var, before, after in ((self.row_embeddings, old.word_row, table.word_row),
                                       (self.col_embeddings, old.word_col, table.word_col)):
                var.assign(carried_vectors(ops.convert_to_numpy(var), before, after, weights).astype(var.dtype))
        self.word_row.assign(table.word_row)
        self.word_col.assign(table.word_col)
        self.cell_occupied.assign(table.occupied.astype(np.float32))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape) + (self.embedding_dim,)
        return shape, shape

    def get_config(self):
        config = {
            "vocab_size": self.vocab_size,
            "rows": self.rows,
            "cols": self.cols,
            "embedding_dim": self.embedding_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "table_seed": self.table_seed,
        }
        return {**super().get_config(), **config}


def carried_vectors(vectors, before, after, weights):
    """`vectors (N, E)` indexed by slot (row or column); word w moves from slot `before[w]` to
    `after[w]` (`(V,)` ints). Returns `(N, E)`: slot n gets `sum_{w: after[w]=n} weights[w] *
    vectors[before[w]]` divided by those words' total weight, or keeps its vector if that is 0."""
    from scipy.sparse import csr_matrix

    vectors = np.asarray(vectors, dtype=np.float64)
    n = len(vectors)
    moves = csr_matrix((weights, (after, before)), shape=(n, n))  # [i, j]: weight moving from slot j to i
    sums = moves @ vectors
    total = np.asarray(moves.sum(axis=1)).ravel()
    out = vectors.copy()
    keep = total > 0
    out[keep] = sums[keep] / total[keep, None]
    return out


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class TwoStageSoftmax(keras.layers.Layer):
    """Row softmax and column softmax that together give a distribution over words.

    `log P(w) = log P_r(r(w) | h_row) + log P_c(c(w) | h_col)`, where `h_row` is the state that
    predicts the row and `h_col` the state after reading the (true) row. Empty cells of the
    row are masked out of the column softmax, so the V word probabilities sum to 1.
    Computes in float32 even under a mixed-precision policy.

    Args:
        rows: int, R.
        cols: int, C.

    Call arguments:
        row_hidden: `(..., H)`, states that predict rows.
        col_hidden: `(..., H)`, states that predict columns.
        column_mask: optional `(..., C)` additive mask (see `TwoComponentEmbedding.column_mask`).
        row_mask: optional `(R,)` additive mask (see `TwoComponentEmbedding.row_mask`).

    Returns:
        `(row_log_probs, col_log_probs)` of shapes `(..., R)` and `(..., C)`.
    """

    def __init__(self, rows, cols, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.rows = rows
        self.cols = cols
        self.row_head = keras.layers.Dense(rows, name="row_head", dtype=self.dtype_policy)
        self.col_head = keras.layers.Dense(cols, name="col_head", dtype=self.dtype_policy)

    def build(self, row_hidden_shape, col_hidden_shape=None, column_mask_shape=None, row_mask_shape=None):
        self.row_head.build(row_hidden_shape)
        self.col_head.build(col_hidden_shape or row_hidden_shape)
        self.built = True

    def call(self, row_hidden, col_hidden, column_mask=None, row_mask=None):
        return self.row_log_probs(row_hidden, row_mask), self.col_log_probs(col_hidden, column_mask)

    def row_log_probs(self, row_hidden, row_mask=None):
        logits = self.row_head(ops.cast(row_hidden, "float32"))
        if row_mask is not None:
            logits = logits + ops.cast(row_mask, "float32")
        return ops.log_softmax(logits, axis=-1)

    def col_log_probs(self, col_hidden, column_mask=None):
        logits = self.col_head(ops.cast(col_hidden, "float32"))
        if column_mask is not None:
            logits = logits + ops.cast(column_mask, "float32")
        return ops.log_softmax(logits, axis=-1)

    def compute_output_shape(self, row_hidden_shape, col_hidden_shape=None, column_mask_shape=None,
                             row_mask_shape=None):
        return tuple(row_hidden_shape[:-1]) + (self.rows,), tuple(row_hidden_shape[:-1]) + (self.cols,)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "cols": self.cols}


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class ReplicaDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` whose masks differ between the replicas of a `tf.distribute` strategy.

    Keras draws every replica's mask from the same seed, so under a strategy each replica would
    drop the same units of its own rows (streams). Here the replica's index is folded into the
    seed. Without a strategy, or with one replica, it is `keras.layers.Dropout`, mask for mask.

    Args:
        rate: float, the fraction of units dropped.

    Call arguments:
        inputs: a tensor of any shape.
        training: bool.
    """

    def call(self, inputs, training=False):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if not training or self.rate <= 0 or context is None or context.num_replicas_in_sync == 1:
            return super().call(inputs, training=training)
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), 2**31 - 1), tf.int32)  # the same on every replica
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
        return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, noise_shape=self.noise_shape, seed=seed)
