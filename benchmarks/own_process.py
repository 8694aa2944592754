"""Runs one measurement of a benchmark script in a process of its own (its peak RSS and its
TensorFlow state its own): the script again with `--only VARIANT` and the same flags, whose last
line of stdout is the measurement as JSON."""

import json
import os
import subprocess
import sys


def measure_in_own_process(script: str, variant: str, argv: list[str] | None) -> dict:
    """`script --only variant` plus `argv` (default: this process's flags) -> its JSON result.
    On failure, writes its stderr and exits with its return code."""
    cmd = [sys.executable, os.path.abspath(script), "--only", variant] + (argv if argv is not None else sys.argv[1:])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return json.loads(proc.stdout.strip().splitlines()[-1])
