"""Kill points for the crash tests: `LIGHTRNN_KILL_AT=point:n` SIGKILLs the process the n-th time
it reaches `point` (counted from 1 in this process). Unset, `kill_point` does nothing.

Points:
    batch        a group of training windows has run (`callbacks.EpochStats`)
    statistics   a reallocation's loss-statistics pass has read its first window (`realloc`)
    matching     the solver has its costs and is matching (`assignment.solve`)
    checkpoint   a checkpoint's files are written, the `checkpoint` index does not name it yet

    LIGHTRNN_KILL_AT=statistics:2 python -m lightrnn_tf.train ... --out runs/x   # dies in the 2nd reallocation
    python -m lightrnn_tf.train --out runs/x --resume                             # continues from epoch 1's checkpoint

A real SIGKILL, not an exception: nothing gets the chance to clean up, as when a machine is
preempted or the OOM killer strikes. Tests use it to prove `--resume` after each of these.
"""

from __future__ import annotations

import os
import signal

POINTS = ("batch", "statistics", "matching", "checkpoint")
_SPEC = os.environ.get("LIGHTRNN_KILL_AT", "")
_counts: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILLs this process if `LIGHTRNN_KILL_AT` names `name` and this is its n-th visit."""
    if not _SPEC:
        return
    point, _, n = _SPEC.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)
