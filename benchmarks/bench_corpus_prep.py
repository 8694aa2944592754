"""Reading a large corpus before training: the vocabulary and the id streams of the three splits,
as `python -m lightrnn_tf.train` builds them, before (two readings of the training text, every
line through the full Unicode split pattern) and now (`Vocabulary.build_and_encode`: one reading,
ASCII lines through the short pattern; in one process, and in as many worker processes as the
command line uses: one a core, 8 at most), same text, same run.

    python benchmarks/bench_corpus_prep.py                                   # the built-in KJV x 20
    python benchmarks/bench_corpus_prep.py --corpus big.txt --repeat 1 --no-lowercase

Each variant runs in its own subprocess (its peak RSS its own), `--repeats` times, alternating; the
corpus is split 85/5/10 by lines as `--corpus` splits it, and repeated `--repeat` times in memory.
Both variants must give the same vocabulary and ids (checked by a digest). Prints a table and
writes benchmarks/results/corpus_prep.json.
"""

import argparse
import hashlib
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from own_process import measure_in_own_process  # noqa: E402  (benchmarks/own_process.py)
from results_file import write_results  # noqa: E402

VARIANTS = ("before", "one", "workers")


def measure(variant: str, args) -> dict:
    from lightrnn_tf import data
    from lightrnn_tf.data import Tokenizer, Vocabulary, builtin_corpus, read_lines, read_workers, split_lines

    lines = (read_lines(args.corpus) if args.corpus else builtin_corpus("kjv")) * args.repeat
    train, valid, test = split_lines(lines)
    tokenizer = Tokenizer(lowercase=args.lowercase, split_punct=args.split_punct)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu_start = time.perf_counter(), time.process_time()
    workers = read_workers() if variant == "workers" else 1
    if variant == "before":  # the full pattern on every line, and the training text read twice
        data._ASCII_PUNCT_RE, data._ASCII_INVISIBLE_RE = data.PUNCT_RE, data._INVISIBLE_RE
        vocab = Vocabulary.build(tokenizer, train, max_size=args.max_vocab)
        train_ids = vocab.encode_lines(train, tokenizer)
    else:  # "one": in this process; "workers": as many as the command line reads a large corpus with
        vocab, train_ids = Vocabulary.build_and_encode(tokenizer, train, max_size=args.max_vocab, workers=workers)
    train_cpu_seconds = time.process_time() - cpu_start  # (with workers: what this process spent beside them)
    ids = [train_ids, vocab.encode_lines(valid, tokenizer), vocab.encode_lines(test, tokenizer)]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    digest = hashlib.sha256("\n".join(vocab.words).encode() + b"".join(a.tobytes() for a in ids)).hexdigest()[:16]
    return {"variant": variant, "workers": workers, "seconds": seconds, "cpu_s_of_this_process": cpu_seconds,
            "train_tokens": len(train_ids), "train_cpu_s_of_this_process": train_cpu_seconds,
            "tokens": int(sum(len(a) for a in ids)), "vocab": len(vocab),
            "lines": len(lines), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before / 1024, "digest": digest}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", help="a UTF-8 text file (default: the built-in KJV)")
    p.add_argument("--repeat", type=int, default=20, help="copies of the corpus, one after another (default 20)")
    p.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--split-punct", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--max-vocab", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2, help="subprocesses per variant, alternating")
    p.add_argument("--out", default=os.path.join(HERE, "results", "corpus_prep.json"))
    p.add_argument("--only", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.only:
        print(json.dumps(measure(args.only, args)))
        return 0
    runs = [measure_in_own_process(__file__, variant, argv) for _ in range(args.repeats) for variant in VARIANTS]
    if len({r["digest"] for r in runs}) != 1:
        raise SystemExit(f"the variants disagree: digests {sorted({r['digest'] for r in runs})}")
    first = runs[0]
    print(f"{args.corpus or 'built-in KJV'} x {args.repeat}: {first['lines']:,} lines, {first['tokens']:,} tokens, "
          f"|V| = {first['vocab']:,}, lowercase {args.lowercase}, split_punct {args.split_punct}, "
          f"{os.cpu_count()} CPU cores; the same vocabulary and ids in every run")
    print(f"{'variant':<52}{'seconds, each run':>22}{'tokens/s':>12}{'peak RSS MB':>14}{'vs before':>11}")
    summary = {}
    labels = {"before": "before: two readings, full pattern",
              "one": "now: build_and_encode, ASCII pattern, 1 process",
              "workers": f"now, in {next(r['workers'] for r in runs if r['variant'] == 'workers')} worker "
                         "processes (the CLI's number)"}
    for variant, label in labels.items():
        mine = [r for r in runs if r["variant"] == variant]
        best = min(r["seconds"] for r in mine)
        summary[variant] = {"best_s": best, "tokens_per_s": first["tokens"] / best,
                            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine)}
        each = ", ".join(f"{r['seconds']:.1f}" for r in mine)
        summary[variant]["speedup"] = summary["before"]["best_s"] / best
        print(f"{label:<52}{each:>22}{summary[variant]['tokens_per_s'] / 1e6:>10.2f}M"
              f"{summary[variant]['peak_rss_mb']:>14.0f}{summary[variant]['speedup']:>10.2f}x")
    print("(speed from each variant's best run; peak RSS includes the corpus's lines, and not the workers')")
    workers = [r for r in runs if r["variant"] == "workers"]
    summary["workers"]["parent_cpu_s_per_million_train_tokens"] = parent = min(
        r["train_cpu_s_of_this_process"] for r in workers) / (first["train_tokens"] / 1e6)
    alone = min(r["train_cpu_s_of_this_process"] for r in runs if r["variant"] == "one") / (first["train_tokens"] / 1e6)
    summary["one"]["cpu_s_per_million_train_tokens"] = alone
    print(f"reading the training split with workers, the parent process spent {parent:.3f} s of CPU a million "
          f"tokens, against {alone:.3f} s in one process: it keeps about {alone / parent:.0f} workers busy")
    write_results(args.out, args, runs=runs, summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
