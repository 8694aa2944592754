"""Single-step TFLite signatures of the full-softmax LSTM baseline (`lightrnn_tf.baselines`).

Same conventions as `export.graph` (batch 1, `state (L, 2, H)`), for a like-for-like benchmark:

    feed(word (1,), state)    -> state
    score(word (1,), state)   -> log_prob (1,), state
    top_k(state)              -> words (K,), log_probs (K,)      exact: full V-way softmax + TOPK_V2
"""

from __future__ import annotations

import tensorflow as tf

from export.graph import pack_state, unpack_state


class FullSoftmaxSignatures(tf.Module):
    """The exported functions of one `FullSoftmaxLSTM`.

    Args:
        model: a built `FullSoftmaxLSTM`.
        max_k: int, K.
    """

    def __init__(self, model, max_k: int):
        super().__init__(name="full_softmax_lstm")
        self.embedding = model.embedding
        self.lstms = list(model.lstms)
        self.head = model.head
        self.raw_vars = [v.value for v in model.weights]
        self.num_layers, self.hidden_dim = model.num_layers, model.hidden_dim
        self.max_k = int(max_k)
        word = tf.TensorSpec([1], tf.int32, name="word")
        state = tf.TensorSpec([self.num_layers, 2, self.hidden_dim], tf.float32, name="state")
        self.feed = tf.function(self._feed, input_signature=[word, state])
        self.score = tf.function(self._score, input_signature=[word, state])
        self.top_k = tf.function(self._top_k, input_signature=[state])

    def signatures(self) -> dict:
        return {name: getattr(self, name).get_concrete_function() for name in BASELINE_SIGNATURES}

    def _step(self, word, layers):
        x = tf.gather(self.embedding.embeddings, word)  # (1, E)
        new = []
        for lstm, (h, c) in zip(self.lstms, layers):
            x, s = lstm.cell(x, [h, c])
            new.append(list(s))
        return pack_state(new)  # (L, 2, H)

    def _log_probs(self, layers):
        return tf.nn.log_softmax(self.head(layers[-1][0]), axis=-1)[0]  # (V,)

    def _feed(self, word, state):
        return {"state": self._step(word, unpack_state(state, self.num_layers))}

    def _score(self, word, state):
        layers = unpack_state(state, self.num_layers)
        return {"log_prob": tf.gather(self._log_probs(layers), word), "state": self._step(word, layers)}

    def _top_k(self, state):
        log_probs, words = tf.math.top_k(self._log_probs(unpack_state(state, self.num_layers)), k=self.max_k)
        return {"words": words, "log_probs": log_probs}


BASELINE_SIGNATURES = ("feed", "score", "top_k")


def convert_baseline(model, quantize: str = "none", max_k: int = 10) -> bytes:
    """A `FullSoftmaxLSTM` -> TFLite flatbuffer bytes (builtin ops only, no metadata)."""
    from export.convert import convert_module

    return convert_module(FullSoftmaxSignatures(model, max_k), BASELINE_SIGNATURES, quantize)
