"""The layout of a training run directory, and loading a finished run.

    RUN/config.json      {"model": ModelConfig, "train": TrainConfig}  (tokenizer flags live in "train")
    RUN/vocab.txt        word<TAB>count, id order (id 0 <unk>, id 1 <eos>)
    RUN/model.keras      best-validation LightRNNModel, allocation included
    RUN/checkpoints/     tf.train.CheckpointManager: weights, optimizer, allocation, epoch, history
    RUN/metrics.json     valid_ppl, test_ppl, params, vocab_size, table_shape, tokens_per_sec, ...
    RUN/allocation.tsv   row, col, word of the learned table
    RUN/allocation_preview.txt  the words sharing the busiest rows and columns (plain text)
    RUN/logs/            TensorBoard
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from lightrnn_tf import config as config_lib
from lightrnn_tf.data import Tokenizer, Vocabulary
from lightrnn_tf.errors import LightRNNError

CONFIG = "config.json"
VOCAB = "vocab.txt"
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.json"
ALLOCATION = "allocation.tsv"
ALLOCATION_PREVIEW = "allocation_preview.txt"
LOGS = "logs"


@dataclass
class Run:
    """A finished run: its model, vocabulary, tokenizer and configs."""

    model: object
    vocab: Vocabulary
    tokenizer: Tokenizer
    model_config: config_lib.ModelConfig
    train_config: config_lib.TrainConfig | None
    path: str


def tokenizer_of(train_cfg) -> Tokenizer:
    if train_cfg is None:
        return Tokenizer()
    return Tokenizer(lowercase=train_cfg.lowercase, split_punct=train_cfg.split_punct)


def load_run(path: str) -> Run:
    """Loads RUN/model.keras, vocab.txt and config.json; one-line errors for what is missing."""
    if not os.path.isdir(path):
        raise LightRNNError(f"run directory not found: {path}")
    for name in (CONFIG, VOCAB, MODEL):
        if not os.path.exists(os.path.join(path, name)):
            raise LightRNNError(f"run directory {path} is incomplete: no {name} (did training finish?)")
    try:
        with open(os.path.join(path, CONFIG), encoding="utf-8") as f:
            model_cfg, train_cfg = config_lib.from_json(f.read())
    except (ValueError, KeyError, TypeError) as e:
        raise LightRNNError(f"{os.path.join(path, CONFIG)} is corrupt: {e}") from None
    vocab = Vocabulary.load(os.path.join(path, VOCAB))
    import keras

    import lightrnn_tf.model  # noqa: F401  (registers the custom classes)

    try:
        model = keras.saving.load_model(os.path.join(path, MODEL))
    except Exception as e:
        raise LightRNNError(f"{os.path.join(path, MODEL)} could not be loaded: {str(e).splitlines()[0]}") from None
    if model.vocab_size != len(vocab):
        raise LightRNNError(f"mismatched vocabulary: model has {model.vocab_size} words, {VOCAB} has {len(vocab)}")
    return Run(model, vocab, tokenizer_of(train_cfg), model_cfg, train_cfg, path)


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
