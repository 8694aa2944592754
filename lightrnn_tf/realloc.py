"""Word reallocation: move words to the table cells that minimise the training loss.

Letters: B batch, T window, V words, R rows, C columns.

    report = reallocate(model, train_ids, batch_size=20, bptt=35, solver="sparse", k=8)
    model.fit(ds, epochs=6, callbacks=[ReallocationCallback(train_ids, every=2, batch_size=20, bptt=35)])

One forward pass over the training stream (parameters frozen, state carried across windows as in
training) accumulates, for every word w, its summed row losses `L_r[w, i] = sum_t -log P_r(i)` over
the positions t where w is the target, and its column losses `L_c[w, j] = sum_t -log P_c(j)` with
the column distribution conditioned on w's current row (the paper's approximation). Placing w in
cell (i, j) then costs `L_r[w, i] + L_c[w, j]`, and a minimum-cost matching of words to cells
(`lightrnn_tf.assignment`) gives the new table. Row and column vectors keep their values.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from lightrnn_tf import distribute
from lightrnn_tf.assignment import DenseCosts, solve
from lightrnn_tf.data import distribute_windows, stream_dataset
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable


def loss_statistics(model, ids, batch_size: int, bptt: int, max_tokens: int = 0, dtype="float64"):
    """Summed row and column losses of every word over a token stream.

    Under a `tf.distribute` strategy each replica reads its own rows of every window (its own
    streams, as in training); the accumulators are mirrored variables, so each window's sums of
    all replicas and workers are added to every copy (an all-reduce of the `(U, R)` and `(U, C)`
    rows a window) and every worker returns the same totals.

    Args:
        model: a `LightRNNModel`.
        ids: `(N,)` int token ids, read as `stream_dataset(ids, batch_size, bptt)` (the training layout).
        batch_size: B (the global batch; a multiple of the replicas).
        bptt: T.
        max_tokens: use only the first `max_tokens` ids; 0 uses all. Default: `0`.
        dtype: accumulator dtype; per-window sums are float32. The accumulators take
            `8 V (R + C)` bytes as float64 (500 MB at V = 100k), half as `"float32"`, on every
            device; no `(V, R)` tensor is built per window (only `(U, R)` for the U distinct targets).
            Default: `"float64"`.

    Returns:
        `(L_r (V, R) float64, L_c (V, C) float64, n_tokens)`: n_tokens target positions were read;
        row `w` of both is zero for a word that never occurs as a target.
    """
    ids = np.asarray(ids)
    if max_tokens < 0:
        raise LightRNNError(f"Received an invalid value for `max_tokens`, expected >= 0, got {max_tokens}.")
    if max_tokens:
        ids = ids[:max_tokens]
    if len(ids) and (ids.min() < 0 or ids.max() >= model.vocab_size):
        raise LightRNNError(f"token ids must lie in [0, {model.vocab_size}), got [{ids.min()}, {ids.max()}]")
    v, r, c = model.vocab_size, model.rows, model.cols
    strategy = model.distribute_strategy
    dataset = stream_dataset(ids, batch_size, bptt)
    steps = int(dataset.cardinality())
    if strategy.num_replicas_in_sync > 1:
        dataset, steps = distribute_windows(dataset, strategy)
    with strategy.scope():  # mirrored: the replicas' updates of a window are summed, then applied to every copy
        row_acc, col_acc = (tf.Variable(tf.zeros(shape, dtype), trainable=False, name=name,
                                        aggregation=tf.VariableAggregation.SUM)
                            for shape, name in (((v, r), "row_loss"), ((v, c), "col_loss")))
    stream = model.statistics_stream  # carries each replica's streams across windows

    def accumulate(x, y):  # one replica's rows of a window
        x, y = tf.cast(x, tf.int32), tf.cast(y, tf.int32)
        state = stream.read(lambda: model.start_state(x[:, 0]))
        row_lp, col_lp, new_state = model.distributions(y, state, training=False, mask_empty=False)
        words, slot = tf.unique(tf.reshape(y, [-1]))  # (U,), (b*T,)
        n = tf.size(words)
        row_sum = tf.math.unsorted_segment_sum(-tf.reshape(row_lp, [-1, r]), slot, n)  # (U, R)
        col_sum = tf.math.unsorted_segment_sum(-tf.reshape(col_lp, [-1, c]), slot, n)  # (U, C)
        row_acc.scatter_add(tf.IndexedSlices(tf.cast(row_sum, dtype), words))
        col_acc.scatter_add(tf.IndexedSlices(tf.cast(col_sum, dtype), words))
        stream.write(new_state)

    window = tf.function(lambda x, y: strategy.run(accumulate, args=(x, y)), reduce_retracing=True)
    stream.reset()
    windows = iter(dataset)
    for _ in range(steps):
        window(*next(windows))
    stream.reset()
    row_loss, col_loss = (acc.numpy().astype(np.float64, copy=False) for acc in (row_acc, col_acc))
    n_tokens = batch_size * (len(ids) // batch_size - 1)
    return row_loss, col_loss, n_tokens


def reallocate(model, ids, *, batch_size: int, bptt: int, solver: str = "sparse", k: int = 8,
               max_tokens: int = 0) -> dict:
    """Computes the loss statistics, finds a new table and installs it with `model.set_table`.

    Under a `tf.distribute` strategy the statistics are summed over all replicas and workers,
    the matching is solved once, on the chief, and the chief's table (and report) is broadcast
    and installed on every worker: call it on every worker at the same point, as
    `ReallocationCallback` does.

    Args:
        model: a `LightRNNModel`.
        ids: `(N,)` int training token ids.
        batch_size: B for the statistics pass.
        bptt: T for the statistics pass.
        solver: `"sparse"` (OR-Tools over each word's k best rows x k best columns, its current
            cell and cells around its greedy cell; never worse than greedy), `"dense"` (all cells;
            small V) or `"greedy"` (CNTK's heuristic). Default: `"sparse"`.
        k: candidate rows and columns per word. Default: `8`.
        max_tokens: statistics from the first `max_tokens` ids only; 0 uses all. Default: `0`.

    Returns:
        A JSON-serialisable dict: `objective_before`, `objective_after` (summed loss in nats under
        the current-row approximation), `lower_bound` (`sum_w min_i L_r + min_j L_c`), `gap`
        (after - bound), `gap_rel`, `moved`, `seconds`, `stats_seconds`, `solve_seconds`,
        `solver`, `k`, `tokens`, `suboptimality_bound` (see `assignment.solve`), `kept_current`
        (true if the solver found no lower objective, e.g. greedy, and the table was left as it was;
        `objective_after`, `gap`, `gap_rel` and `moved` then describe the kept table).
    """
    start = time.perf_counter()
    row_loss, col_loss, n_tokens = loss_statistics(model, ids, batch_size, bptt, max_tokens)
    stats_seconds = time.perf_counter() - start
    current = model.get_table()
    strategy = model.distribute_strategy
    new_table, report = current, None
    if distribute.is_chief(strategy):
        new_table, report = solve(DenseCosts(row_loss, col_loss), current, solver=solver, k=k)
        kept = report["objective_after"] > report["objective_before"]
        if kept:  # never install a worse table (greedy can be worse; exact solvers only within their rounding)
            new_table = current
            gap = report["objective_before"] - report["lower_bound"]
            report.update(objective_after=report["objective_before"], moved=0, gap=gap,
                          gap_rel=gap / max(abs(report["lower_bound"]), 1e-12))
        report["solve_seconds"] = report.pop("seconds")
        report.update(stats_seconds=stats_seconds, tokens=int(n_tokens), kept_current=bool(kept),
                      seconds=time.perf_counter() - start)
    if distribute.is_multi_worker(strategy):  # the chief's table and report, on every worker
        cells = distribute.broadcast_from_chief(strategy, new_table.word_cell, (current.vocab_size,))
        new_table = WordTable.from_cells(cells.astype(np.int64), current.rows, current.cols)
        report = distribute.broadcast_json(strategy, report)
    model.set_table(new_table)
    return report


class ReallocationCallback(keras.callbacks.Callback):
    """Reallocates words at the end of every `every`-th epoch of `model.fit`: the one place that
    schedules reallocation, for the training command and for Keras users alike.

    Example:

    >>> cb = ReallocationCallback(train_ids, every=2, rounds=3, batch_size=20, bptt=35)
    >>> model.fit(stream_dataset(train_ids, 20, 35), epochs=8, callbacks=[cb])

    By default no reallocation follows the last epoch of `fit` (nothing would train on the new
    table; pass `after_last_epoch=True` when you call `fit` one epoch at a time), an epoch after which another callback (e.g. `EarlyStopping`) stopped training, or an epoch whose
    loss is not finite. Put it after `EarlyStopping(restore_best_weights=True)`: the best weights
    are then recorded with the table they were validated on.

    Args:
        ids: `(N,)` int training token ids for the statistics.
        every: reallocate after epochs every, 2 * every, ...; 0 never. Default: `1`.
        rounds: at most this many reallocations; 0 no limit. Default: `3`.
        solver: as in `reallocate`. Default: `"greedy"` (with `every=1, rounds=3` the best schedule
            measured; docs/reallocation.md).
        batch_size, bptt, k, max_tokens: as in `reallocate`.
        verbose: print one line a reallocation. Default: `1`.
        after_last_epoch: also reallocate after the last epoch of a `fit` call. Default: `False`.
        valid_ids: optional `(N,)` int validation ids: each report then also holds
            `valid_ppl_before` (the epoch's `val_perplexity`) and `valid_ppl_after`, the
            validation perplexity with the new table before any further training. Default: `None`.

    After a reallocation the epoch's `logs` get `realloc_objective_before`, `realloc_objective_after`,
    `realloc_lower_bound`, `realloc_moved` and `realloc_seconds`; all reports are in `self.reports`
    (saved by `TrainingCheckpoint` through `get_state`).
    """

    LOGGED = ("objective_before", "objective_after", "lower_bound", "moved", "seconds")

    def __init__(self, ids, every=1, rounds=3, batch_size=20, bptt=35, solver="greedy", k=8, max_tokens=0, verbose=1,
                 after_last_epoch=False, valid_ids=None):
        super().__init__()
        if every < 0 or rounds < 0:
            raise LightRNNError(f"`every` and `rounds` must be >= 0, got every={every}, rounds={rounds}")
        self.ids, self.every, self.rounds = ids, every, rounds
        self.kwargs = dict(batch_size=batch_size, bptt=bptt, solver=solver, k=k, max_tokens=max_tokens)
        self.verbose = verbose
        self.after_last_epoch = after_last_epoch
        self.valid_ids = valid_ids
        self.reports: list[dict] = []

    def due(self, epoch: int, logs=None) -> bool:
        """Whether the end of 0-based `epoch` reallocates."""
        if not self.every or (epoch + 1) % self.every or (self.rounds and len(self.reports) >= self.rounds):
            return False
        last = epoch + 1 >= (self.params or {}).get("epochs", float("inf"))
        if (last and not self.after_last_epoch) or self.model.stop_training:
            return False
        return all(np.isfinite(float(v)) for k, v in (logs or {}).items() if "loss" in k)

    def on_epoch_end(self, epoch, logs=None):
        if not self.due(epoch, logs):
            return
        report = reallocate(self.model, self.ids, **self.kwargs)
        report["epoch"] = epoch + 1
        if self.valid_ids is not None:
            from lightrnn_tf.stream_model import stream_perplexity

            report["valid_ppl_before"] = float((logs or {}).get("val_perplexity", float("nan")))
            report["valid_ppl_after"], _ = stream_perplexity(self.model, self.valid_ids, self.kwargs["batch_size"],
                                                             self.kwargs["bptt"])
        self.reports.append(report)
        if self.verbose:
            print(f"\nreallocation {len(self.reports)} after epoch {epoch + 1}: "
                  f"loss {report['objective_before']:.6g} -> "
                  f"{report['objective_after']:.6g} (lower bound {report['lower_bound']:.6g}), "
                  f"{report['moved']} words moved, {report['seconds']:.1f} s"
                  + (f"; valid ppl {report['valid_ppl_before']:.2f} -> {report['valid_ppl_after']:.2f} before retraining"
                     if "valid_ppl_after" in report else ""))
        if logs is not None:
            logs.update({f"realloc_{key}": report[key] for key in self.LOGGED})

    def get_state(self) -> dict:
        return {"reports": self.reports}

    def set_state(self, state: dict) -> None:
        self.reports = list(state["reports"])


def plot_table(table: WordTable, words, path: str, n: int = 8, width: int = 10) -> str:
    """Writes a plain-text picture of which words share rows and columns.

    Ids are taken as frequency ranks (a `Vocabulary` numbers words by training frequency), so
    "most frequent" rows are those holding the lowest ids. Shows the `n` rows and the `n` columns
    holding the most frequent words, each listing its `width` most frequent words, then an
    `n x n` grid of those rows and columns (`.` marks an empty cell).

    Args:
        table: a `WordTable`.
        words: sequence of V str, word of each id.
        path: output text file.
        n: rows and columns shown. Default: `8`.
        width: words listed per row / column. Default: `10`.

    Returns:
        The text written.
    """
    if len(words) != table.vocab_size:
        raise LightRNNError(f"got {len(words)} words for a table of {table.vocab_size}")
    grid = table.cell_word.reshape(table.rows, table.cols)  # (R, C), -1 empty
    first = np.where(grid >= 0, grid, table.vocab_size)
    top_rows = np.argsort(first.min(axis=1), kind="stable")[:n]
    top_cols = np.argsort(first.min(axis=0), kind="stable")[:n]
    lines = [f"Word table {table.rows}x{table.cols}, {table.vocab_size} words.", "",
             f"The {len(top_rows)} rows holding the most frequent words (row: its words, most frequent first):"]
    for i in top_rows:
        ids = np.sort(grid[i][grid[i] >= 0])[:width]
        lines.append(f"  row {i:>5}: " + " ".join(words[w] for w in ids))
    lines += ["", f"The {len(top_cols)} columns holding the most frequent words:"]
    for j in top_cols:
        ids = np.sort(grid[:, j][grid[:, j] >= 0])[:width]
        lines.append(f"  col {j:>5}: " + " ".join(words[w] for w in ids))
    shown = [w for w in grid[np.ix_(top_rows, top_cols)].ravel() if w >= 0]
    cell = max(6, min(14, max((len(words[w]) for w in shown), default=5) + 1))  # grid column width
    lines += ["", "Grid of those rows and columns:", " " * 11 + "".join(f"c{j:<{cell - 1}}" for j in top_cols)]
    for i in top_rows:
        text = "".join((words[w][: cell - 1] if w >= 0 else ".").ljust(cell) for w in grid[i, top_cols])
        lines.append(f"  row {i:>4} " + text)
    out = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(out)
    return out
