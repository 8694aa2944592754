"""`LightRNNModel`: a Keras model that reads every word as a row step and a column step.

Letters: B batch, T words in a window, V vocabulary, R rows, C columns, E embedding, H hidden,
L layers. A *state* is a list of L pairs `[h, c]`, each `(B, H)`: the LSTM stack's state after
the column step of the last word read ("after word w").

For target words y_1..y_T and the state after the word before y_1:

    step 2t-1: feed row(y_t)   -> its output predicts col(y_t)  (teacher forcing with the TRUE row)
    step 2t  : feed col(y_t)   -> its output predicts row(y_{t+1})
    row(y_1) is predicted from the incoming state's top h.

so a window of T words costs 2T LSTM steps, no word is fed twice, and the final state is the
state "after y_T", the right one to start the next window. `start_state(x[:, 0])` feeds the
first word of a stream from the zero state.
"""

from __future__ import annotations


import keras
import numpy as np
import tensorflow as tf
from keras import ops

from lightrnn_tf.layers import ReplicaDropout, TwoComponentEmbedding, TwoStageSoftmax
from lightrnn_tf.stream_model import StreamLanguageModel, check_network_args
from lightrnn_tf.table import WordTable, table_shape


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class LightRNNModel(StreamLanguageModel):
    """LightRNN language model (Li et al., NIPS 2016).

    Example:

    >>> model = LightRNNModel(vocab_size=10, embedding_dim=8, hidden_dim=8)   # a 4x3 table
    >>> model.compile(optimizer="adam")
    >>> model.fit(stream_dataset(ids, batch_size=4, bptt=5), epochs=1)   # state carried across windows

    Args:
        vocab_size: int, V.
        rows: int, R. Default: `ceil(sqrt(V))`.
        cols: int, C (`R * C >= V`). Default: `ceil(V / R)`.
        embedding_dim: int, E. Default: `256`.
        hidden_dim: int, H. Default: `256`.
        num_layers: int, L. Default: `1`.
        dropout: float, dropout on embeddings, between layers and before the heads. Default: `0.3`.
        table_seed: int, seed of the random initial allocation. Default: `0`.
        weight_drop: float, DropConnect on every LSTM's recurrent kernel `(H, 4H)` while training
            (the weight drop of AWD-LSTM, Merity et al. 2018): this fraction of the h -> gate
            weights is zeroed, one mask per layer and training window. Default: `0.0`.
        **kwargs: `keras.Model` arguments, e.g. `dtype="mixed_bfloat16"` for mixed precision (the
            policy goes to every layer but the softmax heads, which stay float32; saved with the model).

    Call arguments:
        inputs: tuple `(x, y)` of int `(B, T)`: words and next words of a window. Only `x[:, 0]`
            is read (each row's first word starts its state); the model reads `y` itself, one
            word after another, as in the stream.
        training: bool.

    Returns:
        `(B, T)` float32 `log P(y_t | x_1, y_1..y_{t-1})`, the window read from `start_state(x[:, 0])`.

    Reference:
        Li, Qin, Yang, Liu. LightRNN: Memory and Computation-Efficient Recurrent Neural
        Networks. NIPS 2016. arXiv:1610.09893.
    """

    def __init__(self, vocab_size, rows=None, cols=None, embedding_dim=256, hidden_dim=256, num_layers=1,
                 dropout=0.3, table_seed=0, weight_drop=0.0, **kwargs):
        super().__init__(**kwargs)
        check_network_args(vocab_size, embedding_dim, hidden_dim, num_layers, dropout)
        self.vocab_size = vocab_size
        self.rows, self.cols = rows, cols = table_shape(vocab_size, rows, cols)
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout_rate = dropout
        self.table_seed = table_seed
        # === Layers ===
        # The model's dtype policy (e.g. `dtype="mixed_bfloat16"`, saved in its config) goes to
        # every layer but the softmax heads, which compute in float32.
        policy = self.dtype_policy
        self.embedding = TwoComponentEmbedding(vocab_size, rows, cols, embedding_dim, table_seed=table_seed,
                                               name="embedding", dtype=policy)
        self.lstms = [
            keras.layers.LSTM(hidden_dim, return_sequences=True, return_state=True, name=f"lstm_{i}", dtype=policy)
            for i in range(num_layers)
        ]
        self.dropout = ReplicaDropout(dropout, name="dropout", dtype=policy)
        self.softmax = TwoStageSoftmax(rows, cols, name="softmax")
        self._build_all()
        # Made last: its seed draw leaves every other layer's initial weights as without it.
        self.weight_drop = weight_drop
        self.weight_dropout = make_weight_dropout(weight_drop, policy)
        self._init_stream_state()

    def _build_all(self):
        self.embedding.build()
        dim = self.embedding_dim
        for lstm in self.lstms:
            lstm.build((None, None, dim))
            dim = self.hidden_dim
        self.softmax.build((None, self.hidden_dim), (None, self.hidden_dim))
        self.built = True

    # === State ===

    def start_state(self, first_words, training=False):
        """State after reading `first_words` `(B,)` from the zero state."""
        rows, cols = self.embedding.locate(first_words)
        seq = ops.stack([self.embedding.row_vectors(rows), self.embedding.col_vectors(cols)], axis=1)  # (B, 2, E)
        _, state = self._run_stack(seq, self.zero_state(ops.shape(first_words)[0]), training)
        return state

    # === Sequence path (training, evaluation, statistics) ===

    def _run_stack(self, seq, state, training):
        return run_lstm_stack(self.lstms, self.dropout, seq, state, training, self.weight_dropout)

    def hidden_states(self, y, state, training=False):
        """Runs the 2T steps of a window.

        In training, while `epoch_statistics` is set (`realloc.EpochStatistics`, installed by
        `ReallocationCallback(source="epoch")`), the states before the heads' dropout are also added
        to its per-word sums, so that reallocation needs no pass of its own.

        Args:
            y: `(B, T)` int target words.
            state: state after the word before `y[:, 0]`.
            training: bool (dropout).

        Returns:
            `(row_hidden, col_hidden, target_rows, new_state)`: `(B, T, H)` states predicting
            row(y_t) and col(y_t), `(B, T)` true rows, and the state after `y[:, -1]`.
        """
        rows, cols = self.embedding.locate(y)
        row_vec, col_vec = self.embedding.row_vectors(rows), self.embedding.col_vectors(cols)
        b, t = ops.shape(y)[0], ops.shape(y)[1]
        seq = ops.reshape(ops.stack([row_vec, col_vec], axis=2), (b, 2 * t, self.embedding_dim))  # (B, 2T, E)
        out, new_state = self._run_stack(seq, state, training)
        out = ops.reshape(out, (b, t, 2, self.hidden_dim))
        after_row, after_col = out[:, :, 0], out[:, :, 1]  # (B, T, H) each
        top_h = ops.expand_dims(ops.cast(state[-1][0], after_col.dtype), 1)
        row_hidden = ops.concatenate([top_h, after_col[:, :-1]], axis=1)  # predicts row(y_t)
        if training and self.epoch_statistics is not None:
            self.epoch_statistics.add(y, row_hidden, after_row, self.softmax)
        row_hidden = self.dropout(row_hidden, training=training)
        col_hidden = self.dropout(after_row, training=training)
        return row_hidden, col_hidden, rows, new_state

    def distributions(self, y, state, training=False, mask_empty=True):
        """Full row and column log-distributions at every position of a window.

        Returns:
            `(row_log_probs (B, T, R), col_log_probs (B, T, C), new_state)`; the column
            distribution is conditioned on the true row of `y_t`. With `mask_empty`, rows without
            words and that row's empty cells get no probability (the model's distribution over
            words); without, every row and cell is scored (reallocation may fill them).
        """
        row_hidden, col_hidden, rows, new_state = self.hidden_states(y, state, training)
        col_mask = self.embedding.column_mask(rows) if mask_empty else None
        row_mask = self.embedding.row_mask() if mask_empty else None
        row_lp, col_lp = self.softmax(row_hidden, col_hidden, col_mask, row_mask)
        return row_lp, col_lp, new_state

    def target_log_prob_parts(self, y, state, training=False):
        """`(log P_r(row(y_t)) (B, T), log P_c(col(y_t)) (B, T), new_state)`."""
        row_lp, col_lp, new_state = self.distributions(y, state, training)
        rows, cols = self.embedding.locate(y)
        row_t = ops.take_along_axis(row_lp, ops.expand_dims(rows, -1), axis=-1)[..., 0]
        col_t = ops.take_along_axis(col_lp, ops.expand_dims(cols, -1), axis=-1)[..., 0]
        return row_t, col_t, new_state

    def target_log_probs(self, y, state, training=False):
        """`(log P(y_t) (B, T), state after y[:, -1])`: row part plus column part."""
        row_t, col_t, new_state = self.target_log_prob_parts(y, state, training)
        return row_t + col_t, new_state

    @property
    def epoch_statistics(self):
        """The `realloc.EpochStatistics` that training windows add to, or None (the default)."""
        return self.__dict__.get("_epoch_statistics")

    def set_epoch_statistics(self, statistics) -> None:
        """Installs (or with None removes) the `realloc.EpochStatistics` that training windows add to.
        The compiled train function reads it when traced, so it is traced again."""
        if statistics is self.epoch_statistics:
            return
        self.__dict__["_epoch_statistics"] = statistics  # not a tracked attribute: checkpoints list its variables
        if getattr(self, "train_function", None) is not None:
            self.make_train_function(force=True)

    # === Single steps (prediction, export) ===

    def feed_word(self, words, state):
        """Reads words `(B,)` (row step, then column step) -> the state after them."""
        rows, cols = self.embedding.locate(words)
        _, state = self._cell_step(self.embedding.row_vectors(rows), state)
        _, state = self._cell_step(self.embedding.col_vectors(cols), state)
        return state

    def _cell_step(self, x, state):
        new_state = []
        for i, lstm in enumerate(self.lstms):
            x, s = lstm.cell(x, list(state[i]))
            new_state.append(list(s))
        return x, new_state

    def next_word_log_probs(self, state):
        """Exact next-word distribution `(B, V)` from a state, via one column step per row.

        All R rows are expanded as one batched step of batch `B * R`; meant for tests, evaluation
        and small vocabularies (the exported predictor expands only the rows it needs).
        """
        b = ops.shape(state[0][0])[0]
        row_lp = self.softmax.row_log_probs(state[-1][0], self.embedding.row_mask())  # (B, R)
        all_rows = ops.arange(self.rows, dtype="int32")
        x = ops.tile(self.embedding.row_vectors(all_rows), (b, 1))  # (B*R, E)
        rep = [[ops.repeat(h, self.rows, axis=0), ops.repeat(c, self.rows, axis=0)] for h, c in state]
        h_top, _ = self._cell_step(x, rep)
        mask = self.embedding.column_mask(ops.tile(all_rows, (b,)))  # (B*R, C)
        col_lp = ops.reshape(self.softmax.col_log_probs(h_top, mask), (b, self.rows, self.cols))
        cell_lp = ops.reshape(ops.expand_dims(row_lp, -1) + col_lp, (b, self.rows * self.cols))
        word_cell = self.embedding.word_row * self.cols + self.embedding.word_col  # (V,)
        return ops.take(cell_lp, word_cell, axis=1)

    # === Table ===

    def get_table(self) -> WordTable:
        return self.embedding.get_table()

    def set_table(self, table: WordTable, carry_weights=None) -> None:
        """Installs `table`; see `TwoComponentEmbedding.assign_table` for `carry_weights`."""
        self.embedding.assign_table(table, carry_weights)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "rows": self.rows,
            "cols": self.cols,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout_rate,
            "table_seed": self.table_seed,
            "weight_drop": self.weight_drop,
        }

    @classmethod
    def from_model_config(cls, cfg, table_seed=0, **kwargs) -> "LightRNNModel":
        return cls(cfg.vocab_size, cfg.rows, cfg.cols, cfg.embedding_dim, cfg.hidden_dim, cfg.num_layers,
                   cfg.dropout, table_seed=table_seed, weight_drop=cfg.weight_drop, **kwargs)


def make_weight_dropout(rate, dtype=None):
    """The dropout layer that `run_lstm_stack` applies to recurrent kernels, or None for rate 0.

    None (no layer, no RNG variable) keeps a model without weight drop exactly as it was:
    the same variables in the same order, so its checkpoints and random draws are unchanged.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"Received an invalid value for `weight_drop`, expected 0 <= weight_drop < 1, got {rate}.")
    return ReplicaDropout(rate, name="weight_dropout", dtype=dtype) if rate > 0 else None


def run_lstm_stack(lstms, dropout, seq, state, training, weight_dropout=None):
    """seq `(B, S, E)` through stacked Keras LSTM layers -> outputs `(B, S, H)` and the new state.

    Dropout on the input and between layers; with `weight_dropout` (a dropout layer), while
    training, each layer's recurrent kernel `(H, 4H)` is dropped with one mask for all S steps
    (DropConnect, AWD-LSTM's weight drop); the recurrent scan then runs on every device, since
    cuDNN cannot take a masked kernel. On a GPU the Keras LSTM layers run (cuDNN); on a
    CPU each layer's input projection is one matmul over all S steps and only `h @ U` stays
    inside the recurrent `tf.scan` (`lstm_sequence`, whose backward pass is written by hand: one
    matmul a step). That trained about 40% faster than the Keras loop with automatic
    differentiation, and the hand-written backward pass made LightRNN 1.75x faster again (a
    Python loop unrolled over the 2T static steps measured the same words/s as the scan: the
    step's matmuls, not the loop, bound it). Both read the same weights, and the single-step
    paths use `lstm.cell`.
    """
    new_state = []
    h = dropout(seq, training=training)
    drop_weights = weight_dropout is not None and bool(training)
    use_keras = bool(tf.config.list_logical_devices("GPU")) and not drop_weights
    for i, lstm in enumerate(lstms):
        if use_keras:
            h, state_h, state_c = lstm(h, initial_state=list(state[i]), training=training)[:3]
        else:
            recurrent = weight_dropout(lstm.cell.recurrent_kernel, training=True) if drop_weights else None
            h, state_h, state_c = _scan_lstm(h, state[i][0], state[i][1], lstm.cell, recurrent)
        new_state.append([state_h, state_c])
        if i + 1 < len(lstms):
            h = dropout(h, training=training)
    return h, new_state


def _scan_lstm(x, h, c, cell, recurrent=None):
    """Keras-LSTMCell math (gates i, f, c, o) over `x (B, S, I)` with a precomputed input projection.

    `recurrent`: the `(H, 4H)` kernel to use instead of `cell.recurrent_kernel` (weight drop).
    Returns `(outputs (B, S, H), last h (B, H), last c (B, H))`.
    """
    kernel = ops.cast(cell.kernel, x.dtype)
    recurrent = ops.cast(cell.recurrent_kernel if recurrent is None else recurrent, x.dtype)
    bias = ops.cast(cell.bias, x.dtype)
    b, s = tf.shape(x)[0], tf.shape(x)[1]
    xw = tf.reshape(tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel) + bias, [b, s, kernel.shape[-1]])  # (B, S, 4H)
    hs, cs = lstm_sequence(tf.transpose(xw, [1, 0, 2]), tf.cast(h, x.dtype), tf.cast(c, x.dtype), recurrent)
    return tf.transpose(hs, [1, 0, 2]), hs[-1], cs[-1]


@tf.custom_gradient
def lstm_sequence(xw, h0, c0, recurrent):
    """The LSTM recurrence over precomputed input projections, with a hand-written backward pass.

    Keras `LSTMCell` math, gates in its order i, f, c (g), o:
    `z_t = xw_t + h_{t-1} U`, `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`.

    Args:
        xw: `(S, B, 4H)`, `x_t W + b` for every step (time-major).
        h0, c0: `(B, H)`, the state before step 1.
        recurrent: `(H, 4H)`, U.

    Returns:
        `(hs (S, B, H), cs (S, B, H))`: h and c after every step.

    The backward pass is a reverse `tf.scan` with one `(B, 4H) x (4H, H)` matmul a step (dz U^T);
    the recurrent kernel's gradient `sum_t h_{t-1}^T dz_t` is then one `(H, S B) x (S B, 4H)`
    matmul after the loop, as cuDNN does. Automatic differentiation of the forward scan instead
    does both matmuls inside the loop with more small ops a step: on this 2-core CPU a window of
    20 x 70 steps at H = 256 runs forward and backward about 2x as fast (`benchmarks/bench_lstm.py`;
    `tests/test_layers.py` checks these gradients against automatic differentiation).
    """
    hidden = h0.shape[-1]

    def step(carry, z_in):
        h, c, _ = carry
        z = z_in + tf.matmul(h, recurrent)  # (B, 4H)
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c, z

    no_gates = tf.tile(tf.zeros_like(h0), [1, 4])  # (B, 4H), shaped like the carried h
    # The backward pass recomputes the gates from the stored pre-activations z: the forward
    # step stays the plain cell math, which evaluation and reallocation statistics run alone.
    hs, cs, zs = tf.scan(step, xw, initializer=(h0, c0, no_gates))  # (S, B, H) x 2, (S, B, 4H)

    def grad(d_hs, d_cs):
        d_hs = tf.zeros_like(hs) if d_hs is None else d_hs
        d_cs = tf.zeros_like(cs) if d_cs is None else d_cs
        c_prev = tf.concat([c0[None], cs[:-1]], 0)  # (S, B, H)
        h_prev = tf.concat([h0[None], hs[:-1]], 0)
        recurrent_t = tf.transpose(recurrent)  # (4H, H)

        def back_step(carry, elems):
            dh_next, dc_next, _ = carry  # from step t + 1
            dh_out, dc_out, z, c, cp = elems
            i, f, _, o = tf.split(tf.sigmoid(z), 4, axis=-1)
            g = tf.tanh(z[:, 2 * hidden : 3 * hidden])
            dh = dh_out + dh_next
            tanh_c = tf.tanh(c)
            dc = dc_next + dc_out + dh * o * (1 - tanh_c * tanh_c)
            dz = tf.concat([dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g),
                            dh * tanh_c * o * (1 - o)], 1)  # (B, 4H)
            return tf.matmul(dz, recurrent_t), dc * f, dz

        zeros = tf.zeros_like(h0)
        dh0, dc0, dz = tf.scan(back_step, (d_hs, d_cs, zs, cs, c_prev), initializer=(zeros, zeros, no_gates),
                               reverse=True)
        d_recurrent = tf.matmul(tf.reshape(h_prev, [-1, hidden]), tf.reshape(dz, [-1, 4 * hidden]), transpose_a=True)
        return dz, dh0[0], dc0[0], d_recurrent

    return (hs, cs), grad


def count_params(model: keras.Model) -> int:
    """Trainable parameters."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
