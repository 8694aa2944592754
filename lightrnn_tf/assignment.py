"""Word -> cell assignment solvers for reallocation: sparse and dense OR-Tools matchings, CNTK's greedy.

Letters: V words, R rows, C columns, k candidate rows (and columns) per word, D = R*C - V empty cells.

Word w in cell (i, j) costs `L_r[w, i] + L_c[w, j]` (its summed row and column losses, see
`lightrnn_tf.realloc.loss_statistics`). A solver returns a new `WordTable` (always a bijection of
the V words onto V distinct cells) and a report:

    costs = DenseCosts(L_r, L_c)                     # or any object with the same 5 members
    table, report = solve(costs, current_table, solver="sparse", k=8)
    report["objective_after"] >= report["lower_bound"]   # sum_w min_i L_r[w, i] + min_j L_c[w, j]

Solvers:
    sparse  exact minimum-cost matching (OR-Tools `SimpleLinearSumAssignment`, integer-scaled
            costs) over each word's k best rows x k best columns, its current cell, its greedy
            cell, its greedy row x its k best columns and its k best rows x its greedy column.
            Greedy's table is a perfect matching of that graph, and the cheaper of the two tables
            is returned, so the result is never worse than greedy's.
    dense   the same over all R*C cells: the true optimum; small V only.
    greedy  the two-stage priority heuristic of Microsoft's CNTK LightRNN example, as a baseline.

Costs only have to be readable a block of words at a time (`row_costs(words)`), so a benchmark can
generate a 1M x 1000 problem on the fly. This module does not import TensorFlow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.fault_injection import kill_point
from lightrnn_tf.table import WordTable

SOLVERS = ("sparse", "dense", "greedy")
DENSE_MAX_ARCS = 25_000_000  # V * R * C above this: refuse the dense solver (V = 5000)
MAX_INT_COST = 10**8  # largest integer arc cost handed to OR-Tools (fewer cost-scaling rounds)
RESOLUTION = 0.01  # nats: regrets are capped only where a uniform scale would be coarser than this
DUMMY_ARCS_BUDGET = 200_000  # arcs from "empty" nodes: all R*C cells if D*R*C is within this (exact)
ELEMENTS_PER_BLOCK = 1 << 22  # words per block * max(R, C) when reading costs


class DenseCosts:
    """Costs held as arrays.

    Args:
        row_loss: `(V, R)` float, L_r.
        col_loss: `(V, C)` float, L_c.
    """

    def __init__(self, row_loss, col_loss):
        self.row_loss, self.col_loss = np.asarray(row_loss), np.asarray(col_loss)
        if self.row_loss.ndim != 2 or self.col_loss.ndim != 2 or len(self.row_loss) != len(self.col_loss):
            raise LightRNNError(
                f"row and column losses must be (V, R) and (V, C), got {self.row_loss.shape} and {self.col_loss.shape}"
            )
        self.vocab_size, self.rows = self.row_loss.shape
        self.cols = self.col_loss.shape[1]

    def row_costs(self, words):
        """`(n, R)` float64 row losses of `words` (a slice or an int array)."""
        return np.asarray(self.row_loss[words], dtype=np.float64)

    def col_costs(self, words):
        """`(n, C)` float64 column losses of `words`."""
        return np.asarray(self.col_loss[words], dtype=np.float64)

    def cell_costs(self, word_row, word_col):
        """`(V,)` float64: `L_r[w, word_row[w]] + L_c[w, word_col[w]]`, each word's cost in one given cell."""
        at = np.arange(self.vocab_size)
        return self.row_loss[at, word_row].astype(np.float64) + self.col_loss[at, word_col]


def cell_costs(costs, word_row, word_col):
    """`(V,)` each word's cost in one given cell: `costs.cell_costs` where the costs have it
    (without building a whole row of costs), else read block by block."""
    if hasattr(costs, "cell_costs"):
        return costs.cell_costs(word_row, word_col)
    out = np.empty(costs.vocab_size)
    step = max(1, ELEMENTS_PER_BLOCK // max(costs.rows, costs.cols))
    for lo in range(0, costs.vocab_size, step):
        hi = min(costs.vocab_size, lo + step)
        at = np.arange(hi - lo)
        out[lo:hi] = (costs.row_costs(slice(lo, hi))[at, word_row[lo:hi]]
                      + costs.col_costs(slice(lo, hi))[at, word_col[lo:hi]])
    return out


class MovePenaltyCosts:
    """Costs that charge a word for leaving its cell: a minimum relative gain before it moves.

    Word w pays `min_gain * current(w) / 2` for any row other than its current one and as much for
    any column other than its current one, where `current(w) = L_r[w, r(w)] + L_c[w, c(w)]` is its
    loss in its cell today. A word therefore moves only if that lowers its own loss by at least
    `min_gain` of it (half that for a move within its row or column). Words with little evidence
    (rare words, whose summed losses are small and noisy) and words whose cell is nearly as good
    as any stay where the LSTM has learned them.

    Args:
        costs: the underlying costs (`DenseCosts` or the same interface).
        table: the current `WordTable`.
        min_gain: float >= 0, the relative gain a move must bring.
    """

    def __init__(self, costs, table: WordTable, min_gain: float):
        if not min_gain >= 0:
            raise LightRNNError(f"Received an invalid value for `min_gain`, expected >= 0, got {min_gain}.")
        self.costs, self.table, self.min_gain = costs, table, float(min_gain)
        self.vocab_size, self.rows, self.cols = costs.vocab_size, costs.rows, costs.cols
        self._half = 0.5 * self.min_gain * cell_costs(costs, table.word_row, table.word_col)  # (V,)

    def _penalised(self, loss, words, current_index):
        ids = np.arange(self.vocab_size)[words]
        out = loss + self._half[ids][:, None]
        out[np.arange(len(ids)), current_index[ids]] -= self._half[ids]
        return out

    def row_costs(self, words):
        """`(n, R)` L_r plus the penalty for leaving the current row."""
        return self._penalised(self.costs.row_costs(words), words, self.table.word_row)

    def col_costs(self, words):
        """`(n, C)` L_c plus the penalty for leaving the current column."""
        return self._penalised(self.costs.col_costs(words), words, self.table.word_col)


class RareWordCosts:
    """Costs in which words seen fewer than `min_count` times in the statistics cost nothing anywhere.

    A word read once or twice has costs that are the noise of those few positions. With no costs it
    has no preference: the greedy solver serves it after every word that has one, and the exact
    solvers place it after the matching (`_matching`), so such words fill the cells left over
    together, rows of rare words, instead of each taking a cell chosen by its noise among
    frequent words (docs/reallocation.md).

    Args:
        costs: the underlying costs (`DenseCosts` or the same interface).
        counts: `(V,)` occurrences of each word in the statistics.
        min_count: int >= 0; 0 and 1 change nothing.
    """

    def __init__(self, costs, counts, min_count: int):
        if not min_count >= 0:
            raise LightRNNError(f"Received an invalid value for `min_count`, expected >= 0, got {min_count}.")
        counts = np.asarray(counts)
        if counts.shape != (costs.vocab_size,):
            raise LightRNNError(f"counts must have shape ({costs.vocab_size},), got {counts.shape}")
        self.costs, self.min_count = costs, int(min_count)
        self.vocab_size, self.rows, self.cols = costs.vocab_size, costs.rows, costs.cols
        self.rare = counts < self.min_count  # (V,)

    def _zeroed(self, loss, words):
        rare = self.rare[words]
        if rare.any():
            loss = np.array(loss, dtype=np.float64)
            loss[rare] = 0.0
        return loss

    def row_costs(self, words):
        """`(n, R)` L_r, zero for rare words."""
        return self._zeroed(self.costs.row_costs(words), words)

    def col_costs(self, words):
        """`(n, C)` L_c, zero for rare words."""
        return self._zeroed(self.costs.col_costs(words), words)

    def cell_costs(self, word_row, word_col):
        """`(V,)` each word's cost in one given cell, zero for rare words."""
        return np.where(self.rare, 0.0, cell_costs(self.costs, word_row, word_col))


@dataclass
class Candidates:
    """One pass over the costs: each word's k best rows and columns, sorted, and its current cost.

    Shapes: `row_idx`, `row_cost` `(V, k_r)`; `col_idx`, `col_cost` `(V, k_c)` (best first);
    `row_sum`, `col_sum`, `current`, `bound` `(V,)` with `bound = row_cost[:, 0] + col_cost[:, 0]`.
    """

    row_idx: np.ndarray
    row_cost: np.ndarray
    col_idx: np.ndarray
    col_cost: np.ndarray
    row_sum: np.ndarray
    col_sum: np.ndarray
    current: np.ndarray
    bound: np.ndarray


def scan_costs(costs, table: WordTable, k: int) -> Candidates:
    """Reads the costs block by block and keeps what every solver needs (`O(V k)` memory)."""
    v, r, c = costs.vocab_size, costs.rows, costs.cols
    if (table.vocab_size, table.rows, table.cols) != (v, r, c):
        raise LightRNNError(
            f"costs are for V={v}, {r}x{c}; the table is V={table.vocab_size}, {table.rows}x{table.cols}"
        )
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise LightRNNError(f"Received an invalid value for `k`, expected a positive integer, got {k}.")
    kr, kc = min(k, r), min(k, c)
    out = Candidates(np.empty((v, kr), np.int32), np.empty((v, kr)), np.empty((v, kc), np.int32), np.empty((v, kc)),
                     np.empty(v), np.empty(v), np.empty(v), np.empty(v))
    step = max(1, ELEMENTS_PER_BLOCK // max(r, c))
    for lo in range(0, v, step):
        hi = min(v, lo + step)
        at = np.arange(hi - lo)
        row_loss, col_loss = costs.row_costs(slice(lo, hi)), costs.col_costs(slice(lo, hi))  # (n, R), (n, C)
        if not (np.all(np.isfinite(row_loss)) and np.all(np.isfinite(col_loss))):
            raise LightRNNError(f"costs of words {lo}..{hi - 1} contain NaN or infinity")
        out.row_idx[lo:hi], out.row_cost[lo:hi] = _smallest(row_loss, kr)
        out.col_idx[lo:hi], out.col_cost[lo:hi] = _smallest(col_loss, kc)
        out.row_sum[lo:hi], out.col_sum[lo:hi] = row_loss.sum(axis=1), col_loss.sum(axis=1)
        out.current[lo:hi] = row_loss[at, table.word_row[lo:hi]] + col_loss[at, table.word_col[lo:hi]]
    out.bound[:] = out.row_cost[:, 0] + out.col_cost[:, 0]
    return out


def _smallest(loss, k):
    """`(idx, cost)` `(n, k)` of the k smallest entries of each row of `loss` `(n, m)`, ascending."""
    top = np.argpartition(loss, k - 1, axis=1)[:, :k] if k < loss.shape[1] else np.tile(np.arange(k), (len(loss), 1))
    top_cost = np.take_along_axis(loss, top, axis=1)
    order = np.argsort(top_cost, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_cost, order, axis=1)


def solve(costs, table: WordTable, solver: str = "sparse", k: int = 8) -> tuple[WordTable, dict]:
    """Finds a new allocation.

    Args:
        costs: `DenseCosts` or an object with `vocab_size`, `rows`, `cols`, `row_costs(words)`,
            `col_costs(words)`.
        table: the current `WordTable` (its cells are always candidates of the exact solvers).
        solver: `"sparse"`, `"dense"` or `"greedy"`. Default: `"sparse"`.
        k: candidate rows and columns per word (sparse; greedy reads further when it must). Default: `8`.

    Returns:
        `(new_table, report)`; report keys: `solver`, `k`, `objective_before`, `objective_after`,
        `lower_bound`, `gap` (after - bound), `gap_rel` (gap / |bound|), `moved`, `seconds`,
        `suboptimality_bound`. The exact solvers add `rounding_bound`, `cap`, `cap_bound` and
        `empty_cells_restricted` (see `_matching`); `suboptimality_bound` is a proven bound on how
        far the result lies above the exact optimum over the candidate cells (any cell may stay
        empty), reported only when every cell may stay empty in the solved graph, else None
        (`rounding_bound + cap_bound` then only bounds the distance to the optimum over the
        restricted graph). `sparse` also reports `greedy_objective`, `greedy_seconds` and
        `result` (`"matching"`, or `"greedy"` when greedy's table was cheaper and was returned).
        In the exact solvers' matching, words that cost 0 in every cell fill the cells no other
        word holds, in id order and row-major order (`_group_free_words`; the objective is
        unchanged); `free_words` counts them.
    """
    if solver not in SOLVERS:
        raise LightRNNError(f"Received an invalid value for `solver`, expected one of {SOLVERS}, got {solver!r}.")
    start = time.perf_counter()
    if solver == "dense":
        arcs = costs.vocab_size * costs.rows * costs.cols
        if arcs > DENSE_MAX_ARCS:
            raise LightRNNError(
                f"dense solver needs V*R*C = {arcs:,} arcs (limit {DENSE_MAX_ARCS:,}); use solver='sparse'"
            )
        k = max(costs.rows, costs.cols)
    cand = scan_costs(costs, table, k)
    kill_point("matching")
    current = table.word_cell.astype(np.int64)
    if solver == "greedy":
        cells, after, _, _ = _greedy(costs, cand)
        bound_opt, details = None, {}
    elif solver == "dense":
        cells, after, bound_opt, details = _matching(cand, current[:, None], cand.current[:, None], table,
                                                     costs.rows, costs.cols, all_empty=True)
    else:
        g_start = time.perf_counter()
        g_cells, g_after, g_row, g_col = _greedy(costs, cand)
        g_seconds = time.perf_counter() - g_start
        extra_cells, extra_cost = _extra_arcs(cand, current, g_cells, g_row, g_col, costs.cols)
        keep_empty = np.setdiff1d(np.arange(costs.rows * costs.cols), g_cells)  # greedy's empty cells
        cells, after, bound_opt, details = _matching(cand, extra_cells, extra_cost, table, costs.rows, costs.cols,
                                                     keep_empty=keep_empty)
        details.update(greedy_objective=float(g_after), greedy_seconds=g_seconds, result="matching")
        if after > g_after:  # only possible through integer rounding or restricted empty cells
            cells, after, details["result"] = g_cells, g_after, "greedy"
    new_table = WordTable.from_cells(cells, costs.rows, costs.cols)
    new_table.validate()
    before, bound = float(cand.current.sum()), float(cand.bound.sum())
    return new_table, {
        "solver": solver,
        "k": int(k),
        "objective_before": before,
        "objective_after": float(after),
        "lower_bound": bound,
        "gap": float(after - bound),
        "gap_rel": float((after - bound) / max(abs(bound), 1e-12)),
        "moved": new_table.moved(table),
        "seconds": time.perf_counter() - start,
        "suboptimality_bound": bound_opt,
        **details,
    }


def _group_free_words(cells, cand: Candidates, n_cells: int):
    """Moves the words whose cost is 0 in every cell (rare words under `RareWordCosts`, words the
    statistics never read) to the cells no other word holds, in id order, those cells in row-major
    order -> `(cells (V,), number of such words)`.

    Such words are ties of the matching: every placement of them among the leftover cells has the
    same objective, and which one OR-Tools returns turns on float rounding. This one is fixed, the
    same for every tie-break, and groups them in rows of their own, as greedy does.
    """
    free = (cand.row_cost[:, 0] == 0) & (cand.row_sum == 0) & (cand.col_cost[:, 0] == 0) & (cand.col_sum == 0)
    n_free = int(free.sum())
    if n_free:
        taken = np.zeros(n_cells, bool)
        taken[cells[~free]] = True
        cells = cells.copy()
        cells[free] = np.flatnonzero(~taken)[:n_free]
    return cells, n_free


def _extra_arcs(cand: Candidates, current, g_cells, g_row, g_col, cols):
    """Arcs beyond the k x k product: `(cells (V, m) int64, costs (V, m))`, m = 2 + k_c + k_r.

    Per word: its current cell, its greedy cell (so greedy's table is a perfect matching of the
    candidate graph), its greedy row x its k_c best columns and its k_r best rows x its greedy
    column (two-stage candidates: a row that had room for it, then its best columns there).
    `g_row`, `g_col` `(V,)` are the word's row and column losses at its greedy cell.
    """
    gr, gc = (g_cells // cols)[:, None], (g_cells % cols)[:, None]
    cells = np.concatenate([current[:, None], g_cells[:, None], gr * cols + cand.col_idx,
                            cand.row_idx.astype(np.int64) * cols + gc], axis=1)
    cost = np.concatenate([cand.current[:, None], (g_row + g_col)[:, None], g_row[:, None] + cand.col_cost,
                           cand.row_cost + g_col[:, None]], axis=1)
    return cells, cost


# === Exact matching over candidate cells (OR-Tools) ===

def _matching(cand: Candidates, extra_cells, extra_cost, table: WordTable, rows: int, cols: int,
              all_empty: bool = False, keep_empty=None):
    """Min-cost matching over the candidate arcs -> `(cells (V,), objective, suboptimality bound, details)`;
    the words that cost nothing anywhere, ties of the matching, then go to the cells left over
    (`_group_free_words`, `details["free_words"]`).

    Word w's arcs: its k_r x k_c product cells, then `extra_cells[w]` `(V, m)` at `extra_cost[w]`
    (column 0 must be its current cell, so a perfect matching exists); their costs are regrets
    `cost - bound[w] >= 0` (the same optimum, smaller integers). When R*C > V, D "no word" nodes
    with zero-cost arcs balance the two sides; a cell matched to one stays empty. Their arcs go to
    all cells if `all_empty` or if that is cheap (`D R C <= DUMMY_ARCS_BUDGET`), else to a
    candidate set (`_empty_cell_candidates`, which includes the current empty cells and
    `keep_empty`); `details["empty_cells_restricted"]` says which.

    OR-Tools needs integer costs with `3 n^2 max_cost < 2^63` (n nodes a side), too few levels at
    n = 1M to resolve both a rare word (regrets ~1 nat) and "the" (~1e7). So regrets above a cap
    (the 99.9th percentile, never below 0.01 nats of resolution) are capped before scaling. The
    result is then provably within `V / scale + sum over chosen arcs of (regret - cap)+` of the
    exact optimum over the solved graph (both terms are reported and are usually tiny). That graph
    lets any cell stay empty only when the empty-cell arcs are complete; the returned bound is None
    otherwise, because restricting which cells may stay empty can cost more than it says.
    """
    from ortools.graph.python import linear_sum_assignment

    v, n_cells = len(cand.bound), rows * cols
    empty = _empty_cell_candidates(cand, table, rows, cols, all_empty, keep_empty)
    restricted = len(empty) < n_cells and n_cells > v
    n_side = n_cells  # V words + D "no word" nodes
    max_int = min(float(MAX_INT_COST), 2.0**63 / (3.3 * n_side * (n_side + 1.0)))
    max_regret = max(float(np.max(cand.row_cost[:, -1] + cand.col_cost[:, -1] - cand.bound)),
                     float(np.max(extra_cost - cand.bound[:, None])), 1e-12)
    sample = np.random.default_rng(0).choice(v, size=min(v, 20_000), replace=False)
    sample_regret = _arcs(cand, extra_cells, extra_cost, cols, sample)[1]
    cap = min(max_regret, max(max_int * RESOLUTION, float(np.quantile(sample_regret, 0.999))))
    scale = max_int / cap
    width = cand.row_idx.shape[1] * cand.col_idx.shape[1] + extra_cells.shape[1]
    step = max(1, ELEMENTS_PER_BLOCK // width)
    for _ in range(4):
        lsa = linear_sum_assignment.SimpleLinearSumAssignment()
        for lo in range(0, v, step):
            cells, regret = _arcs(cand, extra_cells, extra_cost, cols, np.arange(lo, min(v, lo + step)))
            lsa.add_arcs_with_cost(np.repeat(np.arange(lo, lo + len(cells), dtype=np.int32), cells.shape[1]),
                                   cells.ravel().astype(np.int32),
                                   np.rint(np.minimum(regret.ravel(), cap) * scale).astype(np.int64))
        for d in range(n_cells - v):
            lsa.add_arcs_with_cost(np.full(len(empty), v + d, np.int32), empty, np.zeros(len(empty), np.int64))
        status = lsa.solve()
        if status == lsa.OPTIMAL:
            break
        if status == lsa.INFEASIBLE:
            raise LightRNNError("assignment solver found no perfect matching; the candidate graph is broken")
        if status == lsa.POSSIBLE_OVERFLOW:
            scale /= 16.0
            continue
        raise LightRNNError(f"assignment solver returned unexpected status {status}")
    else:
        raise LightRNNError("assignment solver reports possible overflow even with costs scaled down 4096 times")
    cells = np.fromiter((lsa.right_mate(w) for w in range(v)), dtype=np.int64, count=v)
    regret = np.empty(v)
    for lo in range(0, v, step):
        words = np.arange(lo, min(v, lo + step))
        arc_cells, arc_regret = _arcs(cand, extra_cells, extra_cost, cols, words)
        regret[words] = np.where(arc_cells == cells[words, None], arc_regret, np.inf).min(axis=1)
    cap_excess = float(np.maximum(regret - cap, 0.0).sum())
    cells, free_words = _group_free_words(cells, cand, n_cells)  # after the regrets: the objective is the same
    details = {"cap": cap if cap < max_regret else None, "cap_bound": cap_excess, "rounding_bound": v / scale,
               "empty_cells_restricted": bool(restricted), "free_words": free_words}
    proven = None if restricted else float(v / scale + cap_excess)
    return cells, float((regret + cand.bound).sum()), proven, details


def _arcs(cand: Candidates, extra_cells, extra_cost, cols, words):
    """Candidate arcs of `words` `(n,)`: `(cells (n, k_r k_c + m) int64, regrets (n, k_r k_c + m))`."""
    n = len(words)
    cells = (cand.row_idx[words, :, None].astype(np.int64) * cols + cand.col_idx[words, None, :]).reshape(n, -1)
    cost = (cand.row_cost[words, :, None] + cand.col_cost[words, None, :]).reshape(n, -1)
    cells = np.concatenate([cells, extra_cells[words]], axis=1)
    regret = np.concatenate([cost, extra_cost[words]], axis=1) - cand.bound[words, None]
    return cells, regret


def _empty_cell_candidates(cand: Candidates, table: WordTable, rows: int, cols: int, all_empty: bool = False,
                           keep_empty=None) -> np.ndarray:
    """Cells that may stay empty `(n,)` int32: all of them when `all_empty` or cheap, else the
    currently empty ones, `keep_empty`, and the least-demanded ones (fewest words list them),
    `DUMMY_ARCS_BUDGET / D` of those."""
    n_cells, d = rows * cols, rows * cols - len(cand.bound)
    if all_empty or d == 0 or d * n_cells <= DUMMY_ARCS_BUDGET:
        return np.arange(n_cells, dtype=np.int32)
    demand = np.zeros(n_cells, np.int64)
    for i in range(cand.row_idx.shape[1]):
        for j in range(cand.col_idx.shape[1]):
            demand += np.bincount(cand.row_idx[:, i].astype(np.int64) * cols + cand.col_idx[:, j], minlength=n_cells)
    least = np.argsort(demand, kind="stable")[: max(d, DUMMY_ARCS_BUDGET // d)]
    empty_now = np.flatnonzero(table.cell_word < 0)
    keep = np.asarray(keep_empty if keep_empty is not None else [], dtype=np.int64)
    return np.union1d(np.union1d(least, empty_now), keep).astype(np.int32)


# === CNTK's greedy heuristic ===

def _greedy(costs, cand: Candidates):
    """Two-stage priority heuristic of the CNTK LightRNN example (`pyreallocate.cpp`), generalised to R x C.

    Stage 1: words pop from a max-priority queue; a word's priority is the mean loss of the rows
    it has not yet tried, excluding the one it asks for; it takes that row if the row has fewer than
    C words, else asks for its next-best row. Stage 2, row by row: the same with columns (one word a
    cell). A word whose request fails asks again with a priority at least as high (the mean of a
    sorted list's tail grows as its head is dropped), so it is served next: the queue is equivalent
    to processing words in order of first priority, each taking its best free row (column), which
    is how it is implemented here. Differences from CNTK, all fixes: the running sums are
    initialised (the C++ reads uninitialised memory), the mean divides by the number of remaining
    losses (CNTK divides by one fewer and gives the last request priority 0, which can leave a word
    without a row), ties go to the lower word id (Python 3 ignores the Python fallback's `__cmp__`).

    Returns:
        `(cells (V,) int64, objective, row_part (V,), col_part (V,))`: each word's cell, the total
        loss, and each word's `L_r` and `L_c` at its cell.
    """
    v, r, c = costs.vocab_size, costs.rows, costs.cols
    row_of, col_of = np.empty(v, np.int64), np.empty(v, np.int64)
    row_part, col_part = np.empty(v), np.empty(v)

    def priority(sorted_cost, loss_sum, n):
        return (loss_sum - sorted_cost[:, 0]) / max(n - 1, 1)

    # Stage 1: rows, capacity C each.
    fill, full = [0] * r, np.zeros(r, bool)  # full[i]: row i holds C words
    order = np.argsort(-priority(cand.row_cost, cand.row_sum, r), kind="stable")
    row_idx, row_cost = cand.row_idx.tolist(), cand.row_cost.tolist()
    for w in order.tolist():
        for pos, i in enumerate(row_idx[w]):
            if fill[i] < c:
                break
        else:  # all k listed rows are full: its best row with room
            loss = costs.row_costs(np.array([w]))[0]
            loss[full] = np.inf
            i, pos = int(np.argmin(loss)), None
            row_part[w] = float(loss[i])
        if pos is not None:
            row_part[w] = row_cost[w][pos]
        fill[i] += 1
        full[i] = fill[i] >= c
        row_of[w] = i
    # Stage 2: columns within each row, one word a cell.
    col_priority = priority(cand.col_cost, cand.col_sum, c)
    col_idx, col_cost = cand.col_idx.tolist(), cand.col_cost.tolist()
    by_row = np.argsort(row_of, kind="stable")
    bounds = np.searchsorted(row_of[by_row], np.arange(r + 1))
    for i in range(r):
        words = by_row[bounds[i]:bounds[i + 1]]
        taken = np.zeros(c, bool)
        for w in words[np.argsort(-col_priority[words], kind="stable")].tolist():
            for pos, j in enumerate(col_idx[w]):
                if not taken[j]:
                    break
            else:
                loss = costs.col_costs(np.array([w]))[0]
                loss[taken] = np.inf
                j, pos = int(np.argmin(loss)), None
                col_part[w] = float(loss[j])
            if pos is not None:
                col_part[w] = col_cost[w][pos]
            taken[j] = True
            col_of[w] = j
    return row_of * c + col_of, float((row_part + col_part).sum()), row_part, col_part
