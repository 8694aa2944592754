"""`python -m lightrnn_tf.compare`: models trained in their own processes under one time budget."""

import json
import os

import pytest

from lightrnn_tf import compare


@pytest.mark.slow
def test_compare_writes_table_json_and_plot(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"the cat {i % 7} sat on mat {i % 5} and dog {i % 3}" for i in range(400)))
    out = str(tmp_path / "cmp")
    argv = ["--corpus", str(corpus), "--time-budget", "3", "--out", out, "--only", "lightrnn", "full_softmax",
            "--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "4", "--bptt", "5"]
    assert compare.main(argv) == 0
    table = capsys.readouterr().out
    assert "lightrnn" in table and "full_softmax" in table and "KN trigram" in table
    summary = json.load(open(os.path.join(out, "compare.json")))
    assert summary["machine"]["cpus"] == os.cpu_count() and summary["time_budget"] == 3
    for name in ("lightrnn", "full_softmax"):
        r = summary["results"][name]
        assert r["stopped_by_time_budget"] and r["peak_rss_mb"] > 0 and r["model_bytes"] > 0
        assert all(t is not None and t >= 0 for t, _ in r["curve"])
    assert summary["results"]["lightrnn"]["params"] < summary["results"]["full_softmax"]["params"]
    assert 1 < summary["kn3_test_ppl"] < summary["vocab_size"]
    with open(os.path.join(out, "valid_ppl.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # A finished run is not trained again.
    mtime = os.path.getmtime(os.path.join(out, "lightrnn", "metrics.json"))
    capsys.readouterr()
    assert compare.main(argv + ["--no-kn3"]) == 0
    assert os.path.getmtime(os.path.join(out, "lightrnn", "metrics.json")) == mtime
    assert "reusing" in capsys.readouterr().err
    # A run trained with other settings is refused, not reported as if it were the one asked for.
    assert compare.main([a if a != "16" else "32" for a in argv] + ["--no-kn3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--embedding-dim 16" in err[0] and "asks for 32" in err[0], err
    # An interrupted run (no metrics.json yet, as a kill leaves it) is resumed by the same command.
    os.remove(os.path.join(out, "full_softmax", "metrics.json"))
    assert compare.main(argv + ["--no-kn3"]) == 0
    assert "--resume" in capsys.readouterr().err
    assert os.path.exists(os.path.join(out, "full_softmax", "metrics.json"))


def test_compare_refuses_resume(tmp_path, capsys):
    assert compare.main(["--out", str(tmp_path), "--time-budget", "1", "--resume"]) == 2
    assert "not supported" in capsys.readouterr().err


@pytest.mark.parametrize("budget", ["0", "-5"])
def test_compare_needs_a_positive_time_budget(tmp_path, capsys, budget):
    """0 would be no budget at all (up to 1,000 epochs a model): refused in one line, nothing made."""
    with pytest.raises(SystemExit) as e:
        compare.main(["--out", str(tmp_path / "cmp"), "--time-budget", budget])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1
    assert err[0].startswith(f"error: argument --time-budget: expected seconds > 0, got {budget}")
    assert not (tmp_path / "cmp").exists()
