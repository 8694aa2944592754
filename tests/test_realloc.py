"""Reallocation: solvers against SciPy's exact assignment, statistics against a step-by-step NumPy
recomputation, and the `reallocate` / callback integration on a tiny model."""

import json
import math

import keras
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from lightrnn_tf import assignment
from lightrnn_tf.assignment import DenseCosts, solve
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable


# === Fixtures ===

def lightrnn_costs(v, rows, cols, seed):
    """Separable LightRNN-shaped costs: Zipf-like counts times random per-token losses."""
    rng = np.random.default_rng(seed)
    counts = 1.0 + 20.0 * v / np.arange(1, v + 1)
    row = counts[:, None] * -np.log(rng.dirichlet(np.ones(rows), size=v))
    col = counts[:, None] * -np.log(rng.dirichlet(np.ones(cols), size=v))
    return row, col


def full_matrix(row, col):
    """`(V, R*C)` cost of every word in every cell."""
    return (row[:, :, None] + col[:, None, :]).reshape(len(row), -1)


def scipy_optimum(row, col):
    full = full_matrix(row, col)
    words, cells = linear_sum_assignment(full)
    return float(full[words, cells].sum())


def table_cost(row, col, table):
    return float(full_matrix(row, col)[np.arange(table.vocab_size), table.word_cell].sum())


def check_report(row, col, start, table, report):
    """Every solver: a bijection, and a report consistent with a direct recomputation."""
    table.validate()
    assert len(np.unique(table.word_cell)) == table.vocab_size
    tol = 1e-9 * max(1.0, abs(report["lower_bound"]))
    assert report["objective_after"] == pytest.approx(table_cost(row, col, table), rel=1e-9, abs=1e-9)
    assert report["objective_before"] == pytest.approx(table_cost(row, col, start), rel=1e-9, abs=1e-9)
    assert report["lower_bound"] == pytest.approx(float((row.min(1) + col.min(1)).sum()), rel=1e-12)
    assert report["gap"] == pytest.approx(report["objective_after"] - report["lower_bound"], rel=1e-9, abs=1e-9)
    assert report["gap"] >= -tol
    assert report["moved"] == table.moved(start)
    json.dumps(report)
    if report["solver"] != "greedy":  # the current table is feasible for the exact solvers
        graph_bound = report["rounding_bound"] + report["cap_bound"]  # proven over the solved graph
        assert report["objective_after"] <= report["objective_before"] + graph_bound + tol
        assert (report["suboptimality_bound"] is None) == report["empty_cells_restricted"]
    else:
        assert report["suboptimality_bound"] is None
    if report["solver"] == "sparse":  # greedy's table is in the candidate graph, and the better one is kept
        assert report["objective_after"] <= report["greedy_objective"]
        assert report["result"] in ("matching", "greedy")


# === Solvers ===

ADVERSARIAL = ["random", "ties", "same_cell", "one_row"]


def adversarial_costs(kind, v, rows, cols):
    rng = np.random.default_rng(7)
    if kind == "random":
        return rng.random((v, rows)) * 10, rng.random((v, cols)) * 10
    if kind == "ties":  # every cell costs the same for every word
        return np.ones((v, rows)), np.ones((v, cols))
    if kind == "same_cell":  # every word wants cell (0, 0) and nothing else
        row, col = np.full((v, rows), 100.0), np.full((v, cols), 100.0)
        row[:, 0] = col[:, 0] = 0.0
        return row, col
    row = np.full((v, rows), 50.0)  # every word wants row 0, columns random
    row[:, 0] = 0.0
    return row, rng.random((v, cols))


@pytest.mark.parametrize("solver,k", [("sparse", 1), ("sparse", 3), ("dense", 8), ("greedy", 1), ("greedy", 4)])
@pytest.mark.parametrize("kind", ADVERSARIAL)
@pytest.mark.parametrize("v,rows,cols", [(20, 4, 5), (23, 5, 5), (7, 3, 4)])
def test_result_is_always_a_bijection(solver, k, kind, v, rows, cols):
    row, col = adversarial_costs(kind, v, rows, cols)
    start = WordTable.random(v, rows, cols, seed=3)
    table, report = solve(DenseCosts(row, col), start, solver=solver, k=k)
    check_report(row, col, start, table, report)
    if solver == "dense":
        optimum = scipy_optimum(row, col)
        assert report["objective_after"] == pytest.approx(optimum, abs=report["suboptimality_bound"] + 1e-9)


def test_restricted_empty_cells_stay_valid(monkeypatch):
    """Above the dummy-arc budget, empty cells come from a candidate set: still a valid, never-worse matching."""
    monkeypatch.setattr(assignment, "DUMMY_ARCS_BUDGET", 50)
    v, rows, cols = 110, 11, 12  # 22 empty cells
    row, col = lightrnn_costs(v, rows, cols, seed=5)
    start = WordTable.random(v, rows, cols, seed=2)
    table, report = solve(DenseCosts(row, col), start, solver="sparse", k=4)
    check_report(row, col, start, table, report)
    assert report["empty_cells_restricted"] and report["suboptimality_bound"] is None
    assert report["objective_after"] >= scipy_optimum(row, col) * (1 - 1e-12)


def test_dense_is_exact_whatever_the_empty_cell_budget(monkeypatch):
    monkeypatch.setattr(assignment, "DUMMY_ARCS_BUDGET", 10)
    v, rows, cols = 110, 11, 12
    row, col = lightrnn_costs(v, rows, cols, seed=9)
    start = WordTable.random(v, rows, cols, seed=2)
    table, report = solve(DenseCosts(row, col), start, solver="dense")
    check_report(row, col, start, table, report)
    assert report["objective_after"] == pytest.approx(scipy_optimum(row, col), abs=report["suboptimality_bound"] + 1e-9)


@pytest.mark.parametrize("v,solver", [(50, "sparse"), (300, "sparse"), (2000, "sparse"), (50, "dense"), (300, "dense")])
def test_exact_solvers_equal_scipy_optimum(v, solver):
    rows = math.ceil(math.sqrt(v))
    cols = math.ceil(v / rows)
    row, col = lightrnn_costs(v, rows, cols, seed=v)
    start = WordTable.random(v, rows, cols, seed=1)
    table, report = solve(DenseCosts(row, col), start, solver=solver, k=max(rows, cols))
    check_report(row, col, start, table, report)
    optimum = scipy_optimum(row, col)
    assert report["objective_after"] >= optimum - 1e-9 * optimum
    assert report["objective_after"] <= optimum + report["suboptimality_bound"] + 1e-9 * optimum


@pytest.mark.parametrize("min_gain", [0.05, 0.5])
def test_move_penalty_matching_equals_scipy_on_the_penalised_matrix(min_gain):
    """The dense solver over `MovePenaltyCosts` is the optimum of the V x RC matrix built from the
    definition: L_r + L_c, plus min_gain * current(w) / 2 for leaving w's row and as much for its column."""
    from lightrnn_tf.assignment import MovePenaltyCosts

    v, rows, cols = 60, 8, 8
    row, col = lightrnn_costs(v, rows, cols, seed=3)
    start = WordTable.random(v, rows, cols, seed=4)
    table, _ = solve(MovePenaltyCosts(DenseCosts(row, col), start, min_gain), start, solver="dense")
    current = row[np.arange(v), start.word_row] + col[np.arange(v), start.word_col]
    cell_row, cell_col = np.divmod(np.arange(rows * cols), cols)
    full = row[:, cell_row] + col[:, cell_col]  # (V, RC)
    full += 0.5 * min_gain * current[:, None] * ((cell_row[None] != start.word_row[:, None]).astype(float)
                                                 + (cell_col[None] != start.word_col[:, None]))
    words, cells = linear_sum_assignment(full)
    at = np.arange(v)
    got = full[at, table.word_row * cols + table.word_col].sum()
    assert got == pytest.approx(full[words, cells].sum(), rel=1e-6)
    moved_plain = solve(DenseCosts(row, col), start, solver="dense")[0].moved(start)
    assert table.moved(start) <= moved_plain if min_gain < 0.5 else table.moved(start) < moved_plain


def test_capped_regrets_keep_a_proven_bound(monkeypatch):
    """With few integer levels, large regrets are capped; the result stays within the reported bound."""
    monkeypatch.setattr(assignment, "MAX_INT_COST", 2000)
    v, rows, cols = 300, 18, 17
    row, col = lightrnn_costs(v, rows, cols, seed=8)
    start = WordTable.random(v, rows, cols, seed=6)
    table, report = solve(DenseCosts(row, col), start, solver="sparse", k=max(rows, cols))
    check_report(row, col, start, table, report)
    assert report["cap"] is not None
    assert report["suboptimality_bound"] == pytest.approx(report["rounding_bound"] + report["cap_bound"])
    optimum = scipy_optimum(row, col)
    assert optimum * (1 - 1e-12) <= report["objective_after"] <= optimum + report["suboptimality_bound"] + 1e-9


@pytest.mark.parametrize("k", [1, 2, 4])
def test_sparse_small_k_never_below_optimum(k):
    v, rows, cols = 300, 18, 17
    row, col = lightrnn_costs(v, rows, cols, seed=11)
    start = WordTable.random(v, rows, cols, seed=4)
    table, report = solve(DenseCosts(row, col), start, solver="sparse", k=k)
    check_report(row, col, start, table, report)
    optimum = scipy_optimum(row, col)
    assert report["objective_after"] >= optimum - 1e-9 * optimum
    assert report["lower_bound"] <= optimum


@pytest.mark.parametrize("v,rows,cols", [(300, 18, 17), (1000, 32, 32)])
def test_greedy_valid_and_not_better_than_optimum(v, rows, cols):
    row, col = lightrnn_costs(v, rows, cols, seed=3)
    start = WordTable.random(v, rows, cols, seed=0)
    table, report = solve(DenseCosts(row, col), start, solver="greedy", k=2)  # k=2 forces the fallback reads
    check_report(row, col, start, table, report)
    assert report["objective_after"] >= scipy_optimum(row, col) * (1 - 1e-12)
    exact, exact_report = solve(DenseCosts(row, col), start, solver="sparse", k=max(rows, cols))
    assert table_cost(row, col, exact) <= report["objective_after"] + exact_report["suboptimality_bound"]


def test_greedy_serves_high_priority_words_first():
    """Two words, one row each: the word with more to lose (higher mean of its other rows) gets row 0."""
    row = np.array([[0.0, 1.0], [0.0, 10.0]])  # word 1 loses 10 elsewhere, word 0 only 1
    col = np.zeros((2, 1))
    table, report = solve(DenseCosts(row, col), WordTable.sequential(2, 2, 1), solver="greedy", k=1)
    assert list(table.word_row) == [1, 0]
    assert report["objective_after"] == pytest.approx(1.0)


def test_greedy_is_optimal_without_conflicts():
    v, rows, cols = 12, 4, 3
    row, col = np.full((v, rows), 5.0), np.full((v, cols), 5.0)
    row[np.arange(v), np.arange(v) // cols] = 0.0  # word w prefers cell w, all distinct
    col[np.arange(v), np.arange(v) % cols] = 0.0
    table, report = solve(DenseCosts(row, col), WordTable.random(v, rows, cols, seed=9), solver="greedy", k=2)
    assert list(table.word_cell) == list(range(v))
    assert report["gap"] == 0.0


def test_solver_errors_are_one_line():
    row, col = np.zeros((5, 3)), np.zeros((5, 2))
    with pytest.raises(LightRNNError, match="solver"):
        solve(DenseCosts(row, col), WordTable.sequential(5, 3, 2), solver="hungarian")
    with pytest.raises(LightRNNError, match="`k`"):
        solve(DenseCosts(row, col), WordTable.sequential(5, 3, 2), k=0)
    with pytest.raises(LightRNNError, match="NaN"):
        solve(DenseCosts(row * np.nan, col), WordTable.sequential(5, 3, 2))
    with pytest.raises(LightRNNError, match="table"):
        solve(DenseCosts(row, col), WordTable.sequential(4, 3, 2))


def test_dense_refuses_large_vocabularies():
    class Huge:  # never read: the size check comes first
        vocab_size, rows, cols = 100_000, 317, 316

    with pytest.raises(LightRNNError, match="dense solver needs") as err:
        solve(Huge(), WordTable.sequential(4, 2, 2), solver="dense")
    assert "\n" not in str(err.value)


# === Statistics and integration (TensorFlow) ===

@pytest.fixture(scope="module")
def tiny():
    from lightrnn_tf.model import LightRNNModel

    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, num_layers=2,
                          dropout=0.0, table_seed=5)
    ids = np.random.default_rng(0).integers(0, 10, size=41).astype(np.int32)
    return model, ids


def reference_statistics(model, ids, batch_size):
    """Each of the B streams read word by word by the independent float64 NumPy LightRNN
    (numpy_reference.py), unmasked row and column distributions summed with np.add.at."""
    from numpy_reference import NumpyLightRNN, log_softmax

    ref = NumpyLightRNN(model)
    v, r, c = model.vocab_size, model.rows, model.cols
    data = np.asarray(ids)[: batch_size * (len(ids) // batch_size)].reshape(batch_size, -1)
    row_loss, col_loss = np.zeros((v, r)), np.zeros((v, c))
    state = ref.feed(data[:, 0], ref.zero_state(batch_size))
    for t in range(1, data.shape[1]):
        y = data[:, t]
        row_lp = log_softmax(state[-1][0] @ ref.Wr + ref.br)  # (B, R), every row
        h, after_row = ref.step(ref.Xr[ref.word_row[y]], state)
        col_lp = ref.col_log_probs(h, ref.word_row[y], mask=False)  # (B, C), every cell
        _, state = ref.step(ref.Xc[ref.word_col[y]], after_row)
        np.add.at(row_loss, y, -row_lp)
        np.add.at(col_loss, y, -col_lp)
    return row_loss, col_loss, data[:, 1:].size


def row_beginnings(ids, batch_size, max_tokens):
    """`max_tokens` read as the statistics read them: the first max_tokens // B tokens of each of the
    B rows the whole stream is cut into, one row after the other."""
    if not max_tokens:
        return ids
    row_len = len(ids) // batch_size
    return np.concatenate([ids[b * row_len : b * row_len + max_tokens // batch_size] for b in range(batch_size)])


@pytest.mark.parametrize("max_tokens, dtype", [(0, "float64"), (25, "float64"), (0, "float32")])
def test_statistics_equal_numpy_reference(tiny, max_tokens, dtype):
    """Summed in float32 or float64 (`dtype`), returned as float64."""
    from lightrnn_tf.realloc import loss_statistics

    model, ids = tiny
    row_loss, col_loss, n = loss_statistics(model, ids, batch_size=2, bptt=5, max_tokens=max_tokens, dtype=dtype)
    ref_row, ref_col, ref_n = reference_statistics(model, row_beginnings(ids, 2, max_tokens), 2)
    assert row_loss.shape == (10, 4) and col_loss.shape == (10, 3) and row_loss.dtype == np.float64
    assert n == ref_n
    np.testing.assert_allclose(row_loss, ref_row, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(col_loss, ref_col, rtol=1e-5, atol=1e-5)


def test_reallocate_moves_words_and_lowers_objective(tiny):
    from lightrnn_tf.realloc import loss_statistics, reallocate

    model, ids = tiny
    before = model.get_table()
    row_loss, col_loss, _ = loss_statistics(model, ids, 2, 5)
    report = reallocate(model, ids, batch_size=2, bptt=5, solver="sparse", k=2)
    after = model.get_table()
    try:
        json.dumps(report)
        for key in ("objective_before", "objective_after", "lower_bound", "gap", "moved", "seconds",
                    "stats_seconds", "solve_seconds", "solver", "tokens"):
            assert key in report
        assert report["moved"] == after.moved(before) > 0
        assert report["objective_after"] < report["objective_before"]
        assert report["objective_after"] == pytest.approx(table_cost(row_loss, col_loss, after), rel=1e-9)
        assert report["tokens"] == 2 * (len(ids) // 2 - 1)
    finally:
        model.set_table(before)


@pytest.mark.parametrize("statistics", ["dense", "factored"])
def test_reallocate_shows_progress_over_the_statistics_windows(tiny, statistics, capsys):
    """verbose=1: a Keras progress bar that reaches the pass's window count, then the matching's
    line; 2: the lines only; 0: nothing."""
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.realloc import reallocate

    model, ids = tiny
    before = model.get_table()
    try:
        reallocate(model, ids, batch_size=2, bptt=5, solver="greedy", statistics=statistics, verbose=1)
    finally:
        model.set_table(before)
    out = capsys.readouterr().out
    windows = int(stream_dataset(ids, 2, 5).cardinality())
    assert "reallocation: loss statistics" in out
    assert f"{windows}/{windows}" in out and "window" in out
    assert out.index(f"{windows}/{windows}") < out.index("reallocation: matching 10 words to 4x3 cells (greedy solver")
    reallocate(model, ids, batch_size=2, bptt=5, solver="greedy", statistics=statistics, verbose=2)  # logs
    model.set_table(before)
    out = capsys.readouterr().out
    assert "reallocation: matching" in out and "window" not in out
    reallocate(model, ids, batch_size=2, bptt=5, solver="greedy", statistics=statistics)
    model.set_table(before)
    assert capsys.readouterr().out == ""


def test_callback_reallocates_in_fit(tiny):
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    _, ids = tiny
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.0)
    model.compile(optimizer="adam")
    callback = ReallocationCallback(ids, every=1, rounds=1, batch_size=2, bptt=5, solver="greedy", verbose=0)
    start = model.get_table()
    history = model.fit(stream_dataset(ids, 2, 5), epochs=2, callbacks=[callback], verbose=0, shuffle=False)
    assert len(callback.reports) == 1 and callback.reports[0]["epoch"] == 1
    assert history.history["realloc_moved"] == [callback.reports[0]["moved"]]
    assert model.get_table().moved(start) == callback.reports[0]["moved"]


@pytest.mark.parametrize("max_tokens, tokens_per_word, sample", [
    (0, 3, 30),       # 3 tokens a word of |V| = 10: the beginnings of the 2 rows, 15 ids each
    (0, 1000, 0),     # more than the text: all of it
    (0, 0, 0),        # 0: all
    (24, 3, 24),      # max_tokens, when given, wins
])
def test_callback_statistics_read_tokens_per_word(tiny, max_tokens, tokens_per_word, sample):
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    _, ids = tiny
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.0)
    model.compile(optimizer="adam")
    callback = ReallocationCallback(ids, every=1, rounds=1, batch_size=2, bptt=5, solver="greedy", verbose=0,
                                    max_tokens=max_tokens, tokens_per_word=tokens_per_word)
    model.fit(stream_dataset(ids, 2, 5), epochs=2, callbacks=[callback], verbose=0, shuffle=False)
    read = row_beginnings(ids, 2, sample)
    assert sample == 0 or len(read) == sample < len(ids)
    assert callback.reports[0]["tokens"] == 2 * (len(read) // 2 - 1)  # targets of the B rows read
    # by default, words that are the target fewer than 3 times in what was read get no costs
    assert callback.reports[0]["min_count"] == 3
    assert callback.reports[0]["rare_words"] == (np.bincount(reference_targets(read, 2), minlength=10) < 3).sum()
    with pytest.raises(LightRNNError, match="tokens_per_word"):
        ReallocationCallback(ids, tokens_per_word=-1)


class _Budget:
    """A `TimeBudget` stand-in: `seconds` in all, `spent` so far."""

    def __init__(self, seconds, spent):
        self.seconds, self.spent = seconds, spent

    def elapsed(self):
        return self.spent


@pytest.mark.parametrize("left, reallocates", [(1e6, True), (1e-3, False)])
def test_callback_skips_a_reallocation_the_time_budget_cannot_recover_from(tiny, left, reallocates, capsys):
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    _, ids = tiny
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.0)
    model.compile(optimizer="adam")
    callback = ReallocationCallback(ids, every=1, rounds=1, batch_size=2, bptt=5, verbose=1,
                                    time_budget=_Budget(1e6, 1e6 - left))
    start = model.get_table()
    model.fit(stream_dataset(ids, 2, 5), epochs=2, callbacks=[callback], verbose=0)
    assert len(callback.reports) == int(reallocates)
    assert len(callback.skipped) == int(not reallocates)
    if not reallocates:
        assert model.get_table().moved(start) == 0
        skipped = callback.skipped[0]
        assert skipped["epoch"] == 1 and skipped["seconds_left"] == pytest.approx(left)
        assert skipped["seconds_left"] < skipped["epoch_seconds"] + skipped["realloc_seconds_estimate"]
        # none fitted: the message says what would let one in
        assert "none has fitted: shorter epochs (--steps-per-epoch" in capsys.readouterr().out
    restored = ReallocationCallback(ids)
    restored.set_state(callback.get_state())
    assert restored.skipped == callback.skipped and restored.reports == callback.reports


def test_later_reallocations_need_recovery_epochs_of_budget():
    """The first reallocation needs one epoch of budget after it, a later one `recovery_epochs`:
    the seconds an epoch takes times the epochs needed, plus the reallocation's own seconds."""
    from lightrnn_tf.realloc import ReallocationCallback

    callback = ReallocationCallback(np.arange(10), source="epoch", recovery_epochs=2,
                                    time_budget=_Budget(100.0, 100.0 - 12.0))
    assert callback.too_late(10.0) is None  # first: 12 s >= 1 * 10 s + 0.1 * 10 s
    callback.reports = [{"seconds": 1.0}]
    reason = callback.too_late(10.0)  # second: 12 s < 2 * 10 s + 1 s
    assert reason == {"seconds_left": 12.0, "epoch_seconds": 10.0, "epochs_needed": 2, "realloc_seconds_estimate": 1.0}
    assert ReallocationCallback(np.arange(10), recovery_epochs=1, time_budget=_Budget(100.0, 100.0 - 12.0),
                                source="epoch").too_late(10.0) is None
    callback.time_budget = _Budget(100.0, 100.0 - 21.0)
    assert callback.too_late(10.0) is None  # 21 s >= 2 * 10 s + 1 s
    with pytest.raises(LightRNNError, match="recovery_epochs"):
        ReallocationCallback(np.arange(10), recovery_epochs=0)


@pytest.mark.parametrize("epochs, recovery, after", [(4, 2, [1, 2]), (4, 1, [1, 2, 3]), (5, 3, [1, 2]), (2, 2, [1])])
def test_later_reallocations_need_recovery_epochs_of_fit(tiny, epochs, recovery, after):
    """Without a budget the epochs of the `fit` count: reallocating after every epoch, the first
    needs one epoch after it, a later one `recovery` epochs."""
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    _, ids = tiny
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.0)
    model.compile(optimizer="adam")
    callback = ReallocationCallback(ids, every=1, rounds=0, batch_size=2, bptt=5, verbose=0, recovery_epochs=recovery)
    model.fit(stream_dataset(ids, 2, 5), epochs=epochs, callbacks=[callback], verbose=0)
    assert [r["epoch"] for r in callback.reports] == after


def test_plot_table_lists_row_mates(tmp_path):
    from lightrnn_tf.realloc import plot_table

    words = [f"w{i}" for i in range(10)]
    table = WordTable.sequential(10, 4, 3)  # row 0: w0 w1 w2
    text = plot_table(table, words, str(tmp_path / "preview.txt"), n=2)
    assert "row     0: w0 w1 w2" in text
    assert (tmp_path / "preview.txt").read_text() == text


def test_kept_table_reports_its_own_gap(tiny, monkeypatch):
    """From the optimal table greedy cannot improve: `reallocate` keeps the table, and the report's
    objective, gap and gap_rel are those of the kept table (gap_rel was once left stale). The
    statistics are frozen (they depend on the table through the current-row approximation)."""
    from lightrnn_tf import realloc

    model, ids = tiny
    before = model.get_table()
    row_loss, col_loss, n = realloc.loss_statistics(model, ids, 2, 5)
    monkeypatch.setattr(realloc, "loss_statistics", lambda *args, **kwargs: (row_loss, col_loss, n))
    _, cells = linear_sum_assignment(full_matrix(row_loss, col_loss))  # SciPy's optimal table
    optimal_table = WordTable.from_cells(cells, model.rows, model.cols)
    greedy_table, _ = solve(DenseCosts(row_loss, col_loss), optimal_table, solver="greedy", k=1)
    optimal, greedy = table_cost(row_loss, col_loss, optimal_table), table_cost(row_loss, col_loss, greedy_table)
    assert greedy > optimal + 1e-6  # the premise: greedy is worse here
    bound = float((row_loss.min(1) + col_loss.min(1)).sum())
    try:
        model.set_table(optimal_table)
        report = realloc.reallocate(model, ids, batch_size=2, bptt=5, solver="greedy", k=1)
        assert report["kept_current"] and report["moved"] == 0
        assert list(model.get_table().word_cell) == list(optimal_table.word_cell)
        assert report["objective_after"] == pytest.approx(optimal, rel=1e-9)
        assert report["gap"] == pytest.approx(optimal - bound, rel=1e-9)
        assert report["gap_rel"] == pytest.approx((optimal - bound) / bound, rel=1e-9)
    finally:
        model.set_table(before)


# === Factored statistics (|V| = 1M within memory) ===

def trained_looking_heads(model, seed):
    """Random head biases (a fresh Dense has zero bias) and 4x larger head kernels (peaked
    distributions, where sum lse and sum logits nearly cancel), as after training."""
    rng = np.random.default_rng(seed)
    for head in (model.softmax.row_head, model.softmax.col_head):
        head.bias.assign(rng.normal(0.0, 2.0, head.bias.shape).astype(np.float32))
        head.kernel.assign(4.0 * head.kernel.numpy())


@pytest.fixture(scope="module")
def tiny_trained():
    from lightrnn_tf.model import LightRNNModel

    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, num_layers=2,
                          dropout=0.0, table_seed=5)
    trained_looking_heads(model, 0)
    ids = np.random.default_rng(0).integers(0, 10, size=41).astype(np.int32)
    return model, ids


@pytest.mark.parametrize("max_tokens", [0, 25])
def test_factored_statistics_equal_numpy_reference_and_dense(tiny_trained, max_tokens):
    """`FactoredCosts` rebuilds L_r and L_c from per-word sums: the same numbers as the float64
    NumPy recomputation (to float32 rounding of the forward pass) and as the dense accumulators."""
    from lightrnn_tf.realloc import FactoredCosts, factored_statistics, loss_statistics

    model, ids = tiny_trained
    costs, n = factored_statistics(model, ids, batch_size=2, bptt=5, max_tokens=max_tokens)
    assert isinstance(costs, FactoredCosts)
    assert (costs.vocab_size, costs.rows, costs.cols) == (10, 4, 3)
    row, col = costs.row_costs(slice(0, 10)), costs.col_costs(slice(0, 10))
    ref_row, ref_col, ref_n = reference_statistics(model, row_beginnings(ids, 2, max_tokens), 2)
    assert n == ref_n and row.dtype == np.float64
    np.testing.assert_allclose(row, ref_row, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(col, ref_col, rtol=1e-5, atol=1e-5)
    dense_row, dense_col, dense_n = loss_statistics(model, ids, 2, 5, max_tokens)
    assert dense_n == n
    np.testing.assert_allclose(row, dense_row, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(col, dense_col, rtol=1e-6, atol=1e-6)
    assert np.array_equal(costs.counts, np.bincount(reference_targets(row_beginnings(ids, 2, max_tokens), 2),
                                                    minlength=10))
    words = np.array([7, 2, 2, 0])  # any order, repeats: the rows of those words
    np.testing.assert_array_equal(costs.row_costs(words), row[words])
    np.testing.assert_array_equal(costs.col_costs(words), col[words])


def test_cell_costs_equal_the_matrix_entries(tiny_trained):
    """Each word's cost in one given cell: the factored `O(V H)` formula, the dense arrays and the
    block-by-block fallback for costs without `cell_costs` all pick `L_r[w, i_w] + L_c[w, j_w]`."""
    from lightrnn_tf.assignment import DenseCosts, cell_costs
    from lightrnn_tf.realloc import factored_statistics

    model, ids = tiny_trained
    costs, _ = factored_statistics(model, ids, batch_size=2, bptt=5)
    row, col = costs.row_costs(slice(None)), costs.col_costs(slice(None))
    rng = np.random.default_rng(3)
    word_row, word_col = rng.integers(0, 4, 10), rng.integers(0, 3, 10)
    expected = np.array([row[w, word_row[w]] + col[w, word_col[w]] for w in range(10)])

    class RowsOnly:  # the costs interface without cell_costs
        vocab_size, rows, cols = 10, 4, 3
        row_costs, col_costs = costs.row_costs, costs.col_costs

    for source in (costs, DenseCosts(row, col), RowsOnly()):
        np.testing.assert_allclose(cell_costs(source, word_row, word_col), expected, rtol=1e-12, atol=1e-9)


def reference_targets(ids, batch_size):
    """The target ids the statistics read: every stream's tokens after its first."""
    data = np.asarray(ids)[: batch_size * (len(ids) // batch_size)].reshape(batch_size, -1)
    return data[:, 1:].ravel()


@pytest.fixture(scope="module")
def small():
    """V = 200 in a 15x14 table (10 empty cells), one layer, Zipf-like ids over 120 words only:
    80 words never occur (their costs must be exactly zero)."""
    from lightrnn_tf.model import LightRNNModel

    model = LightRNNModel(vocab_size=200, rows=15, cols=14, embedding_dim=16, hidden_dim=16, num_layers=1,
                          dropout=0.0, table_seed=3)
    trained_looking_heads(model, 1)
    p = 1.0 / np.arange(1, 121)
    ids = np.random.default_rng(1).choice(120, size=3000, p=p / p.sum()).astype(np.int32)
    return model, ids


def test_factored_equals_dense_on_a_larger_table(small):
    from lightrnn_tf.realloc import factored_statistics, loss_statistics

    model, ids = small
    costs, n = factored_statistics(model, ids, 4, 7)
    dense_row, dense_col, dense_n = loss_statistics(model, ids, 4, 7)
    assert n == dense_n
    row, col = costs.row_costs(slice(None)), costs.col_costs(slice(None))
    scale = max(np.abs(dense_row).max(), np.abs(dense_col).max())
    np.testing.assert_allclose(row, dense_row, rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(col, dense_col, rtol=1e-6, atol=1e-9 * scale)
    unseen = costs.counts == 0
    assert unseen.sum() >= 80 and not row[unseen].any() and not col[unseen].any()
    assert not dense_row[unseen].any()
    assert costs.nbytes == 8 * 200 * (2 * 16 + 3)


@pytest.mark.parametrize("solver,k", [("greedy", 1), ("greedy", 8), ("sparse", 2), ("dense", 8)])
def test_reallocate_same_table_with_either_statistics(small, solver, k):
    """The same table, objective and report whichever representation holds the statistics
    (greedy with k = 1 reads most words through its full-row fallback). Words that never occur
    cost zero in every cell: the exact solvers may permute them differently (their integer costs
    differ by rounding, so OR-Tools breaks those ties differently), greedy may not."""
    from lightrnn_tf.realloc import reallocate

    model, ids = small
    start = model.get_table()
    results = {}
    try:
        for kind in ("dense", "factored"):
            model.set_table(start)
            report = reallocate(model, ids, batch_size=4, bptt=7, solver=solver, k=k, statistics=kind)
            results[kind] = (model.get_table().word_cell.copy(), report)
    finally:
        model.set_table(start)
    (dense_cells, dense), (factored_cells, factored) = results["dense"], results["factored"]
    assert dense["statistics"] == "dense" and factored["statistics"] == "factored"
    assert dense["statistics_mb"] * 2**20 == 8 * 200 * (15 + 14)
    assert factored["statistics_mb"] * 2**20 == 8 * 200 * (2 * 16 + 3)
    assert dense["moved"] > 0
    seen = np.bincount(reference_targets(ids, 4), minlength=200) > 0
    np.testing.assert_array_equal(factored_cells[seen], dense_cells[seen])
    if solver == "greedy":
        np.testing.assert_array_equal(factored_cells, dense_cells)
    for key in ("objective_before", "objective_after", "lower_bound"):
        assert factored[key] == pytest.approx(dense[key], rel=1e-7)  # float32 rounding of the dense sums
    assert factored["tokens"] == dense["tokens"]
    if solver == "greedy":
        assert factored["moved"] == dense["moved"]


def test_auto_statistics_switches_on_accumulator_size(monkeypatch):
    from types import SimpleNamespace

    from lightrnn_tf import realloc

    big = SimpleNamespace(vocab_size=1_000_000, rows=1000, cols=1000, hidden_dim=64)
    assert realloc.statistics_bytes(big) == {"dense": 16_000_000_000, "factored": 1_048_000_000}
    assert realloc.choose_statistics(big) == "factored"
    assert realloc.choose_statistics(big, "dense") == "dense"
    wide = SimpleNamespace(vocab_size=1_000_000, rows=1000, cols=1000, hidden_dim=1024)  # 2H + 3 > R + C
    assert realloc.choose_statistics(wide) == "dense"
    small = SimpleNamespace(vocab_size=10_000, rows=100, cols=100, hidden_dim=64)
    assert realloc.choose_statistics(small) == "dense"
    monkeypatch.setattr(realloc, "DENSE_STATS_MAX_BYTES", 0)
    assert realloc.choose_statistics(small) == "factored"
    with pytest.raises(LightRNNError, match="statistics"):
        realloc.choose_statistics(small, "sparse")


def test_auto_statistics_reach_reallocate_and_the_callback(tiny, monkeypatch):
    """`statistics="auto"` is the default of `reallocate` and `ReallocationCallback`, so training
    gets the factored statistics above the threshold without a new code path."""
    from lightrnn_tf import realloc

    model, ids = tiny
    start = model.get_table()
    try:
        assert realloc.reallocate(model, ids, batch_size=2, bptt=5, solver="greedy")["statistics"] == "dense"
        monkeypatch.setattr(realloc, "DENSE_STATS_MAX_BYTES", 0)  # V=10: 2H + 3 = 19 > R + C = 7, dense smaller
        assert realloc.reallocate(model, ids, batch_size=2, bptt=5, solver="greedy")["statistics"] == "dense"
        callback = realloc.ReallocationCallback(ids, batch_size=2, bptt=5, statistics="factored", verbose=0)
        assert callback.kwargs["statistics"] == "factored"
        assert realloc.ReallocationCallback(ids).kwargs["statistics"] == "auto"
        callback.set_model(model)
        model.stop_training = False  # as `fit` sets it
        callback.on_epoch_end(0, {"loss": 1.0})
        assert callback.reports[0]["statistics"] == "factored"
    finally:
        model.set_table(start)


def test_reallocate_carries_vectors_with_token_counts(tiny):
    """vectors="carry": the new vectors are `carried_vectors` of the old ones with the statistics
    tokens' counts as weights (NumPy reference); "keep" leaves them; a bad value is refused."""
    from lightrnn_tf.errors import LightRNNError
    from lightrnn_tf.layers import carried_vectors
    from lightrnn_tf.realloc import reallocate

    model, ids = tiny
    before = model.get_table()
    emb = model.embedding
    rows0, cols0 = emb.row_embeddings.numpy().copy(), emb.col_embeddings.numpy().copy()
    try:
        report = reallocate(model, ids, batch_size=2, bptt=5, solver="dense", max_tokens=30, vectors="carry")
        after = model.get_table()
        assert report["moved"] == after.moved(before) > 0
        counts = np.bincount(row_beginnings(ids, 2, 30), minlength=10).astype(float)
        np.testing.assert_allclose(emb.row_embeddings.numpy(),
                                   carried_vectors(rows0, before.word_row, after.word_row, counts), atol=1e-6)
        np.testing.assert_allclose(emb.col_embeddings.numpy(),
                                   carried_vectors(cols0, before.word_col, after.word_col, counts), atol=1e-6)
        assert not np.allclose(emb.row_embeddings.numpy(), rows0)
        emb.row_embeddings.assign(rows0)
        emb.col_embeddings.assign(cols0)
        model.set_table(before)
        reallocate(model, ids, batch_size=2, bptt=5, solver="dense", vectors="keep")
        np.testing.assert_array_equal(emb.row_embeddings.numpy(), rows0)
        with pytest.raises(LightRNNError, match="`vectors`.*'move'"):
            reallocate(model, ids, batch_size=2, bptt=5, vectors="move")
    finally:
        emb.row_embeddings.assign(rows0)
        emb.col_embeddings.assign(cols0)
        model.set_table(before)


# === Statistics gathered in the training epoch (source="epoch") ===

class _Peek(keras.callbacks.Callback):
    """Before the reallocation callback: the costs it gathered, and whether the model was gathering."""

    def __init__(self, realloc):
        super().__init__()
        self.realloc, self.costs, self.gathering = realloc, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.gathering.append(None)

    def on_train_batch_end(self, batch, logs=None):
        self.gathering[-1] = self.model.epoch_statistics is not None

    def on_epoch_end(self, epoch, logs=None):
        stats = self.realloc.epoch_statistics
        self.costs.append((stats.costs(self.model), stats.tokens()))


def test_epoch_statistics_equal_the_numpy_reference_when_the_weights_stay(tiny_trained):
    """With the learning rate 0 and no dropout, training reads exactly what a pass reads: the sums
    `train_step` gathered give the float64 NumPy reference's L_r and L_c, and the reallocation uses them."""
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.realloc import ReallocationCallback

    model, ids = tiny_trained
    before = model.get_table()
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    realloc = ReallocationCallback(ids, every=1, rounds=1, batch_size=2, bptt=5, source="epoch", verbose=0)
    peek = _Peek(realloc)
    try:
        model.fit(stream_dataset(ids, 2, 5), epochs=2, callbacks=[peek, realloc], verbose=0)
        (costs, tokens), _ = peek.costs
        ref_row, ref_col, ref_n = reference_statistics(model_with_table(model, before), ids, 2)
        assert tokens == ref_n == realloc.reports[0]["tokens"]
        np.testing.assert_allclose(costs.row_costs(slice(None)), ref_row, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(costs.col_costs(slice(None)), ref_col, rtol=1e-5, atol=1e-5)
        assert realloc.reports[0]["source"] == "epoch" and realloc.reports[0]["statistics"] == "factored"
        # gathering in epoch 1 only (rounds=1), and not after fit
        assert peek.gathering == [True, False] and model.epoch_statistics is None
    finally:
        model.set_table(before)


def model_with_table(model, table):
    """`model` with `table` installed (the reference reads the table the statistics were gathered with)."""
    model.set_table(table)
    return model


def test_epoch_statistics_are_the_epoch_before_each_reallocation(tiny):
    """Each reallocation reads one epoch of targets, gathered with the table of that epoch, and
    gathering stops after the last round."""
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    _, ids = tiny
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.3)
    model.compile(optimizer="adam")
    realloc = ReallocationCallback(ids, every=1, rounds=2, batch_size=2, bptt=5, source="epoch", verbose=0)
    peek = _Peek(realloc)
    model.fit(stream_dataset(ids, 2, 5), epochs=4, callbacks=[peek, realloc], verbose=0)
    per_epoch = 2 * (len(ids) // 2 - 1)
    assert [r["tokens"] for r in realloc.reports] == [per_epoch, per_epoch]
    assert [t for _, t in peek.costs] == [per_epoch, per_epoch, 0, 0]
    assert peek.gathering == [True, True, False, False]


def test_epoch_source_errors_are_one_line(tiny):
    from lightrnn_tf.config import TrainConfig
    from lightrnn_tf.errors import LightRNNError
    from lightrnn_tf.realloc import EpochStatistics, ReallocationCallback, reallocate

    model, ids = tiny
    with pytest.raises(LightRNNError, match="needs statistics gathered in training"):
        reallocate(model, ids, batch_size=2, bptt=5, source="epoch")
    model.set_epoch_statistics(EpochStatistics(model.vocab_size, model.hidden_dim))
    try:
        with pytest.raises(LightRNNError, match="no training window was read"):
            reallocate(model, ids, batch_size=2, bptt=5, source="epoch")
    finally:
        model.set_epoch_statistics(None)
    with pytest.raises(LightRNNError, match="expected one of"):
        ReallocationCallback(ids, source="train")
    with pytest.raises(LightRNNError, match="--realloc-tokens") as err:
        TrainConfig(realloc_source="epoch", realloc_tokens=100).validate()
    assert "\n" not in str(err.value)
    with pytest.raises(LightRNNError, match="not multiworker"):
        TrainConfig(realloc_source="epoch", strategy="multiworker").validate()


def test_tokens_per_word_config_round_trip_and_older_runs():
    """A config.json written before `realloc_tokens_per_word` and `realloc_min_count` existed resumes
    with every token and every word counted, as it started; a new one keeps its values; a negative
    value is one line."""
    import dataclasses

    from lightrnn_tf.config import ModelConfig, TrainConfig, from_json, to_json

    new = TrainConfig()
    loaded = from_json(to_json(ModelConfig(vocab_size=10), new))[1]
    assert (loaded.realloc_tokens_per_word, loaded.realloc_min_count) == (20.0, 3)
    doc = json.loads(to_json(ModelConfig(vocab_size=10), new))
    del doc["train"]["realloc_tokens_per_word"], doc["train"]["realloc_min_count"]
    old = from_json(json.dumps(doc))[1]
    assert (old.realloc_tokens_per_word, old.realloc_min_count) == (0.0, 0)
    assert dataclasses.replace(old, realloc_tokens_per_word=20.0, realloc_min_count=3) == new
    doc = json.loads(to_json(ModelConfig(vocab_size=10), new))
    del doc["train"]["realloc_min_count"]  # written between the two changes
    assert from_json(json.dumps(doc))[1].realloc_min_count == 0
    assert new.ema_momentum == 0.99
    doc = json.loads(to_json(ModelConfig(vocab_size=10), new))
    del doc["train"]["ema_momentum"]  # written before --ema-momentum existed: trained without the average
    assert from_json(json.dumps(doc))[1].ema_momentum == 0.0
    del doc["train"]["lr_cooldown"]  # written before --lr-cooldown existed: no cooldown
    assert from_json(json.dumps(doc))[1].lr_cooldown == 0.0
    with pytest.raises(LightRNNError, match="realloc_tokens_per_word") as err:
        TrainConfig(realloc_tokens_per_word=-1.0).validate()
    assert "\n" not in str(err.value)


# === Rare words without costs (min_count) ===

def test_rare_word_costs_solve_the_matrix_with_rare_rows_zeroed():
    """`RareWordCosts` is the definition: rows of words counted fewer than min_count times are zero
    in L_r and L_c; the dense solver over it reaches SciPy's optimum of that matrix."""
    from lightrnn_tf.assignment import RareWordCosts, cell_costs

    v, rows, cols = 60, 8, 8
    row, col = lightrnn_costs(v, rows, cols, seed=5)
    counts = np.random.default_rng(2).integers(0, 6, size=v)
    costs = RareWordCosts(DenseCosts(row, col), counts, 3)
    rare = counts < 3
    assert 0 < rare.sum() < v
    zero_row, zero_col = np.where(rare[:, None], 0.0, row), np.where(rare[:, None], 0.0, col)
    np.testing.assert_array_equal(costs.row_costs(slice(None)), zero_row)
    np.testing.assert_array_equal(costs.col_costs(np.arange(v)[::-1]), zero_col[::-1])
    start = WordTable.random(v, rows, cols, seed=1)
    np.testing.assert_array_equal(cell_costs(costs, start.word_row, start.word_col),
                                  table_cost_per_word(zero_row, zero_col, start))
    table, report = solve(costs, start, solver="dense")
    assert report["objective_after"] == pytest.approx(scipy_optimum(zero_row, zero_col), rel=1e-6)
    assert table_cost(zero_row, zero_col, table) == pytest.approx(report["objective_after"], rel=1e-9)
    # the rare words, ties of the matching, fill the cells the others left, in id and row-major order
    free = np.setdiff1d(np.arange(rows * cols), table.word_cell[~rare])
    np.testing.assert_array_equal(table.word_cell[rare], free[: rare.sum()])
    assert report["free_words"] == rare.sum()
    # so the table does not depend on where the solver started or on which optimum it found first
    other, _ = solve(costs, WordTable.random(v, rows, cols, seed=9), solver="dense")
    np.testing.assert_array_equal(other.word_cell, table.word_cell)
    # min_count 0 changes nothing; 1 only zeroes words never read (whose real statistics are zero anyway)
    np.testing.assert_array_equal(RareWordCosts(DenseCosts(row, col), counts, 0).row_costs(slice(None)), row)
    np.testing.assert_array_equal(RareWordCosts(DenseCosts(row, col), counts, 1).row_costs(slice(None)),
                                  np.where(counts[:, None] == 0, 0.0, row))


def table_cost_per_word(row, col, table):
    at = np.arange(len(row))
    return row[at, table.word_row] + col[at, table.word_col]


@pytest.mark.parametrize("solver", ["greedy", "sparse"])
def test_reallocate_min_count_reads_target_counts_with_either_statistics(small, solver):
    """The rare words are those that are the target fewer than min_count times in the pass (each
    stream row's first token is no target), the same for dense and factored statistics; they take
    the cells left over (in id order with the exact solver), so both give the same table."""
    from lightrnn_tf.realloc import reallocate

    model, ids = small
    start = model.get_table()
    counts = np.bincount(reference_targets(ids, 4), minlength=200)
    results = {}
    try:
        for kind in ("dense", "factored"):
            model.set_table(start)
            report = reallocate(model, ids, batch_size=4, bptt=7, solver=solver, k=2, statistics=kind, min_count=3)
            results[kind] = (model.get_table(), report)
        model.set_table(start)
        plain = reallocate(model, ids, batch_size=4, bptt=7, solver=solver, k=2, statistics="dense")
    finally:
        model.set_table(start)
    (dense_table, dense), (factored_table, factored) = results["dense"], results["factored"]
    rare = counts < 3
    assert dense["rare_words"] == factored["rare_words"] == rare.sum() > 80  # 80 never occur, more are rare
    assert dense["min_count"] == 3 and plain["rare_words"] == 0
    assert dense["objective_after"] == pytest.approx(factored["objective_after"], rel=1e-7)
    assert dense["objective_after"] < plain["objective_after"]  # the rare words' losses are not counted
    # ... which the report gives beside them: every word's own costs, from the independent NumPy reference
    row_loss, col_loss, _ = reference_statistics(model, ids, 4)
    words = np.arange(200)
    for table, report in ((dense_table, dense), (factored_table, factored)):
        for key, t in (("objective_before_all_words", start), ("objective_after_all_words", table)):
            want = (row_loss[words, t.word_row] + col_loss[words, t.word_col]).sum()
            assert report[key] == pytest.approx(want, rel=1e-5), key
    assert "objective_after_all_words" not in plain
    np.testing.assert_array_equal(dense_table.word_cell, factored_table.word_cell)
    # rare words come last: they fill the rows the others left room in, lowest row first
    cells = dense_table.word_cell[rare]
    free = np.setdiff1d(np.arange(15 * 14), dense_table.word_cell[~rare])
    np.testing.assert_array_equal(np.sort(cells), free[: rare.sum()])
    if solver == "sparse":  # the exact solver places them in id order: no tie-break decides
        np.testing.assert_array_equal(cells, free[: rare.sum()])
        assert dense["free_words"] == rare.sum()


def test_min_count_errors_are_one_line(tiny):
    from lightrnn_tf.assignment import RareWordCosts
    from lightrnn_tf.config import TrainConfig
    from lightrnn_tf.realloc import reallocate

    model, ids = tiny
    with pytest.raises(LightRNNError, match="min_count.*got -1"):
        reallocate(model, ids, batch_size=2, bptt=5, min_count=-1)
    with pytest.raises(LightRNNError, match="realloc_min_count.*got -2"):
        TrainConfig(realloc_min_count=-2).validate()
    with pytest.raises(LightRNNError, match=r"counts must have shape \(2,\)"):
        RareWordCosts(DenseCosts(np.zeros((2, 2)), np.zeros((2, 1))), np.zeros(3), 2)


def test_the_callback_checks_its_model_and_ids_before_training():
    """A model without a word table, a dataset instead of ids, or too few ids: refused when the
    callback is made or given the model, not after an epoch of training."""
    from lightrnn_tf.baselines import FullSoftmaxLSTM
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.realloc import ReallocationCallback

    ids = np.arange(200) % 12
    with pytest.raises(LightRNNError, match="not a dataset"):
        ReallocationCallback(stream_dataset(ids, 2, 5), batch_size=2, bptt=5)
    with pytest.raises(LightRNNError, match="too few for batch size 20"):
        ReallocationCallback(ids[:30], batch_size=20, bptt=5)
    lstm = FullSoftmaxLSTM(12, embedding_dim=4, hidden_dim=4)
    lstm.compile()
    with pytest.raises(LightRNNError, match="a FullSoftmaxLSTM has none"):
        lstm.fit(stream_dataset(ids, 2, 5), epochs=1, verbose=0,
                 callbacks=[ReallocationCallback(ids, batch_size=2, bptt=5, verbose=0)])


def test_the_callback_checks_the_range_and_type_of_its_ids_before_training():
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    ids = np.arange(200) % 12
    with pytest.raises(LightRNNError, match=r"ReallocationCallback\(ids\): word ids must be >= 0, got -1"):
        ReallocationCallback(np.where(ids == 3, -1, ids), batch_size=2, bptt=5)
    with pytest.raises(LightRNNError, match=r"ReallocationCallback\(valid_ids\): word ids must be integers"):
        ReallocationCallback(ids, batch_size=2, bptt=5, valid_ids=ids + 0.5)
    model = LightRNNModel(10, embedding_dim=4, hidden_dim=4)
    model.compile(optimizer="adam")
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(LightRNNError, match=r"word ids must lie in \[0, 10\), the model's vocabulary, got ids up to 11"):
        model.fit(stream_dataset(ids % 10, 2, 5), epochs=1, verbose=0,
                  callbacks=[ReallocationCallback(ids, batch_size=2, bptt=5, verbose=0)])
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))  # nothing trained


def test_epoch_statistics_are_read_before_the_heads_dropout(monkeypatch):
    """With dropout 0.5 before the heads (the LSTM stack's own dropout switched off here, so that
    nothing else in training differs from inference) and the learning rate 0, the sums `train_step`
    gathers give the inference-mode float64 NumPy reference's L_r and L_c: the statistics read the
    states before the heads' dropout, not the dropped ones the heads are trained on."""
    from lightrnn_tf import model as model_module
    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback

    def stack_without_dropout(self, seq, state, training):
        return model_module.run_lstm_stack(self.lstms, lambda x, training=False: x, seq, state, training,
                                           self.weight_dropout)

    monkeypatch.setattr(LightRNNModel, "_run_stack", stack_without_dropout)
    keras.utils.set_random_seed(0)
    model = LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, num_layers=2,
                          dropout=0.5, table_seed=5)
    trained_looking_heads(model, 0)
    ids = np.random.default_rng(0).integers(0, 10, size=41).astype(np.int32)
    # the heads' dropout is on in training: the training-mode log-probs differ from inference
    y, state = ids[None, 1:6], model.start_state(ids[:1])
    assert not np.allclose(model.target_log_probs(y, state, training=True)[0],
                           model.target_log_probs(y, state)[0], atol=1e-3)
    before = model.get_table()
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    realloc = ReallocationCallback(ids, every=1, rounds=1, batch_size=2, bptt=5, source="epoch", verbose=0)
    peek = _Peek(realloc)
    model.fit(stream_dataset(ids, 2, 5), epochs=2, callbacks=[peek, realloc], verbose=0)
    (costs, tokens), _ = peek.costs
    ref_row, ref_col, ref_n = reference_statistics(model_with_table(model, before), ids, 2)
    assert tokens == ref_n and peek.gathering[0]
    np.testing.assert_allclose(costs.row_costs(slice(None)), ref_row, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(costs.col_costs(slice(None)), ref_col, rtol=1e-5, atol=1e-5)


def test_statistics_passes_trace_once_and_follow_the_table(tiny):
    """Every reallocation's statistics pass reuses one traced function per model (a new one each pass
    was traced again, and TensorFlow warned about retracing), and it still reads the current table
    and weights: after a new table and new weights, the sums equal a fresh model's with the same ones."""
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import loss_statistics

    _, ids = tiny

    def make():
        return LightRNNModel(vocab_size=10, rows=4, cols=3, embedding_dim=8, hidden_dim=8, dropout=0.0)

    model = make()
    first = loss_statistics(model, ids, 2, 5)
    ((window, _),) = model._statistics_windows.values()
    traced = window.experimental_get_tracing_count()
    table = WordTable.random(10, 4, 3, seed=5)
    model.set_table(table)
    model.set_weights([w + 0.1 * np.random.default_rng(0).normal(size=w.shape).astype(w.dtype)
                       if w.dtype.kind == "f" else w for w in model.get_weights()])
    again = loss_statistics(model, ids, 2, 5)
    assert window.experimental_get_tracing_count() == traced and len(model._statistics_windows) == 1
    fresh = make()
    fresh.set_weights(model.get_weights())
    want = loss_statistics(fresh, ids, 2, 5)
    for got, ref, before in zip(again[:2], want[:2], first[:2]):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
        assert not np.allclose(got, before)


def test_fit_one_epoch_at_a_time_warns_that_it_never_reallocates(tiny_model):
    """`fit(epochs=1)` in a loop: its one epoch is always the last, which reallocates only with
    `after_last_epoch=True`; the callback says so once instead of never reallocating silently."""
    import warnings

    from lightrnn_tf.data import stream_dataset
    from lightrnn_tf.realloc import ReallocationCallback

    ids = np.random.default_rng(0).integers(0, 10, 81).astype(np.int32)
    model = tiny_model(layers=1)
    model.compile(optimizer="adam")
    cb = ReallocationCallback(ids, every=1, batch_size=2, bptt=6, verbose=0)
    with pytest.warns(UserWarning, match="no reallocation after epoch 1, the one epoch of this fit: .* pass after_last_epoch=True"):
        model.fit(stream_dataset(ids, 2, 6), epochs=1, verbose=0, callbacks=[cb])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="ReallocationCallback")  # once
        model.fit(stream_dataset(ids, 2, 6), initial_epoch=1, epochs=2, verbose=0, callbacks=[cb])
        assert not cb.reports
        on = ReallocationCallback(ids, every=1, batch_size=2, bptt=6, verbose=0, after_last_epoch=True)
        model.fit(stream_dataset(ids, 2, 6), epochs=1, verbose=0, callbacks=[on])
        assert len(on.reports) == 1
        two = ReallocationCallback(ids, every=1, batch_size=2, bptt=6, verbose=0)
        model.fit(stream_dataset(ids, 2, 6), epochs=2, verbose=0, callbacks=[two])  # reallocates after epoch 1
        assert len(two.reports) == 1
        third = ReallocationCallback(ids, every=3, batch_size=2, bptt=6, verbose=0)
        model.fit(stream_dataset(ids, 2, 6), epochs=3, verbose=0, callbacks=[third])  # a fit of 3 epochs: no warning
        assert not third.reports
