"""Tiny run directories for the export and predictor tests (built in seconds, in `tmp_path`).

    run = make_run(tmp_path / "run")                 # 2-layer LightRNN, |V| ~ 40, table 7x7 (empty cells)
    run = make_run(tmp_path / "run", train_steps=0)  # untrained weights, same layout
    files, run = ...                                 # pytest fixtures: the tiny run and its exports
    ptb_files, ptb_run = ...                         # the same on 400 lines of PTB (skip without it)

The run directory is written by `rundir.save_run`, the writer `python -m lightrnn_tf.train` uses.
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


# Other sentences over the words of TINY_TEXT, for tests that need text the tiny run did not train on.
TINY_HELD_OUT = [
    "The dog sat on the red mat.",
    "A brown cat and the dog, on a log: friends?",
    "It's the dog's log, isn't it?",
    "Cats and dogs don't sit on mats.",
]


def ptb_lines(path: str = PTB_VALID, n: int | None = None, start: int = 0) -> list[str]:
    """Non-blank lines `start .. start + n` of a PTB file; skips the test if the shared data is absent."""
    if not os.path.exists(path):
        pytest.skip(f"PTB not found at {path} (set LIGHTRNN_DATA)")
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    return lines[start : start + n] if n else lines[start:]


def make_run(path, lines=None, *, lowercase=True, split_punct=True, hidden_dim=16, embedding_dim=12,
             num_layers=2, rows=0, cols=0, train_steps=30, seed=0, max_vocab=0, batch_size=2):
    """Trains (briefly) a tiny LightRNN on `lines` and writes a run directory; returns its path.

    Args:
        path: run directory to create.
        lines: training text lines. Default: `TINY_TEXT`.
        rows, cols: table shape; 0 picks one with empty cells (R = C = ceil(sqrt(V)) + 1).
        train_steps: Adam steps of `model.fit` (0 keeps the random initial weights).
    """
    import keras

    from lightrnn_tf.config import ModelConfig, TrainConfig
    from lightrnn_tf.rundir import save_run
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
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    if train_steps:
        ids = vocab.encode_lines(lines, tokenizer)
        ds = stream_dataset(ids, batch_size=batch_size, bptt=8).repeat()
        model.fit(ds, epochs=1, steps_per_epoch=train_steps, verbose=0)
    return save_run(path, model_config=model_cfg, train_config=train_cfg, vocab=vocab, model=model)


# === Exported files, built once per test session ===

_EXPORTS: dict = {}
_PTB_EXPORTS: dict = {}


def ptb_exported(tmp_path_factory) -> dict:
    """A tiny run trained on the first 400 lines of ptb.valid.txt (its whole vocabulary, PTB's own
    tokenization) and its `none`, `folded`, `dynamic` and `float16` exports; skips without PTB."""
    if not _PTB_EXPORTS:
        from export.convert import export_run

        lines = ptb_lines(PTB_VALID, 400)
        base = tmp_path_factory.mktemp("export_ptb")
        run = make_run(base / "run", lines, lowercase=False, split_punct=False, train_steps=60, batch_size=8)
        out = {"run": run}
        for name, mode, fold in (("none", "none", False), ("folded", "none", True),
                                 ("dynamic", "dynamic", True), ("float16", "float16", True)):
            out[name] = str(base / f"ptb_{name}.tflite")
            export_run(run, out[name], quantize=mode, max_k=6, expand_rows=2, fold_inputs=fold)
        _PTB_EXPORTS.update(out)
    return _PTB_EXPORTS


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
        log_probs, state = model.target_log_probs(y, state)
        out.append(np.asarray(log_probs)[0])
    return np.concatenate(out).astype(np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny run and its exported files, built once per test module."""
    return exported(tmp_path_factory)


@pytest.fixture(scope="module")
def run(files):
    from lightrnn_tf.rundir import load_run

    return load_run(files["run"])


@pytest.fixture(scope="module")
def ptb_files(tmp_path_factory):
    return ptb_exported(tmp_path_factory)


@pytest.fixture(scope="module")
def ptb_run(ptb_files):
    from lightrnn_tf.rundir import load_run

    return load_run(ptb_files["run"])


def ptb_test_text(run, n_lines: int) -> str:
    """The first `n_lines` of ptb.test.txt, checked to be mostly in the run's vocabulary."""
    lines = ptb_lines(PTB_TEST, n_lines)
    ids = run.vocab.encode_lines(lines, run.tokenizer)
    assert (ids == run.vocab.unk_id).mean() < 0.35, "the PTB fixture's vocabulary does not cover ptb.test"
    return "\n".join(lines)
