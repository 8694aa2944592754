"""Models for the keyboard evaluation: a LightRNN run's exports and a full-softmax LSTM trained alike.

    python -m lightrnn_tf.train --train ../shared/data/ptb/ptb.valid.txt --test ../shared/data/ptb/ptb.test.txt \
        --epochs 25 --seed 1234 --out runs/ptb_kbd
    python benchmarks/keyboard_models.py --run runs/ptb_kbd --out models/ptb

Writes into OUT: `lightrnn_f32.tflite`, `lightrnn_int8.tflite` (`python -m export` of the run) and
`lstm_f32.tflite`, `lstm_int8.tflite`: a `FullSoftmaxLSTM` with the run's vocabulary, tokenizer,
E, H, L and dropout, trained on the same split (from the run's config.json) by the same recipe as
`lightrnn_tf.train` (windows of batch x bptt with the state carried, clipped Adam, learning rate
halved when validation perplexity does not improve, early stop after `patience` such epochs, best
weights kept), exported by `export.baseline_keyboard`. Prints and writes `OUT/models.json`
(perplexities, parameters, seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stream_ppl(model, ids, batch_size, bptt):
    import tensorflow as tf

    from lightrnn_tf.data import stream_dataset

    @tf.function(reduce_retracing=True)
    def window(y, state):
        lp, new_state = model.target_log_probs(y, state)
        return -tf.reduce_sum(lp), new_state

    total, count, state = 0.0, 0, None
    for x, y in stream_dataset(ids, batch_size, bptt):
        if state is None:
            state = model.start_state(x[:, 0])
        nll, state = window(y, state)
        total += float(nll)
        count += int(tf.size(y))
    return math.exp(total / count)


def train_baseline(run, ids, log=print):
    """Trains a `FullSoftmaxLSTM` like `lightrnn_tf.train` trains the run; returns (model, stats)."""
    import keras
    import tensorflow as tf

    from lightrnn_tf.baselines import FullSoftmaxLSTM
    from lightrnn_tf.data import stream_dataset

    cfg, m = run.train_config, run.model_config
    keras.utils.set_random_seed(cfg.seed)
    model = FullSoftmaxLSTM(len(run.vocab), m.embedding_dim, m.hidden_dim, m.num_layers, dropout=m.dropout)
    opt = keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clip_norm)
    opt.build(model.trainable_variables)

    def update(y, state):
        with tf.GradientTape() as tape:
            loss, new_state = model.lm_loss(y, state, training=True)
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss, tf.nest.map_structure(tf.stop_gradient, new_state)

    step = tf.function(update, reduce_retracing=True)
    best, bad, best_weights, history, start = np.inf, 0, None, [], time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        state = None
        t0 = time.perf_counter()
        for x, y in stream_dataset(ids["train"], cfg.batch_size, cfg.bptt):
            if state is None:
                state = model.start_state(x[:, 0], training=True)
            _, state = step(y, state)
        valid = stream_ppl(model, ids["valid"], cfg.batch_size, cfg.bptt)
        history.append({"epoch": epoch, "valid_ppl": valid, "seconds": time.perf_counter() - t0})
        log(f"baseline epoch {epoch}: valid ppl {valid:.2f} ({time.perf_counter() - t0:.0f} s)")
        if valid < best:
            best, bad, best_weights = valid, 0, [w.numpy() for w in model.weights]
        else:
            bad += 1
            opt.learning_rate.assign(opt.learning_rate * cfg.lr_decay)
            if cfg.patience and bad >= cfg.patience:
                break
    for w, v in zip(model.weights, best_weights):
        w.assign(v)
    test = stream_ppl(model, ids["test"], cfg.batch_size, cfg.bptt)
    return model, {"valid_ppl": best, "test_ppl": test, "epochs": len(history),
                   "train_seconds": time.perf_counter() - start, "history": history}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="LightRNN run directory (python -m lightrnn_tf.train)")
    p.add_argument("--out", required=True, help="output folder for the .tflite files and models.json")
    p.add_argument("--skip-baseline", action="store_true", help="only export the LightRNN run")
    args = p.parse_args(argv)

    from export.baseline_keyboard import export_baseline
    from export.convert import export_run
    from lightrnn_tf.data import load_corpus
    from lightrnn_tf.model import count_params
    from lightrnn_tf.rundir import load_run

    os.makedirs(args.out, exist_ok=True)
    run = load_run(args.run)
    result = {"run": os.path.abspath(args.run), "vocab_size": len(run.vocab)}
    with open(os.path.join(args.run, "metrics.json"), encoding="utf-8") as f:
        lm = json.load(f)
    result["lightrnn"] = {"params": lm["params"], "valid_ppl": lm["valid_ppl"], "test_ppl": lm["test_ppl"],
                          "epochs": lm["epochs"], "train_seconds": lm["train_seconds"]}
    for mode, label in (("none", "f32"), ("dynamic", "int8")):
        path = os.path.join(args.out, f"lightrnn_{label}.tflite")
        export_run(args.run, path, quantize=mode, max_k=10)
        result["lightrnn"][f"{label}_bytes"] = os.path.getsize(path)
    if not args.skip_baseline:
        corpus = load_corpus(run.train_config)
        ids = {name: run.vocab.encode_lines(getattr(corpus, name), run.tokenizer) for name in ("train", "valid", "test")}
        model, stats = train_baseline(run, ids, log=lambda s: print(s, file=sys.stderr, flush=True))
        stats["params"] = count_params(model)
        for mode, label in (("none", "f32"), ("dynamic", "int8")):
            path = os.path.join(args.out, f"lstm_{label}.tflite")
            export_baseline(model, run.vocab.words, run.tokenizer.to_dict(), path, quantize=mode)
            stats[f"{label}_bytes"] = os.path.getsize(path)
        result["full_softmax_lstm"] = stats
    with open(os.path.join(args.out, "models.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items()}, indent=1, default=str)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
