"""Real SIGKILLs of `python -m lightrnn_tf.train` at several points, then `--resume`; a real full disk.

With `--deterministic` a killed and resumed run must end exactly as an uninterrupted one: the
same validation perplexity every epoch, the same reallocations, the same test perplexity and the
same final checkpoint, variable for variable. The kills come from `LIGHTRNN_KILL_AT`
(`lightrnn_tf.fault_injection`: a SIGKILL the process sends itself at a named point) and from
outside, at a moment the test does not choose precisely.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

# A reallocation after every epoch but the last (--realloc-recovery-epochs 1), so that the kills
# below land in the second and third as well.
ARGS = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "4", "--bptt", "5", "--epochs", "3",
        "--deterministic", "--realloc-recovery-epochs", "1"]
# Timing keys differ between any two runs; everything else in the metrics must be equal.
TIMING = {"epoch_seconds", "words_per_sec", "elapsed_seconds", "seconds", "stats_seconds", "solve_seconds",
          "greedy_seconds", "peak_rss_mb", "tokens_per_sec", "train_seconds", "realloc_seconds"}


def _env(kill_at=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("LIGHTRNN_KILL_AT", None)
    if kill_at:
        env["LIGHTRNN_KILL_AT"] = kill_at
    return env


def _train(argv, kill_at=None):
    return subprocess.run([sys.executable, "-m", "lightrnn_tf.train", *argv], capture_output=True, text=True,
                          env=_env(kill_at), timeout=600)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _latest(out):
    with open(os.path.join(out, "checkpoints", "checkpoint")) as f:
        return f.readline().split('"')[1]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("kill") / "c.txt"
    path.write_text("\n".join(f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(300)) + "\n")
    return str(path)


@pytest.fixture(scope="session")
def uninterrupted(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("kill") / "whole")
    proc = _train(["--corpus", corpus, "--out", out, *ARGS])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["reallocations"] == 2  # after epochs 1 and 2: both kill points below are reached
    return out, metrics


def _assert_same_run(out, reference):
    ref_out, ref_metrics = reference
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert _strip(metrics) == _strip({**ref_metrics, "data": metrics["data"]})
    import tensorflow as tf

    ra = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(ref_out, "checkpoints")))
    rb = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(out, "checkpoints")))
    names = [n for n in ra.get_variable_to_shape_map() if not n.startswith(("_CHECKPOINTABLE", "state", "save_"))]
    assert len(names) > 40 and set(names) <= set(rb.get_variable_to_shape_map())
    for name in names:
        np.testing.assert_array_equal(ra.get_tensor(name), rb.get_tensor(name), err_msg=name)


@pytest.mark.slow
# One worker trains the reference run, once (pyproject.toml: --dist loadgroup; session fixtures, as a
# worker interleaves other files' tests with these and would make a module fixture again after them).
@pytest.mark.xdist_group("uninterrupted")
@pytest.mark.parametrize("kill_at, extra, latest", [
    ("batch:5", [], None),           # in epoch 1: nothing saved yet but the settings
    ("batch:25", [], "ckpt-1"),      # in epoch 2 (18 groups of 8 windows an epoch)
    # in epoch 2, 60 windows in, with a checkpoint every 40 windows: resumes at window 40 of epoch 2
    ("batch:25", ["--checkpoint-windows", "40"], "ckpt-1000040"),
    ("statistics:2", [], "ckpt-1"),  # in the statistics pass of the 2nd reallocation
    ("matching:1", [], None),        # in the 1st matching, before epoch 1's checkpoint
    ("checkpoint:2", [], "ckpt-1"),  # ckpt-2's files are written, the index does not name them yet
])
def test_sigkill_then_resume_equals_an_uninterrupted_run(corpus, uninterrupted, tmp_path, kill_at, extra, latest):
    out = str(tmp_path / "run")
    proc = _train(["--corpus", corpus, "--out", out, *ARGS, *extra], kill_at=kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    if latest is None:
        assert not os.path.exists(os.path.join(out, "checkpoints", "checkpoint"))
    else:
        assert _latest(out) == latest
    if kill_at == "checkpoint:2":  # the half-done checkpoint is on disk, and ignored
        assert any(f.startswith("ckpt-2.") for f in os.listdir(os.path.join(out, "checkpoints")))
    resumed = _train(["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    if extra:
        assert "skipping the 40 windows of epoch 2 trained before the checkpoint" in resumed.stderr
    _assert_same_run(out, uninterrupted)


@pytest.mark.slow
def test_short_epochs_resume_where_the_stream_was(corpus, tmp_path):
    """`--steps-per-epoch 60` of the stream's 144 windows: epochs go on through the stream (the third
    wraps around its end). Killed 40 windows into epoch 2, resumed from the checkpoint 20 windows
    in: the resumed run reads on from the right window and ends as the uninterrupted one.
    60 is not a multiple of the 8 windows a call: executions of 4 keep every epoch at 60."""
    short = [*ARGS, "--epochs", "4", "--steps-per-epoch", "60", "--checkpoint-windows", "20"]
    whole = str(tmp_path / "whole")
    proc = _train(["--corpus", corpus, "--out", whole, *short])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(whole, "metrics.json")) as f:
        reference = json.load(f)
    assert [h["epoch"] for h in reference["history"]] == [1, 2, 3, 4] and reference["reallocations"] == 3
    out = str(tmp_path / "run")
    proc = _train(["--corpus", corpus, "--out", out, *short], kill_at="batch:25")  # 15 calls an epoch
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _latest(out) == "ckpt-1000020"
    resumed = _train(["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "skipping the 20 windows of epoch 2 trained before the checkpoint" in resumed.stderr
    _assert_same_run(out, (whole, reference))


@pytest.mark.slow
def test_statistics_gathered_in_the_epoch_survive_a_kill_inside_it(corpus, tmp_path):
    """`--realloc-source epoch`: the reallocation after epoch 2 reads sums gathered over all of
    epoch 2. Killed 60 windows in, resumed from the checkpoint 40 windows in: the sums of those 40
    windows come back from the checkpoint, and the run ends as the uninterrupted one."""
    args = [*ARGS, "--realloc-source", "epoch", "--checkpoint-windows", "40"]
    whole = str(tmp_path / "whole")
    proc = _train(["--corpus", corpus, "--out", whole, *args])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(whole, "metrics.json")) as f:
        reference = json.load(f)
    assert reference["reallocations"] == 2
    assert {h["realloc"]["source"] for h in reference["history"] if "realloc" in h} == {"epoch"}
    out = str(tmp_path / "run")
    proc = _train(["--corpus", corpus, "--out", out, *args], kill_at="batch:25")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _latest(out) == "ckpt-1000040"
    import tensorflow as tf

    saved = tf.train.load_checkpoint(os.path.join(out, "checkpoints", "ckpt-1000040"))
    names = sorted(n for n in saved.get_variable_to_shape_map() if n.startswith("callbacks/v"))
    sums = names[:3]  # the reallocation's; the weight averaging's raw weights come after them
    assert len(names) == 3 + 9 and all(np.abs(saved.get_tensor(n)).sum() > 0 for n in sums)
    resumed = _train(["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(out, (whole, reference))


@pytest.fixture(scope="session")
def uninterrupted_ema(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("kill") / "whole_ema")
    proc = _train(["--corpus", corpus, "--out", out, *ARGS, "--ema-momentum", "0.9"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(os.path.join(out, "metrics.json")) as f:
        return out, json.load(f)


@pytest.mark.slow
@pytest.mark.xdist_group("uninterrupted_ema")
@pytest.mark.parametrize("extra, latest", [
    ([], "ckpt-1"),                                           # from epoch 1's end: the model held the average
    (["--checkpoint-windows", "40"], "ckpt-1000040"),         # 40 windows into epoch 2: the raw weights
])
def test_weight_averaging_survives_a_kill(corpus, uninterrupted_ema, tmp_path, extra, latest):
    """`--ema-momentum`: killed in epoch 2, resumed, the run ends as the uninterrupted one: the
    optimizer's averages, the raw weights kept beside them and the validation of the average."""
    out = str(tmp_path / "run")
    proc = _train(["--corpus", corpus, "--out", out, *ARGS, "--ema-momentum", "0.9", *extra], kill_at="batch:25")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _latest(out) == latest
    resumed = _train(["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(out, uninterrupted_ema)
    import tensorflow as tf

    saved = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(out, "checkpoints")))
    names = saved.get_variable_to_shape_map()
    raw = sum(n.startswith("callbacks/") for n in names)  # one per trainable variable
    assert raw > 0 and sum(n.startswith("optimizer/") for n in names) >= 3 * raw  # Adam's m and v, the average


@pytest.mark.slow
@pytest.mark.xdist_group("uninterrupted")
def test_a_kill_from_outside_during_epoch_2_then_resume(corpus, uninterrupted, tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "lightrnn_tf.train", "--corpus", corpus, "--out", out, *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    for line in proc.stdout:  # Keras prints "Epoch 2/3" as epoch 2 begins
        if line.startswith("Epoch 2/"):
            time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            break
    proc.stdout.close()
    assert proc.wait(timeout=600) == -signal.SIGKILL
    assert not os.path.exists(os.path.join(out, "metrics.json"))
    resumed = _train(["--out", out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(out, uninterrupted)


def _du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_gives_one_line_and_keeps_the_previous_one(corpus, tmp_path):
    """The run directory on a tmpfs with room for epoch 1's checkpoint but not for epoch 2's."""
    argv = ["--corpus", corpus, *ARGS]
    probe = str(tmp_path / "probe")
    assert _train(argv + ["--out", probe, "--epochs", "1"]).returncode == 0
    ckpt = _du(os.path.join(probe, "checkpoints"))
    room = _du(probe) - os.path.getsize(os.path.join(probe, "model.keras")) + ckpt // 2
    disk = tmp_path / "disk"
    disk.mkdir()
    size_kb = (room // 4096 + 8) * 4  # whole pages, plus 8 for the small files
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        out = str(disk / "run")
        proc = _train(argv + ["--out", out])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert lines[-1] == (f"error: could not write checkpoint {out}/checkpoints/ckpt-2 (disk full); "
                             f"the previous checkpoint {out}/checkpoints/ckpt-1 is kept")
        assert _latest(out) == "ckpt-1"
        leftovers = [f for f in os.listdir(os.path.join(out, "checkpoints")) if f.startswith("ckpt-2")]
        assert leftovers == []  # the partial files are removed, giving the space back
        saved = str(tmp_path / "saved")
        shutil.copytree(out, saved)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    # Room again: the run continues from epoch 1's checkpoint.
    resumed = _train(["--out", saved, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with open(os.path.join(saved, "metrics.json")) as f:
        assert [h["epoch"] for h in json.load(f)["history"]] == [1, 2, 3]


def test_a_full_disk_while_writing_the_run_files_keeps_what_was_there(tmp_path):
    from lightrnn_tf.data import Tokenizer, Vocabulary
    from lightrnn_tf.errors import LightRNNError
    from lightrnn_tf.model import LightRNNModel
    from lightrnn_tf.rundir import save_run

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        run = disk / "run"
        vocab = Vocabulary(["<unk>", "<eos>"] + [f"w{i}" for i in range(398)], [1] * 400)
        save_run(str(run), metrics={"test_ppl": 1.0}, vocab=vocab)
        before = {name: (run / name).read_bytes() for name in os.listdir(run)}
        model = LightRNNModel(400, embedding_dim=64, hidden_dim=64)  # model.keras: about 200 kB
        with pytest.raises(LightRNNError, match=r"^could not write the run files in .* \(disk full\); the files "
                                                r"already there and the checkpoints are kept"):
            save_run(str(run), model=model, vocab=vocab, metrics={"test_ppl": 2.0}, tokenizer=Tokenizer())
        assert {name: (run / name).read_bytes() for name in before} == before
        assert not [name for name in os.listdir(run) if ".tmp" in name or name == "model.keras"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
