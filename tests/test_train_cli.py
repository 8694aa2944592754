"""`python -m lightrnn_tf.train`: a real short run, resume, --help, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from lightrnn_tf import train as train_cli
from lightrnn_tf.config import ModelConfig, TrainConfig

SMALL = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "4", "--bptt", "5"]


@pytest.fixture
def kjv_slice(data_dir, tmp_path):
    """The first 4,000 verses of the KJV (about 110k tokens)."""
    with open(os.path.join(data_dir, "kjv", "kjv.txt"), encoding="utf-8") as f:
        lines = [next(f) for _ in range(4000)]
    path = tmp_path / "kjv4k.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def test_short_kjv_run_beats_unigram_and_writes_the_run(kjv_slice, tmp_path):
    out = str(tmp_path / "run")
    argv = ["--corpus", kjv_slice, "--lowercase", "--split-punct", "--epochs", "3", "--embedding-dim", "64",
            "--hidden-dim", "64", "--batch-size", "32", "--learning-rate", "0.01", "--dropout", "0.1", "--out", out]
    assert train_cli.main(argv) == 0
    m = json.load(open(os.path.join(out, "metrics.json")))
    for key in ("valid_ppl", "test_ppl", "params", "vocab_size", "table_shape", "tokens_per_sec", "epochs",
                "train_seconds"):
        assert key in m
    assert m["valid_ppl"] < 0.6 * m["unigram_valid_ppl"], m
    assert m["table_shape"][0] * m["table_shape"][1] >= m["vocab_size"]
    for name in ("model.keras", "vocab.txt", "config.json", "allocation.tsv", "allocation_preview.txt", "checkpoints", "logs"):
        assert os.path.exists(os.path.join(out, name)), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(out, "logs")))
    # The saved model reproduces the reported test perplexity.
    from lightrnn_tf.rundir import load_run
    from lightrnn_tf.train import evaluate_stream, prepare

    run = load_run(out)
    cfg = TrainConfig(corpus=kjv_slice, lowercase=True, split_punct=True, batch_size=32)
    _, vocab, ids, _ = prepare(ModelConfig(), cfg)
    assert vocab == run.vocab
    ppl, _ = evaluate_stream(run.model, ids["test"], 32, 35)
    assert ppl == pytest.approx(m["test_ppl"], rel=1e-4)


def test_resume_continues_from_the_checkpoint(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"the cat {i % 7} sat on mat {i % 5}" for i in range(300)))
    out = str(tmp_path / "run")
    base = ["--corpus", str(corpus), "--out", out] + SMALL
    assert train_cli.main(base + ["--epochs", "1"]) == 0
    assert train_cli.main(base + ["--epochs", "2"]) == 2  # refuses to overwrite a run
    assert train_cli.main(base + ["--epochs", "2", "--resume"]) == 0
    m = json.load(open(os.path.join(out, "metrics.json")))
    assert m["epochs"] == 2 and [h["epoch"] for h in m["history"]] == [2]


def test_help_documents_every_flag_with_its_default():
    help_text = train_cli.build_parser().format_help()
    import dataclasses

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
    assert line.startswith("error: ") and expected in line


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


def test_cli_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lightrnn_tf.train", "--corpus", str(tmp_path / "missing.txt"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: file not found: {tmp_path / 'missing.txt'}"


def test_nan_loss_stops_with_one_line_and_keeps_checkpoints(tmp_path):
    import numpy as np

    from lightrnn_tf.errors import LightRNNError
    from lightrnn_tf.train import Trainer

    cfg = ModelConfig(vocab_size=12, rows=4, cols=3, embedding_dim=8, hidden_dim=8).resolved()
    trainer = Trainer(cfg, TrainConfig(out=str(tmp_path / "run"), batch_size=2, bptt=4))
    saved = trainer.manager.save()
    emb = trainer.model.embedding.row_embeddings
    emb.assign(np.full(emb.shape, np.nan, np.float32))
    with pytest.raises(LightRNNError, match=r"loss became nan at epoch 1, batch 1; the last good checkpoint") as e:
        trainer.train_epoch(np.arange(40, dtype=np.int32) % 12)
    assert "\n" not in str(e.value)
    assert os.path.exists(saved + ".index")


def test_cli_reallocates_and_checkpoints_the_new_table(tmp_path):
    import numpy as np
    from lightrnn_tf.table import WordTable
    from lightrnn_tf.train import Trainer

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(300)))
    out = str(tmp_path / "run")
    argv = ["--corpus", str(corpus), "--out", out, "--epochs", "2", "--realloc-every", "1"] + SMALL
    assert train_cli.main(argv) == 0
    m = json.load(open(os.path.join(out, "metrics.json")))
    assert m["reallocations"] == 1
    report = m["history"][0]["realloc"]
    assert report["objective_after"] <= report["objective_before"]
    assert report["lower_bound"] <= report["objective_after"]
    # The latest checkpoint holds the reallocated table, not the random cold start.
    model_cfg, train_cfg = train_cli.config_lib.from_json(open(os.path.join(out, "config.json")).read())
    restored = Trainer(model_cfg, train_cli.config_lib.from_args(TrainConfig, train_cli.build_parser().parse_args(
        argv[:4] + ["--resume"] + SMALL)))
    cold = restored.model.get_table()
    restored.restore()
    table = restored.model.get_table()
    assert isinstance(table, WordTable)
    assert report["moved"] > 0 and table.moved(cold) == report["moved"]
    # model.keras holds the best weights with the table they were trained with: epoch 1's best
    # checkpoint is written before that epoch's reallocation, epoch 2's after it.
    final = train_cli.rundir.load_run(out).model.get_table()
    best_epoch = min(m["history"], key=lambda h: h["valid_ppl"])["epoch"]
    np.testing.assert_array_equal(final.word_cell, (table if best_epoch == 2 else cold).word_cell)
