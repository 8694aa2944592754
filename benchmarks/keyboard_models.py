"""Models for the keyboard evaluation: a LightRNN run's exports and a full-softmax LSTM trained alike.

    python -m lightrnn_tf.train --train ../shared/data/ptb/ptb.valid.txt --test ../shared/data/ptb/ptb.test.txt \
        --epochs 25 --seed 1234 --out runs/ptb_kbd
    python benchmarks/keyboard_models.py --run runs/ptb_kbd --out models/ptb

Writes into OUT: `lightrnn_f32.tflite`, `lightrnn_int8.tflite` (`python -m export` of the run) and
`lstm_f32.tflite`, `lstm_int8.tflite`: a `FullSoftmaxLSTM` with the run's vocabulary, tokenizer,
E, H, L and dropout, trained on the same split by the same command (`lightrnn_tf.train --model
full_softmax` with the run's config.json, into OUT/full_softmax_run), exported by
`export.baseline_keyboard`. Prints and writes `OUT/models.json`
(perplexities, parameters, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_baseline(run_dir: str, out: str) -> tuple:
    """Trains a `FullSoftmaxLSTM` with the LightRNN run's own settings through the one training path
    (`python -m lightrnn_tf.train --model full_softmax`, same data, sizes, optimizer, seed); returns
    `(model, metrics)`."""
    import dataclasses

    from lightrnn_tf import train as train_cli
    from lightrnn_tf.rundir import load_run

    run = load_run(run_dir)
    model_cfg = dataclasses.replace(run.model_config, model="full_softmax", vocab_size=0)
    cfg = dataclasses.replace(run.train_config, out=out, resume=os.path.exists(os.path.join(out, "config.json")))
    metrics = train_cli.train(model_cfg, cfg)
    return load_run(out).model, metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="LightRNN run directory (python -m lightrnn_tf.train)")
    p.add_argument("--out", required=True, help="output folder for the .tflite files and models.json")
    p.add_argument("--skip-baseline", action="store_true", help="only export the LightRNN run")
    args = p.parse_args(argv)

    from export.baseline_keyboard import export_baseline
    from export.convert import export_run
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
        model, metrics = train_baseline(args.run, os.path.join(args.out, "full_softmax_run"))
        stats = {k: metrics[k] for k in ("params", "valid_ppl", "test_ppl", "epochs", "train_seconds", "history")}
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
