"""`--strategy`: MirroredStrategy over 2 logical CPUs and MultiWorkerMirroredStrategy with 2 worker
processes on loopback train like one device with the same global batch.

Tolerance: relative 1e-5 on losses and perplexities, absolute 1e-5 on weights (measured: 7e-8 and
5e-7; the replicas sum their gradients in another order than one device does). Tables
must be identical. Each strategy runs in fresh processes (`distributed_runs.py`): TensorFlow's
devices and cluster are fixed before it starts. The training tests take about a minute of CPU
each (two to three of wall time on a busy 2-core machine): marked slow.
"""

import functools
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from lightrnn_tf import train as train_cli

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = os.path.join(HERE, "distributed_runs.py")
RTOL, ATOL = 1e-5, 1e-5
# Under `pytest -n 2` (`--dist loadgroup`, pyproject.toml) the tests that read the `mirrored` runs
# and the one-device references (`one_device`, `cli_one_device`) go to one worker: each worker would
# otherwise train them all again (two minutes of CPU). `mirrored` is session-scoped: a worker
# interleaves other files' tests with these, and a module fixture would be made again after them.
ONE_WORKER = pytest.mark.xdist_group("distribute")


def _same_training(a, b):
    np.testing.assert_allclose(a["steps"], b["steps"], rtol=RTOL)
    assert a["history"].keys() == b["history"].keys()
    for key in (k for k in a["history"] if not k.endswith("seconds")):
        np.testing.assert_allclose(a["history"][key], b["history"][key], rtol=RTOL, err_msg=key)
    for wa, wb in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=ATOL)
    assert a["cells"] == b["cells"] and a["table_sha"] == b["table_sha"]
    # Both kinds of loss statistics of the trained model: the replicas' and workers' sums are the
    # whole stream's (each replica reads its own streams), and factored equals dense.
    sa, sb = a["statistics"], b["statistics"]
    assert sa["tokens"] == sb["tokens"]
    for key in ("dense_row", "dense_col", "factored_row", "factored_col"):
        np.testing.assert_allclose(sb[key], sa[key], rtol=RTOL, err_msg=key)
    for part in ("row", "col"):
        np.testing.assert_allclose(sb[f"factored_{part}"], sb[f"dense_{part}"], rtol=1e-5, atol=1e-4)


@functools.lru_cache(maxsize=None)
def one_device():
    """`distributed_runs.tiny_run` on one device (the default strategy), in this process."""
    from distributed_runs import tiny_run
    import tensorflow as tf

    return tiny_run(tf.distribute.get_strategy())


def _wait(procs, timeout=300):
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert proc.returncode == 0, err[-3000:]


@functools.lru_cache(maxsize=None)
def cli_one_device():
    """`(corpus, metrics)`: the command line with `CLI_FLAGS` on one device, in this process."""
    from distributed_runs import CLI_FLAGS, write_cli_corpus

    tmp = tempfile.mkdtemp(prefix="lightrnn_dist_")
    corpus = write_cli_corpus(os.path.join(tmp, "c.txt"))
    assert train_cli.main(["--corpus", corpus] + CLI_FLAGS + ["--out", os.path.join(tmp, "run")]) == 0
    with open(os.path.join(tmp, "run", "metrics.json")) as f:
        return corpus, json.load(f)


def _same_cli_run(one, other):
    for key in ("valid_ppl", "test_ppl"):
        assert other[key] == pytest.approx(one[key], rel=RTOL)
    for ha, hb in zip(one["history"], other["history"]):
        for key in ("loss", "val_loss"):
            assert hb[key] == pytest.approx(ha[key], rel=RTOL)
    assert one["reallocations"] == other["reallocations"] == 1
    assert one["history"][0]["realloc"]["moved"] == other["history"][0]["realloc"]["moved"] > 0


@functools.lru_cache(maxsize=None)
def cli_one_device_short_epochs():
    """The metrics of the command line with `CLI_FLAGS + SHORT_EPOCHS` on one device, in this process."""
    from distributed_runs import SHORT_EPOCHS, CLI_FLAGS

    corpus, _ = cli_one_device()
    out = os.path.join(tempfile.mkdtemp(prefix="lightrnn_dist_"), "short")
    assert train_cli.main(["--corpus", corpus] + CLI_FLAGS + SHORT_EPOCHS + ["--out", out]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def cli_one_device_averaged():
    """The metrics and config of the command line with `CLI_FLAGS + AVERAGED` on one device, in this process."""
    from distributed_runs import AVERAGED, CLI_FLAGS

    corpus, _ = cli_one_device()
    out = os.path.join(tempfile.mkdtemp(prefix="lightrnn_dist_"), "averaged")
    assert train_cli.main(["--corpus", corpus] + CLI_FLAGS + AVERAGED + ["--out", out]) == 0
    return _metrics_and_config(out)


def _metrics_and_config(out):
    with open(os.path.join(out, "metrics.json")) as f, open(os.path.join(out, "config.json")) as g:
        return json.load(f), json.load(g)


@pytest.fixture(scope="session")
def mirrored(tmp_path_factory):
    """The runs of `distributed_runs.py mirrored`; the one-device runs are made meanwhile."""
    from distributed_runs import write_cli_corpus

    tmp = tmp_path_factory.mktemp("mirrored")
    corpus, out = write_cli_corpus(str(tmp / "c.txt")), str(tmp / "out.json")
    proc = subprocess.Popen([sys.executable, RUNS, "mirrored", out, corpus, str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    one_device()
    cli_one_device()
    cli_one_device_short_epochs()
    cli_one_device_averaged()
    _wait([proc])
    with open(out) as f:
        result = json.load(f)
    with open(tmp / "mirrored" / "metrics.json") as f:
        result["cli_metrics"] = json.load(f)
    with open(tmp / "short" / "metrics.json") as f:
        result["short_epochs_metrics"] = json.load(f)
    result["averaged_metrics"], result["averaged_config"] = _metrics_and_config(tmp / "averaged")
    return result


@pytest.mark.slow
@ONE_WORKER
def test_mirrored_trains_like_one_device(mirrored):
    """6 windows (state carried across 3 an epoch), validation, a reallocation after epoch 1, clipping."""
    one, two = one_device(), mirrored["mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2) and len(two["steps"]) == 6
    _same_training(one, two)
    assert two["report"]["moved"] > 0 and two["report"]["moved"] == one["report"]["moved"]
    assert two["report"]["objective_after"] == pytest.approx(one["report"]["objective_after"], rel=RTOL)


@pytest.mark.slow
@ONE_WORKER
def test_a_validation_batch_the_replicas_cannot_share_is_named(mirrored):
    """The training batch (4) divides among 2 replicas, the validation one (3) does not: the error
    says which dataset."""
    assert mirrored["odd_validation_batch"].startswith("validation_data: batch size 3 is not a multiple of the 2 replicas;")


@pytest.mark.slow
@ONE_WORKER
def test_each_replica_draws_its_own_dropout_masks(mirrored):
    first, second = (np.array(m) for m in mirrored["dropout_masks"])
    assert set(np.unique(first)) == {0.0, 2.0} and 0.3 < np.mean(first == 0) < 0.7
    assert not np.array_equal(first, second)


def test_replica_dropout_is_keras_dropout_on_one_device():
    import keras

    from lightrnn_tf.layers import ReplicaDropout

    x = np.ones((3, 50), np.float32)
    ours, theirs = ReplicaDropout(0.3, seed=11), keras.layers.Dropout(0.3, seed=11)
    for _ in range(2):
        np.testing.assert_array_equal(ours(x, training=True), theirs(x, training=True))
    np.testing.assert_array_equal(ours(x), x)


@pytest.mark.slow
@ONE_WORKER
def test_mirrored_run_resumes_from_its_checkpoint(mirrored):
    """Interrupted after epoch 1 (its reallocation checkpointed), resumed by a new `fit`: the second
    epoch, the weights and the table equal the uninterrupted run's (each replica's streams restart
    at every epoch, so the checkpoint's stream state, the first replica's, is not needed)."""
    whole, resumed = mirrored["mirrored"], mirrored["resumed"]
    np.testing.assert_allclose(resumed["steps"], whole["steps"][3:], rtol=RTOL)
    np.testing.assert_allclose(resumed["history"]["val_loss"], whole["history"]["val_loss"][1:], rtol=RTOL)
    for wa, wb in zip(whole["weights"], resumed["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=ATOL)
    assert resumed["table_sha"] == whole["table_sha"]


@pytest.mark.slow
@ONE_WORKER
def test_cli_strategy_mirrored_trains_like_default(mirrored):
    """`--strategy mirrored` with the default flags (clipping, Adam) but dropout 0, a reallocation after epoch 1."""
    metrics = mirrored["cli_metrics"]
    assert mirrored["cli_code"] == 0 and (metrics["replicas"], metrics["strategy"]) == (2, "mirrored")
    _same_cli_run(cli_one_device()[1], metrics)
    assert mirrored["odd_batch_code"] == 2


@pytest.mark.slow
@ONE_WORKER
def test_cli_short_epochs_go_on_through_the_stream_under_mirrored(mirrored):
    """`--steps-per-epoch 8` of 18 windows, 3 epochs (the third wraps around the stream's end):
    the replicas read the same windows as one device, epoch after epoch; the statistics gathered in
    each epoch (`--realloc-source epoch`, summed over the replicas) give the same reallocations."""
    one, two = cli_one_device_short_epochs(), mirrored["short_epochs_metrics"]
    assert mirrored["short_epochs_code"] == 0 and two["replicas"] == 2 and len(one["history"]) == 3
    for key in ("valid_ppl", "test_ppl"):
        assert two[key] == pytest.approx(one[key], rel=RTOL)
    for ha, hb in zip(one["history"], two["history"], strict=True):
        for key in ("loss", "val_loss"):
            assert hb[key] == pytest.approx(ha[key], rel=RTOL)
    assert one["reallocations"] == two["reallocations"] == 2
    moves = [[(h["realloc"]["source"], h["realloc"]["tokens"], h["realloc"]["moved"]) for h in m["history"]
              if "realloc" in h] for m in (one, two)]
    assert moves[0] == moves[1] and moves[0][0][:2] == ("epoch", 8 * 4 * 5)


@pytest.mark.slow
@ONE_WORKER
def test_cli_weight_averaging_under_mirrored(mirrored):
    """`--ema-momentum 0.9` (long enough to average: both config.json files keep it): the averaged
    weights that validation, early stopping and the saved model use are put in the mirrored
    variables as on one device, and training goes on from the raw ones alike."""
    one, one_config = cli_one_device_averaged()
    two, two_config = mirrored["averaged_metrics"], mirrored["averaged_config"]
    assert mirrored["averaged_code"] == 0 and two["replicas"] == 2
    assert one_config["train"]["ema_momentum"] == two_config["train"]["ema_momentum"] == 0.9
    _same_cli_run(one, two)
    plain = cli_one_device()[1]  # the same run without averaging validates otherwise
    assert one["history"][1]["val_loss"] != pytest.approx(plain["history"][1]["val_loss"], rel=1e-3)


def test_mirrored_statistics_passes_trace_once_and_follow_the_table(tmp_path):
    """Under 2 replicas too, every statistics pass of a model reuses one traced function and one set of
    totals (a new function and new variables each pass were traced again at every reallocation): after a
    new table and new weights the sums equal a fresh model's with the same ones; another accumulator
    dtype gets a function of its own; totals over `CACHED_TOTALS_MAX_BYTES` are made (and traced) for
    each pass and not kept, with the same sums; the totals are in no checkpoint of the model."""
    out = str(tmp_path / "out.json")
    _wait([subprocess.Popen([sys.executable, RUNS, "statistics", out], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)])
    with open(out) as f:
        result = json.load(f)
    # traced (one call per replica) by the first pass, the float32 one, each uncached one and the
    # fresh model's: cumulative counts
    assert result["replicas"] == 2 and result["traces"] == [2, 2, 4, 6, 8, 10] and result["entries"] == 2
    for got, want, first, f32, u1, u2 in zip(result["again"], result["fresh"], result["first"], result["float32"],
                                             result["uncached"], result["uncached_again"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(f32, got, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(u1, got, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(u2, got, rtol=1e-12, atol=1e-12)
        assert not np.allclose(got, first)
    before, after = result["saved"]
    assert before == after


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
@ONE_WORKER
def test_multiworker_trains_like_one_device_and_every_worker_holds_the_chiefs_table(tmp_path):
    """Two worker processes, one CPU replica each, on loopback ports (TF_CONFIG): `tiny_run`, then the
    command line, each worker writing its own run directory."""
    from distributed_runs import write_cli_corpus

    workers = [f"localhost:{p}" for p in _free_ports(2)]
    corpus, run = write_cli_corpus(str(tmp_path / "c.txt")), str(tmp_path / "run")
    procs, outs = [], []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        outs.append(str(tmp_path / f"worker{index}.json"))
        procs.append(subprocess.Popen([sys.executable, RUNS, "worker", outs[-1], corpus, run], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    reference, cli_reference = one_device(), cli_one_device()[1]  # meanwhile, unless done
    _wait(procs)
    results = []
    for out in outs:
        with open(out) as f:
            results.append(json.load(f))
    assert [r["chief"] for r in results] == [True, False] and results[0]["replicas"] == 2
    assert results[0]["report"]["moved"] > 0
    assert results[0]["table_sha"] == results[1]["table_sha"]  # the chief's table, installed on both
    assert results[0]["report"] == results[1]["report"]  # broadcast from the chief
    assert results[0]["weights"] == results[1]["weights"]
    _same_training(reference, results[0])
    # The command line: the chief writes --out, worker 1 --out/worker-1; the same table and metrics.
    assert [r["cli_code"] for r in results] == [0, 0]
    runs = [run, os.path.join(run, "worker-1")]
    metrics = []
    for path in runs:
        with open(os.path.join(path, "metrics.json")) as f:
            metrics.append(json.load(f))
        assert os.path.exists(os.path.join(path, "checkpoints", "checkpoint"))
    with open(os.path.join(runs[0], "allocation.tsv")) as a, open(os.path.join(runs[1], "allocation.tsv")) as b:
        assert a.read() == b.read()
    assert (metrics[0]["replicas"], metrics[0]["strategy"]) == (2, "multiworker")
    _same_cli_run(cli_reference, metrics[0])
    _same_cli_run(cli_reference, metrics[1])


@pytest.mark.parametrize("argv, env, expected", [
    (["--strategy", "multiworker"], {}, "error: --strategy multiworker reads the cluster from the TF_CONFIG"),
    (["--strategy", "multiworker"], {"TF_CONFIG": "{not json"}, "error: TF_CONFIG is malformed"),
    (["--strategy", "tpu"], {}, "error: --strategy tpu: no TPU found"),
])
def test_a_strategy_that_cannot_start_gives_one_line_and_status_2(argv, env, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert train_cli.main(argv + ["--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(expected), err
