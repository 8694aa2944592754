"""The baselines in the same training loop: --model full_softmax|sampled_softmax, and --time-budget."""

import json
import math
import os
import shutil
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from lightrnn_tf import data
from lightrnn_tf import train as train_cli
from lightrnn_tf.baselines import FullSoftmaxLSTM, SampledSoftmaxLSTM
from lightrnn_tf.data import stream_dataset

SMALL = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "4", "--bptt", "5"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(300)))
    return str(path)


def _metrics(out):
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


def _checkpoint_state(out):
    """The JSON state of the run's newest checkpoint."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(os.path.join(out, "checkpoints"))
    return json.loads(reader.get_tensor("state/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.parametrize("kind", ["full_softmax", "sampled_softmax"])
def test_cli_trains_a_baseline_and_evaluate_reproduces_it(corpus, tmp_path, capsys, kind):
    out = str(tmp_path / kind)
    assert train_cli.main(["--corpus", corpus, "--model", kind, "--epochs", "2", "--num-sampled", "5",
                           "--realloc-every", "1", "--out", out] + SMALL) == 0
    m = _metrics(out)
    assert m["model"] == kind and m["reallocations"] == 0 and m["valid_ppl"] < m["unigram_valid_ppl"]
    assert not os.path.exists(os.path.join(out, "allocation.tsv"))
    from lightrnn_tf import evaluate
    from lightrnn_tf.rundir import load_run

    assert type(load_run(out).model).__name__ == {"full_softmax": "FullSoftmaxLSTM",
                                                  "sampled_softmax": "SampledSoftmaxLSTM"}[kind]
    capsys.readouterr()
    assert evaluate.main(["--run", out, "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["perplexity"] == pytest.approx(m["test_ppl"], rel=1e-6)

    # `python -m export` writes the full-softmax LSTM that export.evaluate runs beside LightRNN:
    # its next-word log-probs equal the Keras model's along a sentence.
    from export.__main__ import main as export_main
    from export.evaluate import FullSoftmaxEngine, load_engine
    from export_fixtures import keras_stream_log_probs

    tflite = str(tmp_path / f"{kind}.tflite")
    assert export_main(["--run", out, "--out", tflite]) == 0
    assert "full softmax" in capsys.readouterr().out
    engine = load_engine(tflite)
    assert isinstance(engine, FullSoftmaxEngine)
    ids = [engine.text.eos_id] + engine.text.encode_tokens("the cat 3 sat on mat 2 and dog 1".split())
    got, ctx = [], engine.begin()
    for i in ids[1:]:
        got.append(float(np.log(engine.probs(ctx)[i])))
        ctx = engine.commit(ctx, i)
    want = keras_stream_log_probs(load_run(out).model, ids)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_sampled_softmax_evaluates_with_the_full_softmax_and_learns():
    """Evaluation is the full softmax; the sampled training loss is a different, smaller number
    whose expectation ranks like the full loss: training with it lowers the full-softmax loss."""
    ids = np.tile(np.arange(12, dtype=np.int32), 40)
    keras.utils.set_random_seed(0)
    model = SampledSoftmaxLSTM(12, embedding_dim=8, hidden_dim=8, dropout=0.0, num_sampled=4)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    y = ids[None, 1:30]
    state = model.start_state(ids[None, 0])
    full, _ = FullSoftmaxLSTM.window_loss(model, y, state)
    eval_loss, _ = model.window_loss(y, state)
    assert float(eval_loss) == pytest.approx(float(full), rel=1e-6)  # evaluation: the full softmax
    before = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    model.fit(stream_dataset(ids, 4, 10), epochs=8, verbose=0)
    after = model.evaluate(stream_dataset(ids, 4, 10), verbose=0, return_dict=True)["loss"]
    assert after < 0.5 * before and math.isfinite(after)


def test_time_budget_stops_training_and_resume_respects_it(corpus, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train_cli.main(["--corpus", corpus, "--epochs", "50", "--time-budget", "4", "--out", out] + SMALL) == 0
    m = _metrics(out)
    assert m["stopped_by_time_budget"] and m["epochs"] < 50
    assert 4 <= m["elapsed_seconds"] < 4 + 3 * max(h["epoch_seconds"] for h in m["history"]) + 5
    capsys.readouterr()
    assert train_cli.main(["--out", out, "--resume"]) == 0
    assert "already spent its --time-budget" in capsys.readouterr().err
    assert _metrics(out)["epochs"] == m["epochs"]


def _config(out):
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        return json.load(f)["train"]


def test_budget_epochs_cut_the_first_epoch_and_the_run_equals_one_of_that_steps_per_epoch(corpus, tmp_path,
                                                                                          monkeypatch, capsys):
    """Under --time-budget a first epoch still training at 1/--budget-epochs of it ends there; every
    later epoch trains as many windows on through the stream: the run equals one given that
    --steps-per-epoch from the start. A clock of 10 s a trained window makes it deterministic."""
    from lightrnn_tf import checkpoint
    from lightrnn_tf.callbacks import TimeBudget

    monkeypatch.setattr(TimeBudget, "elapsed", lambda self: 10.0 * int(self.model.optimizer.iterations))
    cut = str(tmp_path / "cut")
    # What config.json records as each checkpoint is written (where a kill would leave the run): epoch 1's
    # checkpoint already has the cut's length beside it, so a --resume after any kill goes on with it.
    recorded = []
    monkeypatch.setattr(checkpoint, "kill_point", lambda point: recorded.append(_config(cut)["steps_per_epoch"]))
    same = ["--corpus", corpus, "--deterministic", "--ema-momentum", "0", "--patience", "0",
            "--realloc-recovery-epochs", "1"] + SMALL
    # 140 windows an epoch; at 250 s the first call into TensorFlow (8 windows) to end at or past it is
    # the 32nd window; the budget ends in the fourth epoch (at 1,000 s: window 104)
    assert train_cli.main(same + ["--epochs", "20", "--time-budget", "1000", "--out", cut]) == 0
    assert _config(cut)["steps_per_epoch"] == 32 and _config(cut)["budget_epochs"] == 4
    assert recorded and set(recorded) == {32}
    out, err = capsys.readouterr()
    # each epoch's progress line ends at the windows it trained (Keras' own would say 140/140 for the first)
    counts = [line.split(" - ")[0].strip() for line in out.splitlines() if " - loss: " in line]
    assert counts == ["32/140", "32/32", "32/32", "8/32"]
    assert ("epoch 1 ended at 250 s, 1/4 of the --time-budget (--budget-epochs), after 32 of its 140 windows: "
            "every epoch now trains 32 windows") in err and "resumed from" not in err
    m = _metrics(cut)
    assert m["epochs"] == 4 and m["stopped_by_time_budget"] and m["reallocations"] == 3
    # A larger budget goes on through the stream after the 3 x 32 + 8 windows trained, not at window 4 x 32
    starts = []
    real = data.continuing_stream_dataset
    monkeypatch.setattr(data, "continuing_stream_dataset",
                        lambda ids, b, t, start=0: starts.append(start) or real(ids, b, t, start))
    longer = str(tmp_path / "longer")
    shutil.copytree(cut, longer)
    assert train_cli.main(["--out", longer, "--resume", "--time-budget", "1500"]) == 0
    assert starts == [104]
    assert "epoch 5 goes on through the stream after the 104 windows trained so far, not after 128" in \
        capsys.readouterr().err
    trained = [h["words_per_sec"] * h["epoch_seconds"] for h in _metrics(longer)["history"]]
    assert trained == pytest.approx([4 * 5 * n for n in (32, 32, 32, 8, 32, 16)], rel=1e-6)
    assert _checkpoint_state(longer)["windows"] == 152
    given = str(tmp_path / "given")
    assert train_cli.main(same + ["--epochs", "4", "--steps-per-epoch", "32", "--out", given]) == 0
    g = _metrics(given)
    assert g["reallocations"] == 3
    for a, b in zip(m["history"][:3], g["history"][:3]):  # the fourth was cut at 8 windows
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6) and a["loss"] == pytest.approx(b["loss"],
                                                                                                        rel=1e-6)
        assert a["realloc"]["moved"] == b["realloc"]["moved"]
    trained = [h["words_per_sec"] * h["epoch_seconds"] for h in m["history"]]
    assert trained == pytest.approx([4 * 5 * 32] * 3 + [4 * 5 * 8], rel=1e-6)
    # A first epoch that ends before 1/N of the budget is whole, and so are the epochs after it
    late = str(tmp_path / "late")
    assert train_cli.main(same + ["--epochs", "2", "--budget-epochs", "2", "--time-budget", "10000",
                                  "--out", late]) == 0
    assert _config(late)["steps_per_epoch"] == 0
    trained = [h["words_per_sec"] * h["epoch_seconds"] for h in _metrics(late)["history"]]
    assert trained == pytest.approx([4 * 5 * 140] * 2, rel=1e-6)  # whole epochs


def test_lr_cooldown_anneals_the_end_of_a_time_budget(corpus, tmp_path):
    out = str(tmp_path / "run")
    # Epochs of 2 windows and 10 s: several epochs fall in the cooldown even on a slow, loaded machine
    # (with whole epochs and 4 s, one epoch could take the whole budget there, and nothing cooled down).
    assert train_cli.main(["--corpus", corpus, "--epochs", "1000", "--steps-per-epoch", "2", "--patience", "0",
                           "--time-budget", "10", "--lr-cooldown", "0.5", "--out", out] + SMALL) == 0
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["train"]["lr_cooldown"] == 0.5
    history = _metrics(out)["history"]
    factors = [h["lr_factor"] for h in history]
    assert factors == sorted(factors, reverse=True) and 0.0 <= factors[-1] < 1.0 and factors[0] <= 1.0
    for h in history:  # the base rate (halved by ReduceLROnPlateau or not), not a scaled one
        assert math.log2(2e-3 / h["learning_rate"]) == pytest.approx(round(math.log2(2e-3 / h["learning_rate"])),
                                                                     abs=1e-4)
