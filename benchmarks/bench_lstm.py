"""The CPU training path's LSTM recurrence: hand-written backward pass against automatic differentiation.

    python benchmarks/bench_lstm.py                          # B = 20, S = 70 (a LightRNN window), H = 256
    python benchmarks/bench_lstm.py --steps 35 --hidden 512 --repeats 50

Times one forward and backward pass (`tf.function`, gradients for the input projections, the
initial state and the recurrent kernel) of

- `lstm_sequence` (`lightrnn_tf.model`): a `tf.scan` with a hand-written backward pass, what
  training runs on a CPU;
- the same forward `tf.scan` differentiated by TensorFlow (`tf.GradientTape`), what training ran
  before: the baseline, measured in the same process, alternately, after warm-up.

Checks that both give the same gradients, prints a table and writes
benchmarks/results/lstm_backward.json (with the machine it ran on).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from lightrnn_tf.compare import machine  # noqa: E402  (what the numbers were measured on)


OURS, BASELINE = "hand-written backward (lstm_sequence)", "automatic differentiation (baseline)"


def autodiff_lstm_sequence(xw, h0, c0, recurrent):
    """The baseline: Keras-LSTMCell math in a `tf.scan`, gradients left to TensorFlow -> `(hs, cs)`."""
    import tensorflow as tf

    def step(carry, z_in):
        h, c = carry
        i, f, g, o = tf.split(z_in + tf.matmul(h, recurrent), 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    return tf.scan(step, xw, initializer=(h0, c0))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=20, help="B")
    p.add_argument("--steps", type=int, default=70, help="S: LSTM steps a window (LightRNN: 2 x bptt)")
    p.add_argument("--hidden", type=int, default=256, help="H")
    p.add_argument("--repeats", type=int, default=30, help="timed passes of each, in rounds of 5, alternating")
    p.add_argument("--out", default=os.path.join(HERE, "results", "lstm_backward.json"))
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from lightrnn_tf.model import lstm_sequence

    B, S, H = args.batch_size, args.steps, args.hidden
    rng = np.random.default_rng(0)
    xw = tf.constant(rng.normal(size=(S, B, 4 * H)).astype(np.float32))
    h0, c0 = (tf.constant(rng.normal(size=(B, H)).astype(np.float32) * 0.1) for _ in range(2))
    recurrent = tf.constant(rng.normal(size=(H, 4 * H)).astype(np.float32) * 0.05)
    weights = tf.constant(rng.normal(size=(S, B, H)).astype(np.float32))

    def pass_of(fn):
        @tf.function
        def forward_backward(xw, h0, c0, recurrent):
            with tf.GradientTape() as tape:
                tape.watch([xw, h0, c0, recurrent])
                hs, _ = fn(xw, h0, c0, recurrent)
                loss = tf.reduce_sum(hs * weights)
            return tape.gradient(loss, [xw, h0, c0, recurrent])

        return forward_backward

    passes = {OURS: pass_of(lstm_sequence), BASELINE: pass_of(autodiff_lstm_sequence)}
    ours, base = ([g.numpy() for g in fn(xw, h0, c0, recurrent)] for fn in passes.values())
    max_rel_diff = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(ours, base))
    if max_rel_diff > 1e-4:
        raise SystemExit(f"the two backward passes disagree: largest relative gradient difference {max_rel_diff:.1e}")
    for fn in passes.values():  # warm-up
        for _ in range(3):
            fn(xw, h0, c0, recurrent)
    times = {name: [] for name in passes}
    for _ in range(max(1, args.repeats // 5)):
        for name, fn in passes.items():
            for _ in range(5):
                start = time.perf_counter()
                fn(xw, h0, c0, recurrent)[-1].numpy()
                times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    baseline = ms[BASELINE]
    print(f"B = {B}, S = {S}, H = {H}; median of {len(times[BASELINE])} passes each, alternating in rounds of 5")
    print("| LSTM backward | ms per forward + backward | speed vs baseline |")
    print("| --- | ---: | ---: |")
    for name, value in ms.items():
        print(f"| {name} | {value:.1f} | {baseline / value:.2f}x |")
    print(f"largest gradient difference, relative to the gradient's largest entry: {max_rel_diff:.1e}")
    result = {
        "config": vars(args),
        "machine": machine(),
        "ms_per_pass_median": ms,
        "ms_per_pass_all": {name: [1e3 * t for t in ts] for name, ts in times.items()},
        "speedup": baseline / ms[OURS],
        "max_rel_grad_diff": max_rel_diff,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
