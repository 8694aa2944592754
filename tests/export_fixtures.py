"""Tiny run directories for the export and predictor tests (built in seconds, in `tmp_path`).

    run = make_run(tmp_path / "run")                 # 2-layer LightRNN, |V| ~ 40, table 7x7 (empty cells)
    run = make_run(tmp_path / "run", train_steps=0)  # untrained weights, same layout

The run directory has exactly the layout `python -m lightrnn_tf.train` writes (`rundir.py`):
`config.json`, `vocab.txt`, `model.keras`.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

DATA_DIR = os.environ.get("LIGHTRNN_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
PTB_VALID = os.path.join(DATA_DIR, "ptb", "ptb.valid.txt")
PTB_TEST = os.path.join(DATA_DIR, "ptb", "ptb.test.txt")

TINY_TEXT = [
    "The cat sat on the mat.",
    "The dog sat on the log!",
    "A cat and a dog, on a mat: friends?",
    "It's the cat's mat, isn't it?",
    "<unk> words stay whole, like <unk> here.",
    "Dogs and cats don't sit on logs.",
    "the mat is red and the log is brown",
    "a red cat; a brown dog",
]


def ptb_lines(path: str = PTB_VALID, n: int | None = None) -> list[str]:
    """The first `n` non-blank lines of a PTB file; `TINY_TEXT` lines if the shared data is absent."""
    if not os.path.exists(path):
        lines = TINY_TEXT[::-1] * 4
    else:
        with open(path, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    return lines[:n] if n else lines


def make_run(path, lines=None, *, lowercase=True, split_punct=True, hidden_dim=16, embedding_dim=12,
             num_layers=2, rows=0, cols=0, train_steps=30, seed=0, max_vocab=0):
    """Trains (briefly) a tiny LightRNN on `lines` and writes a run directory; returns its path.

    Args:
        path: run directory to create.
        lines: training text lines. Default: `TINY_TEXT`.
        rows, cols: table shape; 0 picks one with empty cells (R = C = ceil(sqrt(V)) + 1).
        train_steps: Adam steps of `model.fit` (0 keeps the random initial weights).
    """
    import keras

    from lightrnn_tf import config as config_lib
    from lightrnn_tf.config import ModelConfig, TrainConfig
    from lightrnn_tf.data import Tokenizer, Vocabulary, stream_dataset
    from lightrnn_tf.model import LightRNNModel

    path = str(path)
    os.makedirs(path, exist_ok=True)
    lines = list(lines or TINY_TEXT)
    tokenizer = Tokenizer(lowercase=lowercase, split_punct=split_punct)
    vocab = Vocabulary.build(tokenizer, lines, max_size=max_vocab)
    v = len(vocab)
    if not rows:
        rows = int(np.ceil(np.sqrt(v))) + 1
    if not cols:
        cols = int(np.ceil(v / rows)) + 1
    model_cfg = ModelConfig(vocab_size=v, rows=rows, cols=cols, embedding_dim=embedding_dim,
                            hidden_dim=hidden_dim, num_layers=num_layers, dropout=0.0).resolved()
    train_cfg = TrainConfig(lowercase=lowercase, split_punct=split_punct, seed=seed, out=path)
    keras.utils.set_random_seed(seed)
    model = LightRNNModel.from_model_config(model_cfg, table_seed=seed)
    if train_steps:
        ids = vocab.encode_lines(lines, tokenizer)
        model.compile(optimizer=keras.optimizers.Adam(0.02))
        ds = stream_dataset(ids, batch_size=2, bptt=8).repeat()
        model.fit(ds, epochs=1, steps_per_epoch=train_steps, verbose=0, shuffle=False)
    model.save(os.path.join(path, "model.keras"))
    vocab.save(os.path.join(path, "vocab.txt"))
    with open(os.path.join(path, "config.json"), "w", encoding="utf-8") as f:
        f.write(config_lib.to_json(model_cfg, train_cfg))
    return path


# === Exported files, built once per test session ===

_EXPORTS: dict = {}


def exported(tmp_path_factory) -> dict:
    """One tiny trained run and its exports, shared by every test of the session.

    Returns:
        dict with `run` (run dir) and .tflite paths: `none` (f32, embeddings kept),
        `folded` (f32, input projections folded), `dynamic` and `float16` (folded); all with
        `max_k` 6 and `expand_rows` 2; and `narrow` (f32, folded, `max_k` 4, `expand_rows` 1, so
        exact top-k must call `expand`).
    """
    if not _EXPORTS:
        from export.convert import export_run

        base = tmp_path_factory.mktemp("export")
        run = make_run(base / "run")
        out = {"run": run}
        for name, mode, fold in (("none", "none", False), ("folded", "none", True),
                                 ("dynamic", "dynamic", True), ("float16", "float16", True)):
            out[name] = str(base / f"tiny_{name}.tflite")
            export_run(run, out[name], quantize=mode, max_k=6, expand_rows=2, fold_inputs=fold)
        out["narrow"] = str(base / "tiny_narrow.tflite")
        export_run(run, out["narrow"], quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
        _EXPORTS.update(out)
    return _EXPORTS


def keras_state(state) -> "np.ndarray":
    """Keras state (list of L `[h, c]`, batch 1) -> `(L, 2, H)` array, the exported layout."""
    return np.stack([np.concatenate([np.asarray(h), np.asarray(c)], axis=0) for h, c in state])


def keras_stream_log_probs(model, ids, bptt: int = 35) -> np.ndarray:
    """Reference `log P(s_t | s_<t)` for t = 1..N `(N,)`: `start_state(s_0)`, then
    `model.target_log_probs` window by window (the training/evaluation sequence path)."""
    ids = np.asarray(ids, np.int32)
    state = model.start_state(ids[:1])
    out = []
    for start in range(1, len(ids), bptt):
        y = ids[None, start : start + bptt]
        row_t, col_t, state = model.target_log_probs(y, state)
        out.append(np.asarray(row_t + col_t)[0])
    return np.concatenate(out).astype(np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny run and its exported files, built once per test module."""
    return exported(tmp_path_factory)


@pytest.fixture(scope="module")
def run(files):
    from lightrnn_tf.rundir import load_run

    return load_run(files["run"])
