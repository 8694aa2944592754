"""Serve the keyboard web demo with a chosen model: `python -m export.serve --model model.tflite`.

    cd web_demo && npm ci && cd ..                       # once: LiteRT.js and its WASM runtime
    python -m export.serve --model ptb_int8.tflite       # http://127.0.0.1:8000/
    python -m export.serve --model m.tflite --host 0.0.0.0 --port 8080   # reachable from a phone on the LAN

Serves `web_demo/` (the page, its service worker and manifest, `node_modules/@litertjs/...`) and
the model at `/model.tflite`; no directory listings. Loopback only unless `--host` says otherwise
(an IPv6 address such as `::1` works too). Nothing is fetched from the internet: the WASM runtime
ships in the npm package.

Over the LAN (`--host 0.0.0.0`, then http://<this machine's address>:PORT/ on the phone) the page
predicts, but browsers give service workers, and so offline use and installing, only to pages
from https:// or from localhost. For those on a phone, serve the folder over HTTPS (any static
server with a certificate; this one speaks plain HTTP) or forward the port to the phone's own
localhost (Chrome's remote debugging port forwarding, `adb reverse tcp:8000 tcp:8000`).

Expected failures (missing model, a file without LightRNN metadata, a full-softmax baseline, `npm
ci` not run, a port out of range or taken) print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import socket
import sys
import threading
import urllib.parse

from lightrnn_tf.errors import ArgumentParser, LightRNNError

DEMO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web_demo")
MIME = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript",
        ".webmanifest": "application/manifest+json", ".tflite": "application/octet-stream"}


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of the demo folder; `/model.tflite` is the chosen model."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME}

    def __init__(self, *args, model_path: str, **kwargs):
        self.model_path = model_path
        super().__init__(*args, **kwargs)

    def _is_model(self, path: str) -> bool:
        return path.split("?", 1)[0].split("#", 1)[0] == "/model.tflite"

    def translate_path(self, path):
        if self._is_model(path):
            return self.model_path
        return super().translate_path(path)

    def send_head(self):
        if self._is_model(self.path):
            # Always the whole file: `/model.tflite` is whichever file this server was given, so a
            # date check ("not modified since") would let the browser keep an earlier server's
            # model when this one is older (a rollback, a copy made with `cp -p`) and show it
            # under this one's name.
            del self.headers["If-Modified-Since"]
            del self.headers["If-None-Match"]
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        if self._is_model(self.path):  # the page shows which model it runs
            # percent-encoded UTF-8: a header holds ASCII only ("modèle.tflite" was "mod?le.tflite")
            self.send_header("X-Model-Name", urllib.parse.quote(os.fsencode(os.path.basename(self.model_path))))
        super().end_headers()

    def list_directory(self, path):  # a folder is not a page of the demo
        self.send_error(404, "Not found")
        return None

    def log_message(self, fmt, *args):  # quiet: one line per request is noise for a demo
        if os.environ.get("LIGHTRNN_SERVE_LOG"):
            super().log_message(fmt, *args)


def check(model: str, demo_dir: str) -> dict:
    """The model's metadata, or a `LightRNNError` saying what is wrong."""
    from export.metadata import read_metadata

    meta = read_metadata(model)
    if meta.get("architecture", "lightrnn") != "lightrnn":
        raise LightRNNError(f"{model} is a {meta['architecture']} model; the web demo runs LightRNN exports "
                            "(python -m export)")
    if not os.path.isfile(os.path.join(demo_dir, "index.html")):
        raise LightRNNError(f"web demo not found in {demo_dir}")
    if not os.path.isdir(os.path.join(demo_dir, "node_modules", "@litertjs", "core", "wasm")):
        raise LightRNNError(f"LiteRT.js is not installed: run `npm ci` in {demo_dir}")
    return meta


def make_server(model: str, host: str = "127.0.0.1", port: int = 8000, demo_dir: str = DEMO_DIR):
    """A `ThreadingHTTPServer` for the demo (not started); `server.server_address` has the port."""
    handler = functools.partial(DemoHandler, directory=demo_dir, model_path=os.path.abspath(model))
    if not 0 <= port <= 65535:
        raise LightRNNError(f"Received an invalid value for `--port`, expected 0 <= port <= 65535, got {port}.")
    server_class = _IPv6Server if ":" in host else http.server.ThreadingHTTPServer
    return server_class((host, port), handler)


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def lan_address() -> str:
    """This machine's address on its LAN (no packet is sent), or its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


def serve_in_thread(model: str, host: str = "127.0.0.1", port: int = 0, demo_dir: str = DEMO_DIR):
    """Starts a server in a daemon thread; returns `(server, url)` (tests and benchmarks)."""
    check(model, demo_dir)
    server = make_server(model, host, port, demo_dir)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m export.serve", description="Serve the keyboard web demo.",
                       epilog="Over the LAN (--host 0.0.0.0) the page predicts, but browsers allow its service worker "
                              "(offline use, installing) only on https:// or localhost: serve it over HTTPS or "
                              "forward the port to the phone (adb reverse tcp:8000 tcp:8000).")
    p.add_argument("--model", required=True, help=".tflite written by python -m export")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--demo-dir", default=DEMO_DIR, help="the web_demo folder (default: the repository's)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        meta = check(args.model, args.demo_dir)
        server = make_server(args.model, args.host, args.port, args.demo_dir)
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    port = server.server_address[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {args.model} (|V| = {meta['model']['vocab_size']}, {os.path.getsize(args.model)} bytes) "
          f"at http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    if args.host in ("0.0.0.0", "::", ""):
        print(f"on the LAN: http://{lan_address()}:{port}/ (it predicts there; offline use and installing need "
              f"https:// or localhost, see python -m export.serve --help)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
