"""`python -m lightrnn_tf.train`: one path through model.fit, resume, the saved best model, errors."""

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from lightrnn_tf import train as train_cli
from lightrnn_tf.config import ModelConfig, TrainConfig
from fault_callbacks import Interrupt, Poison

SMALL = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "4", "--bptt", "5"]


def _lines(path, start, stop):
    with open(path, encoding="utf-8") as f:
        return [ln for ln in f.read().splitlines() if ln.strip()][start:stop]


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def kjv_slice(data_dir, tmp_path):
    """The first 4,000 verses of the KJV (about 110k tokens)."""
    return _write(tmp_path, "kjv4k.txt", _lines(os.path.join(data_dir, "kjv", "kjv.txt"), 0, 4000))


@pytest.fixture
def toy_corpus(tmp_path):
    return _write(tmp_path, "c.txt", [f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(300)])


def _metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


def _inject(monkeypatch, callback):
    """Appends `callback` after the CLI's own callbacks."""
    build = train_cli.build_callbacks

    def patched(*args, **kwargs):
        cbs = build(*args, **kwargs)
        cbs["injected"] = callback
        return cbs

    monkeypatch.setattr(train_cli, "build_callbacks", patched)


@pytest.mark.slow
def test_short_kjv_run_beats_unigram_and_evaluate_reproduces_it(kjv_slice, tmp_path, capsys):
    out = str(tmp_path / "run")
    argv = ["--corpus", kjv_slice, "--lowercase", "--split-punct", "--epochs", "3", "--embedding-dim", "64",
            "--hidden-dim", "64", "--batch-size", "32", "--learning-rate", "0.01", "--dropout", "0.1", "--out", out]
    assert train_cli.main(argv) == 0
    m = _metrics(out)
    assert m["valid_ppl"] < 0.6 * m["unigram_valid_ppl"], m
    assert m["table_shape"][0] * m["table_shape"][1] >= m["vocab_size"]
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3] and m["train_seconds"] > 0
    for name in ("model.keras", "vocab.txt", "config.json", "allocation.tsv", "allocation_preview.txt", "checkpoints"):
        assert os.path.exists(os.path.join(out, name)), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(out, "logs", "train")))
    # `python -m lightrnn_tf.evaluate` reproduces metrics.json from the saved run, split or file.
    from lightrnn_tf import evaluate

    capsys.readouterr()
    for split in ("valid", "test"):
        assert evaluate.main(["--run", out, "--split", split, "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["perplexity"] == pytest.approx(m[f"{split}_ppl"], rel=1e-6)
        assert (got["targets"], got["tokens"]) == (m[f"{split}_targets"], m[f"{split}_tokens"])
    from lightrnn_tf.data import load_corpus

    test_file = _write(tmp_path, "test.txt", load_corpus(TrainConfig(corpus=kjv_slice)).test)
    assert evaluate.main(["--run", out, "--text", test_file, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["perplexity"] == pytest.approx(m["test_ppl"], rel=1e-6)


@pytest.mark.slow
def test_cli_and_a_plain_keras_fit_train_identically(data_dir, tmp_path):
    """Three epochs of a PTB slice: the CLI's losses equal a user's own `model.fit` (same seed, data,
    optimizer, default dropout, initial table and reallocation through `ReallocationCallback`) to 1e-5,
    and the state is carried across windows."""
    from lightrnn_tf.data import Tokenizer, Vocabulary, stream_dataset
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.realloc import ReallocationCallback
    from lightrnn_tf.table_init import context_table

    ptb = os.path.join(data_dir, "ptb", "ptb.valid.txt")
    train_lines, valid_lines = _lines(ptb, 0, 600), _lines(ptb, 600, 800)
    out = str(tmp_path / "run")
    argv = ["--train", _write(tmp_path, "tr.txt", train_lines), "--valid", _write(tmp_path, "va.txt", valid_lines),
            "--test", _write(tmp_path, "te.txt", valid_lines), "--epochs", "3", "--embedding-dim", "32",
            "--hidden-dim", "32", "--out", out]
    assert train_cli.main(argv) == 0
    cli = _metrics(out)["history"]
    # after epoch 1 only: a later one needs two epochs after it (the callback's default, too)
    assert [h.get("realloc", {}).get("epoch") for h in cli] == [1, None, None]

    cfg = TrainConfig()  # the defaults the CLI used
    vocab = Vocabulary.build(Tokenizer(), train_lines)
    train_ids, valid_ids = vocab.encode_lines(train_lines, Tokenizer()), vocab.encode_lines(valid_lines, Tokenizer())
    keras.utils.set_random_seed(cfg.seed)
    model = LightRNNModel(len(vocab), embedding_dim=32, hidden_dim=32, table_seed=cfg.seed)
    model.set_table(context_table(train_ids, vocab.counts, model.rows, model.cols, seed=cfg.seed))  # --table-init
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, global_clipnorm=cfg.clip_norm))
    callbacks = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=cfg.lr_decay, patience=1, min_delta=0),
                 ReallocationCallback(train_ids, batch_size=cfg.batch_size, bptt=cfg.bptt, verbose=0)]  # defaults
    history = model.fit(stream_dataset(train_ids, cfg.batch_size, cfg.bptt), epochs=3, verbose=0, callbacks=callbacks,
                        validation_data=stream_dataset(valid_ids, cfg.batch_size, cfg.bptt)).history
    np.testing.assert_allclose(history["loss"], [h["loss"] for h in cli], rtol=1e-5)
    np.testing.assert_allclose(history["val_loss"], [h["val_loss"] for h in cli], rtol=1e-5)


@pytest.mark.slow
def test_the_saved_model_is_the_whole_best_epoch(data_dir, tmp_path):
    """Regression: the best epoch's LSTM used to be lost (a plain list of layers escaped the checkpoint),
    so model.keras mixed the best embeddings/heads with the last epoch's LSTM."""
    ptb = os.path.join(data_dir, "ptb", "ptb.valid.txt")
    held = _write(tmp_path, "held.txt", _lines(ptb, 1500, 2000))
    out = str(tmp_path / "run")
    argv = ["--train", _write(tmp_path, "tr.txt", _lines(ptb, 0, 1500)), "--valid", held, "--test", held,
            "--epochs", "6", "--patience", "10", "--dropout", "0", "--learning-rate", "0.01", "--realloc-every", "0",
            "--table-init", "random", "--embedding-dim", "64", "--hidden-dim", "64", "--out", out]  # overfits by epoch 6
    assert train_cli.main(argv) == 0
    m = _metrics(out)
    val = [h["val_perplexity"] for h in m["history"]]
    assert int(np.argmin(val)) + 1 == m["best_epoch"] < len(val), val  # the setting overfits after the best epoch
    # valid == test here: the saved model scores exactly the best epoch's validation perplexity.
    assert m["valid_ppl"] == pytest.approx(min(val), rel=1e-5)
    assert m["test_ppl"] == pytest.approx(min(val), rel=1e-5)


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(toy_corpus, tmp_path, monkeypatch):
    """Default dropout and reallocation after every epoch: weights, table, optimizer, RNG, history,
    reallocation reports and metrics after a resume equal an uninterrupted run's."""
    base = ["--corpus", toy_corpus, "--epochs", "3", "--realloc-every", "1", "--realloc-recovery-epochs", "1"] + SMALL
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert train_cli.main(base + ["--out", a]) == 0
    with monkeypatch.context() as mp:
        _inject(mp, Interrupt(after_epoch=1))
        assert train_cli.main(base + ["--out", b]) == 130
    assert not os.path.exists(os.path.join(b, "metrics.json"))
    assert train_cli.main(["--out", b, "--resume"]) == 0
    ma, mb = _metrics(a), _metrics(b)
    assert [h["epoch"] for h in mb["history"]] == [1, 2, 3] and mb["reallocations"] == ma["reallocations"] == 2
    for ha, hb in zip(ma["history"], mb["history"]):
        for key in ("loss", "val_loss", "learning_rate"):
            assert ha[key] == pytest.approx(hb[key], rel=1e-6)
        if "realloc" in ha:
            assert ha["realloc"]["objective_after"] == pytest.approx(hb["realloc"]["objective_after"], rel=1e-6)
            assert ha["realloc"]["moved"] == hb["realloc"]["moved"]
    assert mb["train_seconds"] > mb["history"][-1]["epoch_seconds"]
    for key in ("valid_ppl", "test_ppl"):
        assert ma[key] == pytest.approx(mb[key], rel=1e-6)
    from lightrnn_tf.rundir import load_run

    wa, wb = load_run(a).model, load_run(b).model
    for va, vb in zip(wa.weights, wb.weights):  # (.keras files do not hold RNG state; checkpoints do)
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-6, atol=1e-7, err_msg=va.path)
    # The last checkpoints (optimizer moments, RNG and all) are equal too.
    import tensorflow as tf

    ra = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(a, "checkpoints")))
    rb = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(b, "checkpoints")))
    names = [n for n in ra.get_variable_to_shape_map() if not n.startswith(("_CHECKPOINTABLE", "state", "save_"))]
    assert len(names) > 40
    for name in names:
        np.testing.assert_allclose(ra.get_tensor(name), rb.get_tensor(name), rtol=1e-6, atol=1e-7, err_msg=name)


def test_resume_takes_its_settings_from_config_json(toy_corpus, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train_cli.main(["--corpus", toy_corpus, "--lowercase", "--epochs", "1", "--out", out] + SMALL) == 0
    saved = json.load(open(os.path.join(out, "config.json")))
    # One epoch of a few windows is too short for the default weight average: recorded as off, so
    # the resumed run below (two epochs) goes on without it as well.
    assert "trains without the average" in capsys.readouterr().err
    assert saved["train"]["ema_momentum"] == 0.0 and TrainConfig().ema_momentum == 0.99
    # A flag that would change the data or the model is refused, naming it; nothing is written.
    before = open(os.path.join(out, "metrics.json")).read()
    for flag, value in (("--batch-size", "8"), ("--no-lowercase", None), ("--hidden-dim", "32"),
                        ("--corpus", "other.txt")):
        code = train_cli.main(["--out", out, "--resume", flag] + ([value] if value else []))
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2 and err.startswith("error: " + flag.replace("--no-", "--")), err
    assert open(os.path.join(out, "metrics.json")).read() == before
    # Nothing given: the saved settings (data, tokenizer, sizes), and nothing left to train.
    assert train_cli.main(["--out", out, "--resume"]) == 0
    assert "nothing to train" in capsys.readouterr().err
    # --epochs extends the run, and config.json records it (every other setting as it was), so that
    # a plain --resume after a kill goes on with the extended run rather than "nothing to train".
    assert train_cli.main(["--out", out, "--resume", "--epochs", "2", "--patience", "5"]) == 0
    m = _metrics(out)
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    extended = json.load(open(os.path.join(out, "config.json")))
    assert extended["train"] == {**saved["train"], "epochs": 2, "patience": 5}
    assert extended["model"] == saved["model"]
    assert train_cli.main(["--out", out, "--resume"]) == 0
    assert "the run already trained 2 epochs (--epochs 2); nothing to train" in capsys.readouterr().err
    # A resume that trains nothing (a mistyped smaller --epochs) records nothing: the target stays.
    assert train_cli.main(["--out", out, "--resume", "--epochs", "1"]) == 0
    assert "nothing to train" in capsys.readouterr().err
    assert json.load(open(os.path.join(out, "config.json"))) == extended


def test_resuming_a_run_that_stopped_early_trains_nothing(tmp_path, capsys):
    # Valid text unlike the training text: validation gets worse from epoch 2 on.
    train = _write(tmp_path, "tr.txt", ["a b c d e f g h"] * 200)
    other = _write(tmp_path, "va.txt", ["h g f e d c b a a c e g b d f h"] * 20)
    out = str(tmp_path / "run")
    argv = ["--train", train, "--valid", other, "--test", other, "--epochs", "8", "--patience", "1",
            "--learning-rate", "0.02", "--out", out] + SMALL
    assert train_cli.main(argv) == 0
    m = _metrics(out)
    assert m["stopped_early"] and m["epochs"] < 8
    capsys.readouterr()
    assert train_cli.main(["--out", out, "--resume"]) == 0
    assert "stopped early" in capsys.readouterr().err
    assert _metrics(out)["history"] == m["history"]


def test_help_documents_every_flag_with_its_default():
    help_text = train_cli.build_parser().format_help()
    for cls in (ModelConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli", True):
                assert "--" + f.name.replace("_", "-") in help_text
    assert help_text.count("(default:") >= 30


def _error_line(capsys, argv):
    code = train_cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ("", "file is empty"),
    ("\n  \n\t\n", "file is empty: {path} (only blank lines)"),
    ("a a a\na a\na\n<unk>\n", "at least 2 distinct words"),
    (b"ok line\n\xc3\x28 broken\nmore\n", ":2: not valid UTF-8"),
])
def test_bad_corpus_gives_one_line_and_status_2(tmp_path, capsys, content, expected):
    path = tmp_path / "corpus.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, line = _error_line(capsys, ["--corpus", str(path), "--out", str(tmp_path / "o")] + SMALL)
    assert code == 2
    assert line.startswith("error: ") and expected.format(path=path) in line


@pytest.mark.parametrize("flag", ["--batch-size", "--bptt", "--hidden-dim"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_sizes_are_refused(tmp_path, capsys, flag, value):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\nd e f\ng h i\n")
    code, line = _error_line(capsys, ["--corpus", str(corpus), "--out", str(tmp_path / "o"), flag, value])
    assert code == 2 and flag.lstrip("-").replace("-", "_") in line and value in line


def test_resume_without_checkpoint_is_refused(tmp_path, capsys):
    code, line = _error_line(capsys, ["--out", str(tmp_path / "empty"), "--resume"])
    assert code == 2 and "no checkpoint" in line


def test_a_second_run_into_the_same_directory_is_refused(toy_corpus, tmp_path, capsys):
    out = str(tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:  # one epoch: a one-line note, not the callback's warning
        warnings.simplefilter("always")
        assert train_cli.main(["--corpus", toy_corpus, "--epochs", "1", "--out", out] + SMALL) == 0
    assert not [w for w in caught if "ReallocationCallback" in str(w.message)]
    assert "note: --epochs 1 trains with the initial table" in capsys.readouterr().err
    code, line = _error_line(capsys, ["--corpus", toy_corpus, "--epochs", "1", "--out", out] + SMALL)
    assert code == 2 and "already holds a run" in line


def test_cli_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lightrnn_tf.train", "--corpus", str(tmp_path / "missing.txt"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: file not found: {tmp_path / 'missing.txt'}"


def test_nan_loss_stops_with_one_line_and_keeps_the_last_checkpoint(toy_corpus, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    poison = Poison(epoch=2)
    build = train_cli.build_callbacks

    def patched(*args, **kwargs):  # the poison runs before the NaN guard looks at the batch, and after
        cbs = build(*args, **kwargs)  # the weight averaging has put the raw weights back for the epoch
        first = {name: cbs.pop(name) for name in ("averaging",) if name in cbs}
        return {**first, "poison": poison, **cbs}

    monkeypatch.setattr(train_cli, "build_callbacks", patched)
    code, line = _error_line(capsys, ["--corpus", toy_corpus, "--epochs", "3", "--out", out] + SMALL)
    assert code == 2
    assert line.startswith("error: loss became nan at epoch 2, by batch 8; the last good checkpoint is kept in")
    ckpts = os.listdir(os.path.join(out, "checkpoints"))
    assert any(f.startswith("ckpt-1.index") for f in ckpts) and not any(f.startswith("ckpt-2") for f in ckpts)
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    monkeypatch.undo()
    assert train_cli.main(["--out", out, "--resume"]) == 0  # and the run continues from epoch 1
    assert [h["epoch"] for h in _metrics(out)["history"]] == [1, 2, 3]


def test_a_finite_loss_with_an_infinite_perplexity_stops_as_a_nan_does():
    """Past about 88.7 nats a word the float32 perplexity is inf while the loss is finite: the model
    diverged, and the checkpoint (which skips non-finite logs) would save nothing, so the guard
    stops the run there too, in training and in validation; finite logs pass."""
    from lightrnn_tf.callbacks import NaNLossError, StopOnNaN

    guard = StopOnNaN(hint="the last good checkpoint is kept in x")
    guard.on_epoch_begin(0)
    guard.on_batch_end(2, {"loss": 87.0, "perplexity": float(np.exp(np.float32(87.0)))})
    with pytest.raises(NaNLossError, match=r"^perplexity became inf \(loss 251: the model diverged\) at epoch 1, "
                                           r"by batch 3; the last good checkpoint is kept in x$"):
        guard.on_batch_end(2, {"loss": 251.0, "perplexity": float(np.exp(np.float32(251.0)))})
    with pytest.raises(NaNLossError, match=r"^val_perplexity became inf \(val_loss 95: the model diverged\) in the "
                                           r"validation after epoch 2"):
        guard.on_epoch_end(1, {"loss": 5.0, "perplexity": 148.4, "val_loss": 95.0,
                               "val_perplexity": float(np.exp(np.float32(95.0)))})
    guard.on_epoch_end(1, {"loss": 5.0, "perplexity": 148.4, "val_loss": 5.2, "val_perplexity": 181.3})


def test_nan_loss_in_the_first_epoch_says_nothing_was_saved(toy_corpus, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    poison = Poison(epoch=1)
    build = train_cli.build_callbacks

    def patched(*args, **kwargs):
        cbs = build(*args, **kwargs)
        first = {name: cbs.pop(name) for name in ("averaging",) if name in cbs}
        return {**first, "poison": poison, **cbs}

    monkeypatch.setattr(train_cli, "build_callbacks", patched)
    code, line = _error_line(capsys, ["--corpus", toy_corpus, "--epochs", "2", "--out", out] + SMALL)
    assert code == 2 and "at epoch 1" in line
    assert "nothing was saved yet" in line and "last good checkpoint" not in line


def test_a_diverged_loss_gives_infinite_perplexity_not_a_crash(monkeypatch):
    """A finite loss above 709 nats a word overflows exp(): the perplexity is inf, not an OverflowError."""
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.stream_model import stream_perplexity

    model = LightRNNModel(30, embedding_dim=4, hidden_dim=4)
    model.compile()
    monkeypatch.setattr(model, "evaluate", lambda *a, **k: {"loss": 1000.0})
    assert stream_perplexity(model, np.arange(40) % 30, 2, 5) == (float("inf"), 38)
    monkeypatch.setattr(model, "evaluate", lambda *a, **k: {"loss": 2.0})
    assert stream_perplexity(model, np.arange(40) % 30, 2, 5)[0] == pytest.approx(np.exp(2.0))


def test_cli_reallocates_and_the_best_weights_keep_their_table(tmp_path):
    """Validation text unlike the training text: the best epoch comes early and reallocations follow
    it. model.keras must still score the best epoch's validation perplexity, which it only does with
    the table that epoch was validated on."""
    train = _write(tmp_path, "tr.txt", [f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(300)])
    other = _write(tmp_path, "va.txt", [f"dog {i % 3} and mat {i % 5} on sat {i % 7} cat the" for i in range(40)])
    out = str(tmp_path / "run")
    argv = ["--train", train, "--valid", other, "--test", other, "--out", out, "--epochs", "4",
            "--realloc-every", "1", "--realloc-recovery-epochs", "1", "--patience", "5", "--learning-rate", "0.01",
            "--realloc-tokens-per-word", "0"] + SMALL  # every token: 20 a word leave nothing to move here
    assert train_cli.main(argv) == 0
    m = _metrics(out)
    reports = [h["realloc"] for h in m["history"] if "realloc" in h]
    assert [r["epoch"] for r in reports] == [1, 2, 3]  # not after the last epoch
    for report in reports:
        assert report["lower_bound"] <= report["objective_after"] <= report["objective_before"]
    assert m["best_epoch"] < 4 and sum(r["moved"] for r in reports[m["best_epoch"] - 1:]) > 0
    val = [h["val_perplexity"] for h in m["history"]]
    assert m["valid_ppl"] == pytest.approx(val[m["best_epoch"] - 1], rel=1e-5)


@pytest.mark.parametrize("model_kind, policy", [("lightrnn", "bfloat16"), ("full_softmax", "bfloat16"),
                                                ("sampled_softmax", "bfloat16"), ("lightrnn", "float16")])
def test_mixed_precision_trains_saves_and_exports(toy_corpus, tmp_path, capsys, model_kind, policy):
    """`--mixed-precision` (meant for GPUs; both run on this CPU, float16 emulated): the LSTM computes
    in that dtype, the variables and the softmax heads stay float32, a reallocation runs (float16:
    through the loss-scale optimizer), the saved model reproduces the test perplexity, LightRNN
    exports, and the caller's global policy is back."""
    from lightrnn_tf import evaluate

    out = str(tmp_path / "run")
    assert train_cli.main(["--corpus", toy_corpus, *SMALL, "--epochs", "2", "--mixed-precision", policy,
                           "--model", model_kind, "--out", out]) == 0
    assert keras.mixed_precision.global_policy().name == "float32"
    m = _metrics(out)
    assert np.isfinite(m["test_ppl"]) and m["test_ppl"] < m["unigram_valid_ppl"] * 2
    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    assert model.lstms[0].compute_dtype == policy
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    capsys.readouterr()
    assert evaluate.main(["--run", out, "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["perplexity"] == pytest.approx(m["test_ppl"], rel=1e-6)
    if model_kind == "lightrnn":
        assert m["reallocations"] == 1
        from export.convert import export_run
        from export.predictor import NextWordPredictor

        assert model.softmax.compute_dtype == "float32"
        export_run(out, str(tmp_path / "m.tflite"), quantize="none")
        suggestions = NextWordPredictor(str(tmp_path / "m.tflite")).suggest("the cat", k=3)
        assert len(suggestions) == 3 and all(np.isfinite(lp) for _, lp in suggestions)


def test_float16_run_resumed_equals_the_uninterrupted_run(toy_corpus, tmp_path):
    """Mixed float16 (float16 stream state, the loss-scale optimizer, whose own state
    test_checkpoint perturbs and restores) with weight averaging: 2 epochs, then `--resume --epochs
    3`, ends exactly as 3 epochs in one go. (M = 0.9: 2 epochs of this corpus are too short for the
    default 0.99, and a run keeps the decision it started with.)"""
    flags = ["--corpus", toy_corpus, *SMALL, "--mixed-precision", "float16", "--deterministic", "--dropout", "0",
             "--ema-momentum", "0.9"]
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    assert train_cli.main(flags + ["--epochs", "3", "--out", whole]) == 0
    assert train_cli.main(flags + ["--epochs", "2", "--out", split]) == 0
    assert train_cli.main(["--out", split, "--resume", "--epochs", "3"]) == 0
    a, b = _metrics(whole), _metrics(split)
    assert [h["loss"] for h in b["history"]] == [h["loss"] for h in a["history"]] and len(a["history"]) == 3
    assert b["test_ppl"] == a["test_ppl"]


def test_little_held_out_text_gets_a_note(tmp_path, capsys):
    """A corpus of 3 lines is split 1/1/1 and trains, with one note giving the sizes; a corpus whose
    held-out splits reach train.SMALL_HELD_OUT tokens gets none."""
    corpus = _write(tmp_path, "c.txt", ["a b c d e f " * 4, "b c d e f a " * 4, "c d e f a b " * 4])
    assert train_cli.main(["--corpus", corpus, "--epochs", "1", "--out", str(tmp_path / "tiny")] + SMALL) == 0
    err = capsys.readouterr().err
    assert "note: little held-out text: valid 25, test 25 tokens (train/valid/test 1/1/1 lines)" in err, err
    corpus = _write(tmp_path, "big.txt", ["a b c d e f g h i j k l"] * 200)  # 10 and 20 lines held out
    assert train_cli.main(["--corpus", corpus, "--epochs", "1", "--out", str(tmp_path / "big")] + SMALL) == 0
    assert "little held-out text" not in capsys.readouterr().err


def test_a_lopsided_table_gets_a_note(tmp_path, capsys):
    """--rows far from √|V| (a 200 x 1 table for a few words) trains, with one note saying why that
    wastes LightRNN's sharing; the default table gets none."""
    corpus = _write(tmp_path, "c.txt", ["a b c d e f g h i j k l"] * 40)
    for rows, noted in (("200", True), ("0", False)):
        out = str(tmp_path / f"run{rows}")
        assert train_cli.main(["--corpus", corpus, "--rows", rows, "--epochs", "1", "--out", out] + SMALL) == 0
        err = capsys.readouterr().err
        assert ("LightRNN shares its vectors best with rows ≈ cols ≈ √|V|" in err) == noted, err


def test_words_per_second_is_every_word_over_every_training_second():
    # Two full epochs of 200k words in 20 s, then 1k words in a 5 s epoch cut by the budget:
    # 401k words in 45 s, where the mean of the three rates would say 6.7k words/s.
    words, seconds = np.array([200_000, 200_000, 1_000]), np.array([20.0, 20.0, 5.0])
    history = [{"words_per_sec": w / s, "epoch_seconds": s} for w, s in zip(words, seconds)]
    assert train_cli.words_per_second(history) == pytest.approx(words.sum() / seconds.sum())
    assert train_cli.words_per_second([]) is None


def test_ctrl_c_says_whether_there_is_a_run_to_resume(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the corpus is read (nothing saved yet) says to run the command again; once the
    run directory holds config.json, it gives the --resume command. Status 130 both times."""
    def interrupted(model_cfg, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train", interrupted)
    out = str(tmp_path / "run")
    assert train_cli.main(["--out", out]) == 130
    assert capsys.readouterr().err.strip() == "interrupted before anything was saved; run the same command again"
    os.makedirs(out)
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write("{}")
    assert train_cli.main(["--out", out]) == 130
    assert capsys.readouterr().err.strip() == f"interrupted; resume with: python -m lightrnn_tf.train --out {out} --resume"
