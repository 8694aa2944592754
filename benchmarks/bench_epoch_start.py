"""Dead time at the start of each epoch: the stream datasets with tf.data autotuning on (as before
2026-12-06) and off (`data.without_autotune`, today), same data, same model, same run.

    python benchmarks/bench_epoch_start.py                        # synthetic Zipf(1) ids, |V| = 10k
    python benchmarks/bench_epoch_start.py --tokens 800000 --epochs 4

In TF 2.21 deleting an autotuned iterator waits for the autotuner's thread to wake from a sleep
that doubles as the iterator ages (to 60 s at most), and Keras deletes the training iterator when
the next epoch starts. Each variant trains a LightRNN (E = H = 256, Adam, B = 20, T = 35) with
`model.fit` for `--epochs` epochs in its own subprocess, `--repeats` times; a callback records the
seconds from `on_epoch_begin` to the first window's `on_train_batch_begin` (the dead time,
including the deletion) and the epoch's training seconds. Prints a table and writes
benchmarks/results/epoch_start.json.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from own_process import measure_in_own_process  # noqa: E402  (benchmarks/own_process.py)
from results_file import write_results  # noqa: E402


def measure(autotune: bool, args) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel

    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, args.vocab + 1)
    ids = rng.choice(args.vocab, size=args.tokens, p=p / p.sum()).astype(np.int32)
    keras.utils.set_random_seed(0)
    model = LightRNNModel(args.vocab, embedding_dim=256, hidden_dim=256, dropout=0.3)
    model.compile(optimizer=keras.optimizers.Adam(2e-3, global_clipnorm=1.0))
    ds = stream_dataset(ids, 20, 35)
    if autotune:  # what stream_dataset built before: the default options
        options = tf.data.Options()
        options.autotune.enabled = True
        ds = ds.with_options(options)
    assert ds.options().autotune.enabled is autotune

    class Gaps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.gaps, self.seconds = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.begin, self.first = time.perf_counter(), None

        def on_train_batch_begin(self, batch, logs=None):
            if self.first is None:
                self.first = time.perf_counter()
                self.gaps.append(self.first - self.begin)

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.first)

    gaps = Gaps()
    model.fit(ds, epochs=args.epochs, verbose=0, callbacks=[gaps])
    return {"autotune": autotune, "start_gaps_s": gaps.gaps, "epoch_train_s": gaps.seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=10_000, help="synthetic vocabulary size")
    p.add_argument("--tokens", type=int, default=400_000, help="length of the synthetic id stream")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2, help="subprocesses per variant, alternating")
    p.add_argument("--out", default=os.path.join(HERE, "results", "epoch_start.json"))
    p.add_argument("--only", choices=["on", "off"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.only:
        print(json.dumps(measure(args.only == "on", args)))
        return 0
    runs = []
    for _ in range(args.repeats):
        for variant in ("on", "off"):
            runs.append(measure_in_own_process(__file__, variant, argv))
    print(f"synthetic Zipf(1) ids: |V| = {args.vocab}, {args.tokens} tokens, LightRNN E = H = 256, B 20 x T 35, "
          f"{args.epochs} epochs x {args.repeats} runs a variant, {os.cpu_count()} CPU cores")
    print(f"{'tf.data autotune':<18}{'epoch':>6}{'train s (mean)':>16}{'dead s at start, each run':>30}")
    summary = {}
    for autotune in (True, False):
        mine = [r for r in runs if r["autotune"] is autotune]
        for e in range(args.epochs):
            gaps = [r["start_gaps_s"][e] for r in mine]
            train_s = sum(r["epoch_train_s"][e] for r in mine) / len(mine)
            print(f"{'on (before)' if autotune else 'off (now)':<18}{e + 1:>6}{train_s:>16.1f}"
                  f"{', '.join(f'{g:.2f}' for g in gaps):>30}")
        later = [g for r in mine for g in r["start_gaps_s"][1:]]  # epoch 1's gap includes tracing
        summary["on" if autotune else "off"] = {"later_epochs_dead_s_total": sum(later),
                                                "later_epochs_dead_s_max": max(later) if later else None,
                                                "later_epochs_train_s_total": sum(
                                                    s for r in mine for s in r["epoch_train_s"][1:])}
    on, off = summary["on"], summary["off"]
    for name, s in (("on", on), ("off", off)):
        s["dead_fraction"] = s["later_epochs_dead_s_total"] / (s["later_epochs_dead_s_total"]
                                                               + s["later_epochs_train_s_total"])
    print(f"epochs 2 on: dead time {on['later_epochs_dead_s_total']:.1f} s ({on['dead_fraction']:.1%} of their wall "
          f"time) with autotuning, {off['later_epochs_dead_s_total']:.2f} s ({off['dead_fraction']:.2%}) without")
    write_results(args.out, args, runs=runs, summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
