"""The README's two commands: the first trains from a fresh clone with nothing outside it, the
second is what CI runs; and the README's Python quick start runs as written."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        return f.read()


def _first_commands():
    block = re.search(r"```bash\n(.*?)```", _readme(), re.S).group(1).strip().splitlines()
    return block[0], block[1]


def _clone_files():
    """The files a fresh clone has: tracked ones plus new ones git does not ignore."""
    if shutil.which("git") is None or not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return [f for f in out.split("\0") if f and os.path.isfile(os.path.join(REPO, f))]


def test_the_test_command_is_what_ci_runs():
    _, test_cmd = _first_commands()
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert test_cmd in ci


@pytest.mark.slow
def test_first_command_trains_from_a_fresh_clone_without_shared_data(tmp_path):
    setup_and_train, _ = _first_commands()
    train_cmd = setup_and_train.split("&&")[-1].strip()
    argv = shlex.split(train_cmd)
    assert argv[:3] == [".venv/bin/python", "-m", "lightrnn_tf.train"]
    assert not any("shared" in a or a.startswith(("--corpus", "--train", "--ptb", "--tfds")) for a in argv)
    clone = tmp_path / "somewhere" / "lightrnn_tf"
    for name in _clone_files():
        os.makedirs(clone / os.path.dirname(name), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), clone / name)
    assert not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k != "LIGHTRNN_DATA"}
    env.update(PYTHONPATH=str(clone), TF_CPP_MIN_LOG_LEVEL="3", KERAS_HOME=str(tmp_path / "keras_home"))
    proc = subprocess.run([sys.executable] + argv[1:] + ["--epochs", "1", "--steps-per-epoch", "5"], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = clone / argv[argv.index("--out") + 1]
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "builtin:kjv" and metrics["vocab_size"] > 10000
    assert metrics["test_ppl"] < metrics["vocab_size"]  # learned something in 5 steps


@pytest.mark.slow
def test_python_quick_start_runs_as_written(tmp_path, monkeypatch):
    code = re.search(r"## Quick start in Python\n.*?```python\n(.*?)```", _readme(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    suggestions = namespace["suggestions"]
    assert len(suggestions) == 3 and all(isinstance(w, str) for w, _ in suggestions)
    assert os.path.exists(tmp_path / "runs" / "quickstart" / "model.tflite")
