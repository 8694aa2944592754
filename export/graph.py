"""Single-step TensorFlow graphs of a LightRNN model, one per TFLite signature.

Letters: L layers, E embedding, H hidden size, R rows, C columns, V vocabulary, K = `max_k`,
M = `expand_rows`. Batch is 1 everywhere; the recurrent state travels explicitly as one float32
tensor `state (L, 2, H)`: `state[i, 0]` is layer i's `h`, `state[i, 1]` its `c`, taken after the
column step of the last word read (the convention of `LightRNNModel`). The state at the start of a
text is `feed(<eos>, zeros)`.

    feed(word (1,), state)          -> state                   row step, then column step
    score(word (1,), state)         -> log_prob (1,), state    log P(word | state), then feed it
    top_k(state)                    -> words (K,), log_probs (K,), bound (1,),
                                       row_order (R,), row_log_probs (R,)
    expand(state, rows (M,))        -> words (M, C), log_probs (M, C)

`top_k` expands the M best rows (by row score) with one batched column step and returns the K best
words among their cells, plus `bound`, the row score of the best row it did not expand (-inf if
M = R). Every word of an unexpanded row scores at most its row score, so the result is the exact
top-k whenever `log_probs[k-1] >= bound`; otherwise the caller expands the next rows of
`row_order` with `expand` until that holds (`NextWordPredictor.top_k`). Empty cells get word id -1
and a log-prob near -1e9.

Two exact rewrites make the single steps cheap (the math is Keras' `LSTMCell`: gates i, f, g, o,
sigmoid/tanh):
  - the M rows of a batched column step share the incoming state, so `h @ U` is computed once
    and broadcast (one (1, H) x (H, 4H) product per layer instead of M);
  - with `fold_inputs`, the first layer's input projections of all rows and columns are
    precomputed, `row_proj = X^r W + b (R, 4H)` and `col_proj = X^c W + b (C, 4H)`, replacing the
    embedding tables and the input kernel (fewer parameters whenever (R + C)(4H - E) < 4HE, e.g.
    V = 10k, E = H = 256); a step of layer 0 is then a gather plus `h @ U`. For dynamic-range
    int8 export the folded tables are stored as int8 with one scale per column (`int8_tables`).
The module holds the layers AND their raw variables (see ../shared/notes/toolchain.md).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lightrnn_tf.layers import EMPTY_CELL_LOGIT


def unpack_state(state, num_layers: int):
    """The exported state `(L, 2, H)` -> list of L `[h (1, H), c (1, H)]`."""
    return [[state[i, 0:1], state[i, 1:2]] for i in range(num_layers)]


def pack_state(layers):
    """List of L `[h (1, H), c (1, H)]` -> the exported state `(L, 2, H)`."""
    return tf.stack([tf.concat([h, c], axis=0) for h, c in layers], axis=0)


def folding_saves_parameters(model) -> bool:
    """True when the folded input projections hold fewer numbers than embeddings + input kernel."""
    r_c, e, h4 = model.rows + model.cols, model.embedding_dim, 4 * model.hidden_dim
    return r_c * h4 < r_c * e + e * h4


class LightRNNSignatures(tf.Module):
    """The exported functions of one `LightRNNModel`.

    The allocation travels as two small integer tables, `word_cell (V,)` (cell `r * C + c` of
    every word) and `cell_word (R, C)` (word of every cell, -1 if empty), int16 when the ids fit;
    empty cells get -1e9 added to their column logits, as `TwoComponentEmbedding.column_mask` does, and
    rows without words -1e9 added to their row logits.

    Args:
        model: a built `LightRNNModel` (Keras LSTM cells with sigmoid/tanh activations).
        max_k: int, K, the most words `top_k` returns.
        expand_rows: int, M, rows `top_k` and `expand` expand in one batched step (clipped to
            `[ceil(K / C), R]`).
        fold_inputs: bool or None, precompute layer 0's input projections; None folds when that
            saves parameters. Default: `None`.
        int8_tables: bool, store the folded projections as int8 with one scale per column (4H
            scales) instead of float32. The converter's dynamic-range mode would quantize these
            GATHER tables with ONE scale for the whole table, 2.5-4x less precise. Default: `False`.
    """

    def __init__(self, model, max_k: int, expand_rows: int, fold_inputs: bool | None = None,
                 int8_tables: bool = False):
        super().__init__(name="lightrnn")
        for lstm in model.lstms:
            cell = lstm.cell
            activations = (cell.activation.__name__, cell.recurrent_activation.__name__)
            if activations != ("tanh", "sigmoid") or not cell.use_bias:
                raise ValueError("export supports LSTM cells with tanh/sigmoid activations and a bias")
        self.embedding = model.embedding
        self.lstms = list(model.lstms)
        self.softmax = model.softmax
        self.raw_vars = [v.value for v in model.weights]
        self.num_layers, self.hidden_dim = model.num_layers, model.hidden_dim
        self.rows, self.cols, self.vocab_size = model.rows, model.cols, model.vocab_size
        self.max_k = int(max_k)
        self.expand_rows = int(min(self.rows, max(expand_rows, -(-self.max_k // self.cols))))
        self.fold_inputs = folding_saves_parameters(model) if fold_inputs is None else bool(fold_inputs)
        table = model.get_table()
        small = max(self.rows * self.cols, self.vocab_size) < np.iinfo(np.int16).max
        dtype = np.int16 if small else np.int32
        self._word_cell = tf.constant(table.word_cell.astype(dtype))  # (V,)
        self._cell_word = tf.constant(table.cell_word.reshape(self.rows, self.cols).astype(dtype))  # (R, C)
        # Rows without words get no probability, as in `TwoComponentEmbedding.row_mask`.
        self._row_mask = tf.constant(np.where(table.occupied.any(axis=1), 0.0, EMPTY_CELL_LOGIT).astype(np.float32))
        self.int8_tables = bool(int8_tables and self.fold_inputs)
        if self.fold_inputs:
            cell = self.lstms[0].cell
            w, b = np.asarray(cell.kernel, np.float64), np.asarray(cell.bias, np.float64)
            self._row_proj = self._table(np.asarray(self.embedding.row_embeddings, np.float64) @ w + b)  # (R, 4H)
            self._col_proj = self._table(np.asarray(self.embedding.col_embeddings, np.float64) @ w + b)  # (C, 4H)

        word = tf.TensorSpec([1], tf.int32, name="word")
        state = tf.TensorSpec([self.num_layers, 2, self.hidden_dim], tf.float32, name="state")
        rows = tf.TensorSpec([self.expand_rows], tf.int32, name="rows")
        self.feed = tf.function(self._feed, input_signature=[word, state])
        self.score = tf.function(self._score, input_signature=[word, state])
        self.top_k = tf.function(self._top_k, input_signature=[state])
        self.expand = tf.function(self._expand, input_signature=[state, rows])

    def signatures(self) -> dict:
        """Signature name -> concrete function, for `tf.saved_model.save`."""
        return {name: getattr(self, name).get_concrete_function() for name in SIGNATURES}

    # === Helpers ===

    def _locate(self, word):
        cell = tf.cast(tf.gather(self._word_cell, word), tf.int32)  # (1,)
        return cell // self.cols, cell % self.cols

    def _row_words(self, rows):
        """Words of the cells of `rows (M,)` -> int32 `(M, C)`, -1 for empty cells."""
        return tf.cast(tf.gather(self._cell_word, rows), tf.int32)

    def _table(self, proj):
        """A folded projection `(N, 4H)` -> `(values, scales)`: float32 and None, or int8 and `(4H,)`."""
        if not self.int8_tables:
            return tf.constant(proj.astype(np.float32)), None
        scale = np.maximum(np.abs(proj).max(axis=0), 1e-12) / 127.0  # symmetric, per column
        return tf.constant(np.round(proj / scale).astype(np.int8)), tf.constant(scale.astype(np.float32))

    def _input_proj(self, rows=None, cols=None):
        """Layer 0's `x W + b` for the row vectors of `rows` or the column vectors of `cols` -> `(B, 4H)`."""
        if self.fold_inputs:
            values, scale = self._row_proj if rows is not None else self._col_proj
            x = tf.gather(values, rows if rows is not None else cols)
            return x if scale is None else tf.cast(x, tf.float32) * scale
        x = self.embedding.row_vectors(rows) if rows is not None else self.embedding.col_vectors(cols)
        cell = self.lstms[0].cell
        return tf.matmul(x, cell.kernel) + cell.bias

    def _step(self, proj0, layers):
        """One step of the LSTM stack from layer 0's input projection `(B, 4H)`.

        `layers` may hold `(1, H)` states shared by all B inputs: `h @ U` is then computed once and
        broadcast. Returns `(top h (B, H), new layers)`.
        """
        new, x = [], None
        for i, (lstm, (h, c)) in enumerate(zip(self.lstms, layers)):
            cell = lstm.cell
            z = proj0 if i == 0 else tf.matmul(x, cell.kernel) + cell.bias
            z = z + tf.matmul(h, cell.recurrent_kernel)  # (B, 4H)
            zi, zf, zg, zo = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(zf) * c + tf.sigmoid(zi) * tf.tanh(zg)
            x = tf.sigmoid(zo) * tf.tanh(c)
            new.append([x, c])
        return x, new

    def _col_log_probs(self, h, words):
        """Masked column log-probs `(M, C)` from `h (M, H)` and the words `(M, C)` of those rows."""
        mask = tf.where(words >= 0, 0.0, EMPTY_CELL_LOGIT)
        return tf.nn.log_softmax(self.softmax.col_head(h) + mask, axis=-1)

    def _expand_rows(self, layers, rows, row_scores):
        """Column step for `rows (M,)` from one state -> `(words (M, C), cell log-probs (M, C))`."""
        h_top, _ = self._step(self._input_proj(rows=rows), layers)  # (M, H), state shared
        words = self._row_words(rows)
        return words, row_scores[:, None] + self._col_log_probs(h_top, words)

    # === Signatures ===

    def _feed(self, word, state):
        rows, cols = self._locate(word)
        _, layers = self._step(self._input_proj(rows=rows), unpack_state(state, self.num_layers))
        _, layers = self._step(self._input_proj(cols=cols), layers)
        return {"state": pack_state(layers)}

    def _score(self, word, state):
        layers = unpack_state(state, self.num_layers)
        rows, cols = self._locate(word)  # (1,), (1,)
        row_lp = self.softmax.row_log_probs(layers[-1][0], self._row_mask)  # (1, R)
        h_row, layers = self._step(self._input_proj(rows=rows), layers)
        col_lp = self._col_log_probs(h_row, self._row_words(rows))  # (1, C)
        _, layers = self._step(self._input_proj(cols=cols), layers)
        log_prob = tf.gather(row_lp[0], rows) + tf.gather(col_lp[0], cols)  # (1,)
        return {"log_prob": log_prob, "state": pack_state(layers)}

    def _top_k(self, state):
        layers = unpack_state(state, self.num_layers)
        row_lp = self.softmax.row_log_probs(layers[-1][0], self._row_mask)[0]  # (R,)
        row_scores, order = tf.math.top_k(row_lp, k=self.rows)  # sorted, (R,) each
        m = self.expand_rows
        words, cell_lp = self._expand_rows(layers, order[:m], row_scores[:m])  # (M, C) each
        log_probs, idx = tf.math.top_k(tf.reshape(cell_lp, [-1]), k=self.max_k)  # (K,)
        if m < self.rows:
            bound = row_scores[m : m + 1]
        else:
            bound = tf.constant([-np.inf], tf.float32)
        return {"words": tf.gather(tf.reshape(words, [-1]), idx), "log_probs": log_probs, "bound": bound,
                "row_order": order, "row_log_probs": row_scores}

    def _expand(self, state, rows):
        layers = unpack_state(state, self.num_layers)
        row_lp = self.softmax.row_log_probs(layers[-1][0], self._row_mask)[0]  # (R,)
        words, cell_lp = self._expand_rows(layers, rows, tf.gather(row_lp, rows))
        return {"words": words, "log_probs": cell_lp}


SIGNATURES = ("feed", "score", "top_k", "expand")
