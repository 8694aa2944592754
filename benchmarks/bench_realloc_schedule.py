"""Which reallocation schedule pays off: LightRNN with its random table kept vs reallocated.

    python benchmarks/bench_realloc_schedule.py                    # PTB and a KJV slice, seeds 1234 and 7
    python benchmarks/bench_realloc_schedule.py --corpora ptb --seeds 1 --epochs 4

Every (corpus, seed, schedule) is one `python -m lightrnn_tf.train` run in its own process, with
E = H = `--dim`, `--ema-momentum` 0 (every stored result ran before weight averaging became the
training default; pass `--ema-momentum 0.99` for today's default), the training defaults otherwise, into `--runs`/<corpus>_<schedule>_s<seed>
(a finished run is reused). Corpora, from `$LIGHTRNN_DATA` (default ../shared/data):

    ptb     train on ptb.valid.txt (5% held out for validation), test on ptb.test.txt
    kjv     the first `--kjv-lines` verses of kjv.txt, lowercased, punctuation split, 85/5/10 by lines

Prints, per run, the best validation and the test perplexity, and for every reallocation the
validation perplexity just before it, just after it (new table, no retraining) and one epoch
later; writes benchmarks/results/realloc_schedule.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _every1x3(solver: str, *flags: str) -> list[str]:
    """Reallocation after epochs 1, 2 and 3 with `solver`, then `flags`."""
    return ["--realloc-every", "1", "--realloc-rounds", "3", "--solver", solver, *flags]


# Every schedule names its statistics flags: those measured before --realloc-tokens-per-word 20 and
# --realloc-min-count 3 became the defaults name the values they ran with (every token, every word
# counts: 0 and 0), so that their stored results stay reproducible.
EVERY_TOKEN = ("--realloc-tokens-per-word", "0")
ALL_WORDS = ("--realloc-min-count", "0")
SCHEDULES = {
    "fixed": ["--realloc-every", "0"],
    "every1x3_sparse": _every1x3("sparse", *EVERY_TOKEN, *ALL_WORDS),
    # Statistics from every training token (the paper; the default before --realloc-tokens-per-word).
    "every1x3_greedy": _every1x3("greedy", *EVERY_TOKEN, *ALL_WORDS),
    "every2_sparse": ["--realloc-every", "2", "--solver", "sparse", *EVERY_TOKEN, *ALL_WORDS],
    # A minimum relative gain before a word may move (assignment.MovePenaltyCosts).
    "every1x3_greedy_mingain1pct": _every1x3("greedy", "--realloc-min-gain", "0.01", *EVERY_TOKEN, *ALL_WORDS),
    "every1x3_greedy_mingain5pct": _every1x3("greedy", "--realloc-min-gain", "0.05", *EVERY_TOKEN, *ALL_WORDS),
    # The row and column vectors follow the words (token-weighted means; --realloc-vectors carry).
    "every1x3_greedy_carry": _every1x3("greedy", "--realloc-vectors", "carry", *EVERY_TOKEN, *ALL_WORDS),
    # Statistics gathered while the epoch before each reallocation trained, instead of a pass of their own.
    "every1x3_greedy_epoch": _every1x3("greedy", "--realloc-source", "epoch", *ALL_WORDS),
    # Statistics from a quarter of the training tokens, the beginnings of the stream rows (QUARTER:
    # counted from the greedy run). Before data.stream_sample it was the first quarter of the text.
    "every1x3_greedy_quarter": _every1x3("greedy", "--realloc-tokens", "QUARTER", *ALL_WORDS),
    # Statistics from about 20 tokens per vocabulary word, or every token when fewer.
    "every1x3_greedy_20v": _every1x3("greedy", "--realloc-tokens-per-word", "20", *ALL_WORDS),
    # Every token, but words read fewer than 2 (3) times get no costs and take the leftover cells together.
    "every1x3_greedy_min2": _every1x3("greedy", *EVERY_TOKEN, "--realloc-min-count", "2"),
    "every1x3_greedy_min3": _every1x3("greedy", *EVERY_TOKEN, "--realloc-min-count", "3"),
    "every1x3_greedy_20v_min2": _every1x3("greedy", "--realloc-tokens-per-word", "20", "--realloc-min-count", "2"),
    # The default now: 20 tokens a word, and words read fewer than 3 times get no costs.
    "every1x3_greedy_20v_min3": _every1x3("greedy", "--realloc-tokens-per-word", "20", "--realloc-min-count", "3"),
    # One reallocation only, after epoch 1 (statistics as above).
    "once_greedy_20v_min3": ["--realloc-every", "1", "--realloc-rounds", "1", "--solver", "greedy",
                             "--realloc-tokens-per-word", "20", "--realloc-min-count", "3"],
    # Up to six reallocations, one after every epoch that leaves --realloc-recovery-epochs after it.
    "every1x6_greedy_20v_min3": ["--realloc-every", "1", "--realloc-rounds", "6", "--solver", "greedy",
                                 "--realloc-tokens-per-word", "20", "--realloc-min-count", "3"],
}


def corpus_args(name: str, data: str, runs: str, kjv_lines: int) -> list[str]:
    if name == "ptb":
        return ["--train", os.path.join(data, "ptb", "ptb.valid.txt"), "--test", os.path.join(data, "ptb", "ptb.test.txt")]
    path = os.path.join(runs, f"kjv{kjv_lines}.txt")
    if not os.path.exists(path):
        os.makedirs(runs, exist_ok=True)
        with open(os.path.join(data, "kjv", "kjv.txt"), encoding="utf-8") as f:
            lines = [next(f) for _ in range(kjv_lines)]
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
    return ["--corpus", path, "--lowercase", "--split-punct"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", nargs="+", default=["ptb", "kjv"], choices=["ptb", "kjv"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1234, 7])
    p.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=list(SCHEDULES))
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--ema-momentum", default="0", help="passed to train (default: %(default)s, as the stored results ran)")
    p.add_argument("--kjv-lines", type=int, default=8000)
    p.add_argument("--runs", default="runs/realloc_schedule")
    p.add_argument("--out", default=os.path.join(HERE, "results", "realloc_schedule.json"))
    args = p.parse_args(argv)
    for s in args.schedules:
        if "QUARTER" in SCHEDULES[s] and ("every1x3_greedy" not in args.schedules
                                          or args.schedules.index("every1x3_greedy") > args.schedules.index(s)):
            p.error(f"schedule {s} samples a quarter of every1x3_greedy's statistics tokens: "
                    f"list every1x3_greedy before it in --schedules")
    data = os.environ.get("LIGHTRNN_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data"))
    rows = []
    for corpus in args.corpora:
        for seed in args.seeds:
            for schedule in args.schedules:
                out = os.path.join(args.runs, f"{corpus}_{schedule}_s{seed}")
                if not os.path.exists(os.path.join(out, "metrics.json")):
                    flags = list(SCHEDULES[schedule])
                    if "QUARTER" in flags:
                        greedy = next(r for r in rows if (r["corpus"], r["seed"], r["schedule"]) ==
                                      (corpus, seed, "every1x3_greedy"))
                        flags[flags.index("QUARTER")] = str(greedy["reallocations"][0]["tokens"] // 4)
                    cmd = [sys.executable, "-m", "lightrnn_tf.train", *corpus_args(corpus, data, args.runs, args.kjv_lines),
                           "--embedding-dim", str(args.dim), "--hidden-dim", str(args.dim), "--epochs", str(args.epochs),
                           "--seed", str(seed), "--ema-momentum", args.ema_momentum, *flags, "--out", out]
                    if os.path.exists(os.path.join(out, "config.json")):  # killed before: continue it
                        cmd.append("--resume")
                    print("==", " ".join(cmd[1:]), file=sys.stderr, flush=True)
                    if subprocess.run(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).returncode:
                        return 1
                with open(os.path.join(out, "metrics.json")) as f:
                    m = json.load(f)
                val = [h["val_perplexity"] for h in m["history"]]
                moves = [{"epoch": h["epoch"], "before": h["realloc"].get("valid_ppl_before"),
                          "after": h["realloc"].get("valid_ppl_after"),
                          "next_epoch": val[h["epoch"]] if h["epoch"] < len(val) else None,
                          "moved": h["realloc"]["moved"], "tokens": h["realloc"]["tokens"],
                          "seconds": h["realloc"]["seconds"],
                          "objective_before": h["realloc"]["objective_before"],
                          "objective_after": h["realloc"]["objective_after"]}
                         for h in m["history"] if "realloc" in h]
                rows.append({"corpus": corpus, "seed": seed, "schedule": schedule, "vocab_size": m["vocab_size"],
                             "valid_ppl": m["valid_ppl"], "test_ppl": m["test_ppl"], "best_epoch": m["best_epoch"],
                             "val_curve": val, "train_seconds": m["train_seconds"], "reallocations": moves})
    print(f"{'corpus':<6}{'seed':>6}  {'schedule':<28}{'valid':>9}{'test':>9}{'vs fixed':>10}  "
          f"reallocations: valid ppl before -> after -> one epoch later (words moved)")
    for r in rows:
        fixed = next((x for x in rows if x["corpus"] == r["corpus"] and x["seed"] == r["seed"]
                      and x["schedule"] == "fixed"), None)
        rel = f"{r['test_ppl'] / fixed['test_ppl'] - 1:+.1%}" if fixed else "-"
        moves = "; ".join(f"{m['before']:.0f}->{m['after']:.0f}->{m['next_epoch']:.0f} ({m['moved']})"
                          if m["next_epoch"] is not None and m["after"] is not None else f"({m['moved']})"
                          for m in r["reallocations"])
        print(f"{r['corpus']:<6}{r['seed']:>6}  {r['schedule']:<28}{r['valid_ppl']:>9.2f}{r['test_ppl']:>9.2f}{rel:>10}  {moves}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"config": vars(args), "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                   "runs": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
