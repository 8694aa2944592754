"""Tried, not kept: per-word terms in LightRNN's column logits (perplexity only; no export).

    python benchmarks/word_output_terms.py --dim 16 -- \
        --train ../shared/data/ptb/ptb.valid.txt --test ../shared/data/ptb/ptb.test.txt --epochs 60 --seed 1234 \
        --optimizer sgd --learning-rate 20 --clip-norm 0.25 --lr-decay 0.25 --dropout 0.5 --out runs/ptb_word_terms

The question: LightRNN loses its PTB keystrokes on words seen 1 to 19 times, which the full
softmax predicts well with an output vector of their own (docs/keyboard.md, "Which words the
keystrokes are lost on"). Does a small per-word term buy that back? Everything after `--` is
`python -m lightrnn_tf.train`'s flags; this script runs that command with the column logits of
row r changed (a prototype, by patching, not a flag):

    logit(j | r) = U_j . h' + b_w + v_w . (P h'),    w the word in cell (r, j)

with `b` `(V,)` zeros, `v` `(V, D)` and `P` `(H, D)` trained with the rest (`--dim 0`: the bias
alone). The terms are indexed by word, so they move with their words at every reallocation; the
reallocation's costs do not see them.

Measured (2026-12-06, PTB, the SGD command above; the default LightRNN: valid / test 196.68 /
203.08): `--dim 0` 202.25 / 204.05 (best epoch 41); `--dim 16` overfits, best validation 256.13
at epoch 11, test 253.63, early stop at 14.
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=16, help="D, the per-word vectors' size (0: bias only)")
    args = parser.parse_args(argv[:split])

    import keras
    import tensorflow as tf

    import lightrnn_tf.train as train
    from lightrnn_tf.model import LightRNNModel

    build_model = train.build_model

    def build_with_word_terms(model_cfg, cfg):
        model = build_model(model_cfg, cfg)
        v, h, d = model.vocab_size, model.hidden_dim, args.dim
        model.word_vec = model.word_proj = None
        if d:
            model.word_vec = model.add_weight(name="word_vec", shape=(v, d),
                                              initializer=keras.initializers.RandomNormal(stddev=0.01))
            model.word_proj = model.add_weight(name="word_proj", shape=(h, d), initializer="glorot_uniform")
        model.word_bias = model.add_weight(name="word_bias", shape=(v,), initializer="zeros")
        return model

    def distributions(self, y, state, training=False, mask_empty=True):
        row_hidden, col_hidden, rows, new_state = self.hidden_states(y, state, training)
        emb = self.embedding
        cells = tf.stack([emb.word_row, emb.word_col], axis=1)
        cell_word = tf.tensor_scatter_nd_update(-tf.ones((emb.rows, emb.cols), tf.int32), cells,
                                                tf.range(self.vocab_size, dtype=tf.int32))
        words = tf.gather(cell_word, rows)                                   # (B, T, C), -1 = empty
        safe = tf.maximum(words, 0)
        h = tf.cast(col_hidden, tf.float32)
        extra = tf.gather(self.word_bias, safe)
        if self.word_vec is not None:
            extra += tf.einsum("btcd,btd->btc", tf.gather(self.word_vec, safe), tf.matmul(h, self.word_proj))
        logits = self.softmax.col_head(h) + tf.where(words >= 0, extra, 0.0)
        if mask_empty:
            logits += emb.column_mask(rows)
        row_lp = self.softmax.row_log_probs(row_hidden, emb.row_mask() if mask_empty else None)
        return row_lp, tf.nn.log_softmax(logits, axis=-1), new_state

    train.build_model, LightRNNModel.distributions = build_with_word_terms, distributions
    return train.main(argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main())
