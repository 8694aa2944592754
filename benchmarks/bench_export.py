"""TFLite export benchmark: LightRNN vs a full-softmax LSTM of the same size, on one CPU thread.

    # a |V| = 10k LightRNN (PTB's 10k vocabulary needs ptb.train.txt; see --make-run)
    python benchmarks/bench_export.py --make-run runs/ptb10k --vocab-size 10000 --epochs 8
    # sizes, latencies, and the perplexity comparison through the .tflite files
    python benchmarks/bench_export.py --run runs/ptb10k --run runs/ptb_valid --ppl

For every run directory: exports LightRNN as f32 / float16 / dynamic-range int8 and a
`FullSoftmaxLSTM` with the same |V|, E, H, L the same way (builtin ops, same state layout; its
weights are random: file size and latency do not depend on their values), then measures on
`num_threads=1`:
  - bytes of each file (LightRNN with its metadata, which holds the vocabulary),
  - latency p50/p99 of one `feed` step (one word read),
  - latency p50/p99 of an exact top-3 prediction: for LightRNN `NextWordPredictor.top_k(state, 3)`
    (the `top_k` signature plus any `expand` calls the exactness check needs, Python included),
    for the baseline its `top_k` signature (full V-way softmax + TOPK_V2),
over the states of real text (the first --positions words of ptb.test.txt).
With --ppl, perplexity over the whole of ptb.test.txt through each LightRNN file against the Keras
model (batch 1, `target_log_probs` window by window), and how often the int8 / float16 top-3
equals the f32 top-3. Prints tables and writes benchmarks/results/export.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from lightrnn_tf.compare import machine  # noqa: E402

DATA = os.environ.get("LIGHTRNN_DATA", os.path.join(REPO, "..", "shared", "data"))
PTB_VALID = os.path.join(DATA, "ptb", "ptb.valid.txt")
PTB_TEST = os.path.join(DATA, "ptb", "ptb.test.txt")
MODES = ("none", "float16", "dynamic")
LABEL = {"none": "f32", "float16": "fp16", "dynamic": "int8"}


# === A |V| = 10k run on ptb.valid ===

def make_run(out, vocab_size, epochs, hidden=256, embedding=256, layers=1, seed=1234):
    """Trains a LightRNN on ptb.valid.txt with its words plus never-seen fillers up to `vocab_size`."""
    import keras

    from lightrnn_tf.config import ModelConfig, TrainConfig
    from lightrnn_tf.data import Tokenizer, Vocabulary, read_lines, stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.rundir import save_run

    tok = Tokenizer()
    base = Vocabulary.build(tok, read_lines(PTB_VALID))
    fillers = [f"<filler{i}>" for i in range(max(0, vocab_size - len(base)))]
    vocab = Vocabulary(base.words + fillers, base.counts + [0] * len(fillers))
    cfg = ModelConfig(vocab_size=len(vocab), embedding_dim=embedding, hidden_dim=hidden, num_layers=layers).resolved()
    tcfg = TrainConfig(train=PTB_VALID, valid=PTB_TEST, test=PTB_TEST, epochs=epochs, seed=seed, out=out)
    keras.utils.set_random_seed(seed)
    model = LightRNNModel.from_model_config(cfg, table_seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(tcfg.learning_rate, global_clipnorm=tcfg.clip_norm))
    ids = vocab.encode_lines(read_lines(PTB_VALID), tok)
    model.fit(stream_dataset(ids, tcfg.batch_size, tcfg.bptt), epochs=epochs, verbose=2)
    save_run(out, model_config=cfg, train_config=tcfg, vocab=vocab, model=model)
    print(f"wrote {out}: |V| = {len(vocab)} ({len(fillers)} fillers), table {cfg.rows}x{cfg.cols}")


# === Measurements ===

def percentiles(seconds):
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def time_calls(fn, args_list, warmup=50, repeat=1):
    for a in args_list[:warmup]:
        fn(*a)
    out = []
    for _ in range(repeat):
        for a in args_list:
            t = time.perf_counter()
            fn(*a)
            out.append(time.perf_counter() - t)
    return percentiles(out)


def bench_lightrnn(path, words, repeat):
    from export.predictor import NextWordPredictor

    p = NextWordPredictor(path, num_threads=1)
    states, state = [], p.start_state()
    for w in words:
        states.append(state)
        state = p.feed(w, state)
    feed = p._run["feed"]
    wvec = [np.array([w], np.int32) for w in words]
    res = {"bytes": os.path.getsize(path)}
    res["feed"] = time_calls(lambda w, s: feed(word=w, state=s), list(zip(wvec, states)), repeat=repeat)
    p.stats.update(top_k_calls=0, expand_calls=0)
    res["top3"] = time_calls(lambda s: p.top_k(s, 3), [(s,) for s in states], repeat=repeat)
    res["expand_calls_per_top3"] = p.stats["expand_calls"] / max(1, p.stats["top_k_calls"])
    top_k = p._run["top_k"]
    res["top_k_signature"] = time_calls(lambda s: top_k(state=s), [(s,) for s in states], repeat=repeat)
    return res


def bench_baseline(flatbuffer, path, words, state_shape, repeat):
    from ai_edge_litert.interpreter import Interpreter

    with open(path, "wb") as f:
        f.write(flatbuffer)
    interp = Interpreter(model_path=path, num_threads=1)
    feed, top_k = interp.get_signature_runner("feed"), interp.get_signature_runner("top_k")
    states, state = [], np.zeros(state_shape, np.float32)
    for w in words:
        states.append(state)
        state = feed(word=np.array([w], np.int32), state=state)["state"]
    wvec = [np.array([w], np.int32) for w in words]
    res = {"bytes": len(flatbuffer)}
    res["feed"] = time_calls(lambda w, s: feed(word=w, state=s), list(zip(wvec, states)), repeat=repeat)
    res["top3"] = time_calls(lambda s: top_k(state=s)["words"][:3], [(s,) for s in states], repeat=repeat)
    return res


def perplexity_section(run, paths):
    from export.predictor import NextWordPredictor
    from lightrnn_tf.data import read_lines
    from lightrnn_tf.stream_model import stream_perplexity

    ids = run.vocab.encode_lines(read_lines(PTB_TEST), run.tokenizer)
    out = {"tokens": int(len(ids) - 1), "convention": "stream s_0..s_N = encode_lines(ptb.test.txt); "
           "targets s_1..s_N from start_state(s_0)"}
    t = time.perf_counter()
    out["keras"], _ = stream_perplexity(run.model, ids, batch_size=1, bptt=35)  # one stream, as the predictor reads it
    out["keras_seconds"] = time.perf_counter() - t
    preds = {mode: NextWordPredictor(paths[mode], num_threads=1) for mode in MODES}
    for mode, p in preds.items():
        t = time.perf_counter()
        out[LABEL[mode]] = math.exp(-float(np.mean(p.stream_log_probs(ids))))
        out[f"{LABEL[mode]}_seconds"] = time.perf_counter() - t
    for mode in ("float16", "dynamic"):
        out[f"{LABEL[mode]}_vs_f32_rel"] = out[LABEL[mode]] / out["f32"] - 1
    out["f32_vs_keras_rel"] = out["f32"] / out["keras"] - 1
    # top-3 agreement with f32 at every position (each model reads the text with its own states)
    states = {mode: preds[mode].start_state() for mode in MODES}
    same = {mode: 0 for mode in ("float16", "dynamic")}
    same_set = dict(same)
    for w in ids[1:]:
        ref = list(preds["none"].top_k(states["none"], 3)[0])
        for mode in same:
            got = list(preds[mode].top_k(states[mode], 3)[0])
            same[mode] += got == ref
            same_set[mode] += set(got) == set(ref)
        for mode in MODES:
            states[mode] = preds[mode].feed(int(w), states[mode])
    n = len(ids) - 1
    for mode in same:
        out[f"top3_agree_{LABEL[mode]}"] = same[mode] / n
        out[f"top3_set_agree_{LABEL[mode]}"] = same_set[mode] / n
    return out


def bench_run(run_dir, models_dir, positions, repeat, ppl):
    from export.baseline_graph import convert_baseline
    from export.convert import export_run
    from lightrnn_tf.baselines import FullSoftmaxLSTM
    from lightrnn_tf.data import read_lines
    from lightrnn_tf.model import count_params
    from lightrnn_tf.rundir import load_run

    run = load_run(run_dir)
    m = run.model
    name = os.path.basename(os.path.normpath(run_dir))
    words = [int(w) for w in run.vocab.encode_lines(read_lines(PTB_TEST), run.tokenizer)[:positions]]
    baseline = FullSoftmaxLSTM(m.vocab_size, m.embedding_dim, m.hidden_dim, m.num_layers, dropout=0.0)
    result = {"run": run_dir, "vocab_size": m.vocab_size, "table": [m.rows, m.cols], "embedding_dim": m.embedding_dim,
              "hidden_dim": m.hidden_dim, "num_layers": m.num_layers, "params": count_params(m),
              "baseline_params": count_params(baseline), "positions": len(words), "lightrnn": {}, "baseline": {}}
    paths = {}
    for mode in MODES:
        paths[mode] = os.path.join(models_dir, f"{name}_{LABEL[mode]}.tflite")
        export_run(run_dir, paths[mode], quantize=mode, max_k=10)
        result["lightrnn"][LABEL[mode]] = bench_lightrnn(paths[mode], words, repeat)
        flat = convert_baseline(baseline, mode, max_k=10)
        bpath = os.path.join(models_dir, f"{name}_baseline_{LABEL[mode]}.tflite")
        result["baseline"][LABEL[mode]] = bench_baseline(flat, bpath, words, (m.num_layers, 2, m.hidden_dim), repeat)
        print(f"  {name} {LABEL[mode]} done", file=sys.stderr, flush=True)
    if ppl:
        result["perplexity"] = perplexity_section(run, paths)
    return result


# === Report ===

def table(result) -> str:
    lr, bl = result["lightrnn"], result["baseline"]
    head = (f"|V| = {result['vocab_size']}, table {result['table'][0]}x{result['table'][1]}, "
            f"E = {result['embedding_dim']}, "
            f"H = {result['hidden_dim']}, L = {result['num_layers']}; params LightRNN {result['params']:,} vs "
            f"full softmax {result['baseline_params']:,}; {result['positions']} positions of ptb.test, 1 thread")
    rows = ["| weights | model | bytes | feed p50 / p99 ms | top-3 p50 / p99 ms |",
            "| --- | --- | ---: | ---: | ---: |"]
    for mode in ("f32", "fp16", "int8"):
        for label, r in (("LightRNN", lr[mode]), ("full-softmax LSTM", bl[mode])):
            rows.append(f"| {mode} | {label} | {r['bytes']:,} | "
                        f"{r['feed']['p50_ms']:.3f} / {r['feed']['p99_ms']:.3f} | "
                        f"{r['top3']['p50_ms']:.3f} / {r['top3']['p99_ms']:.3f} |")
        rows.append(f"| {mode} | ratio full/LightRNN | {bl[mode]['bytes'] / lr[mode]['bytes']:.1f}x | "
                    f"{bl[mode]['feed']['p50_ms'] / lr[mode]['feed']['p50_ms']:.2f}x | "
                    f"{bl[mode]['top3']['p50_ms'] / lr[mode]['top3']['p50_ms']:.2f}x |")
    extra = ", ".join(f"{m} {lr[m]['expand_calls_per_top3']:.3f} expand calls/top-3, top_k signature alone "
                      f"p50 {lr[m]['top_k_signature']['p50_ms']:.3f} ms" for m in ("f32", "int8"))
    out = [head, *rows, f"LightRNN exact top-3: {extra}"]
    if "perplexity" in result:
        p = result["perplexity"]
        out.append(f"ptb.test perplexity ({p['tokens']} targets): Keras {p['keras']:.4f} | f32 .tflite {p['f32']:.4f} "
                   f"({p['f32_vs_keras_rel']:+.2e}) | fp16 {p['fp16']:.4f} ({p['fp16_vs_f32_rel']:+.3%}) | "
                   f"int8 {p['int8']:.4f} ({p['int8_vs_f32_rel']:+.3%}); top-3 == f32 top-3: "
                   f"int8 {p['top3_agree_int8']:.2%} (as sets {p['top3_set_agree_int8']:.2%}), "
                   f"fp16 {p['top3_agree_fp16']:.2%}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", action="append", default=[], help="LightRNN run directory (repeatable)")
    ap.add_argument("--make-run", help="train a LightRNN on ptb.valid.txt into this directory and exit")
    ap.add_argument("--vocab-size", type=int, default=10000, help="--make-run: pad the vocabulary to this size")
    ap.add_argument("--epochs", type=int, default=8, help="--make-run: training epochs")
    ap.add_argument("--positions", type=int, default=2000, help="text positions timed per model")
    ap.add_argument("--repeat", type=int, default=1, help="time every position this many times")
    ap.add_argument("--ppl", action="store_true", help="also the ptb.test perplexity comparison (slow)")
    ap.add_argument("--models-dir", default="", help="keep the .tflite files here (default: a temp dir)")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "export.json"))
    args = ap.parse_args(argv)
    if not os.path.exists(PTB_TEST):
        ap.error(f"{PTB_TEST} not found: set LIGHTRNN_DATA to the folder holding ptb/ (the shared data)")
    if args.make_run:
        make_run(args.make_run, args.vocab_size, args.epochs)
        return 0
    if not args.run:
        ap.error("give at least one --run (or --make-run)")
    models_dir = args.models_dir or tempfile.mkdtemp(prefix="bench_export_")
    os.makedirs(models_dir, exist_ok=True)
    results = [bench_run(r, models_dir, args.positions, args.repeat, args.ppl) for r in args.run]
    report = {"command": "python benchmarks/bench_export.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": {**machine(tensorflow=False), "load_avg_1m": os.getloadavg()[0]},
              "threads": 1, "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    for r in results:
        print(table(r) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
