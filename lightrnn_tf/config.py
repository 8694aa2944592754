"""Model and training settings: the single source of defaults.

`ModelConfig` describes the network and the table; `TrainConfig` the data, optimisation and
reallocation schedule. Both validate themselves, round-trip through JSON, and generate the
command-line flags of `python -m lightrnn_tf.train` (so `--help` and the defaults never drift).
This module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from lightrnn_tf.assignment import SOLVERS
from lightrnn_tf.data import TOKENIZER_RULES
from lightrnn_tf.errors import LightRNNError, positive_int
from lightrnn_tf.table import table_shape
from lightrnn_tf.table_init import TABLE_INITS


STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def _f(default, help, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class ModelConfig:
    """Shape of a LightRNN network and its word table."""

    model: str = _f("lightrnn", "lightrnn, or a baseline trained the same way: full_softmax (standard LSTM LM) or "
                                "sampled_softmax (the same, trained with a sampled softmax, evaluated with the full one)",
                    choices=("lightrnn", "full_softmax", "sampled_softmax"))
    vocab_size: int = _f(0, "number of words, including <unk> and <eos> (set from the data)", cli=False)
    rows: int = _f(0, "table rows R; 0 means ceil(sqrt(|V|)), or ceil(|V| / C) when --cols is given")
    cols: int = _f(0, "table columns C; 0 means ceil(|V| / R)")
    embedding_dim: int = _f(256, "size E of the row and column vectors")
    hidden_dim: int = _f(256, "LSTM units H per layer")
    num_layers: int = _f(1, "stacked LSTM layers")
    dropout: float = _f(0.3, "dropout on embeddings, between LSTM layers and before the softmax heads")
    weight_drop: float = _f(0.0, "DropConnect on the LSTMs' recurrent weights while training (AWD-LSTM's weight drop): "
                                 "this fraction of the h->gate weights is zeroed, one mask per layer and window; a "
                                 "regularizer for small corpora (docs/training.md)")
    num_sampled: int = _f(1024, "sampled_softmax: negative samples per training window (at most |V| - 1)")

    def resolved(self) -> "ModelConfig":
        """Returns a copy with `rows`/`cols` filled in from `vocab_size`, validated."""
        c = dataclasses.replace(self)
        positive_int(c.vocab_size, "vocab_size")
        for name in ("rows", "cols"):
            if getattr(c, name) < 0:
                raise LightRNNError(f"Received an invalid value for `{name}`, expected >= 0 (0: chosen from |V|), "
                                    f"got {getattr(c, name)}.")
        if c.vocab_size < 2:
            raise LightRNNError(f"vocabulary has {c.vocab_size} word(s); LightRNN needs at least 2")
        c.rows, c.cols = table_shape(c.vocab_size, c.rows, c.cols)
        if c.rows * c.cols < c.vocab_size:
            raise LightRNNError(
                f"table {c.rows}x{c.cols} has {c.rows * c.cols} cells, fewer than the {c.vocab_size} words"
            )
        for name in ("embedding_dim", "hidden_dim", "num_layers", "num_sampled"):
            positive_int(getattr(c, name), name)
        if not 0.0 <= c.dropout < 1.0:
            raise LightRNNError(f"Received an invalid value for `dropout`, expected 0 <= dropout < 1, got {c.dropout}.")
        if not 0.0 <= c.weight_drop < 1.0:
            raise LightRNNError(f"Received an invalid value for `weight_drop`, expected 0 <= weight_drop < 1, "
                                f"got {c.weight_drop}.")
        return c

    @property
    def table_shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)


@dataclass
class TrainConfig:
    """Data, optimisation, checkpointing and reallocation settings of one training run."""

    # === Data ===
    train: str = _f("", "training text file (one sentence or line per line); needs --test")
    valid: str = _f("", "validation text file; if omitted with --train/--test, the last 5%% of training lines")
    test: str = _f("", "test text file")
    corpus: str = _f("", "one text file split by lines: first 85%% train, next 5%% valid, last 10%% test")
    tfds: str = _f("", "TensorFlow Datasets name with a 'text' feature, e.g. lm1b, pg19, tiny_shakespeare")
    data_dir: str = _f("", "TFDS data directory (prepared datasets are read from here; nothing is downloaded if present)")
    ptb: bool = _f(False, "Penn Treebank, downloaded once into the Keras cache (with no data flag at all, the "
                          "built-in King James Bible is used)")
    lowercase: bool = _f(False, "lowercase the text before tokenizing")
    split_punct: bool = _f(False, "split punctuation from words (\"earth.\" -> \"earth\" \".\")")
    tokenizer_rules: int = _f(TOKENIZER_RULES, "version of the tokenizer's rules the run was trained with "
                                               "(lightrnn_tf.data.TOKENIZER_RULES; 1 in runs written before "
                                               "2026-12-06)", cli=False)
    max_vocab: int = _f(0, "keep at most this many words (by training frequency); 0 keeps all")
    min_count: int = _f(1, "drop words seen fewer times than this in training (they become <unk>)")
    # === Optimisation ===
    batch_size: int = _f(20, "parallel streams per batch")
    bptt: int = _f(35, "words per truncated back-propagation window")
    epochs: int = _f(20, "maximum training epochs")
    optimizer: str = _f("adam", "optimizer: adam, sgd or adamw", choices=("adam", "sgd", "adamw"))
    learning_rate: float = _f(2e-3, "initial learning rate")
    lr_decay: float = _f(0.5, "multiply the learning rate by this when validation perplexity does not improve")
    clip_norm: float = _f(1.0, "clip gradients to this global norm; 0 disables")
    ema_momentum: float = _f(0.99, "keep an exponential moving average of the weights with this momentum per "
                                   "training window (Keras' use_ema, Polyak averaging): validation, learning-rate "
                                   "decay, early stopping, the checkpoints' best weights and the saved model use it, "
                                   "while training and reallocation go on from the raw weights; off in a run of "
                                   "fewer than 3 / (1 - M) windows; 0 = off (docs/training.md)")
    patience: int = _f(3, "stop after this many epochs without a better validation perplexity; 0 never stops early")
    seed: int = _f(1234, "random seed (weights, table, dropout)")
    strategy: str = _f("default", "tf.distribute strategy: default (one device), mirrored (the local GPUs), multiworker "
                                  "(the workers in TF_CONFIG) or tpu; --batch-size is the global batch, split by rows "
                                  "among the replicas (docs/training.md)",
                       choices=STRATEGIES)
    mixed_precision: str = _f("none", "mixed precision for GPUs: the model's dtype policy, saved with it (the "
                                       "softmax heads and the variables stay float32; bfloat16 also runs on CPUs "
                                       "that have it)", choices=("none", "float16", "bfloat16"))
    deterministic: bool = _f(False, "deterministic TensorFlow ops (tf.config.experimental.enable_op_determinism): "
                                    "the same seed gives the same run, and a killed run resumed with --resume "
                                    "ends as an uninterrupted one; may be slower")
    steps_per_execution: int = _f(8, "training windows run per call into TensorFlow (fewer Python round trips; "
                                     "the progress bar and the NaN check see every this many windows); 1 with "
                                     "several mirrored replicas (Keras issue 19246)")
    steps_per_epoch: int = _f(0, "windows an epoch (0 = the whole training stream); shorter epochs go on through "
                                 "the stream where the last one stopped (wrapping at its end), so that a large "
                                 "corpus is validated and checkpointed every N windows (and reallocated after the "
                                 "first epochs, per --realloc-every/--realloc-rounds); best a multiple of "
                                 "--steps-per-execution")
    time_budget: float = _f(0.0, "stop training after this many seconds of wall time, validation and reallocation "
                                 "included (0 = no limit); the test set is then measured as usual")
    budget_epochs: int = _f(4, "with --time-budget and whole epochs (no --steps-per-epoch, --epochs at least N): "
                               "a first epoch still training after 1/N of the budget ends there, and every later "
                               "epoch trains as many windows, on through the stream, so that about N epochs fit "
                               "and reallocations between them (config.json records the --steps-per-epoch chosen); "
                               "0 = whole epochs (docs/training.md)")
    lr_cooldown: float = _f(0.0, "with --time-budget: over this last fraction of the budget the learning rate falls "
                                 "linearly to 0, so that the run ends annealed (0 = off; docs/training.md)")
    # === Reallocation ===
    table_init: str = _f("context", "the table before the first epoch: context (words read after like words share "
                                    "rows: a balanced clustering of their left contexts, lightrnn_tf.table_init) or "
                                    "random (the paper's cold start); docs/reallocation.md",
                         choices=TABLE_INITS)
    realloc_every: int = _f(1, "reallocate words to cells after every this many epochs; 0 keeps the initial table "
                               "(the default schedule, after epochs 1-3 with the greedy solver, was the best measured "
                               "on PTB and the KJV: docs/reallocation.md)")
    realloc_rounds: int = _f(3, "maximum number of reallocations (0 = no limit while realloc-every > 0)")
    realloc_recovery_epochs: int = _f(2, "a reallocation after the first runs only when at least this many epochs "
                                         "(of --epochs, and of --time-budget) are left to train after it; the first "
                                         "needs one (2 was better than 1 on the KJV at 300 s: docs/reallocation.md)")
    realloc_tokens: int = _f(0, "training tokens the loss statistics read: the beginnings of the --batch-size "
                                "stream rows, so the sample spreads over the whole text (0: see "
                                "--realloc-tokens-per-word)")
    realloc_tokens_per_word: float = _f(20.0, "without --realloc-tokens, the statistics read about this many "
                                              "training tokens per vocabulary word, or the whole text when it is "
                                              "shorter (0 = always the whole text): better than the whole text on "
                                              "the KJV, and faster (docs/reallocation.md)")
    realloc_k: int = _f(8, "sparse solver: candidate rows and columns per word")
    realloc_min_gain: float = _f(0.0, "a word moves only if that lowers its own summed loss by at least this "
                                      "fraction (e.g. 0.01); 0 lets every word move")
    realloc_min_count: int = _f(3, "words the statistics read fewer than this many times get no costs: they take "
                                   "the cells left over, together (0 or 1: every word read counts; 3 was better "
                                   "than 0 on PTB and no worse on the KJV: docs/reallocation.md)")
    realloc_vectors: str = _f("keep", "what the row and column vectors do when words move: keep their values (the "
                                      "paper), or carry: each becomes the token-weighted mean of the vectors its "
                                      "new words had", choices=("keep", "carry"))
    realloc_source: str = _f("pass", "where the loss statistics come from: pass (one more pass over the training "
                                     "text, weights frozen: the paper, and better in every run measured) or epoch "
                                     "(sums gathered while the epoch before the reallocation trained: no pass, "
                                     "for corpora too large even for --realloc-tokens; docs/reallocation.md)",
                             choices=("pass", "epoch"))
    solver: str = _f("greedy", "matching solver: greedy (CNTK's two-stage heuristic), sparse (exact OR-Tools matching "
                               "over candidate cells) or dense (exact over all cells, small |V|)",
                     choices=SOLVERS)
    # === Output ===
    checkpoint_minutes: float = _f(30.0, "besides the checkpoint after every epoch, save one inside an epoch "
                                         "every this many minutes (0 = at epoch ends only); --resume continues "
                                         "from the window where it was saved")
    checkpoint_windows: int = _f(0, "also save inside an epoch every this many training windows (0 = off)")
    out: str = _f("runs/lightrnn", "run directory: checkpoints, vocab.txt, config.json, metrics.json, TensorBoard logs")
    resume: bool = _f(False, "continue the run in --out from its latest checkpoint, with the settings of its "
                             "config.json (only --epochs, --patience and --time-budget may be given again, to "
                             "extend it, and --strategy, to continue it on other devices)")

    def validate(self) -> "TrainConfig":
        sources = [flag for flag, given in (("--corpus", self.corpus), ("--train/--valid/--test",
                   self.train or self.valid or self.test), ("--tfds", self.tfds), ("--ptb", self.ptb)) if given]
        if len(sources) > 1:
            raise LightRNNError(f"{' and '.join(sources)} name different data; give one of them")
        if self.data_dir and not self.tfds:
            raise LightRNNError("--data-dir is the TFDS data directory; it goes with --tfds")
        for name in ("batch_size", "bptt", "epochs", "steps_per_execution"):
            positive_int(getattr(self, name), name)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise LightRNNError(f"Received an invalid value for `learning_rate`, expected > 0, got {self.learning_rate}.")
        if not (math.isfinite(self.clip_norm) and self.clip_norm >= 0):
            raise LightRNNError(f"Received an invalid value for `clip_norm`, expected >= 0 (0 disables), "
                                f"got {self.clip_norm}.")
        if not 0 < self.lr_decay <= 1:
            raise LightRNNError(f"Received an invalid value for `lr_decay`, expected 0 < lr_decay <= 1, got {self.lr_decay}.")
        if not self.checkpoint_minutes >= 0:
            raise LightRNNError(f"Received an invalid value for `checkpoint_minutes`, expected >= 0, "
                                f"got {self.checkpoint_minutes}.")
        if not self.time_budget >= 0:
            raise LightRNNError(f"Received an invalid value for `time_budget`, expected >= 0, got {self.time_budget}.")
        if not 0 <= self.lr_cooldown <= 1:
            raise LightRNNError(f"Received an invalid value for `lr_cooldown`, expected 0 <= lr_cooldown <= 1, "
                                f"got {self.lr_cooldown}.")
        for name in ("patience", "min_count", "max_vocab", "realloc_every", "realloc_rounds", "realloc_tokens",
                     "realloc_min_count", "steps_per_epoch", "checkpoint_windows", "budget_epochs"):
            if getattr(self, name) < 0:
                raise LightRNNError(f"Received an invalid value for `{name}`, expected >= 0, got {getattr(self, name)}.")
        positive_int(self.realloc_k, "realloc_k")
        positive_int(self.realloc_recovery_epochs, "realloc_recovery_epochs")
        if not self.realloc_tokens_per_word >= 0:
            raise LightRNNError(f"Received an invalid value for `realloc_tokens_per_word`, expected >= 0, "
                                f"got {self.realloc_tokens_per_word}.")
        if self.realloc_source == "epoch" and self.strategy in ("multiworker", "tpu"):
            raise LightRNNError(f"--realloc-source epoch runs on one device or with --strategy mirrored, "
                                f"not {self.strategy}; use --realloc-source pass")
        if self.realloc_source == "epoch" and self.realloc_tokens:
            raise LightRNNError("--realloc-tokens samples the text for a statistics pass of their own; "
                                "with --realloc-source epoch the statistics are the epoch's own windows")
        if not 0 <= self.ema_momentum < 1:
            raise LightRNNError(f"Received an invalid value for `ema_momentum`, expected 0 <= ema_momentum < 1, "
                                f"got {self.ema_momentum}.")
        if self.ema_momentum and self.realloc_vectors == "carry":
            raise LightRNNError("--ema-momentum does not combine with --realloc-vectors carry (the carried vectors "
                                "would reach the averaged weights only); use --realloc-vectors keep, or --ema-momentum 0")
        if not 0 <= self.realloc_min_gain < 1:
            raise LightRNNError(f"Received an invalid value for `realloc_min_gain`, expected 0 <= min_gain < 1, "
                                f"got {self.realloc_min_gain}.")
        if self.strategy not in STRATEGIES:
            raise LightRNNError(f"Received an invalid value for `strategy`, expected one of {STRATEGIES}, "
                                f"got {self.strategy!r}.")
        return self


# === JSON round trip ===

# config.json's "saved_by" when `rundir.save_run` made the training settings from a tokenizer (a
# model trained in the user's own Keras code): they name no data, so --resume and --split refuse it.
SAVED_BY_PYTHON = "save_run"


def to_json(model: ModelConfig, train: TrainConfig | None = None, saved_by: str = "") -> str:
    doc: dict[str, Any] = {"model": dataclasses.asdict(model)}
    if train is not None:
        doc["train"] = dataclasses.asdict(train)
    if saved_by:
        doc["saved_by"] = saved_by
    return json.dumps(doc, indent=2, sort_keys=True)


# Settings whose default changed, with the value a config.json written before they existed meant,
# so that `--resume` of an older run goes on as it started.
_BEFORE_THEY_EXISTED = {"realloc_tokens_per_word": 0.0, "realloc_min_count": 0, "realloc_recovery_epochs": 1,
                        "ema_momentum": 0.0, "tokenizer_rules": 1, "table_init": "random"}


def from_json(text: str) -> tuple[ModelConfig, TrainConfig | None]:
    doc = json.loads(text)
    model = _from_dict(ModelConfig, doc["model"])
    train = _from_dict(TrainConfig, {**_BEFORE_THEY_EXISTED, **doc["train"]}) if "train" in doc else None
    return model, train


def names_data(text: str) -> bool:
    """Whether a config.json (its text) names the data its run trained on: it has training settings
    and `save_run` did not make them from a tokenizer alone (`SAVED_BY_PYTHON`)."""
    doc = json.loads(text)
    return "train" in doc and doc.get("saved_by") != SAVED_BY_PYTHON


def _from_dict(cls, d):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


# === Command-line flags generated from the dataclasses ===

def add_flags(parser: argparse.ArgumentParser, cls, skip=(), suppress_defaults=False) -> None:
    """Adds `--flag-name` for every field of `cls` with its default and help text.

    With `suppress_defaults`, flags not given are absent from the parsed namespace (used to tell
    which flags a user typed).
    """
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata["help"] + " (default: %(default)s)"
        default = argparse.SUPPRESS if suppress_defaults else f.default
        if f.type in (bool, "bool"):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            typ = {"int": int, "float": float, "str": str}.get(f.type, type(f.default))
            group.add_argument(flag, type=typ, default=default, choices=f.metadata.get("choices"), help=help_text)


def from_args(cls, args: argparse.Namespace):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})
