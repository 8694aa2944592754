"""LightRNN against its baselines at equal wall-clock time: `python -m lightrnn_tf.compare`.

    python -m lightrnn_tf.compare --corpus ../shared/data/kjv/kjv.txt --lowercase --split-punct \\
        --time-budget 1800 --out runs/compare_kjv
    python -m lightrnn_tf.compare --train ptb.valid.txt --test ptb.test.txt --time-budget 900 --out runs/compare_ptb

Trains, each in its own process with the same data flags, sizes, optimizer and `--time-budget`
(validation and reallocation count; a first epoch longer than a quarter of the budget is cut
there, and the epochs after it are as long, for every model: `--budget-epochs`):

    lightrnn         LightRNN with the default initial table and reallocation schedule
    lightrnn_fixed   LightRNN keeping a random table (--table-init random --realloc-every 0)
    full_softmax     a standard LSTM LM (full |V|-way softmax)
    sampled_softmax  the same, trained with a sampled softmax, evaluated with the full softmax

then prints one table (params, model bytes, words/s, peak RSS, valid/test PPL, ratios to full
softmax, and an interpolated Kneser–Ney trigram's test PPL beside them), and writes
OUT/compare.json and OUT/valid_ppl.png (validation perplexity against training seconds).
Any other flag is passed to `python -m lightrnn_tf.train`, with `--time-budget` added and
`--epochs 1000` when no `--epochs` is given (the budget, not epochs, ends training); `--out` names
the comparison directory, and `--resume` is refused (running again resumes). Each run directory is
OUT/<name>; running the same command again reuses a run that finished and resumes one that was
interrupted, and a run trained with other settings is refused (one line naming the setting). The
table goes to stdout, the training logs to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from lightrnn_tf.errors import ArgumentParser, LightRNNError

RUNS = {
    "lightrnn": ["--model", "lightrnn"],
    "lightrnn_fixed": ["--model", "lightrnn", "--table-init", "random", "--realloc-every", "0"],
    "full_softmax": ["--model", "full_softmax"],
    "sampled_softmax": ["--model", "sampled_softmax"],
}


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux, where `platform.processor()` is empty), else None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return None


def machine(tensorflow: bool = True) -> dict:
    """What the numbers were measured on (with `tensorflow`, its version and GPUs: that imports it)."""
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor() or cpu_model(),
            "python": platform.python_version()}
    if not tensorflow:
        return info
    try:
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except ImportError:  # pragma: no cover
        pass
    return info


def existing_run(run_dir: str, argv: list[str]) -> str:
    """`"new"`, `"finished"` or `"interrupted"`: what `run_dir` holds for the training flags `argv`.
    Raises `LightRNNError` when it holds a run trained with other settings."""
    from lightrnn_tf.train import differing_flags, given_flags, saved_settings

    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return "new"
    # The flags given, against the run's settings, as `train --resume` checks them (what a flag left
    # out means is the run's own; train may also resolve a setting, e.g. averaging off for a short run).
    for name, value, saved in differing_flags(given_flags(argv), *saved_settings(path)):
        if name == "ema_momentum" and saved == 0.0:
            continue  # train turns averaging off for a run too short for it (config.json records 0)
        raise LightRNNError(f"{run_dir} holds a run trained with --{name.replace('_', '-')} {saved!r}, "
                            f"this comparison asks for {value!r}; give another --out or delete {run_dir}")
    return "finished" if os.path.exists(os.path.join(run_dir, "metrics.json")) else "interrupted"


def train_one(name: str, out: str, train_args: list[str]) -> dict:
    """Runs `python -m lightrnn_tf.train` for one entry of RUNS in a fresh process (its logs on stderr)
    and returns its metrics; reuses a finished run and resumes an interrupted one (`existing_run`)."""
    run_dir = os.path.join(out, name)
    metrics_path = os.path.join(run_dir, "metrics.json")
    argv = [*train_args, *RUNS[name], "--out", run_dir]
    state = existing_run(run_dir, argv)
    if state == "finished":
        print(f"== {name}: finished before, reusing {run_dir}", file=sys.stderr)
    else:
        cmd = [sys.executable, "-m", "lightrnn_tf.train", *argv] + (["--resume"] if state == "interrupted" else [])
        print(f"== {name}: {' '.join(cmd[1:])}", file=sys.stderr)
        proc = subprocess.run(cmd, stdout=2)  # its logs to stderr: stdout is for the table
        if proc.returncode:
            raise LightRNNError(f"training {name} failed with status {proc.returncode} (see above)")
    with open(metrics_path, encoding="utf-8") as f:
        metrics = json.load(f)
    metrics["model_bytes"] = os.path.getsize(os.path.join(run_dir, "model.keras"))
    return metrics


def kn3_test_perplexity(run_dir: str, discount: float = 0.75) -> float:
    """Interpolated Kneser–Ney trigram test perplexity on the run's own splits, vocabulary and `<unk>`
    (one target per word and one per line end, as the neural models' `<eos>`)."""
    from lightrnn_tf.data import load_corpus
    from lightrnn_tf.kneser_ney import KneserNeyTrigram
    from lightrnn_tf.rundir import load_run

    run = load_run(run_dir)
    corpus = load_corpus(run.train_config)

    def sentences(lines):
        return [run.vocab.encode(run.tokenizer(line)) for line in lines]

    kn = KneserNeyTrigram.fit(sentences(corpus.train), len(run.vocab), discount, uniform_floor=True)
    return kn.perplexity(sentences(corpus.test))


def table(results: dict, kn3: float | None) -> str:
    full = results.get("full_softmax")
    head = (f"{'model':<17}{'params':>12}{'bytes':>12}{'words/s':>10}{'peak RSS MB':>13}{'epochs':>8}"
            f"{'valid PPL':>11}{'test PPL':>10}{'params vs full':>16}{'words/s vs full':>17}")
    lines = [head]
    for name, m in results.items():
        ratio_p = f"{m['params'] / full['params']:.3f}x" if full else "-"
        ratio_s = f"{m['tokens_per_sec'] / full['tokens_per_sec']:.2f}x" if full else "-"
        lines.append(f"{name:<17}{m['params']:>12,}{m['model_bytes']:>12,}{m['tokens_per_sec']:>10,.0f}"
                     f"{m['peak_rss_mb']:>13,.0f}{m['epochs']:>8}{m['valid_ppl']:>11.2f}{m['test_ppl']:>10.2f}"
                     f"{ratio_p:>16}{ratio_s:>17}")
    if kn3 is not None:
        lines.append(f"{'KN trigram':<17}{'':>12}{'':>12}{'':>10}{'':>13}{'':>8}{'':>11}{kn3:>10.2f}")
    return "\n".join(lines)


def plot(results: dict, path: str, title: str) -> str | None:
    """Validation perplexity against training seconds, one line per model; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in results.items():
        xs = [h.get("elapsed_seconds", float("nan")) for h in m["history"]]
        ax.plot(xs, [h["val_perplexity"] for h in m["history"]], marker="o", label=name)
    ax.set_xlabel("training seconds (validation and reallocation included)")
    ax.set_ylabel("validation perplexity")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m lightrnn_tf.compare", description=__doc__.split("\n\n")[0],
                       epilog="Other flags go to python -m lightrnn_tf.train, with --time-budget added and "
                              "--epochs 1000 unless given (the budget ends training); --resume is refused: running "
                              "the same command again resumes.")
    p.add_argument("--out", required=True, help="directory for the four runs, compare.json and valid_ppl.png")
    p.add_argument("--time-budget", type=float, required=True, help="seconds of training for each model (> 0)")
    p.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS), help="train only these")
    p.add_argument("--no-kn3", action="store_true", help="skip the Kneser–Ney trigram")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args, train_args = parser.parse_known_args(argv)
    if not args.time_budget > 0:  # 0 would mean no budget: up to 1,000 epochs a model
        parser.error(f"argument --time-budget: expected seconds > 0, got {args.time_budget:g}")
    if "--out" in train_args or "--resume" in train_args:
        print("error: --out names the comparison directory; --resume is not supported here", file=sys.stderr)
        return 2
    epochs = _flag_value(train_args, "--epochs", "1000")  # the time budget, not epochs, ends training
    train_args = _without(train_args, "--epochs") + ["--epochs", epochs, "--time-budget", str(args.time_budget)]
    try:
        os.makedirs(args.out, exist_ok=True)
        results = {name: train_one(name, args.out, train_args) for name in args.only}
        kn3 = None if args.no_kn3 else kn3_test_perplexity(os.path.join(args.out, args.only[0]))
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = table(results, kn3)
    print(text)
    first = results[args.only[0]]
    summary = {"machine": machine(), "time_budget": args.time_budget, "train_args": train_args, "data": first["data"],
               "vocab_size": first["vocab_size"], "kn3_test_ppl": kn3,
               "results": {name: {k: v for k, v in m.items() if k != "history"} | {
                   "curve": [[h.get("elapsed_seconds"), h["val_perplexity"]] for h in m["history"]]}
                   for name, m in results.items()}}
    with open(os.path.join(args.out, "compare.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    plot(results, os.path.join(args.out, "valid_ppl.png"),
         f"{first['data']}, |V| = {first['vocab_size']}, {args.time_budget:g} s each")
    return 0


def _flag_value(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _without(argv: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        else:
            out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
