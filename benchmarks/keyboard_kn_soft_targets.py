"""Tried, not kept: LightRNN trained on soft targets from a cross-fitted Kneser–Ney trigram.

    python benchmarks/keyboard_kn_soft_targets.py --weight 0.5 -- \
        --train ../shared/data/ptb/ptb.valid.txt --test ../shared/data/ptb/ptb.test.txt --epochs 60 --seed 1234 \
        --optimizer sgd --learning-rate 20 --clip-norm 0.25 --lr-decay 0.25 --dropout 0.5 --out runs/ptb_kn_soft
    python -m export --run runs/ptb_kn_soft --out ptb_kn_soft_int8.tflite --quantize dynamic
    python -m export.evaluate --model ptb_kn_soft_int8.tflite --train ../shared/data/ptb/ptb.valid.txt \
        --text ../shared/data/ptb/ptb.test.txt --lines 300

The question: on PTB the trigram saves more keystrokes than LightRNN at equal perplexity, its lead
in phrases it stores from the training text (docs/keyboard.md). Does LightRNN learn them when the
trigram's predictions are its targets? Everything after `--` is `python -m lightrnn_tf.train`'s
flags; this script runs that command with two changes (a prototype, by patching, not a flag):

- Teacher. The training lines are cut into `--folds` contiguous folds; each fold's positions get
  the next-word distribution of a `KneserNeyTrigram` (discount 0.75, uniform floor) fitted on the
  other folds, so the teacher never saw the word it predicts. Its `--top-k` most probable words
  are kept per position, `(N, K)` ids and probabilities; the rest of its mass goes to the true word.
- Loss. With weight a and teacher mass S on the kept words, the target over words is
  `q = (1 - a S) onehot(y) + a sum_k p_k onehot(w_k)`. LightRNN is trained on the row part of
  `q` (its marginal over rows) against `P_r`, and on its column part within the true row (the
  kept words in that row, renormalised) against `P_c`, the only column distribution the model
  computes. `a = 0` is the ordinary loss. Reported training loss and perplexity stay the true-word
  NLL; validation, reallocation and early stopping are unchanged.

Measured (2026-12-06, benchmarks/results/keyboard_ptb_kn_soft_targets.json): no gain at a = 0.5,
worse at a = 0.9.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cross_fitted_teacher(ids: np.ndarray, vocab_size: int, eos_id: int, k: int = 32, folds: int = 5,
                         discount: float = 0.75):
    """Top-k next-word distribution of a Kneser–Ney trigram fitted on the other folds, per position.

    Args:
        ids: `(N,)` int, the training stream, `<eos>` after every line.

    Returns:
        `(teacher_ids (N, k) int32, teacher_probs (N, k) float32)`: for position n, the k most
        probable words given the two words before it in its line (`<s>` padded); `<eos>` gets the
        trigram's `</s>` probability.
    """
    from lightrnn_tf.kneser_ney import KneserNeyTrigram

    ids = np.asarray(ids, np.int64)
    n, bos, eos = len(ids), vocab_size, vocab_size + 1
    is_eos = ids == eos_id
    line = np.concatenate([[0], np.cumsum(is_eos)[:-1]])  # the line of each position
    n_lines = int(line[-1]) + 1
    first = np.ones(n, bool)
    first[1:] = is_eos[:-1]
    second = np.zeros(n, bool)
    second[1:] = first[:-1]
    prev1 = np.where(first, bos, np.concatenate([[bos], ids[:-1]]))
    prev2 = np.where(first | second, bos, np.concatenate([[bos, bos], ids[:-2]]))
    fold = line * folds // n_lines
    ends = np.flatnonzero(is_eos)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lines = [ids[a:b] for a, b in zip(starts, ends)]
    line_fold = np.arange(len(lines)) * folds // n_lines
    teacher_ids = np.zeros((n, k), np.int32)
    teacher_probs = np.zeros((n, k), np.float32)
    for f in range(folds):
        kn = KneserNeyTrigram.fit([s for s, g in zip(lines, line_fold) if g != f], vocab_size, discount,
                                  uniform_floor=True)
        pos = np.flatnonzero(fold == f)
        keys, inverse = np.unique(prev2[pos] * (vocab_size + 2) + prev1[pos], return_inverse=True)
        for j, key in enumerate(keys):
            p = kn.probs((key // (vocab_size + 2), key % (vocab_size + 2)))
            q = p[:vocab_size].copy()
            q[eos_id] = p[eos]
            top = np.argpartition(-q, k)[:k]
            at = pos[inverse == j]
            teacher_ids[at], teacher_probs[at] = top, q[top]
    return teacher_ids, teacher_probs


def soft_target_loss(model, y, teacher, state, weight):
    """`(loss (), true-word NLL (), new_state)` of a window under the soft targets (module docstring)."""
    import tensorflow as tf

    teacher_ids, teacher_probs = teacher                                 # (B, T, K) each
    row_lp, col_lp, new_state = model.distributions(y, state, training=True)  # (B, T, R), (B, T, C)
    rows, cols = model.embedding.locate(y)
    t_rows, t_cols = model.embedding.locate(teacher_ids)
    row_true = tf.gather(row_lp, rows, batch_dims=2)
    col_true = tf.gather(col_lp, cols, batch_dims=2)
    hard = 1.0 - weight * tf.reduce_sum(teacher_probs, -1)
    row_loss = -(hard * row_true + weight * tf.reduce_sum(teacher_probs * tf.gather(row_lp, t_rows, batch_dims=2), -1))
    in_row = tf.equal(t_rows, rows[..., None])
    w = tf.where(in_row, weight * teacher_probs, 0.0)
    col_k = tf.where(in_row, tf.gather(col_lp, t_cols, batch_dims=2), 0.0)
    col_loss = -(hard * col_true + tf.reduce_sum(w * col_k, -1)) / (hard + tf.reduce_sum(w, -1))
    return tf.reduce_mean(row_loss + col_loss), -tf.reduce_mean(row_true + col_true), new_state


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weight", type=float, default=0.5, help="a, the teacher's share of the target")
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv[:split])

    import tensorflow as tf

    import lightrnn_tf.data as data
    import lightrnn_tf.train as train
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.stream_model import apply_gradients

    teacher = {}
    prepare, stream_dataset, train_step = train.prepare, data.stream_dataset, LightRNNModel.train_step

    def prepare_with_teacher(model_cfg, cfg):
        model_cfg, vocab, ids, source = prepare(model_cfg, cfg)
        t0 = time.perf_counter()
        t_ids, t_probs = cross_fitted_teacher(ids["train"], len(vocab), vocab.eos_id, args.top_k, args.folds)
        print(f"teacher: {time.perf_counter() - t0:.1f} s; its top {args.top_k} hold {t_probs.sum(1).mean():.3f} "
              f"of its mass and the true word at {np.mean((t_ids == ids['train'][:, None]).any(1)):.3f} of positions",
              file=sys.stderr)
        teacher.update(ids=ids["train"], t_ids=t_ids, t_probs=t_probs)
        return model_cfg, vocab, ids, source

    def windows_with_teacher(ids, batch_size, bptt):
        """`stream_dataset`, plus each target's teacher, for the training windows of `train.train` only."""
        if teacher.get("ids") is not ids or sys._getframe(1).f_code.co_name != "training_windows":
            return stream_dataset(ids, batch_size, bptt)
        n_windows, rows = data._stream_rows(ids, batch_size, bptt)
        row_len = rows.shape[1]
        t_ids, t_probs = (tf.constant(teacher[k][: batch_size * row_len].reshape(batch_size, row_len, -1))
                          for k in ("t_ids", "t_probs"))
        rows = tf.constant(rows)

        def window(i):
            start = i * bptt
            stop = tf.minimum(start + bptt, row_len - 1)
            y = slice(start + 1, stop + 1)
            return rows[:, start:stop], rows[:, y], (t_ids[:, y], t_probs[:, y])

        # as stream_dataset: sequential, without tf.data's autotuner (its stall, docs/training.md)
        return data.without_autotune(tf.data.Dataset.range(n_windows).map(window).prefetch(2))

    def train_step_with_teacher(self, batch):
        if len(batch) < 3:
            return train_step(self, batch)
        x, y, targets = batch
        with tf.GradientTape() as tape:
            state = self._train_stream.read(lambda: self.start_state(x[:, 0], training=True))
            loss, nll, new_state = soft_target_loss(self, y, targets, state, args.weight)
            scaled = self.optimizer.scale_loss(loss)
        apply_gradients(self.optimizer, tape.gradient(scaled, self.trainable_variables), self.trainable_variables)
        self._train_stream.write(new_state)
        return self._update_metrics(nll, y)

    train.prepare, data.stream_dataset, LightRNNModel.train_step = (prepare_with_teacher, windows_with_teacher,
                                                                    train_step_with_teacher)
    return train.main(argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main())
