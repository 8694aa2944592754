"""Per-keystroke latency of the web demo in headless Chromium (LiteRT.js WASM) and natively (Python).

    python benchmarks/keyboard_web_latency.py --model models/ptb/lightrnn_int8.tflite --lines 20
    python benchmarks/keyboard_web_latency.py --vocab 10000 --lines 20     # builds a |V| = 10k model first

Types the first `--lines` sentences of ptb.test key by key into the page (playwright keyboard
events; the page times each suggestion computation: the recurrent step for a committed word, the
`top_k` call, and the `expand` calls) and reports p50 / p99 over all keystrokes and over the first
keystroke of each word (after a space: the expensive one). The same keystrokes are then replayed
through `export.keyboard.KeyboardPredictor` (ai_edge_litert, one thread) for the native numbers.
Writes JSON to `--out`. Needs chromium, playwright and `npm ci` in web_demo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
DATA = os.environ.get("LIGHTRNN_DATA", os.path.join(REPO, "..", "shared", "data"))
PTB_TEST = os.path.join(DATA, "ptb", "ptb.test.txt")


def stats(ms):
    ms = np.asarray(ms)
    return {"n": int(len(ms)), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean())}


def build_model(vocab, out_dir):
    from bench_export import make_run

    from export.convert import export_run

    run = os.path.join(out_dir, f"run_v{vocab}")
    if not os.path.exists(os.path.join(run, "model.keras")):
        make_run(run, vocab, epochs=1)
    path = os.path.join(out_dir, f"v{vocab}_int8.tflite")
    export_run(run, path, quantize="dynamic", max_k=10)
    return path


def browser_latency(model, lines, chromium=None):
    from playwright.sync_api import sync_playwright

    from export.serve import serve_in_thread

    srv, url = serve_in_thread(model)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium or os.environ.get("CHROMIUM") or shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu",
                                                                  "--disable-background-networking",
                                                                  "--disable-component-update"])
            page = b.new_page()
            page.goto(url)
            page.wait_for_function("window.kbdDemo && window.kbdDemo.ready", timeout=120_000)
            page.click("#text")
            all_ms, first_ms = [], []
            for line in lines:
                page.fill("#text", "")
                page.wait_for_function("document.querySelector('#chips').dataset.text === ''")
                for ch in line + " ":
                    n = page.evaluate("window.kbdDemo.latencies.length")
                    page.keyboard.type(ch)
                    page.wait_for_function(f"window.kbdDemo.latencies.length > {n}")  # one key at a time
                    ms = page.evaluate("window.kbdDemo.latencies[window.kbdDemo.latencies.length - 1]")
                    all_ms.append(ms)
                    if ch == " ":
                        first_ms.append(ms)
            b.close()
    finally:
        srv.shutdown()
        srv.server_close()
    return {"all": stats(all_ms), "after_space": stats(first_ms)}


def native_latency(model, lines):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model)
    all_ms, first_ms = [], []
    for line in lines:
        for j in range(1, len(line) + 2):
            text = (line + " ")[:j]
            t0 = time.perf_counter()
            kb.suggest(text)
            ms = (time.perf_counter() - t0) * 1e3
            all_ms.append(ms)
            if text.endswith(" "):
                first_ms.append(ms)
    return {"all": stats(all_ms), "after_space": stats(first_ms)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="", help="a LightRNN .tflite (default: build one with --vocab words)")
    ap.add_argument("--vocab", type=int, default=10000, help="vocabulary of the model to build (default: %(default)s)")
    ap.add_argument("--work", default="/tmp/lightrnn_kbd_latency", help="where a built model goes")
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--out", default="", help="JSON output file")
    args = ap.parse_args(argv)
    if not os.path.exists(PTB_TEST):
        ap.error(f"{PTB_TEST} not found: set LIGHTRNN_DATA to the folder holding ptb/ (the shared data)")
    model = args.model or build_model(args.vocab, args.work)
    with open(PTB_TEST, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()][: args.lines]
    from export.metadata import read_metadata

    meta = read_metadata(model)
    result = {"model": model, "bytes": os.path.getsize(model), "vocab_size": meta["model"]["vocab_size"],
              "table": [meta["table"]["rows"], meta["table"]["cols"]], "quantization": meta["export"]["quantization"],
              "hidden": meta["model"]["hidden_dim"], "lines": len(lines),
              "chromium_wasm": browser_latency(model, lines), "native_litert_1_thread": native_latency(model, lines)}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
