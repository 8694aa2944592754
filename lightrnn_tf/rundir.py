"""The layout of a training run directory, and loading a finished run.

    RUN/config.json      {"model": ModelConfig, "train": TrainConfig}  (tokenizer flags live in "train")
    RUN/vocab.txt        word<TAB>count, id order (id 0 <unk>, id 1 <eos>)
    RUN/model.keras      best-validation model (LightRNNModel: allocation included)
    RUN/checkpoints/     `checkpoint.TrainingCheckpoint`: every variable, optimizer, RNG, epoch,
                         callback states and history (written during training)
    RUN/metrics.json     valid_ppl, test_ppl, params, vocab_size, table_shape, tokens_per_sec, ...
    RUN/allocation.tsv   row, col, word of the learned table (LightRNN)
    RUN/allocation_preview.txt  the words sharing the busiest rows and columns (plain text)
    RUN/logs/            TensorBoard (written during training)

`save_run` is the only writer of the files above the two folders; `load_run` reads them.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass

from lightrnn_tf import config as config_lib
from lightrnn_tf.data import Tokenizer, Vocabulary
from lightrnn_tf.errors import LightRNNError, disk_full

CONFIG = "config.json"
VOCAB = "vocab.txt"
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.json"
ALLOCATION = "allocation.tsv"
ALLOCATION_PREVIEW = "allocation_preview.txt"
LOGS = "logs"
RUN_FILES = (CONFIG, VOCAB, MODEL, CHECKPOINTS, METRICS)  # any of them: the directory holds a run


@dataclass
class Run:
    """A finished run: its model, vocabulary, tokenizer and configs."""

    model: object
    vocab: Vocabulary
    tokenizer: Tokenizer
    model_config: config_lib.ModelConfig
    train_config: config_lib.TrainConfig | None
    path: str
    has_data: bool = True  # False: saved from Python (`save_run`), config.json names no training data


def tokenizer_of(train_cfg) -> Tokenizer:
    if train_cfg is None:
        return Tokenizer()
    return Tokenizer(lowercase=train_cfg.lowercase, split_punct=train_cfg.split_punct, rules=train_cfg.tokenizer_rules)


def read_config(config: str) -> tuple:
    """A config.json file -> `(ModelConfig, TrainConfig or None, names_data)` (`config.names_data`);
    one line if it is corrupt."""
    try:
        with open(config, encoding="utf-8") as f:
            text = f.read()
        model_cfg, train_cfg = config_lib.from_json(text)
        return model_cfg, train_cfg, config_lib.names_data(text)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise LightRNNError(f"{config} is corrupt: {e}") from None


def load_run(path: str) -> Run:
    """Loads RUN/model.keras, vocab.txt and config.json; one-line errors for what is missing."""
    if not os.path.isdir(path):
        raise LightRNNError(f"run directory not found: {path}")
    for name in (CONFIG, VOCAB, MODEL):
        if not os.path.exists(os.path.join(path, name)):
            raise LightRNNError(f"run directory {path} is incomplete: no {name} (did training finish?)")
    model_cfg, train_cfg, has_data = read_config(os.path.join(path, CONFIG))
    vocab = Vocabulary.load(os.path.join(path, VOCAB))
    import keras

    import lightrnn_tf.baselines  # noqa: F401  (registers the custom classes)
    import lightrnn_tf.model  # noqa: F401

    try:
        model = keras.saving.load_model(os.path.join(path, MODEL))
    except Exception as e:
        model_path = os.path.join(path, MODEL)
        if not zipfile.is_zipfile(model_path):  # Keras says "File not found" for a cut file
            raise LightRNNError(f"{model_path} is truncated or corrupt (not a readable .keras zip file)") from None
        raise LightRNNError(f"{model_path} could not be loaded: {str(e).splitlines()[0]}") from None
    if model.vocab_size != len(vocab):
        raise LightRNNError(f"mismatched vocabulary: model has {model.vocab_size} words, {VOCAB} has {len(vocab)}")
    _check_words_against_allocation(path, model, vocab)
    return Run(model, vocab, tokenizer_of(train_cfg), model_cfg, train_cfg, path, has_data)


def _check_words_against_allocation(path: str, model, vocab: Vocabulary) -> None:
    """A `vocab.txt` of the right size but other words (another run's with the same --max-vocab) is
    refused: `allocation.tsv`, written with the model, names the word of every cell."""
    alloc = os.path.join(path, ALLOCATION)
    if not hasattr(model, "get_table") or not os.path.exists(alloc):
        return
    table = model.get_table()
    cell_word, cols = table.cell_word, table.cols  # (R*C,) word id of each cell, -1 empty
    differ = 0
    with open(alloc, encoding="utf-8") as f:
        next(f, None)  # header
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            word_id = cell_word[int(parts[0]) * cols + int(parts[1])]
            differ += word_id < 0 or vocab.words[word_id] != parts[2]
    if differ:
        raise LightRNNError(f"mismatched vocabulary: {differ} of the {len(vocab)} words of {VOCAB} are not those "
                            f"{MODEL} was saved with (as {ALLOCATION} lists them); is it another run's {VOCAB}?")


def save_run(path: str, *, model_config=None, train_config=None, vocab: Vocabulary | None = None, model=None,
             metrics: dict | None = None, tokenizer: Tokenizer | None = None) -> str:
    """Writes the parts of a run directory that are given; each file is replaced atomically.

    Example (after `model.fit` in your own code; then `export.convert.export_run(path, ...)`):

    >>> save_run("runs/mine", model=model, vocab=vocab, tokenizer=Tokenizer(lowercase=True))

    Args:
        path: run directory (created if needed).
        model_config, train_config: written together as `config.json` (`train_config` optional).
            Without `model_config`, a given `model`'s own settings are written with the tokenizer
            flags of `tokenizer`; without `tokenizer` either, the run's config.json must already
            describe this model (as after a CLI run), else it is refused.
        vocab: written as `vocab.txt`.
        model: a stream language model, written as `model.keras`; a LightRNN model's table also
            as `allocation.tsv` and `allocation_preview.txt` (needs `vocab`).
        metrics: written as `metrics.json`.
        tokenizer: the `Tokenizer` the text was encoded with (see `model_config`).

    Returns:
        `path`.

    Raises:
        LightRNNError: what is given does not make a run (a LightRNN model without `vocab`, a
            vocabulary of another size than the model's, a model without `tokenizer` and no
            config.json of it), before anything is written; or a file could not be written (e.g.
            disk full): its partial file is removed and the files already there are left as they were.
    """
    _check_run_parts(path, model_config, vocab, model, tokenizer)
    try:
        return _save_run(path, model_config=model_config, train_config=train_config, vocab=vocab, model=model,
                         metrics=metrics, tokenizer=tokenizer)
    except OSError as e:
        raise _write_error(path, e) from None


def update_train_settings(path: str, values: dict) -> None:
    """Sets `values` (`{field: value}`) in the training settings of RUN/config.json, everything
    else in it as it was; rewritten atomically, and only when a value changes.

    Raises:
        LightRNNError: config.json could not be written (e.g. disk full); the old one is kept.
    """
    config = os.path.join(path, CONFIG)
    with open(config, encoding="utf-8") as f:
        doc = json.load(f)
    if all(doc["train"].get(k) == v for k, v in values.items()):
        return
    doc["train"].update(values)
    try:
        write_json(config, doc)
    except OSError as e:
        raise _write_error(path, e) from None


def _write_error(path: str, e: OSError) -> LightRNNError:
    """The one-line error of a run file that could not be written; the partial files are removed."""
    for name in os.listdir(path) if os.path.isdir(path) else ():
        if ".tmp" in name:
            os.remove(os.path.join(path, name))
    full = disk_full(e)
    reason = "disk full" if full else (e.strerror or str(e).splitlines()[0])
    advice = " (free space, then --resume writes them again)" if full else ""
    return LightRNNError(f"could not write the run files in {path} ({reason}); the files already there and "
                         f"the checkpoints are kept{advice}")


def _settings_of(model) -> dict:
    """The `ModelConfig` fields a stream model states itself."""
    from lightrnn_tf.baselines import FullSoftmaxLSTM, SampledSoftmaxLSTM

    kind = ("sampled_softmax" if isinstance(model, SampledSoftmaxLSTM) else
            "full_softmax" if isinstance(model, FullSoftmaxLSTM) else "lightrnn")
    return {"model": kind, **{f: getattr(model, f) for f in (
        "vocab_size", "rows", "cols", "embedding_dim", "hidden_dim", "num_layers", "weight_drop") if hasattr(model, f)},
        "dropout": model.dropout_rate}


def _check_run_parts(path, model_config, vocab, model, tokenizer) -> None:
    """Refuses, before anything is written, parts that do not make a run (see `save_run`)."""
    if model is None:
        return
    if vocab is None and hasattr(model, "get_table"):
        raise LightRNNError("save_run: a LightRNN model needs `vocab` (its allocation is written with the words)")
    if vocab is not None and len(vocab) != model.vocab_size:
        raise LightRNNError(f"save_run: the vocabulary has {len(vocab)} words, the model {model.vocab_size}")
    if model_config is not None or tokenizer is not None:
        return
    config = os.path.join(path, CONFIG)
    if not os.path.exists(config):
        raise LightRNNError("save_run: pass tokenizer= (the Tokenizer your text was encoded with), so that the run, "
                            "its evaluation and its export read text as your training did")
    saved, _, _ = read_config(config)
    other = {f: (v, getattr(saved, f)) for f, v in _settings_of(model).items() if getattr(saved, f) != v}
    if other:
        raise LightRNNError(f"save_run: {config} describes another model ("
                            + ", ".join(f"{f} {old} there, {new} here" for f, (new, old) in other.items())
                            + "): pass tokenizer= to write this model's")


def _save_run(path, *, model_config, train_config, vocab, model, metrics, tokenizer) -> str:
    os.makedirs(path, exist_ok=True)
    saved_by = ""
    if model_config is None and model is not None and tokenizer is not None:
        model_config = config_lib.ModelConfig(**_settings_of(model))
        if train_config is None:
            train_config = config_lib.TrainConfig(lowercase=tokenizer.lowercase, split_punct=tokenizer.split_punct,
                                                  tokenizer_rules=tokenizer.rules, out=path)
            saved_by = config_lib.SAVED_BY_PYTHON  # its data fields are defaults, not the text it trained on
    if model_config is not None:
        _write_text(os.path.join(path, CONFIG), config_lib.to_json(model_config, train_config, saved_by))
    if vocab is not None:
        vocab.save(os.path.join(path, VOCAB))
    if model is not None:
        tmp = os.path.join(path, "model.tmp.keras")
        model.save(tmp)
        os.replace(tmp, os.path.join(path, MODEL))
        if hasattr(model, "get_table"):
            from lightrnn_tf.realloc import plot_table

            table = model.get_table()
            table.to_tsv(os.path.join(path, ALLOCATION), vocab.words)
            plot_table(table, vocab.words, os.path.join(path, ALLOCATION_PREVIEW))
    if metrics is not None:
        write_json(os.path.join(path, METRICS), metrics)
    return path


def _write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
