"""Writes a benchmark's JSON under benchmarks/results/: its settings, the machine it ran on, the
date, and what it measured."""

import json
import os
import time


def write_results(path: str, args, **measured) -> None:
    """`{"config": the flags of args (but --only), "machine", "date", **measured}` as JSON at `path`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lightrnn_tf.compare import machine  # imports TensorFlow for its version

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"config": {k: v for k, v in vars(args).items() if k != "only"}, "machine": machine(),
                   "date": time.strftime("%Y-%m-%d"), **measured}, f, indent=2)
