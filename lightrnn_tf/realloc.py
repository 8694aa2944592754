"""Word reallocation: move words to the table cells that minimise the training loss.

Letters: B batch, T window, V words, R rows, C columns, H hidden (the softmax heads' input).

    report = reallocate(model, train_ids, batch_size=20, bptt=35, solver="sparse", k=8)
    model.fit(ds, epochs=6, callbacks=[ReallocationCallback(train_ids, every=2, batch_size=20, bptt=35)])

One forward pass over the training stream (parameters frozen, state carried across windows as in
training) accumulates, for every word w, its summed row losses `L_r[w, i] = sum_t -log P_r(i)` over
the positions t where w is the target, and its column losses `L_c[w, j] = sum_t -log P_c(j)` with
the column distribution conditioned on w's current row (the paper's approximation). Placing w in
cell (i, j) then costs `L_r[w, i] + L_c[w, j]`, and a minimum-cost matching of words to cells
(`lightrnn_tf.assignment`) gives the new table. Row and column vectors keep their values.

Two representations of the same costs (`statistics=`):

- `"dense"` (`loss_statistics`): `L_r (V, R)` and `L_c (V, C)` as float64 arrays, `8 V (R + C)`
  bytes (16 GB at V = 1M).
- `"factored"` (`factored_statistics`): the softmax heads are affine, so with `z_t = h_t W + b`,
  `-log softmax(z_t)_i = lse(z_t) - h_t W_i - b_i`, and summed over w's n_w positions

      L_r[w, :] = sum_t lse_t - (sum_t h_t) W_r - n_w b_r        (the same for columns)

  Only `n_w`, `sum_t lse_t` and `sum_t h_t` are accumulated, `8 V (2 H + 3)` bytes (1 GB at
  V = 1M, H = 64) whatever the number of tokens; `FactoredCosts` rebuilds any block of rows of
  `L_r`, `L_c` on demand (one `(n, H) x (H, R)` product), which is all the solvers read.

`"auto"` (the default everywhere) keeps the dense arrays while they take at most
`DENSE_STATS_MAX_BYTES` (1 GiB, V up to about 150k) or are no larger than the factored ones.

With `source="epoch"` (`EpochStatistics`) the factored sums are instead gathered by `train_step`
while the epoch before the reallocation trains: no pass of their own, worse tables in every run
measured (docs/reallocation.md).
"""

from __future__ import annotations

import contextlib
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from lightrnn_tf import distribute
from lightrnn_tf.assignment import ELEMENTS_PER_BLOCK, DenseCosts, MovePenaltyCosts, RareWordCosts, cell_costs, solve
from lightrnn_tf.data import distribute_windows, stream_dataset, stream_sample, stream_target_counts
from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.fault_injection import kill_point
from lightrnn_tf.table import WordTable

STATISTICS = ("auto", "dense", "factored")
VECTORS = ("keep", "carry")  # what happens to the row and column vectors when words move
SOURCES = ("pass", "epoch")  # where the statistics come from: a pass of their own, or the training epoch
# Without max_tokens, ReallocationCallback's statistics pass reads at most this many training tokens per
# vocabulary word (every token of a smaller text): measured better than every token, and cheaper, on
# the KJV and equal on PTB, which has fewer (docs/reallocation.md).
TOKENS_PER_WORD = 20.0
# ReallocationCallback's default: words that are the target fewer than this many times in the statistics
# get no costs and take the leftover cells together (measured better with every token read, neutral on
# the 20-token sample: docs/reallocation.md).
MIN_COUNT = 3
# ReallocationCallback's default: a reallocation after the first runs only when this many epochs (of the
# fit's epochs, or of its time budget) follow it; the first needs one. On the KJV at 300 s a second
# reallocation with one epoch left cost 3-4 points of the gain over the random table (docs/reallocation.md).
RECOVERY_EPOCHS = 2
DENSE_STATS_MAX_BYTES = 1 << 30  # "auto": dense accumulators up to this size
CACHED_TOTALS_MAX_BYTES = 64 << 20  # several replicas: statistics totals kept between passes up to this size


def _check_ids(ids, name: str) -> np.ndarray:
    """`ids` as a NumPy array if they are integers >= 0 (the model's vocabulary size is checked
    when the callback gets the model); else one line naming the problem."""
    array = np.asarray(ids)
    if not np.issubdtype(array.dtype, np.integer):
        raise LightRNNError(f"ReallocationCallback({name}): word ids must be integers, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise LightRNNError(f"ReallocationCallback({name}): word ids must be >= 0, got {array.min()}")
    return array


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise LightRNNError(f"Received an invalid value for `{name}`, expected one of {allowed}, got {value!r}.")


def _statistics_ids(model, ids, max_tokens, batch_size):
    """The ids a statistics pass reads: all, or `data.stream_sample` of `max_tokens` of them."""
    ids = np.asarray(ids)
    if max_tokens < 0:
        raise LightRNNError(f"Received an invalid value for `max_tokens`, expected >= 0, got {max_tokens}.")
    ids = stream_sample(ids, batch_size, max_tokens)
    if len(ids) and (ids.min() < 0 or ids.max() >= model.vocab_size):
        raise LightRNNError(f"token ids must lie in [0, {model.vocab_size}), got [{ids.min()}, {ids.max()}]")
    return ids


def _statistics_pass(model, ids, batch_size: int, bptt: int, accumulators: dict, window_sums,
                     dtype="float64", verbose: int = 0) -> tuple[dict, int]:
    """The one pass over a token stream behind both kinds of loss statistics.

    Reads `stream_dataset(ids, batch_size, bptt)` with the parameters frozen and the state carried
    across windows, as in training, and adds each window's per-word sums into `(V, ...)` totals.
    On one device they are NumPy arrays on the host. Under a `tf.distribute` strategy with several
    replicas each replica reads its own rows of every window (its own streams) and the totals are
    variables with `SUM` aggregation: each window's sums of all replicas and workers are added to
    every copy, so every worker returns the same totals. (Not variables on one device too: after
    sparse updates TensorFlow copies a variable when it is read, so reading one out would hold the
    totals twice, 1 GB more at |V| = 1M.)

    The window function is traced on a model's first pass only: it is kept per model, strategy,
    kind of sums (`window_sums`' code and what it closes over), accumulator shapes and dtype (a new
    function each pass was traced again at every reallocation, and TensorFlow warned about the
    retracing); what `window_sums` reads of the model must be its variables, which a traced function
    reads afresh every call. Under several replicas the variables are kept with it and zeroed at
    the start of each pass while they take at most `CACHED_TOTALS_MAX_BYTES`; larger ones are made
    for the pass and freed after it, so they do not stay allocated on every device through training
    (the function is then traced again, a second or so against a pass over that many words).

    Args:
        model: a `LightRNNModel`.
        ids: `(N,)` int token ids (checked).
        batch_size: B (the global batch; a multiple of the replicas).
        bptt: T.
        accumulators: `{name: shape}`, each shape `(V, ...)`.
        window_sums: `(y (b, T) int32, state) -> (new_state, words (U,) int32, {name: (U, ...)})`,
            one replica's window: its distinct target words and, per accumulator, their sums.
        dtype: dtype of the totals while they are summed. Default: `"float64"`.
        verbose: 1 shows a Keras progress bar over the windows. Default: `0`.

    Returns:
        `({name: float64 array of its shape}, n_tokens)`.
    """
    strategy = model.distribute_strategy
    dataset = stream_dataset(ids, batch_size, bptt)
    steps = int(dataset.cardinality())
    replicated = strategy.num_replicas_in_sync > 1
    if replicated:
        dataset, steps = distribute_windows(dataset, strategy)
    else:
        totals = {name: np.zeros(shape, np.dtype(dtype)) for name, shape in accumulators.items()}
    stream = model.statistics_stream  # carries each replica's streams across windows
    accs = None  # the replicas' totals: the cached ones, or new ones below

    def accumulate(x, y):  # one replica's rows of a window
        x, y = tf.cast(x, tf.int32), tf.cast(y, tf.int32)
        state = stream.read(lambda: model.start_state(x[:, 0]))
        new_state, words, sums = window_sums(y, state)
        stream.write(new_state)
        if not replicated:
            return words, sums
        for name, value in sums.items():
            accs[name].scatter_add(tf.IndexedSlices(tf.cast(value, dtype), words))
        return None

    # One function (and replicas' totals) per key, traced on its first pass only (see the docstring).
    # It closes over that pass's `accumulate` and `window_sums`: the key holds all they close over
    # that another pass of the model could change.
    cache = model.__dict__.get("_statistics_windows")
    if cache is None:
        cache = {}
        object.__setattr__(model, "_statistics_windows", cache)  # not a tracked (saved) attribute
    key = (strategy, window_sums.__code__, _closure_key(window_sums),
           tuple((name, tuple(shape)) for name, shape in accumulators.items()), tf.as_dtype(dtype).name)
    totals_bytes = sum(int(np.prod(shape)) for shape in accumulators.values()) * tf.as_dtype(dtype).size
    keep = not replicated or totals_bytes <= CACHED_TOTALS_MAX_BYTES  # (one device: totals on the host)
    entry = cache.get(key) if keep else None
    if entry is None:
        if replicated:
            with strategy.scope():  # the replicas' updates of a window are summed, then applied to every copy
                accs = {name: tf.Variable(tf.zeros(shape, dtype), trainable=False, name=name,
                                          aggregation=tf.VariableAggregation.SUM)
                        for name, shape in accumulators.items()}
            fn = lambda x, y: strategy.run(accumulate, args=(x, y))  # noqa: E731
        else:
            fn = accumulate
        entry = (tf.function(fn, reduce_retracing=True), accs)
        if keep:
            cache[key] = entry
    window, accs = entry
    if replicated:
        for acc in accs.values():  # (new ones are zero already; cheap beside the pass)
            acc.assign(tf.zeros(acc.shape, acc.dtype))  # not zeros_like: no read (a copy after sparse updates)
    stream.reset()
    windows = iter(dataset)
    progress = keras.utils.Progbar(steps, unit_name="window") if verbose == 1 else None
    for step in range(steps):
        out = window(*next(windows))
        if not replicated:
            words = out[0].numpy()  # distinct within a window
            for name, value in out[1].items():
                totals[name][words] += value.numpy()
        if not step:
            kill_point("statistics")  # (crash tests)
        if progress is not None:
            progress.update(step + 1)
    stream.reset()
    if replicated:
        totals = {name: acc.numpy() for name, acc in accs.items()}
    n_tokens = batch_size * (len(ids) // batch_size - 1)
    return {name: np.asarray(total, np.float64) for name, total in totals.items()}, n_tokens


def _closure_key(fn) -> tuple:
    """What `fn` closes over: hashable values as themselves, others by identity (the cached function
    that closes over them keeps them alive, so no other object takes their id)."""
    key = []
    for cell in fn.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # not yet assigned
            key.append(("unset",))
            continue
        try:
            hash(value)
            key.append(value)
        except TypeError:
            key.append(("id", id(value)))
    return tuple(key)


def loss_statistics(model, ids, batch_size: int, bptt: int, max_tokens: int = 0, dtype="float64", verbose: int = 0):
    """Summed row and column losses of every word over a token stream, as dense arrays.

    One `_statistics_pass`: under a `tf.distribute` strategy each replica reads its own streams and
    the sums of all replicas and workers are added up (an all-reduce of the `(U, R)` and `(U, C)`
    rows a window); every worker returns the same totals.

    Args:
        model: a `LightRNNModel`.
        ids: `(N,)` int token ids, read as `stream_dataset(ids, batch_size, bptt)` (the training layout).
        batch_size: B (the global batch; a multiple of the replicas).
        bptt: T.
        max_tokens: read only about `max_tokens` ids, the beginnings of the B stream rows of the
            whole text (`data.stream_sample`); 0 reads all. Default: `0`.
        dtype: accumulator dtype; per-window sums are float32. The accumulators take
            `8 V (R + C)` bytes as float64 (500 MB at V = 100k, 16 GB at V = 1M), half as
            `"float32"`, on every device; no `(V, R)` tensor is built per window (only `(U, R)` for
            the U distinct targets). `factored_statistics` needs `8 V (2 H + 3)` bytes instead.
            Default: `"float64"`.
        verbose: 1 shows a progress bar over the windows. Default: `0`.

    Returns:
        `(L_r (V, R) float64, L_c (V, C) float64, n_tokens)`: n_tokens target positions were read;
        row `w` of both is zero for a word that never occurs as a target.
    """
    ids = _statistics_ids(model, ids, max_tokens, batch_size)
    v, r, c = model.vocab_size, model.rows, model.cols

    def window_sums(y, state):
        row_lp, col_lp, new_state = model.distributions(y, state, training=False, mask_empty=False)
        words, slot = tf.unique(tf.reshape(y, [-1]))  # (U,), (b*T,)
        n = tf.size(words)
        return new_state, words, {
            "row_loss": tf.math.unsorted_segment_sum(-tf.reshape(row_lp, [-1, r]), slot, n),  # (U, R)
            "col_loss": tf.math.unsorted_segment_sum(-tf.reshape(col_lp, [-1, c]), slot, n),  # (U, C)
        }

    totals, n_tokens = _statistics_pass(model, ids, batch_size, bptt, {"row_loss": (v, r), "col_loss": (v, c)},
                                        window_sums, dtype, verbose)
    return totals["row_loss"], totals["col_loss"], n_tokens


class FactoredCosts:
    """`L_r`, `L_c` rebuilt block by block from per-word sums (the costs interface of
    `lightrnn_tf.assignment`: `vocab_size`, `rows`, `cols`, `row_costs(words)`, `col_costs(words)`).

    `L_r[w, :] = row_lse[w] - row_hidden[w] @ row_kernel - counts[w] * row_bias`, the same for
    columns (see the module docstring); all float64.

    Args:
        counts: `(V,)` n_w, target positions of each word.
        row_lse: `(V,)` sum over w's positions of the row logits' log-sum-exp.
        row_hidden: `(V, H)` sum over w's positions of the state that predicts the row.
        row_kernel: `(H, R)`, row_bias: `(R,)`, the row head (`model.softmax.row_head`).
        col_lse: `(V,)`, col_hidden: `(V, H)`, col_kernel: `(H, C)`, col_bias: `(C,)`: the same
            for the column head, the state being the one after w's current row.
    """

    def __init__(self, counts, row_lse, row_hidden, row_kernel, row_bias, col_lse, col_hidden, col_kernel, col_bias):
        f64 = lambda a: np.asarray(a, dtype=np.float64)
        self.counts = f64(counts)
        self.row_lse, self.row_hidden, self.row_kernel, self.row_bias = map(f64, (row_lse, row_hidden, row_kernel,
                                                                               row_bias))
        self.col_lse, self.col_hidden, self.col_kernel, self.col_bias = map(f64, (col_lse, col_hidden, col_kernel,
                                                                               col_bias))
        self.vocab_size = len(self.counts)
        self.rows, self.cols = self.row_kernel.shape[1], self.col_kernel.shape[1]
        shapes = [self.row_lse.shape, self.col_lse.shape, self.row_hidden.shape[:1], self.col_hidden.shape[:1]]
        if any(shape != (self.vocab_size,) for shape in shapes) or self.row_bias.shape != (self.rows,) \
                or self.col_bias.shape != (self.cols,):
            raise LightRNNError("factored statistics have inconsistent shapes")

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.counts, self.row_lse, self.row_hidden, self.col_lse, self.col_hidden))

    def row_costs(self, words):
        """`(n, R)` float64 row losses of `words` (a slice or an int array)."""
        return self._costs(words, self.row_lse, self.row_hidden, self.row_kernel, self.row_bias)

    def col_costs(self, words):
        """`(n, C)` float64 column losses of `words`."""
        return self._costs(words, self.col_lse, self.col_hidden, self.col_kernel, self.col_bias)

    def _costs(self, words, lse, hidden, kernel, bias):
        counts = self.counts[words]  # (n,)
        if not counts.any():  # words that never occur cost nothing anywhere (greedy asks for many alone)
            return np.zeros((len(counts), kernel.shape[1]))
        out = hidden[words] @ kernel  # (n, R)
        out += counts[:, None] * bias
        np.subtract(lse[words, None], out, out=out)
        return out

    def cell_costs(self, word_row, word_col):
        """`(V,)` `L_r[w, word_row[w]] + L_c[w, word_col[w]]` in `O(V H)`, without building `(V, R)` blocks."""
        cost = np.zeros(self.vocab_size)
        for lse, hidden, kernel, bias, index in ((self.row_lse, self.row_hidden, self.row_kernel, self.row_bias, word_row),
                                                 (self.col_lse, self.col_hidden, self.col_kernel, self.col_bias, word_col)):
            step = max(1, ELEMENTS_PER_BLOCK // hidden.shape[1])
            for lo in range(0, self.vocab_size, step):
                hi = min(self.vocab_size, lo + step)
                logit = np.einsum("nh,hn->n", hidden[lo:hi], kernel[:, index[lo:hi]])
                cost[lo:hi] += lse[lo:hi] - logit - self.counts[lo:hi] * bias[index[lo:hi]]
        return cost

    def dense(self):
        """`DenseCosts` with the full `(V, R)`, `(V, C)` arrays (small V; tests)."""
        return DenseCosts(self.row_costs(slice(None)), self.col_costs(slice(None)))


def factored_statistics(model, ids, batch_size: int, bptt: int, max_tokens: int = 0, verbose: int = 0):
    """The loss statistics of `loss_statistics` in `8 V (2 H + 3)` bytes, as a `FactoredCosts`.

    The same `_statistics_pass` and arguments (`verbose` included) as `loss_statistics` (so also summed over the
    replicas and workers of a strategy). Per window: the heads' logits `(b, T, R)` and `(b, T, C)`
    (float32, as in `model.distributions`), their log-sum-exp, and the float32 states that fed
    them, segment-summed per target word and added into float64 accumulators `[sum h | sum lse]`
    `(V, H + 1)` for each head and the counts `(V,)`.

    Returns:
        `(FactoredCosts, n_tokens)`; `costs.row_costs(words)` equals `L_r[words]` of
        `loss_statistics` up to float32 rounding of each position's logits.
    """
    ids = _statistics_ids(model, ids, max_tokens, batch_size)
    v, h = model.vocab_size, model.hidden_dim

    def window_sums(y, state):
        row_hidden, col_hidden, _, new_state = model.hidden_states(y, state, training=False)
        return (new_state,) + _factored_window_sums(y, row_hidden, col_hidden, model.softmax)

    totals, n_tokens = _statistics_pass(model, ids, batch_size, bptt,
                                        {"count": (v,), "row": (v, h + 1), "col": (v, h + 1)}, window_sums,
                                        verbose=verbose)
    return _factored_costs(totals["count"], totals["row"], totals["col"], model.softmax), n_tokens


def _factored_window_sums(y, row_hidden, col_hidden, heads):
    """One window's factored sums: `(words (U,), {"count": (U,), "row": (U, H + 1), "col": (U, H + 1)})`
    for its U distinct target words, `[sum h | sum lse]` of the states `(b, T, H)` that predict each
    target's row and column (float64)."""
    h = row_hidden.shape[-1]
    words, slot = tf.unique(tf.reshape(y, [-1]))  # (U,), (b*T,)
    n = tf.size(words)
    sums = {"count": tf.math.bincount(slot, minlength=n, dtype=tf.float64)}
    for name, hidden, head in (("row", row_hidden, heads.row_head), ("col", col_hidden, heads.col_head)):
        hidden = tf.reshape(tf.cast(hidden, tf.float32), [-1, h])  # (b*T, H), what the head reads
        lse = tf.reduce_logsumexp(head(hidden), axis=-1, keepdims=True)  # (b*T, 1)
        both = tf.cast(tf.concat([hidden, lse], axis=1), tf.float64)  # (b*T, H + 1)
        sums[name] = tf.math.unsorted_segment_sum(both, slot, n)  # (U, H + 1)
    return words, sums


def _factored_costs(counts, row, col, heads) -> "FactoredCosts":
    """`FactoredCosts` from the totals `(V,)`, `(V, H + 1)`, `(V, H + 1)` and the heads' current weights."""
    h = row.shape[1] - 1
    g = lambda var: np.asarray(var.numpy(), dtype=np.float64)
    return FactoredCosts(counts, row[:, h], row[:, :h], g(heads.row_head.kernel), g(heads.row_head.bias),
                         col[:, h], col[:, :h], g(heads.col_head.kernel), g(heads.col_head.bias))


class EpochStatistics(tf.Module):
    """The factored loss statistics, gathered while the model trains instead of in a pass of their own.

    `model.set_epoch_statistics(stats)` makes `LightRNNModel.train_step` add every training
    window's sums (`_factored_window_sums` of the states before the heads' dropout) into float64
    variables: `counts (V,)` and `[sum h | sum lse]` `(V, H + 1)` for each head, `8 V (2 H + 3)`
    bytes. `costs(model)` then rebuilds the costs with the heads' weights at that moment. The
    states come from the weights of each moment of the epoch, with the dropout of the LSTM's inputs
    of training, rather than from the frozen weights a separate pass reads (measured in
    docs/reallocation.md); the pass over the training text is saved. The variables are saved in
    every checkpoint (`ReallocationCallback.checkpoint_variables`), so that a run resumed inside an
    epoch ends with the same sums. Under `MirroredStrategy` the variables have `SUM` aggregation,
    as in `_statistics_pass`: every window's sums of all replicas (each its own streams) are added
    to every copy.

    Args:
        vocab_size: V.
        hidden_dim: H.
    """

    def __init__(self, vocab_size: int, hidden_dim: int, name: str = "epoch_statistics"):
        super().__init__(name=name)
        self.vocab_size, self.hidden_dim = int(vocab_size), int(hidden_dim)

        def variable(part, shape):
            return tf.Variable(tf.zeros(shape, tf.float64), trainable=False, name=part,
                               aggregation=tf.VariableAggregation.SUM)

        self.counts = variable("counts", [vocab_size])
        self.row = variable("row", [vocab_size, hidden_dim + 1])
        self.col = variable("col", [vocab_size, hidden_dim + 1])

    @property
    def checkpoint_variables(self) -> list:
        return [self.counts, self.row, self.col]

    def add(self, y, row_hidden, col_hidden, heads) -> None:
        """Adds a window: `y (b, T)` targets, `row_hidden`, `col_hidden` `(b, T, H)` the states
        that predict their rows and columns (no gradient flows into the sums)."""
        words, sums = _factored_window_sums(y, tf.stop_gradient(row_hidden), tf.stop_gradient(col_hidden), heads)
        for var, name in ((self.counts, "count"), (self.row, "row"), (self.col, "col")):
            var.scatter_add(tf.IndexedSlices(sums[name], words))

    def reset(self) -> None:
        for var in self.checkpoint_variables:
            var.assign(tf.zeros_like(var))

    def tokens(self) -> int:
        """Target positions added since the last `reset`."""
        return int(round(float(tf.reduce_sum(self.counts.read_value()))))

    def costs(self, model) -> "FactoredCosts":
        """The costs of the sums so far under the model's current heads."""
        read = lambda var: np.asarray(var.read_value().numpy(), np.float64)
        return _factored_costs(read(self.counts), read(self.row), read(self.col), model.softmax)


def statistics_bytes(model) -> dict:
    """Accumulator bytes of each representation: `{"dense": 8 V (R + C), "factored": 8 V (2 H + 3)}`."""
    v = model.vocab_size
    return {"dense": 8 * v * (model.rows + model.cols), "factored": 8 * v * (2 * model.hidden_dim + 3)}


def choose_statistics(model, statistics: str = "auto") -> str:
    """`"dense"` or `"factored"`: `statistics` itself, or for `"auto"` dense while its accumulators
    take at most `DENSE_STATS_MAX_BYTES` or no more than the factored ones."""
    _check_choice("statistics", statistics, STATISTICS)
    if statistics != "auto":
        return statistics
    size = statistics_bytes(model)
    return "dense" if size["dense"] <= max(DENSE_STATS_MAX_BYTES, size["factored"]) else "factored"


def cost_statistics(model, ids, batch_size: int, bptt: int, max_tokens: int = 0, statistics: str = "auto",
                    verbose: int = 0):
    """`(costs, n_tokens, kind)`: `DenseCosts` from `loss_statistics` or `FactoredCosts` from
    `factored_statistics`, as `choose_statistics(model, statistics)` says (`kind`)."""
    kind = choose_statistics(model, statistics)
    if kind == "dense":
        row_loss, col_loss, n_tokens = loss_statistics(model, ids, batch_size, bptt, max_tokens, verbose=verbose)
        return DenseCosts(row_loss, col_loss), n_tokens, kind
    costs, n_tokens = factored_statistics(model, ids, batch_size, bptt, max_tokens, verbose=verbose)
    return costs, n_tokens, kind


def reallocate(model, ids, *, batch_size: int, bptt: int, solver: str = "sparse", k: int = 8,
               max_tokens: int = 0, statistics: str = "auto", min_gain: float = 0.0, vectors: str = "keep",
               source: str = "pass", min_count: int = 0, verbose: int = 0) -> dict:
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
        max_tokens: statistics from about `max_tokens` ids only, spread over the text
            (`data.stream_sample`); 0 uses all. Default: `0`.
        statistics: `"dense"` (`loss_statistics`, `8 V (R + C)` bytes), `"factored"`
            (`factored_statistics`, `8 V (2 H + 3)` bytes; the same costs up to float32 rounding)
            or `"auto"` (`choose_statistics`: dense up to 1 GiB). Default: `"auto"`.
        min_gain: a word moves only if that lowers its own loss by at least this fraction
            (`assignment.MovePenaltyCosts`); the objectives reported then include the penalties
            (`objective_after_unpenalised` does not). 0 lets every word move. Default: `0.0`.
        vectors: `"keep"`: the row and column vectors keep their values and only the words move (the
            paper). `"carry"`: each row (column) vector becomes the token-weighted mean of the row
            (column) vectors its new words were read with, so that the LSTM's inputs change as
            little as possible (`TwoComponentEmbedding.assign_table`). Default: `"keep"`.
        source: `"pass"`: the statistics come from a pass of their own over `ids` with the weights
            frozen (the paper). `"epoch"`: from the sums `train_step` gathered since they were last
            reset (`model.epoch_statistics`, an `EpochStatistics`; `ids`, `batch_size`, `bptt`,
            `max_tokens` and `statistics` are then not read, and the statistics are factored).
            Default: `"pass"`.
        min_count: words that are the target fewer than this many times in the statistics cost
            nothing anywhere (`assignment.RareWordCosts`): they take the cells left over, together,
            instead of cells chosen by the noise of a few positions. 0 and 1 change nothing. The
            report's objectives and bound are then those of the matching (rare words at no cost);
            `objective_before_all_words` and `objective_after_all_words`, given when some word is
            rare, sum every word's own costs (the paper's objective). Default: `0`.
        verbose: a line when the statistics pass and the matching start, and with 1 (as in Keras) a
            progress bar over the pass's windows; 2 for logs. Default: `0`.

    Returns:
        A JSON-serialisable dict: `objective_before`, `objective_after` (summed loss in nats under
        the current-row approximation), `lower_bound` (`sum_w min_i L_r + min_j L_c`), `gap`
        (after - bound), `gap_rel`, `moved`, `seconds`, `stats_seconds`, `solve_seconds`,
        `solver`, `k`, `tokens`, `source`, `statistics` (`"dense"` or `"factored"`), `statistics_mb` (its
        accumulators), `suboptimality_bound` (see `assignment.solve`), `kept_current`
        (true if the solver found no lower objective, e.g. greedy, and the table was left as it was;
        `objective_after`, `gap`, `gap_rel` and `moved` then describe the kept table).
    """
    _check_choice("vectors", vectors, VECTORS)
    _check_choice("source", source, SOURCES)
    if not min_count >= 0:
        raise LightRNNError(f"Received an invalid value for `min_count`, expected >= 0, got {min_count}.")
    start = time.perf_counter()
    if source == "epoch":
        gathered = model.epoch_statistics
        if gathered is None:
            raise LightRNNError("source='epoch' needs statistics gathered in training: "
                                "model.set_epoch_statistics(EpochStatistics(V, H)) before fit")
        costs, kind = gathered.costs(model), "factored"
        word_counts = costs.counts
        n_tokens = int(round(word_counts.sum()))
        if not n_tokens:
            raise LightRNNError("no training window was read since the epoch statistics were reset; "
                                "nothing to reallocate from")
    else:
        if verbose:
            print("reallocation: loss statistics over the training stream")
        costs, n_tokens, kind = cost_statistics(model, ids, batch_size, bptt, max_tokens, statistics, verbose)
        word_counts = None
    stats_seconds = time.perf_counter() - start
    current = model.get_table()
    strategy = model.distribute_strategy
    new_table, report = current, None
    if distribute.is_chief(strategy):
        rare_words = 0
        every_word = costs  # each word's own costs: the paper's objective, reported beside min_count's
        if min_count > 1:  # factored statistics (also source="epoch") hold their target counts
            counts = costs.counts if kind == "factored" else \
                stream_target_counts(_statistics_ids(model, ids, max_tokens, batch_size), batch_size, model.vocab_size)
            costs = RareWordCosts(costs, counts, min_count)
            rare_words = int(costs.rare.sum())
        base = costs
        if verbose:
            print(f"reallocation: matching {current.vocab_size:,} words to {current.rows}x{current.cols} cells "
                  f"({solver} solver, statistics took {stats_seconds:.1f} s)")
        if min_gain:
            costs = MovePenaltyCosts(costs, current, min_gain)
        new_table, report = solve(costs, current, solver=solver, k=k)
        del costs
        kept = report["objective_after"] > report["objective_before"]
        if kept:  # never install a worse table (greedy can be worse; exact solvers only within their rounding)
            new_table = current
            gap = report["objective_before"] - report["lower_bound"]
            report.update(objective_after=report["objective_before"], moved=0, gap=gap,
                          gap_rel=gap / max(abs(report["lower_bound"]), 1e-12))
        if min_gain:
            report["objective_after_unpenalised"] = float(cell_costs(base, new_table.word_row, new_table.word_col).sum())
        del base
        if rare_words:  # the objectives above gave the rare words no cost; these give every word its own
            report["objective_before_all_words"] = float(cell_costs(every_word, current.word_row, current.word_col).sum())
            report["objective_after_all_words"] = float(cell_costs(every_word, new_table.word_row,
                                                                   new_table.word_col).sum())
        del every_word
        report.update(min_gain=float(min_gain), min_count=int(min_count), rare_words=rare_words)
        report["solve_seconds"] = report.pop("seconds")
        report.update(stats_seconds=stats_seconds, tokens=int(n_tokens), kept_current=bool(kept), source=source,
                      statistics=kind, statistics_mb=statistics_bytes(model)[kind] / 2**20,
                      seconds=time.perf_counter() - start)
    else:
        del costs
    if distribute.is_multi_worker(strategy):  # the chief's table and report, on every worker
        cells = distribute.broadcast_from_chief(strategy, new_table.word_cell, (current.vocab_size,))
        new_table = WordTable.from_cells(cells.astype(np.int64), current.rows, current.cols)
        report = distribute.broadcast_json(strategy, report)
    carry = None
    if vectors == "carry" and new_table.moved(current):  # the same counts on every worker
        carry = np.rint(word_counts) if word_counts is not None else \
            np.bincount(_statistics_ids(model, ids, max_tokens, batch_size), minlength=model.vocab_size)
    model.set_table(new_table, carry)
    return report


class ReallocationCallback(keras.callbacks.Callback):
    """Reallocates words at the end of every `every`-th epoch of `model.fit`: the one place that
    schedules reallocation, for the training command and for Keras users alike.

    Example:

    >>> cb = ReallocationCallback(train_ids, every=2, rounds=3, batch_size=20, bptt=35)
    >>> model.fit(stream_dataset(train_ids, 20, 35), epochs=8, callbacks=[cb])

    By default no reallocation follows the last epoch of `fit` (nothing would train on the new
    table; pass `after_last_epoch=True` when you call `fit` one epoch at a time, with
    `initial_epoch=e, epochs=e + 1`: `every` counts the epochs Keras numbers), nor an epoch
    after which another callback (e.g. `EarlyStopping`) stopped training, nor an epoch whose loss
    is not finite; and a reallocation after the first needs `recovery_epochs` epochs of the `fit`
    left after it. Put it after `EarlyStopping(restore_best_weights=True)`: the best weights
    are then recorded with the table they were validated on.

    Args:
        ids: `(N,)` int training token ids for the statistics.
        every: reallocate after epochs every, 2 * every, ...; 0 never. Default: `1`.
        rounds: at most this many reallocations; 0 no limit. Default: `3`.
        solver: as in `reallocate`. Default: `"greedy"` (with `every=1, rounds=3` the best schedule
            measured; docs/reallocation.md).
        batch_size, bptt, k, max_tokens, statistics, min_gain, vectors: as in `reallocate`
            (`statistics="auto"` switches to the factored statistics above 1 GiB of dense
            accumulators).
        min_count: as in `reallocate`. Default: `MIN_COUNT` (3: better than 0 when every token is
            read, the same on the 20-token sample; docs/reallocation.md).
        tokens_per_word: when `max_tokens` is 0, the statistics pass reads about `tokens_per_word * |V|`
            tokens (`data.stream_sample`: the beginnings of the B stream rows), or all of `ids` when
            they are fewer; 0 reads all. Default: `TOKENS_PER_WORD` (20: better than every token on
            the KJV, and cheaper; docs/reallocation.md).
        source: `"pass"`: each reallocation first reads the training text once more with the
            weights frozen (`reallocate`'s pass). `"epoch"`: the statistics are the sums
            `train_step` gathered during the epoch that ends with the reallocation (an
            `EpochStatistics` installed in the model while a reallocation is still to come, saved
            in checkpoints through `checkpoint_variables`); no pass of their own, on one device
            or `MirroredStrategy`. Default: `"pass"`.
        verbose: as in Keras' `fit`: 1 a progress bar over the statistics pass and lines saying
            what the reallocation does; 2 the lines only (logs); 0 silent. Default: `1`.
        after_last_epoch: also reallocate after the last epoch of a `fit` call. Default: `False`.
        valid_ids: optional `(N,)` int validation ids: each report then also holds
            `valid_ppl_before` (the epoch's `val_perplexity`) and `valid_ppl_after`, the
            validation perplexity with the new table before any further training. Default: `None`.
        averaging: optional `callbacks.WeightAveraging` of the same `fit` (put first there). The
            statistics are then those of the raw weights, which training goes on from, not of the
            average that validation saw: early in training the average lags far behind (on PTB
            after epoch 1, validation perplexity 1,202 against the raw weights' 498), and
            reallocating on it trained worse (docs/training.md). Default: `None`.
        recovery_epochs: a reallocation after the first runs only when at least this many epochs
            of the `fit` follow it (and, with `time_budget`, fit in the budget left); the first needs
            one: it replaces the random table, the largest gain, while a later one refines it, and its
            moved words need an epoch of training to recover (docs/reallocation.md). At least 1.
            Default: `RECOVERY_EPOCHS` (2).
        time_budget: optional `callbacks.TimeBudget` of the same `fit`. A reallocation is skipped
            when the budget left could not pay for it and the epochs it needs after it (1 for the
            first, else `recovery_epochs`; estimated from the epoch just run and the last
            reallocation): a move in the last minutes leaves the model worse than the table it had.
            Skipped epochs are listed in `self.skipped`. Default: `None`.

    After a reallocation the epoch's `logs` get `realloc_objective_before`, `realloc_objective_after`,
    `realloc_lower_bound`, `realloc_moved` and `realloc_seconds`; all reports are in `self.reports`
    (saved by `TrainingCheckpoint` through `get_state`), each with its 1-based `epoch`. Epochs
    without a reallocation get none of these keys, so `History`'s `realloc_*` lists are shorter
    than its `loss` list (as Keras's `val_*` lists are with `validation_freq`): to line them up with
    epochs, use `self.reports` (or `pandas.DataFrame(self.reports).set_index("epoch")`).
    """

    LOGGED = ("objective_before", "objective_after", "lower_bound", "moved", "seconds")

    def __init__(self, ids, every=1, rounds=3, batch_size=20, bptt=35, solver="greedy", k=8, max_tokens=0, verbose=1,
                 after_last_epoch=False, valid_ids=None, time_budget=None, statistics="auto", min_gain=0.0,
                 vectors="keep", source="pass", tokens_per_word=TOKENS_PER_WORD, min_count=MIN_COUNT,
                 recovery_epochs=RECOVERY_EPOCHS, averaging=None):
        super().__init__()
        self.averaging = averaging
        if every < 0 or rounds < 0:
            raise LightRNNError(f"`every` and `rounds` must be >= 0, got every={every}, rounds={rounds}")
        if recovery_epochs < 1:
            raise LightRNNError(f"Received an invalid value for `recovery_epochs`, expected >= 1, got {recovery_epochs}.")
        self.recovery_epochs = recovery_epochs
        self._warned_never, self._epochs_ended = False, []  # (on_train_end)
        self.warn_single_epoch = True  # False: no warning for a fit of one epoch (the command line notes it)
        if not tokens_per_word >= 0:
            raise LightRNNError(f"Received an invalid value for `tokens_per_word`, expected >= 0, got {tokens_per_word}.")
        self.tokens_per_word = tokens_per_word
        _check_choice("source", source, SOURCES)
        if isinstance(ids, tf.data.Dataset) or np.ndim(ids) != 1:
            raise LightRNNError("ReallocationCallback(ids): the training stream as a 1-D array of word ids (what "
                                "stream_dataset was given), not a dataset")
        ids = _check_ids(ids, "ids")
        if valid_ids is not None:
            valid_ids = _check_ids(valid_ids, "valid_ids")
        if source == "pass" and every and len(ids) // batch_size < 2:  # the statistics pass reads them in streams
            raise LightRNNError(f"ReallocationCallback: {len(ids)} ids are too few for batch size {batch_size} "
                                "(each stream needs at least 2)")
        self.ids, self.every, self.rounds = ids, every, rounds
        self.kwargs = dict(batch_size=batch_size, bptt=bptt, solver=solver, k=k, max_tokens=max_tokens,
                           statistics=statistics, min_gain=min_gain, vectors=vectors, source=source,
                           min_count=min_count)
        self.source = source
        self.epoch_statistics: EpochStatistics | None = None
        self.verbose = verbose
        self.after_last_epoch = after_last_epoch
        self.valid_ids = valid_ids
        self.time_budget = time_budget
        self.reports: list[dict] = []
        self.skipped: list[dict] = []
        self._epoch_start = None

    def checkpoint_variables(self, model) -> list:
        """Variables a checkpoint must hold besides the model's: with `source="epoch"`, the sums
        gathered so far in the epoch (created here on first use)."""
        if self.source != "epoch" or not self.every:
            return []
        if self.epoch_statistics is None:
            strategy = model.distribute_strategy
            if distribute.is_multi_worker(strategy) or isinstance(strategy, tf.distribute.TPUStrategy):
                raise LightRNNError("statistics gathered in the training epoch (source 'epoch') run on one device or "
                                    "MirroredStrategy; use a statistics pass of their own (source 'pass') with "
                                    f"{type(strategy).__name__}")
            with strategy.scope():
                self.epoch_statistics = EpochStatistics(model.vocab_size, model.hidden_dim)
        return self.epoch_statistics.checkpoint_variables

    def statistics_tokens(self) -> int:
        """The `max_tokens` each statistics pass reads: `max_tokens`, else `tokens_per_word * |V|`
        (0 = all `ids`, also when that is at least their number)."""
        n = self.kwargs["max_tokens"] or int(round(self.tokens_per_word * self.model.vocab_size))
        return 0 if n >= len(self.ids) else n

    def _scheduled(self, epoch: int) -> bool:
        """Whether the schedule reallocates after 0-based `epoch` (what `due` checks before the run's
        state): with `source="epoch"`, the epochs that gather statistics."""
        if not self.every or (epoch + 1) % self.every or (self.rounds and len(self.reports) >= self.rounds):
            return False
        return self.after_last_epoch or (self.params or {}).get("epochs", float("inf")) - (epoch + 1) >= self.needed_epochs()

    def needed_epochs(self) -> int:
        """Epochs of training the next reallocation needs after it: 1 for the first (it replaces the
        random table, the largest gain), `recovery_epochs` for each later one (a smaller gain, for
        which the moved words pay an epoch of disruption)."""
        return 1 if not self.reports else self.recovery_epochs

    def set_model(self, model):
        if self.every and not hasattr(model, "get_table"):
            raise LightRNNError(f"ReallocationCallback moves the words of a LightRNN word table; a "
                                f"{type(model).__name__} has none (leave the callback out for it)")
        for name, ids in (("ids", self.ids), ("valid_ids", self.valid_ids)):
            if ids is not None and len(ids) and ids.max() >= model.vocab_size:
                raise LightRNNError(f"ReallocationCallback({name}): word ids must lie in [0, {model.vocab_size}), the "
                                    f"model's vocabulary, got ids up to {ids.max()}")
        super().set_model(model)
        self.checkpoint_variables(model)

    def on_train_end(self, logs=None):
        if self.epoch_statistics is not None:
            self.model.set_epoch_statistics(None)
        # A fit of one epoch never reallocates by default (its one epoch is the last): said once, when
        # that epoch ran to its end, was due, and nothing else (the time budget, a stop) explains it.
        last = (self.params or {}).get("epochs", 0) - 1
        if (self.every and not self.reports and not self.skipped and not self.after_last_epoch
                and self.warn_single_epoch and not self._warned_never and self._epochs_ended == [last] and (last + 1) % self.every == 0
                and not self.model.stop_training):
            self._warned_never = True
            warnings.warn(f"ReallocationCallback: no reallocation after epoch {last + 1}, the one epoch of this fit: "
                          "none follows the last epoch of a fit (nothing would train on the new table); to "
                          "reallocate while fitting one epoch at a time, pass after_last_epoch=True")

    def on_train_begin(self, logs=None):
        self._epochs_ended = []  # (on_train_end)

    def due(self, epoch: int, logs=None) -> bool:
        """Whether the end of 0-based `epoch` reallocates."""
        if not self._scheduled(epoch) or self.model.stop_training:
            return False
        return all(np.isfinite(float(v)) for k, v in (logs or {}).items() if "loss" in k)

    def too_late(self, epoch_seconds: float) -> dict | None:
        """A reason not to reallocate now, if the time budget left cannot pay for the reallocation
        and `needed_epochs()` more epochs of `epoch_seconds`; else None."""
        budget = self.time_budget
        if budget is None or not budget.seconds:
            return None
        left = budget.seconds - budget.elapsed()
        # before the first: a pass of its own reads the text once more without gradients (about a third
        # of an epoch) before the matching; statistics from the epoch leave only the matching
        if self.reports:
            realloc = self.reports[-1]["seconds"]
        elif self.source == "pass":  # the pass reads a share of the text
            realloc = 0.5 * epoch_seconds * ((self.statistics_tokens() or len(self.ids)) / len(self.ids))
        else:
            realloc = 0.1 * epoch_seconds
        needed = self.needed_epochs()
        if left >= needed * epoch_seconds + realloc:
            return None
        return {"seconds_left": left, "epoch_seconds": epoch_seconds, "epochs_needed": needed,
                "realloc_seconds_estimate": realloc}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        if self.epoch_statistics is not None:
            self.model.set_epoch_statistics(self.epoch_statistics if self._scheduled(epoch) else None)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_ended.append(epoch)
        try:
            self._reallocate_if_due(epoch, logs)
        finally:
            if self.epoch_statistics is not None:  # the next reallocation reads the epoch before it only
                self.epoch_statistics.reset()

    def _reallocate_if_due(self, epoch, logs):
        if not self.due(epoch, logs):
            return
        epoch_seconds = time.perf_counter() - self._epoch_start if self._epoch_start is not None else 0.0
        reason = distribute.broadcast_json(self.model.distribute_strategy, self.too_late(epoch_seconds))  # the chief's
        if reason is not None:
            self.skipped.append({"epoch": epoch + 1, **reason})
            if self.verbose:
                # (the first one skipped: at this speed the budget holds too few epochs for any)
                advice = ("; none has fitted: shorter epochs (--steps-per-epoch, fit's steps_per_epoch) would let "
                          "one in, as LightRNN without one keeps its random table") if not self.reports else ""
                print(f"\nreallocation after epoch {epoch + 1} skipped: {reason['seconds_left']:.3g} s of the time "
                      f"budget left, less than {reason['epochs_needed']} epoch(s) of {epoch_seconds:.3g} s "
                      f"to recover plus a reallocation "
                      f"({reason['realloc_seconds_estimate']:.3g} s){advice}")
            return
        kwargs = {**self.kwargs, "max_tokens": self.statistics_tokens()}  # not read with source="epoch"
        # With averaging, the statistics of the raw weights; then the average again, for validation of
        # the new table and the callbacks after this one.
        with self.averaging.raw_weights() if self.averaging is not None else contextlib.nullcontext():
            report = reallocate(self.model, self.ids, **kwargs, verbose=self.verbose)
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
        return {"reports": self.reports, "skipped": self.skipped}

    def set_state(self, state: dict) -> None:
        self.reports = list(state["reports"])
        self.skipped = list(state.get("skipped", []))


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
