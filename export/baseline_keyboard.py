"""The full-softmax LSTM baseline exported for the keyboard evaluation, with LightRNN-style metadata.

    from export.baseline_keyboard import export_baseline
    export_baseline(model, vocab_words, tokenizer_dict, "ptb_lstm_int8.tflite", quantize="dynamic")

Signatures (same conventions as `export.baseline_graph`, batch 1, `state (L, 2, H)`):

    feed(word (1,), state)    -> state
    score(word (1,), state)   -> log_prob (1,), state
    top_k(state)              -> words (K,), log_probs (K,)
    log_probs(state)          -> log_probs (V,)          the full next-word distribution

The metadata is the `LIGHTRNN_METADATA` JSON of `export.metadata` with `architecture:
"full_softmax_lstm"` and a 1 x V table (one row holding every word), so `read_metadata` and
`TextEncoder` read it unchanged. Completion needs the whole distribution (a V-way softmax is what
this model computes anyway); `FullSoftmaxKeyboard` in `export.evaluate` runs it.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from export import metadata as metadata_lib
from export.baseline_graph import BASELINE_SIGNATURES, FullSoftmaxSignatures
from export.graph import unpack_state

KEYBOARD_BASELINE_SIGNATURES = BASELINE_SIGNATURES + ("log_probs",)
ARCHITECTURE = "full_softmax_lstm"


class FullSoftmaxKeyboardSignatures(FullSoftmaxSignatures):
    """`FullSoftmaxSignatures` plus `log_probs(state) -> (V,)`."""

    def __init__(self, model, max_k: int):
        super().__init__(model, max_k)
        state = tf.TensorSpec([self.num_layers, 2, self.hidden_dim], tf.float32, name="state")
        self.log_probs = tf.function(self._all_log_probs, input_signature=[state])

    def signatures(self) -> dict:
        return {name: getattr(self, name).get_concrete_function() for name in KEYBOARD_BASELINE_SIGNATURES}

    def _all_log_probs(self, state):
        return {"log_probs": self._log_probs(unpack_state(state, self.num_layers))}


def export_baseline(model, words, tokenizer: dict, out: str, quantize: str = "none", max_k: int = 10) -> dict:
    """Writes the baseline `model` (a `FullSoftmaxLSTM`) with its vocabulary to `out`; returns the metadata."""
    data, meta = build_baseline(model, words, tokenizer, quantize, max_k)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
    return meta


def stated_rules(tokenizer: dict) -> dict:
    """The metadata's `tokenizer` dict for `tokenizer`: one with only `lowercase` and `split_punct`
    means today's rules, stated in full; one with more (a run's `Tokenizer.to_dict`, or an export's
    metadata) keeps its own rules, with what they state filled in."""
    from export.text import rules_version
    from lightrnn_tf.data import TOKENIZER_RULES, Tokenizer

    version = rules_version(tokenizer) if set(tokenizer) - {"lowercase", "split_punct"} else TOKENIZER_RULES
    return {**Tokenizer(bool(tokenizer["lowercase"]), bool(tokenizer["split_punct"]), version).to_dict(), **tokenizer}


def build_baseline(model, words, tokenizer: dict, quantize: str = "none", max_k: int = 10) -> tuple[bytes, dict]:
    """The baseline `model` (a `FullSoftmaxLSTM`) as `.tflite` bytes with metadata: `(bytes, metadata)`."""
    from export.convert import convert_module
    from lightrnn_tf import __version__
    from lightrnn_tf.data import EOS, UNK

    flat = convert_module(FullSoftmaxKeyboardSignatures(model, max_k), KEYBOARD_BASELINE_SIGNATURES, quantize)
    v = len(words)
    meta = {
        "format": metadata_lib.FORMAT, "format_version": metadata_lib.FORMAT_VERSION,
        "architecture": ARCHITECTURE, "library": "lightrnn_tf", "library_version": __version__,
        "model": {"vocab_size": v, "rows": 1, "cols": v, "embedding_dim": model.embedding_dim,
                  "hidden_dim": model.hidden_dim, "num_layers": model.num_layers},
        "tokenizer": stated_rules(tokenizer),
        "special_tokens": {UNK: list(words).index(UNK), EOS: list(words).index(EOS)},
        "table": metadata_lib.encode_allocation(np.zeros(v, np.int64), np.arange(v), 1, v),
        "export": {"quantization": quantize, "max_k": max_k, "expand_rows": 1,
                   "state_shape": [model.num_layers, 2, model.hidden_dim],
                   "signatures": list(KEYBOARD_BASELINE_SIGNATURES)},
        "vocab_file": metadata_lib.VOCAB_FILE,
        "vocab": list(words),
    }
    return metadata_lib.write_metadata(flat, meta), meta
