"""Train a LightRNN language model: `python -m lightrnn_tf.train`.

    python -m lightrnn_tf.train --corpus ../shared/data/kjv/kjv.txt --lowercase --split-punct --out runs/kjv
    python -m lightrnn_tf.train --train a.txt --valid b.txt --test c.txt --realloc-every 2 --out runs/x
    python -m lightrnn_tf.train --out runs/x --resume            # continue after an interruption

A custom loop (`tf.function`, optional XLA) carries the LSTM state across BPTT windows, clips
gradients, decays the learning rate when validation perplexity stalls, stops early keeping the
best-validation weights, and every `--realloc-every` epochs moves words to the cells that
minimise the training loss (OR-Tools; see `realloc.py`). The run directory layout is in
`rundir.py`. Expected failures print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from lightrnn_tf import config as config_lib
from lightrnn_tf import rundir
from lightrnn_tf.config import ModelConfig, TrainConfig
from lightrnn_tf.data import Tokenizer, Vocabulary, load_corpus, num_windows, stream_dataset, unigram_perplexity
from lightrnn_tf.errors import LightRNNError


# === Evaluation ===

def evaluate_stream(model, ids, batch_size=10, bptt=35) -> tuple[float, int]:
    """Perplexity of `model` on an id stream `(N,)`: exp(total NLL / targets), state carried.

    Returns `(perplexity, n_targets)`. Every token of the first `batch_size * (N // batch_size)`
    is a target except the first of each of the `batch_size` rows.
    """
    import tensorflow as tf

    batch_size = max(1, min(batch_size, len(ids) // 2))

    @tf.function(reduce_retracing=True)
    def window(y, state):
        row_t, col_t, new_state = model.target_log_probs(y, state)
        return -tf.reduce_sum(row_t + col_t), new_state

    total, count, state = 0.0, 0, None
    for x, y in stream_dataset(ids, batch_size, bptt):
        if state is None:
            state = model.start_state(x[:, 0])
        nll, state = window(y, state)
        total += float(nll)
        count += int(tf.size(y))
    return math.exp(total / count), count


# === Training ===

class Trainer:
    """Owns the model, optimizer, checkpoints and the epoch loop of one run directory."""

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig):
        import keras
        import tensorflow as tf

        from lightrnn_tf.model import LightRNNModel

        self.cfg = cfg
        self.out = cfg.out
        os.makedirs(self.out, exist_ok=True)
        keras.utils.set_random_seed(cfg.seed)
        if cfg.mixed_precision != "none":
            keras.mixed_precision.set_global_policy(f"mixed_{cfg.mixed_precision}")
        self.model_cfg = model_cfg
        self.model = LightRNNModel.from_model_config(model_cfg, table_seed=cfg.seed)
        self.optimizer = _make_optimizer(cfg)
        self.optimizer.build(self.model.trainable_variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
        self.best_valid = tf.Variable(np.inf, dtype=tf.float64, name="best_valid")
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, name="bad_epochs")
        self.realloc_done = tf.Variable(0, dtype=tf.int64, name="realloc_done")
        ckpt = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, epoch=self.epoch,
                                   best_valid=self.best_valid, bad_epochs=self.bad_epochs,
                                   realloc_done=self.realloc_done)
        self.manager = tf.train.CheckpointManager(ckpt, os.path.join(self.out, rundir.CHECKPOINTS), max_to_keep=2)
        self.best_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(model=self.model), os.path.join(self.out, rundir.CHECKPOINTS, "best"), max_to_keep=1)
        self.writer = tf.summary.create_file_writer(os.path.join(self.out, rundir.LOGS))
        self._compile_steps()

    def _compile_steps(self):
        import tensorflow as tf

        model, opt = self.model, self.optimizer

        def update(y, initial_state):
            """One optimizer step on a window; `initial_state()` runs inside the tape."""
            with tf.GradientTape() as tape:
                loss, new_state = model.lm_loss(y, initial_state(), training=True)
                scaled = opt.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            opt.apply(grads, model.trainable_variables)
            return loss, tf.nest.map_structure(tf.stop_gradient, new_state)

        def step(y, state):
            return update(y, lambda: state)

        def first_step(x, y):  # the first window of an epoch: read x[:, 0] from the zero state
            return update(y, lambda: model.start_state(x[:, 0], training=True))

        jit = self.cfg.jit_compile
        self.step = tf.function(step, jit_compile=jit, reduce_retracing=True)
        self.first_step = tf.function(first_step, jit_compile=jit, reduce_retracing=True)

    def restore(self) -> None:
        latest = self.manager.latest_checkpoint
        if not latest:
            raise LightRNNError(f"--resume: no checkpoint in {os.path.join(self.out, rundir.CHECKPOINTS)}")
        try:
            self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
        except Exception as e:
            raise LightRNNError(f"checkpoint {latest} is corrupt or does not match this model: "
                                f"{str(e).splitlines()[0]}") from None
        print(f"resumed from {latest} (epoch {int(self.epoch.numpy())})", file=sys.stderr)

    def train_epoch(self, train_ids) -> dict:
        import keras

        cfg = self.cfg
        n = num_windows(len(train_ids), cfg.batch_size, cfg.bptt)
        ds = stream_dataset(train_ids, cfg.batch_size, cfg.bptt)
        if cfg.steps_per_epoch:
            n = min(n, cfg.steps_per_epoch)
            ds = ds.take(n)
        bar = keras.utils.Progbar(n, verbose=1 if sys.stdout.isatty() else 2,
                                  stateful_metrics=["ppl", "words/s"])
        total, count, state = 0.0, 0, None
        start = time.perf_counter()
        for i, (x, y) in enumerate(ds):
            loss, state = self.first_step(x, y) if state is None else self.step(y, state)
            loss = float(loss)
            if not math.isfinite(loss):
                raise LightRNNError(
                    f"loss became {loss} at epoch {int(self.epoch.numpy()) + 1}, batch {i + 1}; the last good "
                    f"checkpoint is kept in {self.manager.directory}; try a lower --learning-rate")
            tokens = int(y.shape[0] * y.shape[1])
            total += loss * tokens
            count += tokens
            elapsed = time.perf_counter() - start
            bar.update(i + 1, [("loss", loss), ("ppl", math.exp(total / count)), ("words/s", count / elapsed)])
        seconds = time.perf_counter() - start
        return {"train_loss": total / count, "train_ppl": math.exp(total / count),
                "tokens_per_sec": count / seconds, "epoch_seconds": seconds, "tokens": count}

    def fit(self, train_ids, valid_ids) -> list[dict]:
        import tensorflow as tf

        cfg = self.cfg
        history = []
        while int(self.epoch.numpy()) < cfg.epochs:
            epoch = int(self.epoch.numpy()) + 1
            print(f"epoch {epoch}/{cfg.epochs}  lr {float(self.optimizer.learning_rate.numpy()):.3g}", file=sys.stderr)
            stats = self.train_epoch(train_ids)
            stats["epoch"] = epoch
            stats["valid_ppl"], _ = evaluate_stream(self.model, valid_ids, cfg.batch_size, cfg.bptt)
            stats["lr"] = float(self.optimizer.learning_rate.numpy())
            improved = stats["valid_ppl"] < float(self.best_valid.numpy())
            if improved:
                self.best_valid.assign(stats["valid_ppl"])
                self.bad_epochs.assign(0)
                self.best_manager.save(checkpoint_number=epoch)
            else:
                self.bad_epochs.assign_add(1)
                self.optimizer.learning_rate.assign(self.optimizer.learning_rate * cfg.lr_decay)
            if self._realloc_due(epoch):
                stats["realloc"] = self._reallocate(train_ids)
            self.epoch.assign(epoch)
            self.manager.save(checkpoint_number=epoch)
            self._log(stats)
            history.append(stats)
            print(f"epoch {epoch}: train ppl {stats['train_ppl']:.2f}  valid ppl {stats['valid_ppl']:.2f}"
                  f"{'  (best)' if improved else ''}  {stats['tokens_per_sec']:.0f} words/s", file=sys.stderr)
            if cfg.patience and int(self.bad_epochs.numpy()) >= cfg.patience:
                print(f"early stop: no better validation perplexity for {cfg.patience} epochs", file=sys.stderr)
                break
        tf.summary.flush(self.writer)
        return history

    def _realloc_due(self, epoch: int) -> bool:
        cfg = self.cfg
        if not cfg.realloc_every or epoch % cfg.realloc_every or epoch >= cfg.epochs:
            return False
        return not cfg.realloc_rounds or int(self.realloc_done.numpy()) < cfg.realloc_rounds

    def _reallocate(self, train_ids) -> dict:
        from lightrnn_tf import realloc

        cfg = self.cfg
        report = realloc.reallocate(self.model, train_ids, batch_size=cfg.batch_size, bptt=cfg.bptt,
                                    solver=cfg.solver, k=cfg.realloc_k, max_tokens=cfg.realloc_tokens)
        self.realloc_done.assign_add(1)
        print(f"reallocation {int(self.realloc_done.numpy())}: loss {report['objective_before']:.6g} -> "
              f"{report['objective_after']:.6g} (lower bound {report['lower_bound']:.6g}), "
              f"{report['moved']} words moved, {report['seconds']:.1f} s", file=sys.stderr)
        return report

    def _log(self, stats: dict) -> None:
        import tensorflow as tf

        with self.writer.as_default(step=stats["epoch"]):
            for key in ("train_loss", "train_ppl", "valid_ppl", "lr", "tokens_per_sec"):
                tf.summary.scalar(key, stats[key])
            for key, value in stats.get("realloc", {}).items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"realloc/{key}", value)

    def finish(self, test_ids, words, history, extra) -> dict:
        """Restores the best weights, measures test perplexity, writes model.keras and metrics.json."""
        from lightrnn_tf.model import count_params

        if self.best_manager.latest_checkpoint:
            self.best_manager.checkpoint.restore(self.best_manager.latest_checkpoint).assert_existing_objects_matched()
        cfg = self.cfg
        test_ppl, n_test = evaluate_stream(self.model, test_ids, cfg.batch_size, cfg.bptt)
        tmp = os.path.join(self.out, "model.tmp.keras")
        self.model.save(tmp)
        os.replace(tmp, os.path.join(self.out, rundir.MODEL))
        from lightrnn_tf.realloc import plot_table

        table = self.model.get_table()
        table.to_tsv(os.path.join(self.out, rundir.ALLOCATION), words)
        plot_table(table, words, os.path.join(self.out, rundir.ALLOCATION_PREVIEW))
        metrics = {
            "valid_ppl": float(self.best_valid.numpy()),
            "test_ppl": test_ppl,
            "test_tokens": n_test,
            "params": count_params(self.model),
            "vocab_size": self.model_cfg.vocab_size,
            "table_shape": list(self.model_cfg.table_shape),
            "tokens_per_sec": float(np.mean([h["tokens_per_sec"] for h in history])) if history else None,
            "epochs": int(self.epoch.numpy()),
            "train_seconds": float(sum(h["epoch_seconds"] for h in history)),
            "reallocations": int(self.realloc_done.numpy()),
            "history": history,
            **extra,
        }
        rundir.write_json(os.path.join(self.out, rundir.METRICS), metrics)
        return metrics


def _make_optimizer(cfg: TrainConfig):
    import keras

    clip = {"global_clipnorm": cfg.clip_norm} if cfg.clip_norm > 0 else {}
    if cfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(cfg.learning_rate, **clip)
    elif cfg.optimizer == "adamw":
        opt = keras.optimizers.AdamW(cfg.learning_rate, **clip)
    else:
        opt = keras.optimizers.Adam(cfg.learning_rate, **clip)
    if cfg.mixed_precision == "float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def prepare(model_cfg: ModelConfig, cfg: TrainConfig):
    """Reads the corpus, builds (or, on --resume, checks) the vocabulary and resolves the table shape."""
    cfg.validate()
    for name in ("embedding_dim", "hidden_dim", "num_layers"):
        config_lib._positive(getattr(model_cfg, name), name)
    config_path = os.path.join(cfg.out, rundir.CONFIG)
    if cfg.resume:
        if not os.path.exists(config_path):
            raise LightRNNError(f"--resume: no checkpoint in {cfg.out} (no {rundir.CONFIG})")
        with open(config_path, encoding="utf-8") as f:
            model_cfg, _ = config_lib.from_json(f.read())
    elif os.path.isdir(os.path.join(cfg.out, rundir.CHECKPOINTS)):
        raise LightRNNError(f"{cfg.out} already holds a run; pass --resume to continue it or choose another --out")
    corpus = load_corpus(cfg)
    tokenizer = Tokenizer(lowercase=cfg.lowercase, split_punct=cfg.split_punct)
    vocab = Vocabulary.build(tokenizer, corpus.train, max_size=cfg.max_vocab, min_count=cfg.min_count)
    vocab_path = os.path.join(cfg.out, rundir.VOCAB)
    if cfg.resume:
        saved = Vocabulary.load(vocab_path)
        if saved != vocab:
            raise LightRNNError(f"mismatched vocabulary: the data now gives {len(vocab)} words, {vocab_path} has "
                                f"{len(saved)}; resume with the same data and tokenizer flags")
    ids = {name: vocab.encode_lines(getattr(corpus, name), tokenizer) for name in ("train", "valid", "test")}
    for name, arr in ids.items():
        if len(arr) < 2 * (cfg.batch_size if name == "train" else 1):
            raise LightRNNError(f"{name} split has {len(arr)} tokens, too few for batch size {cfg.batch_size}")
    model_cfg.vocab_size = len(vocab)
    model_cfg = model_cfg.resolved()
    return model_cfg, vocab, ids, corpus.source


def train(model_cfg: ModelConfig, cfg: TrainConfig) -> dict:
    """Runs a whole training job and returns the metrics written to OUT/metrics.json."""
    model_cfg, vocab, ids, source = prepare(model_cfg, cfg)
    os.makedirs(cfg.out, exist_ok=True)
    if not cfg.resume:
        vocab.save(os.path.join(cfg.out, rundir.VOCAB))
        with open(os.path.join(cfg.out, rundir.CONFIG), "w", encoding="utf-8") as f:
            f.write(config_lib.to_json(model_cfg, cfg))
    print(f"data {source}: {len(ids['train'])} train / {len(ids['valid'])} valid / {len(ids['test'])} test tokens, "
          f"|V| = {len(vocab)}, table {model_cfg.rows}x{model_cfg.cols}", file=sys.stderr)
    trainer = Trainer(model_cfg, cfg)
    if cfg.resume:
        trainer.restore()
    history = trainer.fit(ids["train"], ids["valid"])
    extra = {"data": source, "unigram_valid_ppl": unigram_perplexity(ids["train"], ids["valid"], len(vocab))}
    metrics = trainer.finish(ids["test"], vocab.words, history, extra)
    print(f"best valid ppl {metrics['valid_ppl']:.2f}, test ppl {metrics['test_ppl']:.2f}, "
          f"{metrics['params']} params; wrote {cfg.out}", file=sys.stderr)
    return metrics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lightrnn_tf.train",
        description="Train a LightRNN language model. With no data flags, Penn Treebank is downloaded once.",
    )
    config_lib.add_flags(parser, ModelConfig)
    config_lib.add_flags(parser, TrainConfig)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train(config_lib.from_args(ModelConfig, args), config_lib.from_args(TrainConfig, args))
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; resume with --out {args.out} --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
