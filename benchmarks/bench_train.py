"""Training throughput and peak memory: LightRNN vs a full-softmax Keras LSTM, same data, same run.

    python benchmarks/bench_train.py                       # PTB valid (10k words) from $LIGHTRNN_DATA
    python benchmarks/bench_train.py --data FILE --steps 64 --layers 2
    python benchmarks/bench_train.py --zipf 100000 --steps 16      # synthetic Zipfian ids, |V| = 100k
    python benchmarks/bench_train.py --ema-momentum 0.99           # also what weight averaging costs

Each model trains in its own subprocess (so peak RSS is its own) through `model.fit` — the
models' own `train_step`, the path `python -m lightrnn_tf.train` uses, LSTM state carried across
windows — for `--steps` windows of `--batch-size` x `--bptt` words after 2 x `--steps-per-execution` warm-up windows, with
the same optimizer and clipping. With `--ema-momentum M` each model is also measured with the
optimizer keeping a moving average of the weights (`use_ema=True`, what `--ema-momentum` of the
training command turns on), right after its run without. Prints a table and writes
benchmarks/results/train.json.
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from lightrnn_tf.compare import machine  # noqa: E402  (its TensorFlow import is left out)
from lightrnn_tf.config import TrainConfig  # noqa: E402  (no TensorFlow import)
from own_process import measure_in_own_process  # noqa: E402  (benchmarks/own_process.py)


def measure(kind, args):
    import keras
    import numpy as np

    from lightrnn_tf.data import Tokenizer, Vocabulary, read_lines, stream_dataset

    if args.zipf:  # synthetic: ids drawn from a Zipf(1) distribution over --zipf ranks
        rng = np.random.default_rng(0)
        p = 1.0 / np.arange(1, args.zipf + 1)
        ids = rng.choice(args.zipf, size=args.zipf_tokens, p=p / p.sum()).astype(np.int32)
        V = args.zipf
    else:
        lines = read_lines(args.data)
        tok = Tokenizer(lowercase=args.lowercase, split_punct=args.split_punct)
        vocab = Vocabulary.build(tok, lines)
        ids = vocab.encode_lines(lines, tok)
        V = len(vocab)
    keras.utils.set_random_seed(0)
    kind, _, averaged = kind.partition("+")
    if kind == "lightrnn":
        from lightrnn_tf.model import LightRNNModel

        model = LightRNNModel(V, embedding_dim=args.dim, hidden_dim=args.dim, num_layers=args.layers, dropout=0.3)
    else:
        from lightrnn_tf.baselines import FullSoftmaxLSTM

        model = FullSoftmaxLSTM(V, embedding_dim=args.dim, hidden_dim=args.dim, num_layers=args.layers, dropout=0.3)
    ema = {"use_ema": True, "ema_momentum": args.ema_momentum} if averaged else {}
    model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0, **ema),
                  steps_per_execution=args.steps_per_execution)

    class Timer(keras.callbacks.Callback):
        """Wall time from the end of the warm-up windows to the end of the last one."""

        def on_train_batch_end(self, batch, logs=None):  # called every steps_per_execution windows
            if batch == warmup - 1 or batch == args.steps + warmup - 1:
                float(logs["loss"])  # wait for the step to finish
                self.start = time.perf_counter() if batch == warmup - 1 else self.start
                self.seconds = time.perf_counter() - self.start

    warmup = 2 * args.steps_per_execution
    if args.steps % args.steps_per_execution:
        raise SystemExit("--steps must be a multiple of --steps-per-execution")
    timer = Timer()
    ds = stream_dataset(ids, args.batch_size, args.bptt).take(args.steps + warmup)
    if int(ds.cardinality()) < args.steps + warmup:
        raise SystemExit(f"the data has {int(ds.cardinality())} windows, fewer than --steps {args.steps} plus "
                         f"{warmup} warm-up windows")
    model.fit(ds, epochs=1, verbose=0, callbacks=[timer])
    seconds = timer.seconds
    words = args.steps * args.batch_size * args.bptt
    params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    return {"model": kind + ("+ema" if averaged else ""), "vocab_size": V, "params": params, "words": words, "seconds": seconds,
            "words_per_sec": words / seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None):
    data_root = os.environ.get("LIGHTRNN_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(data_root, "ptb", "ptb.valid.txt"))
    p.add_argument("--lowercase", action="store_true", help="tokenizer: lowercase")
    p.add_argument("--split-punct", action="store_true", help="tokenizer: split punctuation")
    p.add_argument("--zipf", type=int, default=0, help="instead of --data: a synthetic Zipf(1) id stream over this many words")
    p.add_argument("--zipf-tokens", type=int, default=400_000, help="length of the synthetic stream")
    p.add_argument("--dim", type=int, default=256, help="embedding and hidden size")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--steps-per-execution", type=int, default=TrainConfig().steps_per_execution,
                   help="windows per call into TensorFlow (default: the training command's)")
    p.add_argument("--ema-momentum", type=float, default=0.0,
                   help="also measure each model with a moving average of its weights (use_ema) of this momentum")
    p.add_argument("--out", default=os.path.join(HERE, "results", "train.json"))
    p.add_argument("--only", choices=["lightrnn", "full_softmax", "lightrnn+ema", "full_softmax+ema"],
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.only:
        print(json.dumps(measure(args.only, args)))
        return 0
    rows = []
    if not 0 <= args.ema_momentum < 1:
        p.error(f"--ema-momentum must be in [0, 1), got {args.ema_momentum}")
    kinds = ["lightrnn", "full_softmax"]
    if args.ema_momentum:
        kinds = ["lightrnn", "lightrnn+ema", "full_softmax", "full_softmax+ema"]
    for kind in kinds:
        rows.append(measure_in_own_process(__file__, kind, argv))
    by_kind = {r["model"]: r for r in rows}
    light, full = by_kind["lightrnn"], by_kind["full_softmax"]
    source = f"synthetic Zipf(1) stream of {args.zipf_tokens} ids" if args.zipf else args.data
    print(f"data {source}: |V| = {light['vocab_size']}, E = H = {args.dim}, {args.layers} layer(s), "
          f"batch {args.batch_size} x bptt {args.bptt}, {args.steps} timed windows, {os.cpu_count()} CPU cores")
    print(f"{'model':<18}{'params':>12}{'words/s':>12}{'peak RSS MB':>14}")
    for r in rows:
        print(f"{r['model']:<18}{r['params']:>12,}{r['words_per_sec']:>12,.0f}{r['peak_rss_mb']:>14,.0f}")
    ratios = {"speedup": light["words_per_sec"] / full["words_per_sec"], "param_ratio": full["params"] / light["params"],
              "memory_ratio": full["peak_rss_mb"] / light["peak_rss_mb"]}
    print(f"LightRNN: {ratios['speedup']:.2f}x the words/s, {ratios['param_ratio']:.1f}x fewer parameters, "
          f"{ratios['memory_ratio']:.2f}x less peak memory")
    for kind in ("lightrnn", "full_softmax") if args.ema_momentum else ():
        plain, averaged = by_kind[kind], by_kind[kind + "+ema"]
        ratios[f"{kind}_ema_words_per_sec_ratio"] = averaged["words_per_sec"] / plain["words_per_sec"]
        ratios[f"{kind}_ema_peak_rss_ratio"] = averaged["peak_rss_mb"] / plain["peak_rss_mb"]
        print(f"{kind} with the weight average: {ratios[f'{kind}_ema_words_per_sec_ratio']:.2f}x the words/s, "
              f"{ratios[f'{kind}_ema_peak_rss_ratio']:.2f}x the peak memory")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"config": vars(args), "machine": machine(tensorflow=False), "results": rows, "ratios": ratios}, f,
                  indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
