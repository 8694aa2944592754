"""Every row of the README's bad-input table: one line `error: ...` on stderr, exit status 2, and
nothing already saved is lost or overwritten (every file of the run directory, and any model file,
has the same bytes afterwards).

Rows covered in other files are named in the table (README.md, "Bad input"); this file holds the
rest, run through each command's own `main`.
"""

import hashlib
import os
import shutil

import pytest

from export_fixtures import TINY_TEXT, exported

SMALL = ["--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "2", "--bptt", "5", "--epochs", "2"]


def _snapshot(*paths):
    """`{file: sha256}` of every file under `paths` (files or directories)."""
    out = {}
    for path in paths:
        files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        for f in files:
            with open(f, "rb") as fh:
                out[f] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _one_error_line(capsys, main, argv):
    """Runs a command's `main`; returns its single stderr line (asserting status 2 and one line)."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-epoch training run (two checkpoints) and its corpus."""
    from lightrnn_tf import train

    base = tmp_path_factory.mktemp("bad")
    corpus = base / "corpus.txt"
    corpus.write_text("\n".join(TINY_TEXT * 10) + "\n", encoding="utf-8")
    out = str(base / "run")
    assert train.main(["--corpus", str(corpus), "--out", out, "--lowercase"] + SMALL) == 0
    return out, str(corpus)


@pytest.fixture
def run_copy(trained, tmp_path):
    """A fresh copy of the trained run, and of its corpus, for one test to damage."""
    out, corpus = trained
    run = str(tmp_path / "run")
    shutil.copytree(out, run)
    text = str(tmp_path / "corpus.txt")
    shutil.copy(corpus, text)
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        config = f.read().replace(corpus, text)
    with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
        f.write(config)
    return run, text


# === Training: python -m lightrnn_tf.train ===

def test_unknown_flag_value_is_one_line(capsys, tmp_path):
    from lightrnn_tf import train

    line = _one_error_line(capsys, train.main, ["--out", str(tmp_path / "o"), "--solver", "magic"])
    assert "argument --solver: invalid choice: 'magic'" in line and line.endswith("(see python -m lightrnn_tf.train --help)")
    assert not os.path.exists(tmp_path / "o")


def test_negative_time_budget(capsys, tmp_path):
    from lightrnn_tf import train

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\nd e f\n" * 20)
    line = _one_error_line(capsys, train.main, ["--corpus", str(corpus), "--out", str(tmp_path / "o"),
                                                "--time-budget", "-5"])
    assert "time_budget" in line and "-5" in line


@pytest.mark.parametrize("flag, value", [("--weight-drop", "1"), ("--dropout", "-0.1"), ("--ema-momentum", "1"),
                                         ("--lr-cooldown", "1.5")])
def test_a_rate_outside_0_1(capsys, tmp_path, flag, value):
    from lightrnn_tf import train

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\nd e f\n" * 20)
    line = _one_error_line(capsys, train.main, ["--corpus", str(corpus), "--out", str(tmp_path / "o"), flag, value])
    assert f"`{flag[2:].replace('-', '_')}`" in line and value in line
    assert not os.path.exists(tmp_path / "o")


def test_weight_averaging_with_carried_vectors_is_refused(capsys, tmp_path):
    from lightrnn_tf import train

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\nd e f\n" * 20)
    line = _one_error_line(capsys, train.main, ["--corpus", str(corpus), "--out", str(tmp_path / "o"),
                                                "--ema-momentum", "0.99", "--realloc-vectors", "carry"])
    assert "--ema-momentum" in line and "--realloc-vectors carry" in line
    assert not os.path.exists(tmp_path / "o")


def test_resume_after_the_corpus_changed_is_refused(capsys, run_copy):
    from lightrnn_tf import train

    run, corpus = run_copy
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("brand new words appear here\n" * 5)
    before = _snapshot(run)
    line = _one_error_line(capsys, train.main, ["--out", run, "--resume", "--epochs", "3"])
    assert "mismatched vocabulary" in line and "resume with the same data" in line
    assert _snapshot(run) == before


def test_resume_with_a_corrupt_config_json(capsys, run_copy):
    from lightrnn_tf import train

    run, _ = run_copy
    with open(os.path.join(run, "config.json"), "r+", encoding="utf-8") as f:
        f.truncate(40)
    before = _snapshot(run)
    line = _one_error_line(capsys, train.main, ["--out", run, "--resume", "--epochs", "3"])
    assert "config.json is corrupt" in line
    assert _snapshot(run) == before


def _corrupt(path):
    with open(path, "r+b") as f:
        f.seek(0)
        f.write(b"\xff" * 64)


def test_resume_when_every_checkpoint_is_corrupt(capsys, run_copy):
    from lightrnn_tf import train

    run, _ = run_copy
    ckpts = os.path.join(run, "checkpoints")
    for name in os.listdir(ckpts):
        if name.endswith(".index"):
            _corrupt(os.path.join(ckpts, name))
    before = _snapshot(run)
    try:
        code = train.main(["--out", run, "--resume", "--epochs", "3"])
    except SystemExit as e:
        code = e.code
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(("error", "warning"))]
    assert code == 2
    # a warning for each checkpoint tried, then one error naming the newest
    assert err[-1].startswith("error: checkpoint ") and "ckpt-2 is corrupt or does not match this model" in err[-1]
    assert sum(ln.startswith("warning: ") for ln in err) == 2
    assert _snapshot(run) == before


def test_resume_when_the_newest_checkpoint_is_corrupt_uses_the_one_before(capsys, run_copy):
    from lightrnn_tf import train

    run, _ = run_copy
    _corrupt(os.path.join(run, "checkpoints", "ckpt-2.index"))
    assert train.main(["--out", run, "--resume", "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning: checkpoint " in err and "ckpt-2 is corrupt" in err and "(epoch 1)" in err


@pytest.mark.parametrize("argv, expected", [
    (["--corpus", "c.txt", "--ptb"], "--corpus and --ptb name different data; give one of them"),
    (["--corpus", "c.txt", "--tfds", "lm1b"], "--corpus and --tfds name different data"),
    (["--data-dir", "d"], "--data-dir is the TFDS data directory; it goes with --tfds"),
    (["--rows", "-1"], "`rows`, expected >= 0"),
    (["--cols", "-4"], "`cols`, expected >= 0"),
    (["--clip-norm", "-1"], "`clip_norm`, expected >= 0"),
    (["--learning-rate", "nan"], "`learning_rate`, expected > 0, got nan"),
    (["--time-budget", "nan"], "`time_budget`, expected >= 0, got nan"),
])
def test_conflicting_or_invalid_settings(capsys, tmp_path, argv, expected):
    from lightrnn_tf import train

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TINY_TEXT * 3) + "\n", encoding="utf-8")
    argv = [str(corpus) if a == "c.txt" else a for a in argv]
    if "--corpus" not in argv:
        argv += ["--corpus", str(corpus)]
    line = _one_error_line(capsys, train.main, argv + ["--out", str(tmp_path / "o")] + SMALL)
    assert expected in line, line
    assert not os.path.exists(tmp_path / "o")


def test_out_holding_run_files_without_checkpoints_is_refused(capsys, trained, tmp_path):
    """A folder with a config.json and metrics.json (a user's, or a run whose checkpoints were
    deleted to save space) is not overwritten; a file as --out is named as such."""
    from lightrnn_tf import train

    _, corpus = trained
    out = tmp_path / "proj"
    out.mkdir()
    (out / "config.json").write_text('{"mine": 1}')
    (out / "metrics.json").write_text('{"mine": 2}')
    before = _snapshot(str(out))
    line = _one_error_line(capsys, train.main, ["--corpus", corpus, "--out", str(out)] + SMALL)
    assert "already holds a run (config.json, metrics.json); pass --resume" in line
    assert _snapshot(str(out)) == before
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _one_error_line(capsys, train.main, ["--corpus", corpus, "--out", str(afile)] + SMALL)
    assert line == f"error: --out {afile} is a file; the run directory must be a directory"


def test_resume_from_another_directory(capsys, tmp_path, monkeypatch):
    """config.json keeps the data paths absolute: a run started with a relative --corpus resumes
    (and evaluates its splits) from anywhere, and naming the same file again, relative to the new
    directory, is accepted."""
    from lightrnn_tf import evaluate, train

    work = tmp_path / "work"
    work.mkdir()
    (work / "corpus.txt").write_text("\n".join(TINY_TEXT * 10) + "\n", encoding="utf-8")
    monkeypatch.chdir(work)
    assert train.main(["--corpus", "corpus.txt", "--out", "run", "--lowercase"] + SMALL[:-1] + ["1"]) == 0
    monkeypatch.chdir(tmp_path)
    assert train.main(["--out", "work/run", "--resume", "--epochs", "2", "--corpus", "work/corpus.txt"]) == 0
    capsys.readouterr()
    assert evaluate.main(["--run", "work/run", "--split", "test", "--json"]) == 0
    assert '"perplexity"' in capsys.readouterr().out


def test_resume_after_the_checkpoint_index_was_deleted(capsys, run_copy):
    """The `checkpoint` index lost, the ckpt-N files kept: the index is rebuilt from them and the run
    continues from its newest epoch instead of training from the start over them."""
    import json

    from lightrnn_tf import train

    run, _ = run_copy
    os.remove(os.path.join(run, "checkpoints", "checkpoint"))
    ckpt1 = _snapshot(*[os.path.join(run, "checkpoints", f) for f in os.listdir(os.path.join(run, "checkpoints"))
                        if f.startswith("ckpt-1")])
    assert train.main(["--out", run, "--resume", "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "the checkpoint index of" in err and "rebuilt it from ckpt-1, ckpt-2" in err
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        assert [h["epoch"] for h in json.load(f)["history"]] == [1, 2, 3]
    assert all(_snapshot(p) == {p: h} for p, h in ckpt1.items() if os.path.exists(p))


# === A saved run: python -m lightrnn_tf.evaluate and python -m export ===

def test_evaluate_refuses_negative_sizes(capsys, run_copy):
    from lightrnn_tf.evaluate import main as evaluate_main

    run, _ = run_copy
    for flag in ("--bptt", "--batch-size"):
        line = _one_error_line(capsys, evaluate_main, ["--run", run, "--split", "test", flag, "-3"])
        assert "expected a positive integer (0: the run's own), got -3" in line


def test_a_run_saved_from_python_names_no_data(capsys, trained, tmp_path):
    """`save_run` from the user's own Keras code records the tokenizer but no data: `evaluate
    --split` and `train --resume` say so (instead of reading the built-in KJV as the run's data)."""
    from lightrnn_tf import train
    from lightrnn_tf.evaluate import main as evaluate_main
    from lightrnn_tf.rundir import load_run, save_run

    out, corpus = trained
    run = load_run(out)
    mine = str(tmp_path / "mine")
    save_run(mine, model=run.model, vocab=run.vocab, tokenizer=run.tokenizer)
    before = _snapshot(mine)
    line = _one_error_line(capsys, evaluate_main, ["--run", mine, "--split", "test"])
    assert line == (f"error: {mine} was saved from Python (save_run), whose config.json names no data to take a "
                    f"test split from; give --text FILE")
    line = _one_error_line(capsys, train.main, ["--out", mine, "--resume"])
    assert "was saved from Python (save_run), not by this command" in line
    assert _snapshot(mine) == before
    sizes = ["--batch-size", "2", "--bptt", "5", "--json"]  # the run's (save_run records the defaults)
    assert evaluate_main(["--run", mine, "--text", corpus, *sizes]) == 0  # its own text: as the trained run
    assert evaluate_main(["--run", out, "--text", corpus, *sizes]) == 0
    a, b = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert a == b


@pytest.mark.parametrize("damage, expected", [
    ("delete_model", "is incomplete: no model.keras"),
    ("corrupt_model", "model.keras is truncated or corrupt (not a readable .keras zip file)"),
    ("other_vocab", "mismatched vocabulary: model has"),
    ("shuffled_vocab", "words of vocab.txt are not those model.keras was saved with"),
    ("no_run", "run directory not found"),
])
def test_a_damaged_run_directory(capsys, run_copy, tmp_path, damage, expected):
    from export.__main__ import main as export_main
    from lightrnn_tf.evaluate import main as evaluate_main

    run, corpus = run_copy
    model = os.path.join(run, "model.keras")
    if damage == "delete_model":
        os.remove(model)
    elif damage == "corrupt_model":
        with open(model, "r+b") as f:
            f.truncate(os.path.getsize(model) // 2)
    elif damage == "other_vocab":
        with open(os.path.join(run, "vocab.txt"), "a", encoding="utf-8") as f:
            f.write("extra\t1\n")
    elif damage == "shuffled_vocab":  # the same size, other words in the ids (another run's, same --max-vocab)
        with open(os.path.join(run, "vocab.txt"), encoding="utf-8") as f:
            lines = f.readlines()
        with open(os.path.join(run, "vocab.txt"), "w", encoding="utf-8") as f:
            f.writelines(lines[:2] + sorted(lines[2:]))
    else:
        run = str(tmp_path / "nowhere")
    existing = tmp_path / "model.tflite"
    existing.write_bytes(b"an earlier export")
    before = _snapshot(*[p for p in (run, str(existing)) if os.path.exists(p)])
    line = _one_error_line(capsys, evaluate_main, ["--run", run, "--text", corpus])
    assert expected in line
    line = _one_error_line(capsys, export_main, ["--run", run, "--out", str(existing)])
    assert expected in line
    assert _snapshot(*[p for p in (run, str(existing)) if os.path.exists(p)]) == before


# === A .tflite: python -m export.inspect, python -m export.evaluate, NextWordPredictor ===

@pytest.fixture(scope="module")
def tflite(tmp_path_factory):
    return exported(tmp_path_factory)["none"]


def _swap_vocab(src, dst, words):
    """`src` with its appended vocab.txt replaced by `words` (same count: another model's vocabulary)."""
    import io
    import zipfile

    with open(src, "rb") as f:
        data = f.read()
    start = data.rfind(b"PK\x03\x04")
    out = io.BytesIO(data[:start])
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("vocab.txt", "".join(w + "\n" for w in words))
    with open(dst, "wb") as f:
        f.write(out.getvalue())


@pytest.mark.parametrize("damage, expected", [
    ("missing", "model file not found"),
    ("junk", "is not a TFLite model"),
    ("truncated", "is truncated or corrupt (its TFLite structure cannot be read)"),
    ("other_vocab", "vocab.txt is not the vocabulary this model was exported with (sha256 mismatch)"),
])
def test_a_bad_tflite(capsys, tflite, tmp_path, damage, expected):
    from export.evaluate import main as evaluate_main
    from export.inspect import main as inspect_main
    from export.metadata import read_metadata

    path = str(tmp_path / "model.tflite")
    with open(tflite, "rb") as f:
        data = f.read()
    if damage == "junk":
        open(path, "wb").write(b"\x00garbage" * 100)
    elif damage == "truncated":
        open(path, "wb").write(data[: len(data) // 3])
    elif damage == "other_vocab":
        words = read_metadata(tflite)["vocab"]
        _swap_vocab(tflite, path, words[:2] + list(reversed(words[2:])))
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat\n")
    before = _snapshot(*[p for p in (path,) if os.path.exists(p)])
    for main, argv in ((inspect_main, [path]), (evaluate_main, ["--model", path, "--text", str(text)])):
        line = _one_error_line(capsys, main, argv)
        assert expected in line
    assert _snapshot(*[p for p in (path,) if os.path.exists(p)]) == before


def test_a_full_softmax_file_or_no_threads_at_prediction(capsys, tflite, tmp_path):
    """`NextWordPredictor` names a full-softmax export as such (re-exporting would not help), and
    `--threads 0` is named, not reported as a file that failed to load."""
    from export.evaluate import main as evaluate_main
    from export.predictor import NextWordPredictor
    from keyboard_fixtures import write_baseline
    from lightrnn_tf.errors import LightRNNError

    baseline = str(tmp_path / "lstm.tflite")
    write_baseline(tflite, baseline)
    with pytest.raises(LightRNNError, match=r"lstm.tflite is a full_softmax_lstm model; NextWordPredictor runs "
                                            r"LightRNN exports \(python -m export.evaluate scores both\)$"):
        NextWordPredictor(baseline)
    with pytest.raises(LightRNNError, match=r"^Received an invalid value for `num_threads`, expected a positive "
                                            r"integer, got 0.$"):
        NextWordPredictor(tflite, num_threads=0)
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat\n")
    for model in (tflite, baseline):
        line = _one_error_line(capsys, evaluate_main, ["--model", model, "--text", str(text), "--threads", "0"])
        assert line == "error: Received an invalid value for `--threads`, expected a positive integer, got 0."


def test_text_at_prediction(capsys, tflite, tmp_path):
    """Unknown words are not an error (they are <unk>, as in training); text that is not UTF-8 is."""
    from export.evaluate import main as evaluate_main
    from export.predictor import NextWordPredictor

    predictor = NextWordPredictor(tflite)
    assert (predictor.state_for("the zyzzyva quux") == predictor.state_for("the <unk> <unk>")).all()
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("the caf\xe9 sat\n".encode("latin-1"))
    line = _one_error_line(capsys, evaluate_main, ["--model", tflite, "--text", str(bad)])
    assert line == f"error: {bad} is not valid UTF-8 (byte 7); convert it to UTF-8 first"


def test_save_run_refuses_parts_that_make_no_run_before_writing(trained, tmp_path):
    """`save_run` from Python: a LightRNN model without its vocabulary, a vocabulary of another
    size, a model without the tokenizer in a new directory, or over the config.json of another
    model is refused in one line, with nothing written; a config.json of this model (as the CLI
    leaves) needs no tokenizer."""
    import re

    from lightrnn_tf.data import Tokenizer, Vocabulary
    from lightrnn_tf.errors import LightRNNError
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.rundir import load_run, save_run

    run = load_run(trained[0])
    new = str(tmp_path / "new")
    small = Vocabulary(run.vocab.words[:-1], run.vocab.counts[:-1])
    for kwargs, message in [({"tokenizer": run.tokenizer}, "a LightRNN model needs `vocab`"),
                            ({"vocab": small, "tokenizer": run.tokenizer},
                             f"the vocabulary has {len(small)} words, the model {len(run.vocab)}"),
                            ({"vocab": run.vocab}, "pass tokenizer= (the Tokenizer your text was encoded with)")]:
        with pytest.raises(LightRNNError, match=re.escape(f"save_run: {message}")):
            save_run(new, model=run.model, **kwargs)
        assert not os.path.exists(new)
    save_run(new, model=run.model, vocab=run.vocab, tokenizer=Tokenizer(lowercase=True))
    config = (tmp_path / "new" / "config.json").read_bytes()
    save_run(new, model=run.model, vocab=run.vocab, metrics={"test_ppl": 1.0})  # its own config.json: fine
    assert (tmp_path / "new" / "config.json").read_bytes() == config
    # (model.keras was written again: a .keras file records the second it was saved in)
    before = _snapshot(new)
    other = LightRNNModel(len(run.vocab), embedding_dim=run.model.embedding_dim + 4, hidden_dim=run.model.hidden_dim)
    with pytest.raises(LightRNNError, match=r"config.json describes another model \(embedding_dim \d+ there, \d+ here\)"):
        save_run(new, model=other, vocab=run.vocab)
    assert _snapshot(new) == before
