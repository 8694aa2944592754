"""Per-keystroke time of `KeyboardPredictor.suggest` as the text in the field grows, and the time of a cursor move.

    python benchmarks/keyboard_long_text.py --model ptb_int8.tflite --json results.json

Types the last letters of a word after the first N words of a text (N = 200 ... 15,000, all on one
line, the worst case for reading the text) and times each keystroke, with the typed-word history
read from the end of the text (today's `KeyboardPredictor.history`) and, as the baseline in the
same run, re-read from the whole text on every key (the implementation before 2026-12-06, kept
here). Then moves the cursor to the middle of the text and back to its end, with states kept every
`CHECKPOINT_EVERY` words (today's `KeyboardPredictor.context`) and, as the baseline in the same run,
with the cache keyed by whole prefixes and no kept states (before 2026-12-06, kept here). Prints
a table (ms a key, median of the keystrokes; ms a move, the slower of the two) and writes JSON. The
text is `--text`, default `$LIGHTRNN_DATA/ptb/ptb.test.txt`.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from export.keyboard import History, KeyboardPredictor, _Context  # noqa: E402
from lightrnn_tf.errors import LightRNNError  # noqa: E402

DATA = os.environ.get("LIGHTRNN_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))


class WholeTextHistory(KeyboardPredictor):
    """The baseline: the history re-read from every line of the text on every keystroke."""

    def history(self, text):
        hist = History(self.history_words)
        tokens = [t for ln in text.splitlines() for t in self.text.tokenize(ln)]
        del tokens[len(tokens) - self.text.typed_word(text)[1]:]  # the word being typed
        for t in tokens:
            hist.add(t)
        return hist


class WholePrefixCache(KeyboardPredictor):
    """The baseline of a cursor move: contexts keyed by the tuple of their ids, found by slicing
    every shorter prefix, and only the last `cache_size` kept."""

    def context(self, ids):
        ids = tuple(int(i) for i in ids)
        if not ids or ids[0] != self.text.eos_id:
            raise LightRNNError("a context starts with <eos>")
        n = len(ids)
        while n > 1 and ids[:n] not in self._cache:
            n -= 1
        if ids[:n] in self._cache:
            ctx = self._cache[ids[:n]]
            self._cache.move_to_end(ids[:n])
        else:
            ctx = _Context(self.predictor.start_state())
            self._put(ids[:1], ctx)
        for m in range(n, len(ids)):
            ctx = _Context(self.predictor.feed(ids[m], ctx.state))
            self.stats["feed"] += 1
            self._put(ids[: m + 1], ctx)
        return ctx


def ms_per_move(kb, words):
    """The slower of: the cursor moved from the end of `words` to after its middle word, and back."""
    end, middle = " ".join(words) + " ", " ".join(words[: len(words) // 2]) + " "
    kb.suggest(end)
    times = []
    for text in (middle, end):
        start = time.perf_counter()
        kb.suggest(text)
        times.append((time.perf_counter() - start) * 1e3)
    return max(times)


def ms_per_key(kb, words, typed="compan"):
    text = " ".join(words) + " "
    kb.suggest(text)  # the committed context's states: computed once, as while typing
    times = []
    for ch in typed:
        text += ch
        start = time.perf_counter()
        kb.suggest(text)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a LightRNN .tflite")
    ap.add_argument("--text", default=os.path.join(DATA, "ptb", "ptb.test.txt"))
    ap.add_argument("--words", type=int, nargs="+", default=[200, 2000, 8000, 15000])
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args(argv)
    if not os.path.exists(args.text):
        ap.error(f"{args.text} not found: give --text, or set LIGHTRNN_DATA to the folder holding ptb/")
    with open(args.text, encoding="utf-8") as f:
        all_words = f.read().split()
    rows = []
    for n in args.words:
        words = (all_words * (n // max(1, len(all_words)) + 1))[:n]
        now = ms_per_key(KeyboardPredictor(args.model), words)
        before = ms_per_key(WholeTextHistory(args.model), words)
        move = ms_per_move(KeyboardPredictor(args.model), words)
        move_before = ms_per_move(WholePrefixCache(args.model), words)
        rows.append({"words": n, "ms_per_key": now, "ms_per_key_whole_text_history": before, "ratio": before / now,
                     "ms_per_move": move, "ms_per_move_whole_prefix_cache": move_before,
                     "move_ratio": move_before / move})
    print("| words before the caret (one line) | ms a key | ms a key, history re-read from the whole text | ratio "
          "| ms a cursor move | ms a move, whole-prefix cache | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['words']:,} | {r['ms_per_key']:.2f} | {r['ms_per_key_whole_text_history']:.2f} | {r['ratio']:.1f}x "
              f"| {r['ms_per_move']:.1f} | {r['ms_per_move_whole_prefix_cache']:.1f} | {r['move_ratio']:.0f}x |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "command": " ".join(sys.argv), "text": args.text, "cpus": os.cpu_count(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
