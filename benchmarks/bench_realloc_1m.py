"""The whole reallocation (statistics + matching) of a LightRNN at |V| = 1M: time and peak memory.

    python benchmarks/bench_realloc_1m.py                  # 1M words, 5M tokens, greedy and sparse, + baseline
    python benchmarks/bench_realloc_1m.py --vocab 200000 --tokens 1000000 --solvers greedy --baseline-vocab 0

Each case is one `lightrnn_tf.realloc.reallocate(model, ids, ...)` call, exactly as
`ReallocationCallback` and `python -m lightrnn_tf.train` make it, in its own subprocess so that its
peak memory is its own:

- model: `LightRNNModel(V, embedding_dim=64, hidden_dim=64)` (one LSTM layer, table
  ceil(sqrt V) x ceil(V / R), 1000 x 1000 at 1M), random weights (`keras.utils.set_random_seed(0)`)
  and random table; reallocation only reads it, so training it first would change the costs,
  not the work;
- data: a SYNTHETIC stream of `--tokens` ids drawn i.i.d. from a Zipf law over the V ids
  (`p(w) ~ 1 / (w + 1)`, numpy seed 0); at 1M and 5M tokens about 470k distinct words occur;
- the reallocation: statistics over the stream (batch `--batch-size`, window `--bptt`), then
  `solver` with k candidate rows and columns; `statistics="auto"` (factored at 1M, see
  docs/reallocation.md) unless a case asks for `dense` or `factored`.

Memory and CPU: `peak_rss_gb` is the case process's `VmHWM` at the end (the kernel's exact
high-water mark of its resident memory, from Python start, TensorFlow import and the model
included). The parent samples the child's `VmRSS` (/proc/PID/status) and CPU time
(/proc/PID/stat, both cores summed) every 50 ms, from outside, since OR-Tools holds the GIL while
it solves: `stats_peak_gb` / `solve_peak_gb` are the largest samples in each phase (a peak shorter
than 50 ms can be missed; `peak_rss_gb` cannot miss it), `stats_cpu_seconds` / `solve_cpu_seconds`
the CPU time each phase used, which depends less on the other jobs on the machine than wall time.
`--baseline-vocab V0` also runs, at V0, the dense accumulators (`statistics="dense"`, the only
path before) and the factored ones on the same stream and solver, and compares their tables.

Prints a Markdown table and writes benchmarks/results/realloc_1m.json. Timings on the shared
2-core machine are noisy (other jobs run beside it); the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "realloc_1m.json")


def _status_kb(field: str, pid="self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # fields 3.. (the name may hold spaces)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_sampled(cmd, env, period=0.05):
    """Runs `cmd`, sampling its (wall time, VmRSS kB, CPU s) every `period` s ->
    `(returncode, stdout, stderr, samples)`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
    reader.start()
    samples = []
    while reader.is_alive():
        try:
            samples.append((time.time(), _status_kb("VmRSS", proc.pid), _cpu_seconds(proc.pid)))
        except (OSError, ValueError, IndexError):  # the process is exiting
            pass
        reader.join(period)
    return proc.returncode, out.get("stdout", ""), out.get("stderr", ""), samples


def phase_stats(samples, start, stop) -> tuple[float, float]:
    """`(peak GB, CPU seconds)` of the samples in [start, stop] (wall times)."""
    inside = [s for s in samples if start <= s[0] <= stop]
    if not inside:
        return 0.0, 0.0
    before = [s for s in samples if s[0] < start]
    cpu0 = before[-1][2] if before else inside[0][2]
    return max(s[1] for s in inside) / 2**20, inside[-1][2] - cpu0


def zipf_stream(vocab_size: int, n_tokens: int, seed: int = 0) -> np.ndarray:
    """`(n_tokens,)` int32 synthetic ids, i.i.d. with `p(w) ~ 1 / (w + 1)`."""
    p = 1.0 / np.arange(1, vocab_size + 1)
    return np.random.default_rng(seed).choice(vocab_size, size=n_tokens, p=p / p.sum()).astype(np.int32)


def run_case(args, statistics: str, solver: str, table_out: str | None) -> dict:
    import resource

    import keras

    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import choose_statistics, reallocate, statistics_bytes

    t0 = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = LightRNNModel(args.vocab, embedding_dim=args.dim, hidden_dim=args.dim, dropout=0.0, table_seed=0)
    ids = zipf_stream(args.vocab, args.tokens)
    setup_seconds = time.perf_counter() - t0
    setup_gb = _status_kb("VmRSS") / 2**20
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall_start, start = time.time(), time.perf_counter()
    report = reallocate(model, ids, batch_size=args.batch_size, bptt=args.bptt, solver=solver, k=args.k,
                        statistics=statistics)
    stop = time.perf_counter()
    end = resource.getrusage(resource.RUSAGE_SELF)
    report.update(
        vocab=args.vocab, rows=model.rows, cols=model.cols, dim=args.dim, n_ids=args.tokens,
        distinct_ids=int(len(np.unique(ids))), batch_size=args.batch_size, bptt=args.bptt,
        requested_statistics=statistics, auto_choice=choose_statistics(model, "auto"),
        bytes_dense=statistics_bytes(model)["dense"], bytes_factored=statistics_bytes(model)["factored"],
        setup_seconds=setup_seconds, setup_rss_gb=setup_gb, peak_rss_gb=_status_kb("VmHWM") / 2**20,
        total_seconds=stop - start,
        total_cpu_seconds=end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime,
        wall_start=wall_start, wall_stats_end=wall_start + report["stats_seconds"], wall_end=wall_start + stop - start,
    )
    if table_out:
        np.save(table_out, model.get_table().word_cell)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=1_000_000)
    p.add_argument("--tokens", type=int, default=5_000_000)
    p.add_argument("--dim", type=int, default=64, help="E = H (default: 64)")
    p.add_argument("--batch-size", type=int, default=20, help="B (default: 20, the training default)")
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--solvers", nargs="+", default=["greedy", "sparse"], choices=["greedy", "sparse"])
    p.add_argument("--statistics", default="auto", choices=["auto", "dense", "factored"])
    p.add_argument("--baseline-vocab", type=int, default=100_000,
                   help="also run dense vs factored statistics at this V (0: skip; default: 100000)")
    p.add_argument("--baseline-solver", default="greedy", choices=["greedy", "sparse"])
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--case", nargs=2, metavar=("STATISTICS", "SOLVER"), help=argparse.SUPPRESS)
    p.add_argument("--table-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args, args.case[0], args.case[1], args.table_out)))
        return 0

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(HERE),
                                                                    os.environ.get("PYTHONPATH")])))
    common = ["--tokens", str(args.tokens), "--dim", str(args.dim), "--batch-size", str(args.batch_size),
              "--bptt", str(args.bptt), "--k", str(args.k)]
    cases = [(args.vocab, args.statistics, solver) for solver in args.solvers]
    if args.baseline_vocab:
        cases += [(args.baseline_vocab, kind, args.baseline_solver) for kind in ("dense", "factored")]
    results, tables, load_start = [], {}, os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for vocab, statistics, solver in cases:
            table = os.path.join(tmp, f"{vocab}_{statistics}_{solver}.npy")
            cmd = [sys.executable, os.path.abspath(__file__), "--vocab", str(vocab), *common,
                   "--case", statistics, solver, "--table-out", table]
            print(f"V={vocab:,} statistics={statistics} solver={solver} ...", flush=True)
            returncode, stdout, stderr, samples = run_sampled(cmd, env)
            if returncode != 0:
                print(stderr[-2000:], file=sys.stderr)
                results.append({"vocab": vocab, "requested_statistics": statistics, "solver": solver,
                                "error": stderr.strip()[-500:]})
                continue
            r = json.loads(stdout.strip().splitlines()[-1])
            r["stats_peak_gb"], r["stats_cpu_seconds"] = phase_stats(samples, r["wall_start"], r["wall_stats_end"])
            r["solve_peak_gb"], r["solve_cpu_seconds"] = phase_stats(samples, r["wall_stats_end"], r["wall_end"])
            results.append(r)
            tables[(vocab, statistics, solver)] = np.load(table)
            print("  " + _line(results[-1]), flush=True)
        comparison = _compare(results, tables, args) if args.baseline_vocab else None
    doc = {"machine": _machine(), "load_avg_at_start": load_start, "data": "synthetic i.i.d. Zipf(1) ids", "tokens": args.tokens,
           "results": results, "baseline_comparison": comparison}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
    print("\n" + table_markdown(results))
    if comparison:
        print("\n" + json.dumps(comparison, indent=2))
    print(f"wrote {args.out}")
    return 0


def _compare(results, tables, args) -> dict | None:
    """Dense vs factored at the baseline V: memory and time ratios, and how far their tables differ."""
    key = lambda kind: (args.baseline_vocab, kind, args.baseline_solver)
    rep = {kind: next((r for r in results if "error" not in r and (r["vocab"], r["requested_statistics"],
                                                                    r["solver"]) == key(kind)), None)
           for kind in ("dense", "factored")}
    if None in rep.values():
        return None
    d, f = rep["dense"], rep["factored"]
    differ = tables[key("dense")] != tables[key("factored")]
    rows = zipf_stream(args.baseline_vocab, args.tokens)
    rows = rows[: args.batch_size * (len(rows) // args.batch_size)].reshape(args.batch_size, -1)
    seen = np.bincount(rows[:, 1:].ravel(), minlength=args.baseline_vocab) > 0  # target words (stream layout)
    return {
        "vocab": args.baseline_vocab, "solver": args.baseline_solver,
        "accumulator_mb": {"dense": d["statistics_mb"], "factored": f["statistics_mb"]},
        "peak_rss_gb": {"dense": d["peak_rss_gb"], "factored": f["peak_rss_gb"]},
        "stats_seconds": {"dense": d["stats_seconds"], "factored": f["stats_seconds"]},
        "stats_cpu_seconds": {"dense": d["stats_cpu_seconds"], "factored": f["stats_cpu_seconds"]},
        "objective_before_rel_diff": f["objective_before"] / d["objective_before"] - 1,
        "objective_after_rel_diff": f["objective_after"] / d["objective_after"] - 1,
        "lower_bound_rel_diff": f["lower_bound"] / d["lower_bound"] - 1,
        "words_placed_differently": int(differ.sum()),
        "words_that_occur_placed_differently": int((differ & seen).sum()),
        "words_that_never_occur": int((~seen).sum()),
    }


def table_markdown(results) -> str:
    lines = ["| V | table | tokens | statistics (accumulators) | solver | statistics s (CPU) | solve s (CPU) "
             "| total s | peak RSS (stats / solve) | objective before → after | lower bound | gap | moved |",
             "| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['vocab']:,} | | | {r['requested_statistics']} | {r['solver']} | failed "
                         "| | | | | | | |")
            continue
        lines.append(
            f"| {r['vocab']:,} | {r['rows']}x{r['cols']} | {r['tokens']:,} | {r['statistics']} "
            f"({r['statistics_mb'] / 1024:.2f} GB) | {r['solver']} | {r['stats_seconds']:.0f} ({r['stats_cpu_seconds']:.0f}) | "
            f"{r['solve_seconds']:.0f} ({r['solve_cpu_seconds']:.0f}) | {r['total_seconds']:.0f} | **{r['peak_rss_gb']:.2f} GB** "
            f"({r['stats_peak_gb']:.2f} / {r['solve_peak_gb']:.2f}) | {r['objective_before']:.6g} → "
            f"{r['objective_after']:.6g} | {r['lower_bound']:.6g} | {100 * r['gap_rel']:.2f} % | {r['moved']:,} |")
    return "\n".join(lines)


def _line(r) -> str:
    return (f"{r['statistics']} stats {r['stats_seconds']:.1f} s, {r['solver']} {r['solve_seconds']:.1f} s, "
            f"total {r['total_seconds']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB "
            f"(stats {r['stats_peak_gb']:.2f}, solve {r['solve_peak_gb']:.2f}), objective "
            f"{r['objective_before']:.6g} -> {r['objective_after']:.6g}, moved {r['moved']:,}")


def _machine():
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg()}


if __name__ == "__main__":
    sys.exit(main())
