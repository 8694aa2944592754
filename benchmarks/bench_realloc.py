"""Benchmark of the reallocation solvers on synthetic LightRNN-shaped costs and on real statistics.

    python benchmarks/bench_realloc.py                       # |V| = 10k, 100k, 1M
    python benchmarks/bench_realloc.py --sizes 10000 --solvers sparse greedy
    python benchmarks/bench_realloc.py --fixtures            # tests/fixtures/realloc_*.npz
    python benchmarks/bench_realloc.py --bound-check 1       # empty-cell arc budget forced to 1

`--fixtures` solves the real statistics of `tests/fixtures/` (see `make_realloc_fixtures.py`,
|V| = 2000) with every solver, dense included, from the table they were taken with, and writes
`benchmarks/results/realloc_fixtures.json`. The sparse solver runs greedy first (its table is in
the candidate graph), so its report carries `greedy_objective` and its gap to greedy.
`--bound-check BUDGET` solves 300 random 14-word problems (4x4 tables, k = 1, costs uniform in
[0, 10)) with `DUMMY_ARCS_BUDGET = BUDGET` and counts how often the result lies further above
SciPy's optimum over the same candidate cells than `rounding_bound + cap_bound`, and how often a
`suboptimality_bound` is reported.

Each (size, solver) case runs in its own subprocess, so its peak memory (`ru_maxrss`) is its own.
Costs follow LightRNN's statistics: word w (counts Zipf-like, `n_w = 1 + 20 V / (w + 1)`) has a
random distribution over rows, `p_w ~ Dirichlet(1, ..., 1)` (normalised Exp(1) draws), and
`L_r[w, i] = n_w * -log p_w(i)` (float32); the same, independently, for columns. Entries come from a
counter-based hash of (w, i), so any word's losses can be regenerated at any time and a
1M x 1000 matrix (4 GB in float32) is never held: only each word's k best rows and columns are.
`gen_seconds` is the time spent generating costs (included in `seconds`). The starting table is
random. Writes `benchmarks/results/realloc.json` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "realloc.json")


class SyntheticCosts:
    """Costs generated on demand; same interface as `lightrnn_tf.assignment.DenseCosts`."""

    def __init__(self, vocab_size: int, seed: int = 0):
        self.vocab_size = vocab_size
        self.rows = math.ceil(math.sqrt(vocab_size))
        self.cols = math.ceil(vocab_size / self.rows)
        self.counts = (1.0 + 20.0 * vocab_size / np.arange(1, vocab_size + 1)).astype(np.float32)  # (V,)
        self.seed = seed
        self.gen_seconds = 0.0

    def row_costs(self, words):
        return self._losses(words, self.rows, salt=1)

    def col_costs(self, words):
        return self._losses(words, self.cols, salt=2)

    def _losses(self, words, width, salt):
        start = time.perf_counter()
        if isinstance(words, slice):
            words = np.arange(words.start, words.stop)
        words = np.asarray(words, dtype=np.int64)
        keys = words.astype(np.uint64)[:, None] * np.uint64(width) + np.arange(width, dtype=np.uint64)  # (n, width)
        e = -np.log(_uniform(keys, np.uint64(self.seed * 1_000_003 + salt)))  # Exp(1): e / e.sum() ~ Dirichlet(1)
        out = (np.log(e.sum(axis=1, keepdims=True)) - np.log(e)) * self.counts[words, None]  # n_w * -log p_w(i)
        self.gen_seconds += time.perf_counter() - start
        return out


def _uniform(keys, salt):
    """Keys -> uniform float32 in (0, 1) by a multiply-xorshift hash (a SplitMix64 round)."""
    with np.errstate(over="ignore"):
        x = keys * np.uint64(0x9E3779B97F4A7C15) + salt * np.uint64(0xD1B54A32D192ED03)
        x ^= x >> np.uint64(29)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(32)
    return ((x >> np.uint64(41)).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / (1 << 23))  # max 1 - 2**-24


def run_case(size: int, solver: str, k: int) -> dict:
    from lightrnn_tf.assignment import solve
    from lightrnn_tf.table import WordTable

    costs = SyntheticCosts(size)
    table = WordTable.random(size, costs.rows, costs.cols, seed=1)
    _, report = solve(costs, table, solver=solver, k=k)
    report.update(size=size, rows=costs.rows, cols=costs.cols, gen_seconds=costs.gen_seconds,
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--solvers", nargs="+", default=["sparse", "greedy"], choices=["sparse", "greedy", "dense"])
    p.add_argument("--k", type=int, default=8, help="candidate rows and columns per word (default: 8)")
    p.add_argument("--out", default=None, help="JSON output (default: benchmarks/results/realloc.json, "
                   "or realloc_fixtures.json with --fixtures)")
    p.add_argument("--fixtures", action="store_true", help="solve the real statistics in tests/fixtures instead")
    p.add_argument("--bound-check", type=int, metavar="BUDGET", help="check the reported bound on small problems")
    p.add_argument("--case", nargs=2, metavar=("SIZE", "SOLVER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.case[1], args.k)))
        return 0
    if args.bound_check is not None:
        return bound_check(args.bound_check)
    if args.fixtures:
        return run_fixtures(args.k, args.out or FIXTURE_RESULTS)
    args.out = args.out or RESULTS
    results = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_repo_root(), os.environ.get("PYTHONPATH")])))
    for size in args.sizes:
        for solver in args.solvers:
            cmd = [sys.executable, os.path.abspath(__file__), "--case", str(size), solver, "--k", str(args.k)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(f"{size} {solver}: failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                results.append({"size": size, "solver": solver, "error": proc.stderr.strip()[-500:]})
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(_row(results[-1]), flush=True)
    doc = {"machine": _machine(), "k": args.k, "results": results}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
    print("\n" + table_markdown(results))
    print(f"wrote {args.out}")
    return 0


def table_markdown(results) -> str:
    lines = ["| V | table | solver | seconds (cost gen.; greedy) | peak RSS | objective | vs greedy | lower bound "
             "| gap to bound | moved | proven bound |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['size']:,} | | {r['solver']} | failed | | | | | | | |")
            continue
        greedy_s = f"; {r['greedy_seconds']:.1f}" if "greedy_seconds" in r else ""
        lines.append(
            f"| {r['size']:,} | {r['rows']}x{r['cols']} | {r['solver']} | {r['seconds']:.1f} ({r['gen_seconds']:.1f}"
            f"{greedy_s}) | {r['peak_rss_mb'] / 1024:.2f} GB | {r['objective_after']:.6g} | {_vs_greedy(r)} "
            f"| {r['lower_bound']:.6g} | {100 * r['gap_rel']:.3f} % | {r['moved']:,} | {_bound(r)} |"
        )
    return "\n".join(lines)


def _vs_greedy(r) -> str:
    if "greedy_objective" not in r:
        return "–"
    return f"{100 * (r['objective_after'] / r['greedy_objective'] - 1):+.3f} %"


def _bound(r) -> str:
    if r["solver"] == "greedy":
        return "–"
    if r["suboptimality_bound"] is None:
        return f"none (restricted empty cells; {r['rounding_bound'] + r['cap_bound']:.3g} over the solved graph)"
    return f"{r['suboptimality_bound']:.3g}"


# === Is the reported bound a bound? ===

def bound_check(budget: int, problems: int = 300) -> int:
    from scipy.optimize import linear_sum_assignment

    from lightrnn_tf import assignment
    from lightrnn_tf.assignment import DenseCosts, solve
    from lightrnn_tf.table import WordTable

    assignment.DUMMY_ARCS_BUDGET = budget
    v, rows, cols, k = 14, 4, 4, 1
    beyond, reported, worst = 0, 0, 0.0
    for seed in range(problems):
        rng = np.random.default_rng(seed)
        row, col = rng.random((v, rows)) * 10, rng.random((v, cols)) * 10  # (V, R), (V, C)
        start = WordTable.random(v, rows, cols, seed=seed)
        _, report = solve(DenseCosts(row, col), start, solver="sparse", k=k)
        greedy, _ = solve(DenseCosts(row, col), start, solver="greedy", k=k)
        full = (row[:, :, None] + col[:, None, :]).reshape(v, -1)  # (V, R*C)
        allowed = np.zeros(full.shape, bool)  # the candidate cells, from their definition
        best_rows, best_cols = np.argsort(row, axis=1)[:, :k], np.argsort(col, axis=1)[:, :k]
        for w in range(v):
            for i in [*best_rows[w], greedy.word_row[w]]:
                for j in [*best_cols[w], greedy.word_col[w]]:
                    allowed[w, i * cols + j] = True
            allowed[w, start.word_cell[w]] = True
        masked = np.where(allowed, full, 1e9)
        words, cells = linear_sum_assignment(masked)
        excess = report["objective_after"] - masked[words, cells].sum() - report["rounding_bound"] - report["cap_bound"]
        beyond += excess > 1e-9
        worst = max(worst, excess)
        reported += report["suboptimality_bound"] is not None
    print(f"DUMMY_ARCS_BUDGET={budget}: {beyond} of {problems} results further above the optimum over the candidate "
          f"cells than rounding_bound + cap_bound (worst by {worst:.3g}); suboptimality_bound reported in {reported}")
    return 0


# === Real statistics (tests/fixtures) ===

FIXTURE_RESULTS = os.path.join(os.path.dirname(RESULTS), "realloc_fixtures.json")


def run_fixtures(k: int, out: str) -> int:
    import glob

    from lightrnn_tf.assignment import DenseCosts, solve
    from lightrnn_tf.table import WordTable

    paths = sorted(glob.glob(os.path.join(_repo_root(), "tests", "fixtures", "realloc_*.npz")))
    if not paths:
        print("no tests/fixtures/realloc_*.npz; run benchmarks/make_realloc_fixtures.py", file=sys.stderr)
        return 2
    results = []
    for path in paths:
        z = np.load(path)
        costs = DenseCosts(z["row_loss"].astype(np.float64), z["col_loss"].astype(np.float64))  # (V, R), (V, C)
        table = WordTable(z["word_row"].astype(np.int64), z["word_col"].astype(np.int64), int(z["rows"]), int(z["cols"]))
        reports = {solver: solve(costs, table, solver=solver, k=k)[1] for solver in ("greedy", "sparse", "dense")}
        for solver, r in reports.items():
            r.update(fixture=os.path.basename(path), dense_objective=reports["dense"]["objective_after"])
            results.append(r)
    lines = ["| fixture | solver | seconds | objective | vs greedy | vs dense optimum | gap to lower bound | moved |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        greedy = next(x for x in results if x["fixture"] == r["fixture"] and x["solver"] == "greedy")
        lines.append(
            f"| {r['fixture']} | {r['solver']} | {r['seconds']:.2f} | {r['objective_after']:.6g} "
            f"| {100 * (r['objective_after'] / greedy['objective_after'] - 1):+.2f} % "
            f"| {100 * (r['objective_after'] / r['dense_objective'] - 1):+.2f} % | {100 * r['gap_rel']:.2f} % "
            f"| {r['moved']:,} |"
        )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": _machine(), "k": k, "results": results}, f, indent=2)
    print("\n".join(lines))
    print(f"wrote {out}")
    return 0


def _row(r):
    return (f"V={r['size']:>9,} {r['solver']:>6}: {r['seconds']:7.1f} s (gen {r['gen_seconds']:.1f} s), "
            f"peak {r['peak_rss_mb']:.0f} MB, objective {r['objective_after']:.6g} ({_vs_greedy(r)} vs greedy), "
            f"gap {100 * r['gap_rel']:.3f}%")


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _machine():
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg()}


if __name__ == "__main__":
    sys.exit(main())
