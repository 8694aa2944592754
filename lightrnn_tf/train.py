"""Train a LightRNN language model: `python -m lightrnn_tf.train`.

    python -m lightrnn_tf.train --lowercase --split-punct --out runs/kjv    # built-in King James Bible
    python -m lightrnn_tf.train --corpus text.txt --lowercase --split-punct --out runs/x
    python -m lightrnn_tf.train --train a.txt --valid b.txt --test c.txt --realloc-every 2 --out runs/x
    python -m lightrnn_tf.train --ptb --out runs/ptb                       # Penn Treebank, downloaded once
    python -m lightrnn_tf.train --out runs/x --resume                      # settings from runs/x/config.json
    python -m lightrnn_tf.train --strategy mirrored --batch-size 80 --out runs/x   # every local GPU
    TF_CONFIG='{"cluster": {"worker": ["h0:2222", "h1:2222"]}, "task": {"type": "worker", "index": 0}}' \
        python -m lightrnn_tf.train --strategy multiworker --batch-size 80 --out runs/x   # and index 1 on h1

A thin layer over Keras: it builds the data (`data.stream_dataset`), the model and the callbacks,
then calls `model.fit` — the same `fit` a Keras user calls, whose `train_step` carries every
stream's LSTM state across windows (`stream_model`). The callbacks are Keras' own
`ReduceLROnPlateau` (decay when validation stalls), `EarlyStopping(restore_best_weights=True)`
and `TensorBoard`, plus `StopOnNaN`, `EpochStats`, `TimeBudget`, `ReallocationCallback` (moves words
to the cells that minimise the training loss; by default after epochs 1-3 with the greedy solver)
and `TrainingCheckpoint` (everything, every epoch, for `--resume`); unless `--ema-momentum 0`,
`WeightAveraging` first (validation and everything after it see the averaged weights; a run too
short to average over trains without it, `without_averaging_if_too_short`). `--model full_softmax` or
`sampled_softmax` trains a baseline through the same path. The run directory layout is in `rundir.py`. Expected failures print one line to
stderr and exit with status 2.

`--strategy` runs that same `fit` under a `tf.distribute` strategy (`distribute.py`): `--batch-size`
is the global batch, each replica trains on its own rows of every window and carries their state,
gradients and the loss statistics of reallocation are summed over all replicas, the chief solves the
matching and every worker installs its table. The chief writes `--out`; another worker of
`multiworker` writes `--out/worker-<i>` (docs/training.md, "Several devices and machines").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import resource
import sys
import time

import numpy as np

from lightrnn_tf import config as config_lib
from lightrnn_tf import rundir
from lightrnn_tf.config import ModelConfig, TrainConfig
from lightrnn_tf.data import (Vocabulary, evaluation_batch_size, load_corpus, num_windows, read_workers,
                              unigram_perplexity, with_progress)
from lightrnn_tf.distribute import make_strategy, run_directory
from lightrnn_tf.errors import ArgumentParser, LightRNNError, positive_int

# Flags that may be given again with --resume: they extend the run without changing its data or model
# (--strategy: the same global batch on other devices).
EXTENDABLE = ("epochs", "patience", "time_budget", "strategy")
# A validation or test split of fewer tokens than this gets a note: its perplexity is mostly noise.
SMALL_HELD_OUT = 100


# === Data ===

def prepare(model_cfg: ModelConfig, cfg: TrainConfig):
    """Reads the corpus, builds (or, on --resume, checks) the vocabulary and resolves the table shape.

    Returns:
        `(model_cfg, vocab, ids, source)`: `ids` maps "train", "valid", "test" to `(N,)` int32.
    """
    cfg.validate()
    for name in ("embedding_dim", "hidden_dim", "num_layers"):
        positive_int(getattr(model_cfg, name), name)
    corpus = load_corpus(cfg)
    tokenizer = rundir.tokenizer_of(cfg)
    # One reading of the training text counts its words and encodes it, on every core when it is large
    # (a progress bar shows the minutes One Billion Word takes).
    with with_progress(corpus.train, "reading train") as lines:
        vocab, train_ids = Vocabulary.build_and_encode(tokenizer, lines, max_size=cfg.max_vocab,
                                                       min_count=cfg.min_count, workers=read_workers())
    if cfg.resume:
        vocab_path = os.path.join(cfg.out, rundir.VOCAB)
        saved = Vocabulary.load(vocab_path)
        if saved != vocab:
            raise LightRNNError(f"mismatched vocabulary: the data now gives {len(vocab)} words, {vocab_path} has "
                                f"{len(saved)}; resume with the same data")
    ids = {"train": train_ids}
    for name in ("valid", "test"):
        with with_progress(getattr(corpus, name), f"reading {name}") as lines:
            ids[name] = vocab.encode_lines(lines, tokenizer)
    for name, arr in ids.items():
        if len(arr) < 2 * (cfg.batch_size if name == "train" else 1):
            raise LightRNNError(f"{name} split has {len(arr)} tokens, too few for batch size {cfg.batch_size}")
    model_cfg.vocab_size = len(vocab)
    model_cfg = model_cfg.resolved()
    if model_cfg.model == "lightrnn" and not cfg.resume:
        r, c = model_cfg.rows, model_cfg.cols
        if max(r, c) > 4 * min(r, c):  # a lopsided --rows/--cols: one head does nearly all the work
            print(f"note: a {r}x{c} table for {len(vocab)} words; LightRNN shares its vectors best with "
                  f"rows ≈ cols ≈ √|V| (the default, with neither --rows nor --cols)", file=sys.stderr)
    # (after the settings are checked: a bad flag's error comes alone)
    small = [f"{name} {len(ids[name])}" for name in ("valid", "test") if len(ids[name]) < SMALL_HELD_OUT]
    if small and not cfg.resume:
        lines = "/".join(str(len(getattr(corpus, name))) for name in ("train", "valid", "test"))
        print(f"note: little held-out text: {', '.join(small)} tokens (train/valid/test {lines} lines); a "
              f"perplexity over fewer than {SMALL_HELD_OUT} words says little, and early stopping follows noise",
              file=sys.stderr)
    return model_cfg, vocab, ids, corpus.source


# === Model and callbacks ===

def make_optimizer(cfg: TrainConfig):
    import keras

    kwargs = {"global_clipnorm": cfg.clip_norm} if cfg.clip_norm > 0 else {}
    if cfg.ema_momentum:  # the optimizer updates the average after every step; WeightAveraging puts it to use
        kwargs.update(use_ema=True, ema_momentum=cfg.ema_momentum)
    optimizer = {"sgd": keras.optimizers.SGD, "adamw": keras.optimizers.AdamW}.get(cfg.optimizer, keras.optimizers.Adam)
    opt = optimizer(cfg.learning_rate, **kwargs)
    if cfg.mixed_precision == "float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_model(model_cfg: ModelConfig, cfg: TrainConfig):
    """A compiled stream LM (`--model`) seeded with `cfg.seed` (weights, table, dropout)."""
    import keras

    from lightrnn_tf.baselines import FullSoftmaxLSTM, SampledSoftmaxLSTM
    from lightrnn_tf.model import LightRNNModel

    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # The model's own dtype policy (saved in model.keras), not the global one: the caller's is left alone.
    policy = {"dtype": f"mixed_{cfg.mixed_precision}"} if cfg.mixed_precision != "none" else {}
    m = model_cfg
    if m.model == "lightrnn":
        model = LightRNNModel.from_model_config(m, table_seed=cfg.seed, **policy)
    elif m.model == "full_softmax":
        model = FullSoftmaxLSTM(m.vocab_size, m.embedding_dim, m.hidden_dim, m.num_layers, m.dropout,
                                weight_drop=m.weight_drop, **policy)
    else:
        model = SampledSoftmaxLSTM(m.vocab_size, m.embedding_dim, m.hidden_dim, m.num_layers, m.dropout,
                                   num_sampled=m.num_sampled, weight_drop=m.weight_drop, **policy)
    model.compile(optimizer=make_optimizer(cfg), steps_per_execution=cfg.steps_per_execution)
    return model


def _nan_hint(out: str, ckpt_dir: str) -> str:
    """What is left and what to do after the loss went bad (`--resume` cannot change the rate)."""
    import tensorflow as tf

    if tf.train.latest_checkpoint(ckpt_dir):
        return (f"the last good checkpoint is kept in {ckpt_dir}; for a lower --learning-rate start a new run "
                f"(another --out)")
    return (f"nothing was saved yet (no epoch had ended); with a lower --learning-rate, train again into another "
            f"--out or after deleting {out}")


def build_callbacks(cfg: TrainConfig, train_ids: np.ndarray, tokens_per_epoch: int, steps_per_epoch: int = 0,
                    reallocate: bool = True, valid_ids: np.ndarray | None = None) -> dict:
    """The callbacks of a training run, by role, in the order `fit` must call them (no reallocation
    for the baselines, which have no table)."""
    import keras

    from lightrnn_tf.callbacks import BudgetCooldown, EpochStats, StopOnNaN, TimeBudget, WeightAveraging
    from lightrnn_tf.checkpoint import TrainingCheckpoint
    from lightrnn_tf.realloc import ReallocationCallback

    ckpt_dir = os.path.join(cfg.out, rundir.CHECKPOINTS)
    time_budget = TimeBudget(cfg.time_budget)
    cooldown = cfg.lr_cooldown
    if cooldown and cfg.time_budget and cfg.strategy == "multiworker":
        print("note: --lr-cooldown is off with --strategy multiworker (each worker's clock would set its own "
              "learning rate); the budget still ends training", file=sys.stderr)
        cooldown = 0.0
    # First: the averaged weights are in the model for validation and the epoch-end callbacks after it.
    cbs = {"averaging": WeightAveraging()} if cfg.ema_momentum else {}
    cbs |= {
        "nan": StopOnNaN(hint=lambda: _nan_hint(cfg.out, ckpt_dir)),
        "stats": EpochStats(tokens_per_epoch, steps_per_epoch),
        # Before ReduceLROnPlateau: at an epoch's end it puts back the rate that one decays.
        "cooldown": BudgetCooldown(time_budget, cooldown),
        "reduce_lr": keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=cfg.lr_decay, patience=1,
                                                       min_delta=0.0, min_lr=0.0, verbose=0),
        "early_stopping": keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience or cfg.epochs + 1,
                                                        restore_best_weights=True, verbose=0),
        # After EarlyStopping: the best weights are recorded with the table they were validated on.
        "realloc": ReallocationCallback(train_ids, every=cfg.realloc_every if reallocate else 0,
                                        rounds=cfg.realloc_rounds, batch_size=cfg.batch_size, bptt=cfg.bptt,
                                        solver=cfg.solver, k=cfg.realloc_k, max_tokens=cfg.realloc_tokens,
                                        tokens_per_word=cfg.realloc_tokens_per_word,
                                        min_gain=cfg.realloc_min_gain, vectors=cfg.realloc_vectors,
                                        source=cfg.realloc_source, min_count=cfg.realloc_min_count,
                                        recovery_epochs=cfg.realloc_recovery_epochs,
                                        valid_ids=valid_ids, time_budget=time_budget, averaging=cbs.get("averaging"),
                                        verbose=1 if sys.stdout.isatty() else 2),  # as fit's
        # After the reallocation: an epoch's reallocation counts in that epoch's time.
        "time_budget": time_budget,
        "tensorboard": keras.callbacks.TensorBoard(os.path.join(cfg.out, rundir.LOGS), write_graph=False),
    }
    if cbs["realloc"].every and cfg.epochs == 1:  # said here as a note: the callback's warning gives Python advice
        print("note: --epochs 1 trains with the initial table: a reallocation follows an epoch only when another "
              "epoch trains on the new table", file=sys.stderr)
        cbs["realloc"].warn_single_epoch = False
    # Last: restores the others' state after their on_train_begin reset, saves it after they ran.
    saved = [cbs["reduce_lr"], cbs["early_stopping"], cbs["realloc"], cbs["time_budget"]]
    saved += [cbs["averaging"]] if cfg.ema_momentum else []
    saved += [cbs["cooldown"]]  # last: a checkpoint from before it existed restores the others as before
    cbs["checkpoint"] = TrainingCheckpoint(ckpt_dir, saved,
                                           save_every_windows=cfg.checkpoint_windows,
                                           save_every_seconds=60 * cfg.checkpoint_minutes)
    return cbs


# === The run ===

def windows_per_epoch(cfg: TrainConfig, train_tokens: int) -> tuple[int, bool]:
    """`(windows, continuing)`: the training windows of one epoch, and whether `--steps-per-epoch`
    makes epochs of that many windows that go on through the stream (fewer than the text holds)."""
    windows = num_windows(train_tokens, cfg.batch_size, cfg.bptt)
    continuing = 0 < cfg.steps_per_epoch < windows
    return (cfg.steps_per_epoch if continuing else windows), continuing


def first_epoch_cut(cfg: TrainConfig, cbs: dict, continuing: bool, epochs_done: int):
    """The `callbacks.FirstEpochCut` of a run under `--time-budget` with whole epochs, or None.

    It cuts the first epoch at 1/`--budget-epochs` of the budget, when that epoch is still
    training then, so that about that many epochs fit and a reallocation has epochs left after it
    (`ReallocationCallback` needs one after the first, `--realloc-recovery-epochs` after later
    ones). None when: there is no budget or `--budget-epochs` is 0; `--steps-per-epoch` already
    sets the epochs' length (also the one a cut chose, recorded in config.json); `--epochs` is less
    than `--budget-epochs` (the epochs, not the budget, end such a run); the first epoch is done
    (a resumed run); or with `--strategy multiworker` (each worker's clock would cut elsewhere).
    A cut writes the epoch length it chose into config.json at that epoch's end, before its checkpoint.
    """
    from lightrnn_tf.callbacks import FirstEpochCut

    k = cfg.budget_epochs
    if not (cfg.time_budget and k) or continuing or cfg.epochs < k or epochs_done:
        return None
    if cfg.strategy == "multiworker":
        print("note: --budget-epochs is off with --strategy multiworker (each worker's clock would end the first "
              "epoch elsewhere); epochs are whole unless --steps-per-epoch is given", file=sys.stderr)
        return None

    def record(windows: int) -> None:  # before epoch 1's checkpoint: a --resume after any kill goes on so
        rundir.update_train_settings(cfg.out, {"steps_per_epoch": windows})

    return FirstEpochCut(cbs["time_budget"], cfg.time_budget / k, skipped=cbs["checkpoint"].step, on_cut=record)


def without_averaging_if_too_short(cfg: TrainConfig, train_tokens: int) -> TrainConfig:
    """`cfg` with `ema_momentum = 0` when the run is too short to average over.

    Keras' moving average starts at the weights after the first window, which still weigh
    `M^(n-1)` in it after `n` windows. A run of at most `epochs` x windows-an-epoch windows, fewer
    than `3 / (1 - M)` (300 at M = 0.99, where that weight falls under e^-3 ≈ 5%), would validate
    and save mostly its first weights, so it trains without the average; its config.json records
    it, and `--resume` goes on the same way.
    """
    m = cfg.ema_momentum
    if not m:
        return cfg
    steps, _ = windows_per_epoch(cfg, train_tokens)
    needed = math.ceil(3 / (1 - m) - 1e-9)
    if cfg.epochs * steps >= needed:
        return cfg
    print(f"note: --ema-momentum {m:g} averages over about {round(1 / (1 - m))} windows; this run trains at most "
          f"{cfg.epochs * steps}, fewer than {needed}, so it trains without the average (config.json records "
          "--ema-momentum 0)", file=sys.stderr)
    return dataclasses.replace(cfg, ema_momentum=0.0)


def install_initial_table(model, cfg: TrainConfig, train_ids: np.ndarray, counts) -> float:
    """Puts `--table-init`'s table into a LightRNN model; returns the seconds it took (they count in
    `--time-budget`). Seeded with `--seed`, so a run resumed before its first checkpoint gets the
    same table; a resume from a checkpoint does not call it."""
    from lightrnn_tf.table_init import initial_table

    start = time.perf_counter()
    model.set_table(initial_table(cfg.table_init, train_ids, counts, model.rows, model.cols, cfg.seed))
    seconds = time.perf_counter() - start
    if cfg.table_init != "random":
        print(f"initial table: {cfg.table_init} ({seconds:.1f} s)", file=sys.stderr)
    return seconds


def train(model_cfg: ModelConfig, cfg: TrainConfig) -> dict:
    """Runs (or resumes) a whole training job and returns the metrics written to OUT/metrics.json."""
    from lightrnn_tf.data import continuing_stream_dataset, stream_dataset
    from lightrnn_tf.model import count_params
    from lightrnn_tf.stream_model import stream_perplexity

    if os.path.exists(cfg.out) and not os.path.isdir(cfg.out):
        raise LightRNNError(f"--out {cfg.out} is a file; the run directory must be a directory")
    held = [name for name in rundir.RUN_FILES if os.path.exists(os.path.join(cfg.out, name))]
    if not cfg.resume and held:
        raise LightRNNError(f"{cfg.out} already holds a run ({', '.join(held)}); pass --resume to continue it or "
                            f"choose another --out")
    cfg.validate()
    strategy = make_strategy(cfg.strategy)  # before any other TensorFlow work
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise LightRNNError(f"--batch-size {cfg.batch_size} is not a multiple of the {replicas} replicas of --strategy "
                            f"{cfg.strategy}; it is the global batch, split evenly among them")
    model_cfg, vocab, ids, source = prepare(model_cfg, cfg)
    valid_b = evaluation_batch_size(len(ids["valid"]), cfg.batch_size, replicas)
    evaluation_batch_size(len(ids["test"]), cfg.batch_size, replicas)
    if not cfg.resume:
        cfg = without_averaging_if_too_short(cfg, len(ids["train"]))  # before config.json records it
        rundir.save_run(cfg.out, model_config=model_cfg, train_config=cfg, vocab=vocab)
    print(f"data {source}: {len(ids['train'])} train / {len(ids['valid'])} valid / {len(ids['test'])} test tokens, "
          f"|V| = {len(vocab)}" + (f", table {model_cfg.rows}x{model_cfg.cols}" if model_cfg.model == "lightrnn"
                                    else f", {model_cfg.model}"), file=sys.stderr)
    build_cfg = cfg
    if replicas > 1:
        print(f"strategy {cfg.strategy}: {replicas} replicas, {cfg.batch_size // replicas} of the {cfg.batch_size} "
              f"streams each", file=sys.stderr)
        if cfg.steps_per_execution > 1 and cfg.strategy in ("mirrored", "multiworker"):
            print(f"note: --steps-per-execution {cfg.steps_per_execution} runs as 1 with several mirrored replicas "
                  "(keras-team/keras#19246)", file=sys.stderr)
            build_cfg = dataclasses.replace(cfg, steps_per_execution=1)

    with strategy.scope():
        model = build_model(model_cfg, build_cfg)
    steps, continuing = windows_per_epoch(cfg, len(ids["train"]))

    def training_windows():
        """The training windows from the first of the checkpoint's next epoch on: a whole pass, or with
        epochs of `steps` windows the stream from where the finished epochs left it (an epoch the
        budget stopped early included; `epoch * steps` from a checkpoint that does not say)."""
        if not continuing:
            return stream_dataset(ids["train"], cfg.batch_size, cfg.bptt)
        start = ckpt.windows if ckpt.windows is not None else ckpt.epoch * steps
        return continuing_stream_dataset(ids["train"], cfg.batch_size, cfg.bptt, start)

    def tokens_in(windows: int) -> int:
        """Target words an epoch of `windows` windows trains on (a whole pass: each stream row's words but
        its first)."""
        return cfg.batch_size * min(len(ids["train"]) // cfg.batch_size - 1, windows * cfg.bptt)

    cbs = build_callbacks(cfg, ids["train"], tokens_in(steps), steps, reallocate=model_cfg.model == "lightrnn",
                          valid_ids=ids["valid"])
    if model_cfg.model == "lightrnn" and not (cfg.resume and cbs["checkpoint"].latest):
        # (a resume from a checkpoint restores the checkpoint's table instead)
        cbs["time_budget"].spent = install_initial_table(model, cfg, ids["train"], vocab.counts)
    epochs = cfg.epochs
    if cfg.resume:
        epochs = _epochs_left_to_train(model, cbs, cfg)
        if epochs > cbs["checkpoint"].epoch:  # it trains on: a later plain --resume (after a kill) goes on so too
            record_extension(cfg)
    fit_args = dict(validation_data=stream_dataset(ids["valid"], valid_b, cfg.bptt), epochs=epochs,
                    verbose=1 if sys.stdout.isatty() else 2)
    ckpt = cbs["checkpoint"]
    cut = first_epoch_cut(cfg, cbs, continuing, ckpt.epoch)
    if continuing and ckpt.windows not in (None, ckpt.epoch * steps) and ckpt.epoch < epochs:
        print(f"epoch {ckpt.epoch + 1} goes on through the stream after the {ckpt.windows} windows trained so far, "
              f"not after {ckpt.epoch * steps}: an earlier epoch stopped before its {steps} windows (the time budget)",
              file=sys.stderr)
    if (cfg.resume and ckpt.step or cut) and ckpt.epoch < epochs:  # one epoch alone first
        first = training_windows()
        if cfg.resume and ckpt.step:  # killed inside an epoch: finish that epoch first
            print(f"skipping the {ckpt.step} windows of epoch {ckpt.epoch + 1} trained before the checkpoint",
                  file=sys.stderr)
            first = ckpt.resume_dataset(first)
        model.fit(first, steps_per_epoch=steps - ckpt.step if continuing else None,
                  callbacks=([cut] if cut else []) + list(cbs.values()) + [ckpt.stop_after_epoch()], **fit_args)
        stopped = cbs["early_stopping"].stopped_epoch or cbs["time_budget"].exhausted
        if stopped or ckpt.epoch >= epochs:
            fit_args["epochs"] = ckpt.epoch  # nothing more to train
        elif cut and cut.windows:  # later epochs as long as the first, on through the stream
            whole, steps, continuing = steps, cut.windows, True  # (a cut epoch was a whole pass's)
            cfg = dataclasses.replace(cfg, steps_per_epoch=steps)
            cbs["stats"].tokens_per_epoch = tokens_in(steps)
            cbs["stats"].steps_per_epoch = steps
            print(f"epoch 1 ended at {cut.seconds:.3g} s, 1/{cfg.budget_epochs} of the --time-budget "
                  f"(--budget-epochs), after {steps} of its {whole} windows: every epoch now trains {steps} windows, "
                  f"on through the stream (config.json records --steps-per-epoch {steps})", file=sys.stderr)
    model.fit(training_windows(), steps_per_epoch=steps if continuing else None,
              callbacks=list(cbs.values()), **fit_args)
    # EarlyStopping has restored the best epoch's weights, table included.
    early = cbs["early_stopping"]
    progress = 1 if sys.stdout.isatty() else 0  # the result has its own line below
    valid_ppl, n_valid = stream_perplexity(model, ids["valid"], cfg.batch_size, cfg.bptt, verbose=progress)
    test_ppl, n_test = stream_perplexity(model, ids["test"], cfg.batch_size, cfg.bptt, verbose=progress)
    history = [dict(h) for h in ckpt.history]
    reports = {r["epoch"]: r for r in cbs["realloc"].reports}
    for h in history:
        if h["epoch"] in reports:
            h["realloc"] = reports[h["epoch"]]
    best_epoch = early.best_epoch + 1 if early.best_weights is not None else ckpt.epoch
    metrics = {
        "valid_ppl": valid_ppl,
        "test_ppl": test_ppl,
        "valid_tokens": int(len(ids["valid"])),  # as the "data ..." line and evaluate --json count them
        "test_tokens": int(len(ids["test"])),
        "valid_targets": n_valid,  # the words each perplexity averages over
        "test_targets": n_test,
        "best_epoch": best_epoch,
        "stopped_early": bool(early.stopped_epoch),
        "stopped_by_time_budget": cbs["time_budget"].exhausted,
        "elapsed_seconds": history[-1].get("elapsed_seconds") if history else None,
        "model": model_cfg.model,
        "strategy": cfg.strategy,
        "replicas": replicas,
        "params": count_params(model),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vocab_size": model_cfg.vocab_size,
        "table_shape": list(model_cfg.table_shape) if model_cfg.model == "lightrnn" else None,
        "tokens_per_sec": words_per_second(history),
        "epochs": ckpt.epoch,
        "train_seconds": float(sum(h["epoch_seconds"] for h in history)),
        "reallocations": len(cbs["realloc"].reports),
        "reallocations_skipped": cbs["realloc"].skipped,
        "history": history,
        "data": source,
        "unigram_valid_ppl": unigram_perplexity(ids["train"], ids["valid"], len(vocab)),
    }
    rundir.save_run(cfg.out, vocab=vocab, model=model, metrics=metrics)
    print(f"best epoch {best_epoch}: valid ppl {valid_ppl:.2f}, test ppl {test_ppl:.2f}, "
          f"{metrics['params']} params; wrote {cfg.out}", file=sys.stderr)
    return metrics


def words_per_second(history: list[dict]) -> float | None:
    """Every word trained over every second of training, from the epochs' `words_per_sec` and
    `epoch_seconds`; not the mean of the epochs' rates, which gives a short last epoch (cut by
    `--time-budget`, or slowed by a stall) the weight of a whole one. None before any epoch."""
    seconds = sum(h["epoch_seconds"] for h in history)
    if not history or seconds <= 0:
        return None
    return float(sum(h["words_per_sec"] * h["epoch_seconds"] for h in history) / seconds)


def record_extension(cfg: TrainConfig) -> None:
    """Writes the `--epochs`, `--patience` and `--time-budget` a `--resume` gave into OUT/config.json
    (atomically; every other setting as it was), so that a plain `--resume` after a kill continues
    the extended run. `--strategy` is not recorded: it names this machine's devices."""
    rundir.update_train_settings(cfg.out, {k: getattr(cfg, k) for k in EXTENDABLE if k != "strategy"})


def _epochs_left_to_train(model, cbs, cfg: TrainConfig) -> int:
    """Restores the run's checkpoint; returns the `epochs` to pass to `fit` (== done: nothing to train)."""
    ckpt, early = cbs["checkpoint"], cbs["early_stopping"]
    ckpt.set_model(model)
    for cb in cbs.values():
        cb.set_model(model)
    if ckpt.latest is None:  # killed before the first checkpoint: nothing was saved but the settings
        print(f"no checkpoint in {os.path.join(cfg.out, rundir.CHECKPOINTS)} yet; training from the start "
              f"with the run's settings", file=sys.stderr)
        return cfg.epochs
    ckpt.restore()
    if ckpt.epoch >= cfg.epochs:
        print(f"the run already trained {ckpt.epoch} epochs (--epochs {cfg.epochs}); nothing to train "
              f"(pass a larger --epochs to continue it)", file=sys.stderr)
        return ckpt.epoch
    if cfg.time_budget and cbs["time_budget"].spent >= cfg.time_budget:
        print(f"the run already spent its --time-budget of {cfg.time_budget:g} s; nothing to train "
              f"(pass a larger --time-budget to continue it)", file=sys.stderr)
        return ckpt.epoch
    if cfg.patience and early.wait >= cfg.patience:
        print(f"the run stopped early at epoch {ckpt.epoch} (no better validation loss for {early.wait} epochs); "
              f"nothing to train (pass a larger --patience to continue it)", file=sys.stderr)
        return ckpt.epoch
    return cfg.epochs


# === Command line ===

def build_parser(suppress_defaults: bool = False) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m lightrnn_tf.train",
        description="Train a LightRNN language model with model.fit. With no data flag, the King James Bible "
                    "built into the package is used (split 85/5/10 by lines).",
    )
    config_lib.add_flags(parser, ModelConfig, suppress_defaults=suppress_defaults)
    config_lib.add_flags(parser, TrainConfig, suppress_defaults=suppress_defaults)
    return parser


PATH_FLAGS = ("train", "valid", "test", "corpus", "data_dir")  # TrainConfig fields that name files or folders


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path)) if path else path


def saved_settings(path: str) -> tuple[ModelConfig, TrainConfig]:
    """A run's `config.json`: its model and training settings; one-line errors if it is corrupt."""
    saved_model, saved, names_data = rundir.read_config(path)
    if not names_data:
        raise LightRNNError(f"{path} was saved from Python (save_run), not by this command: it names no training "
                            f"data, so --resume cannot continue it")
    return saved_model, saved


def given_flags(argv) -> dict:
    """The settings the command line names explicitly (defaults left out), by field name."""
    return vars(build_parser(suppress_defaults=True).parse_args(argv))


def differing_flags(given: dict, saved_model: ModelConfig, saved: TrainConfig, skip=()) -> list[tuple]:
    """`(name, given value, saved value)` of every given flag (but `--out`, `--resume` and `skip`)
    whose value differs from the run's; a data path equal to the saved one once both are absolute
    is the same file."""
    out = []
    for name, value in given.items():
        if name in ("out", "resume") or name in skip:
            continue
        current = getattr(saved_model, name) if hasattr(saved_model, name) else getattr(saved, name)
        if value != current and not (name in PATH_FLAGS and _absolute(value) == _absolute(current)):
            out.append((name, value, current))
    return out


def configs_from_argv(argv=None) -> tuple[ModelConfig, TrainConfig]:
    """The run's settings: from the flags, or on --resume from OUT/config.json (see `EXTENDABLE`)."""
    args = build_parser().parse_args(argv)
    model_cfg, cfg = config_lib.from_args(ModelConfig, args), config_lib.from_args(TrainConfig, args)
    cfg = dataclasses.replace(cfg, out=run_directory(cfg.out, cfg.strategy))
    if not cfg.resume:  # data paths made absolute: config.json then works from any directory (--resume, evaluate)
        return model_cfg, dataclasses.replace(cfg, **{n: _absolute(getattr(cfg, n)) for n in PATH_FLAGS})
    path = os.path.join(cfg.out, rundir.CONFIG)
    if not os.path.exists(path):
        raise LightRNNError(f"--resume: no checkpoint in {cfg.out} (no {rundir.CONFIG})")
    saved_model, saved = saved_settings(path)
    given = given_flags(argv)
    differing = differing_flags(given, saved_model, saved, skip=EXTENDABLE)
    if differing:
        name, value, current = differing[0]
        flag = "--" + name.replace("_", "-")
        raise LightRNNError(f"{flag} {value} differs from the run's {current!r} in {path}; --resume continues "
                            f"the run as it was configured (only {', '.join('--' + e.replace('_', '-') for e in EXTENDABLE)} "
                            f"may change)")
    if saved.strategy == "multiworker" and "strategy" not in given:
        raise LightRNNError("--resume of a --strategy multiworker run: give --strategy multiworker again, on every "
                            "worker (each resumes its own run directory)")
    saved = dataclasses.replace(saved, out=cfg.out, resume=True, **{k: given[k] for k in EXTENDABLE if k in given})
    saved_model.vocab_size = 0  # set again from the data, then checked against vocab.txt
    return saved_model, saved


def main(argv=None) -> int:
    out = None
    try:
        model_cfg, cfg = configs_from_argv(argv)
        out = cfg.out
        train(model_cfg, cfg)
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if out and os.path.exists(os.path.join(out, rundir.CONFIG)):
            print(f"interrupted; resume with: python -m lightrnn_tf.train --out {out} --resume", file=sys.stderr)
        else:  # (while reading the corpus: nothing is saved yet)
            print("interrupted before anything was saved; run the same command again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
