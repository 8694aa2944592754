"""Baselines for LightRNN: standard LSTM language models with a full V-way softmax.

`FullSoftmaxLSTM` trains and evaluates with the full softmax; `SampledSoftmaxLSTM` is the same
network trained with a sampled softmax (Jean et al., 2015) and evaluated with the full one.

Letters: B batch, T words in a window, V vocabulary, E embedding, H hidden, L layers.
A *state* is a list of L pairs `[h, c]`, each `(B, H)`, after the last word read, the same
convention as `LightRNNModel` (one LSTM step a word instead of two).

    model = FullSoftmaxLSTM(vocab_size=10000, embedding_dim=256, hidden_dim=256)
    model.compile(optimizer="adam")
    model.fit(stream_dataset(ids, batch_size=20, bptt=35), epochs=1)

Parameters: V*E (input embedding) + LSTM + H*V + V (output head); at V = 10k, E = H = 256 that is
5.65M against LightRNN's 0.62M. `export.baseline_graph` exports it with the same single-step
signatures as LightRNN, for `benchmarks/bench_export.py`.
"""

from __future__ import annotations

import keras
from keras import ops

from lightrnn_tf.layers import ReplicaDropout
from lightrnn_tf.model import make_weight_dropout, run_lstm_stack
from lightrnn_tf.stream_model import StreamLanguageModel, check_network_args


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class FullSoftmaxLSTM(StreamLanguageModel):
    """Word embedding -> L LSTM layers -> dense V-way softmax.

    Args:
        vocab_size: int, V.
        embedding_dim: int, E. Default: `256`.
        hidden_dim: int, H. Default: `256`.
        num_layers: int, L. Default: `1`.
        dropout: float, dropout on embeddings, between layers and before the head. Default: `0.3`.
        weight_drop: float, DropConnect on the LSTMs' recurrent kernels while training, as in
            `LightRNNModel`. Default: `0.0`.

    Call arguments:
        inputs: tuple `(x, y)` of int `(B, T)`: words and next words of a window. Only `x[:, 0]`
            is read (each row's first word starts its state); the model reads `y` itself, one
            word after another, as in the stream.
        training: bool.

    Returns:
        `(B, T)` float32 `log P(y_t | x_1, y_1..y_{t-1})`, the window read from `start_state(x[:, 0])`.
    """

    def __init__(self, vocab_size, embedding_dim=256, hidden_dim=256, num_layers=1, dropout=0.3, weight_drop=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        check_network_args(vocab_size, embedding_dim, hidden_dim, num_layers, dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout_rate = dropout
        # === Layers ===
        policy = self.dtype_policy  # e.g. mixed_bfloat16, for every layer but the float32 head
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding", dtype=policy)
        self.lstms = [keras.layers.LSTM(hidden_dim, return_sequences=True, return_state=True, name=f"lstm_{i}",
                                        dtype=policy)
                      for i in range(num_layers)]
        self.dropout = ReplicaDropout(dropout, name="dropout", dtype=policy)
        self.head = keras.layers.Dense(vocab_size, name="head", dtype="float32")
        self.embedding.build((None,))
        dim = embedding_dim
        for lstm in self.lstms:
            lstm.build((None, None, dim))
            dim = hidden_dim
        self.head.build((None, hidden_dim))
        self.weight_drop = weight_drop  # made last, as in LightRNNModel
        self.weight_dropout = make_weight_dropout(weight_drop, policy)
        self.built = True
        self._init_stream_state()

    # === State ===

    def start_state(self, first_words, training=False):
        """State after reading `first_words` `(B,)` from the zero state."""
        _, state = self._run_stack(self.embedding(first_words)[:, None], self.zero_state(ops.shape(first_words)[0]),
                                   training)
        return state

    def _run_stack(self, seq, state, training):
        """`seq (B, S, E)` -> outputs `(B, S, H)` and the new state (same LSTM code as LightRNN)."""
        return run_lstm_stack(self.lstms, self.dropout, seq, state, training, self.weight_dropout)

    # === Sequences ===

    def predicting_states(self, y, state, training=False):
        """`(h (B, T, H) that predicts y_t, state after y[:, -1])` for targets `y (B, T)` read from `state`."""
        out, new_state = self._run_stack(self.embedding(y), state, training)  # (B, T, H)
        top_h = ops.expand_dims(ops.cast(state[-1][0], out.dtype), 1)
        return self.dropout(ops.concatenate([top_h, out[:, :-1]], axis=1), training=training), new_state

    def target_log_probs(self, y, state, training=False):
        """`(log P(y_t) (B, T), state after y[:, -1])` for targets `y (B, T)` read from `state`."""
        pred_h, new_state = self.predicting_states(y, state, training)
        log_probs = ops.log_softmax(self.head(pred_h), axis=-1)  # (B, T, V)
        return ops.take_along_axis(log_probs, ops.expand_dims(ops.cast(y, "int32"), -1), axis=-1)[..., 0], new_state

    # === Single steps (prediction, export) ===

    def feed_word(self, words, state):
        """Reads words `(B,)` -> the state after them."""
        x = self.embedding(words)
        new_state = []
        for lstm, (h, c) in zip(self.lstms, state):
            x, s = lstm.cell(x, [h, c])
            new_state.append(list(s))
        return new_state

    def next_word_log_probs(self, state):
        """`(B, V)` log-probabilities of the next word."""
        return ops.log_softmax(self.head(state[-1][0]), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim, "num_layers": self.num_layers, "dropout": self.dropout_rate,
                "weight_drop": self.weight_drop}


@keras.saving.register_keras_serializable(package="lightrnn_tf")
class SampledSoftmaxLSTM(FullSoftmaxLSTM):
    """`FullSoftmaxLSTM` trained with a sampled softmax, evaluated with the full softmax.

    Each training window scores the targets against `num_sampled` words drawn (with replacement)
    from the log-uniform (Zipfian) distribution over ids, which fits a `Vocabulary`'s frequency
    order: `P(k) = log((k + 2) / (k + 1)) / log(V + 1)`. The draws use a Keras `SeedGenerator`,
    so they are checkpointed and reproducible. `tf.nn.sampled_softmax_loss` corrects for the
    sampling probabilities and removes accidental hits.

    Args:
        vocab_size, embedding_dim, hidden_dim, num_layers, dropout, weight_drop: as in `FullSoftmaxLSTM`.
        num_sampled: int, negative samples a window (clipped to V - 1). Default: `1024`.
    """

    def __init__(self, vocab_size, embedding_dim=256, hidden_dim=256, num_layers=1, dropout=0.3, num_sampled=1024,
                 weight_drop=0.0, **kwargs):
        super().__init__(vocab_size, embedding_dim, hidden_dim, num_layers, dropout, weight_drop=weight_drop, **kwargs)
        self.num_sampled = int(max(1, min(num_sampled, vocab_size - 1)))
        self.sampler = keras.random.SeedGenerator(name="sampler")

    def window_loss(self, y, state, training=False):
        """Training: sampled-softmax NLL per target word; otherwise the full softmax's."""
        if not training:
            return super().window_loss(y, state, training)
        import tensorflow as tf

        pred_h, new_state = self.predicting_states(y, state, training)
        h = tf.reshape(tf.cast(pred_h, "float32"), [-1, self.hidden_dim])  # (B*T, H)
        labels = tf.reshape(tf.cast(y, "int64"), [-1, 1])  # (B*T, 1)
        log_range = tf.math.log(float(self.vocab_size + 1))
        u = keras.random.uniform((self.num_sampled,), seed=self.sampler)
        sampled = tf.clip_by_value(tf.cast(tf.floor(tf.exp(u * log_range)) - 1.0, "int64"), 0, self.vocab_size - 1)

        def expected(ids):  # expected count of an id among the draws
            k = tf.cast(ids, "float32")
            return self.num_sampled * (tf.math.log(k + 2.0) - tf.math.log(k + 1.0)) / log_range

        loss = tf.nn.sampled_softmax_loss(
            weights=tf.transpose(self.head.kernel), biases=self.head.bias, labels=labels, inputs=h,
            num_sampled=self.num_sampled, num_classes=self.vocab_size,
            sampled_values=(sampled, expected(labels), expected(sampled)), remove_accidental_hits=True)
        return tf.reduce_mean(loss), new_state

    def get_config(self):
        return {**super().get_config(), "num_sampled": self.num_sampled}
