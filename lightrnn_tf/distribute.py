"""TensorFlow's distribution strategies for `--strategy`, and the chief's broadcast of a result.

    strategy = make_strategy("mirrored")          # before any other TensorFlow work
    with strategy.scope():
        model = LightRNNModel(...); model.compile(...)
    model.fit(stream_dataset(ids, B, T), ...)     # B is the global batch, split by rows among replicas

`default` is TensorFlow's default strategy (one device); `mirrored` replicates the model on the
local GPUs (on the logical CPUs when there is no GPU and several were configured, as the tests do);
`multiworker` on the local devices of every worker listed in `TF_CONFIG`; `tpu` on a TPU system.
What each replica does is in `stream_model` (its own streams' state, gradients summed) and
`data.distribute_windows` (its own rows of every window); `realloc.reallocate` sums the loss
statistics over all replicas, solves the matching on the chief and broadcasts the table.
"""

from __future__ import annotations

import json
import os

import numpy as np

from lightrnn_tf.config import STRATEGIES
from lightrnn_tf.errors import LightRNNError


_STARTED: dict = {}  # name -> strategy: one of each a process


def make_strategy(name: str):
    """A `tf.distribute.Strategy` by name (see the module docstring), created once a process.

    Create it before any other TensorFlow work: `multiworker` and `tpu` set up the runtime. A
    second call returns the same strategy: two strategies over the same devices would number
    their collective operations alike, and the second one's would clash with the first one's.

    Raises:
        LightRNNError: for an unknown name, `multiworker` without `TF_CONFIG`, or `tpu` without a TPU.
    """
    if name not in STRATEGIES:
        raise LightRNNError(f"Received an invalid value for `strategy`, expected one of {STRATEGIES}, got {name!r}.")
    if name == "multiworker":
        worker_task()  # TF_CONFIG is set and well formed
    if name == "default":
        import tensorflow as tf

        return tf.distribute.get_strategy()
    if name not in _STARTED:
        _STARTED[name] = _start(name)
    return _STARTED[name]


def _start(name: str):
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LightRNNError(f"--strategy tpu: no TPU found ({first})") from None
        return tf.distribute.TPUStrategy(resolver)


def worker_task() -> tuple[str, int, bool]:
    """`(task type, task index, is chief)` of this process in `TF_CONFIG` (read without TensorFlow).

    The chief is the `chief` task, or worker 0 when the cluster lists no `chief`.

    Raises:
        LightRNNError: if `TF_CONFIG` is unset or malformed.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise LightRNNError("--strategy multiworker reads the cluster from the TF_CONFIG environment variable, "
                            "which is not set (docs/training.md, 'Several devices and machines')")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task["index"])
        if kind not in cluster or not 0 <= index < len(cluster[kind]):
            raise ValueError(f"task {kind} {index} is not in the cluster")
    except (ValueError, KeyError, TypeError) as e:
        raise LightRNNError(f"TF_CONFIG is malformed ({e}); expected "
                            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}') from None
    return kind, index, kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def run_directory(out: str, strategy_name: str) -> str:
    """Where this process writes its run: `out` on the chief (and without several workers), and
    `out/worker-<index>` on another worker of `--strategy multiworker` (its own checkpoints, for --resume)."""
    if strategy_name != "multiworker":
        return out
    kind, index, chief = worker_task()
    return out if chief else os.path.join(out, f"{kind}-{index}")


def is_multi_worker(strategy) -> bool:
    """Whether the strategy spans several worker processes (a `MultiWorkerMirroredStrategy` with a cluster;
    a TPU system has one client)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def is_chief(strategy) -> bool:
    """Whether this process hosts replica 0 (the chief): it solves the matching and owns the run directory."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict()
    if "chief" in spec:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and int(resolver.task_id) == 0


def task_id(strategy) -> int:
    """This worker's index among the workers (0 without several workers)."""
    return int(strategy.cluster_resolver.task_id) if is_multi_worker(strategy) else 0


def broadcast_from_chief(strategy, value: np.ndarray | None, shape) -> np.ndarray:
    """The chief's float64 array, on every worker (a sum over replicas where only replica 0 contributes).

    Every worker must call it at the same point. Integer values up to 2**53 arrive exactly.

    Args:
        strategy: the `tf.distribute.Strategy`.
        value: the array on the chief (ignored elsewhere).
        shape: its shape, known to every worker.

    Returns:
        `value` as float64 of `shape`.
    """
    import tensorflow as tf

    if not is_multi_worker(strategy):
        return np.asarray(value, np.float64).reshape(shape)
    mine = np.asarray(value, np.float64).reshape(shape) if is_chief(strategy) else np.zeros(shape, np.float64)

    def contribute():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.where(tf.equal(replica, 0), tf.constant(mine), tf.zeros(shape, tf.float64))

    @tf.function
    def sum_over_replicas():
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(contribute), axis=None)

    return sum_over_replicas().numpy()


def broadcast_json(strategy, obj) -> object:
    """The chief's JSON-serialisable `obj`, on every worker (`obj` is ignored elsewhere)."""
    if not is_multi_worker(strategy):
        return obj
    data = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8) if is_chief(strategy) else None
    size = int(broadcast_from_chief(strategy, None if data is None else [len(data)], (1,))[0])
    data = broadcast_from_chief(strategy, data, (size,))
    return json.loads(data.astype(np.uint8).tobytes().decode("utf-8"))
