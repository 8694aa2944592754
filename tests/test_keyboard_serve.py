"""Tests of `python -m export.serve`: what it serves, loopback by default, one-line errors."""

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from export_fixtures import files  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-m", "export.serve", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _fake_demo(tmp_path):
    demo = tmp_path / "demo"
    (demo / "node_modules" / "@litertjs" / "core" / "wasm").mkdir(parents=True)
    (demo / "node_modules" / "@litertjs" / "core" / "wasm" / "x.wasm").write_bytes(b"\0asm")
    (demo / "index.html").write_text("<!doctype html><title>demo</title>")
    return str(demo)


@contextlib.contextmanager
def _served(model, demo_dir):
    """The url of `export.serve` serving `model` in a thread, shut down afterwards."""
    from export.serve import serve_in_thread

    srv, url = serve_in_thread(model, demo_dir=demo_dir)
    try:
        yield url
    finally:
        srv.shutdown()
        srv.server_close()


def test_serves_page_model_and_wasm_on_loopback(files, tmp_path):
    demo = _fake_demo(tmp_path)
    with _served(files["dynamic"], demo) as url:
        assert url.startswith("http://127.0.0.1:")
        assert b"demo" in urllib.request.urlopen(url).read()
        with urllib.request.urlopen(url + "model.tflite?v=1") as r:
            assert r.read() == open(files["dynamic"], "rb").read()
            assert r.headers["X-Model-Name"] == os.path.basename(files["dynamic"])  # shown by the page
        with urllib.request.urlopen(url + "node_modules/@litertjs/core/wasm/x.wasm") as r:
            assert r.headers["Content-Type"] == "application/wasm"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "../../etc/passwd")
        for folder in ("node_modules/", "node_modules/@litertjs/core/wasm/"):  # no directory listings
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(url + folder)
    named = str(tmp_path / "modèle 1.tflite")  # a header is ASCII: the name travels percent-encoded
    shutil.copy(files["dynamic"], named)
    with _served(named, demo) as url, urllib.request.urlopen(url + "model.tflite") as r:
        assert urllib.parse.unquote(r.headers["X-Model-Name"]) == "modèle 1.tflite"
    latin1 = os.path.join(str(tmp_path), os.fsdecode(b"mod\xe8le.tflite"))  # a name that is not UTF-8: its bytes
    shutil.copy(files["dynamic"], latin1)
    with _served(latin1, demo) as url, urllib.request.urlopen(url + "model.tflite") as r:
        assert r.read() == open(files["dynamic"], "rb").read()
        assert urllib.parse.unquote_to_bytes(r.headers["X-Model-Name"]) == b"mod\xe8le.tflite"


def test_model_is_sent_whole_whatever_the_browser_cached(files, tmp_path):
    """`/model.tflite` is whichever file the server was given: a browser that cached a newer file
    from an earlier server must not be told "not modified" (it would run that model under this
    one's name)."""
    older = str(tmp_path / "older.tflite")
    shutil.copy(files["none"], older)
    os.utime(older, (1_000_000_000, 1_000_000_000))  # 2001
    with _served(older, _fake_demo(tmp_path)) as url:
        cached_later = {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
        with urllib.request.urlopen(urllib.request.Request(url + "model.tflite", headers=cached_later)) as r:
            assert r.status == 200 and r.read() == open(older, "rb").read()
            assert r.headers["X-Model-Name"] == "older.tflite"
        with pytest.raises(urllib.error.HTTPError, match="304"):  # the page's own files keep the date check
            urllib.request.urlopen(urllib.request.Request(url + "index.html", headers=cached_later))


def test_ipv6_loopback(files, tmp_path):
    import socket

    from export.serve import serve_in_thread

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        srv, url = serve_in_thread(files["dynamic"], host="::1", demo_dir=_fake_demo(tmp_path))
    except OSError as e:
        pytest.skip(f"IPv6 loopback unavailable: {e}")
    try:
        port = srv.server_address[1]
        assert b"demo" in urllib.request.urlopen(f"http://[::1]:{port}/").read()
    finally:
        srv.shutdown()
        srv.server_close()


def test_default_host_is_loopback():
    from export.serve import build_parser

    args = build_parser().parse_args(["--model", "m.tflite"])
    assert args.host == "127.0.0.1" and args.port == 8000


@pytest.mark.parametrize("case", ["missing", "not_tflite", "no_npm", "port"])
def test_bad_input_one_line_exit_2(files, tmp_path, case):
    model, demo = files["dynamic"], _fake_demo(tmp_path)
    if case == "missing":
        model = str(tmp_path / "nope.tflite")
    elif case == "not_tflite":
        model = str(tmp_path / "x.tflite")
        open(model, "wb").write(b"hello world, not a model")
    elif case == "no_npm":
        demo = str(tmp_path / "empty_demo")
        os.makedirs(demo)
        open(os.path.join(demo, "index.html"), "w").write("x")
    proc = _cli("--model", model, "--demo-dir", demo, "--port", "70000" if case == "port" else "0")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    if case == "no_npm":
        assert "npm ci" in lines[0]
    if case == "port":
        assert "0 <= port <= 65535" in lines[0]
