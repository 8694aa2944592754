"""Where the typed-word history's keystrokes come from: words inside or outside the vocabulary.

    python benchmarks/keyboard_history_breakdown.py --model m_int8.tflite \
        --train ../shared/data/ptb/ptb.valid.txt --text ../shared/data/ptb/ptb.test.txt --lines 300 \
        --json breakdown.json

Types the text as `export.evaluate` does (same engines, same typist: lines one after the other,
Enter = `<eos>`, a tap as soon as the word is shown) twice per model, with the exported LightRNN
and the Kneser–Ney trigram built from `--train`: the models alone, then with the history
(`--history-weight`, default the keyboard's). Each word's keystrokes are compared between the two
runs and the difference is summed over words inside and outside the model's vocabulary. Prints
points of keystroke savings (saved keystrokes / characters) for each part and writes them as JSON.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from export.evaluate import KneserNeyEngine, load_engine, read_text_lines  # noqa: E402
from export.keyboard import HISTORY_WEIGHT, HISTORY_WORDS, SPECIAL_TOKENS, History  # noqa: E402


def word_costs(engine, lines, lam, size, k=3):
    """`[(token, in vocabulary, keystrokes)]` for every word typed (the protocol of `export.evaluate`)."""
    text, history, out = engine.text, History(size), []
    ctx = engine.begin()
    for n, line in enumerate(lines):
        if n:
            ctx = engine.end_line(ctx)
        tokens = text.tokenize(line)
        for tok, wid in zip(tokens, text.encode_tokens(tokens)):
            cost = len(tok) + 1
            for j in range(len(tok) + 1):
                if lam:
                    shown = engine.suggest_words(ctx, tok[:j], k, history, lam)
                else:
                    shown = [text.words[i] for i in engine.suggest(ctx, tok[:j], k)]
                if tok not in SPECIAL_TOKENS and tok in shown:
                    cost = j + 1
                    break
            out.append((tok, tok in text.index, cost))
            ctx = engine.commit(ctx, wid)
            history.add(tok)
    return out


def breakdown(engine, lines, lam, size):
    alone, mixed = word_costs(engine, lines, 0.0, size), word_costs(engine, lines, lam, size)
    chars = sum(len(t) + 1 for t, _, _ in alone)
    saved = {True: 0, False: 0}
    helped = set()
    for (tok, in_vocab, a), (_, _, b) in zip(alone, mixed):
        saved[in_vocab] += a - b
        if not in_vocab and b < a:
            helped.add(tok)
    return {"characters": chars, "saved_in_vocab": saved[True], "saved_outside_vocab": saved[False],
            "points_in_vocab": 100 * saved[True] / chars, "points_outside_vocab": 100 * saved[False] / chars,
            "outside_vocab_words_helped": len(helped), "examples": sorted(helped)[:15]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="exported LightRNN .tflite")
    ap.add_argument("--train", required=True, help="training text of the trigram baseline")
    ap.add_argument("--text", required=True, help="text to type")
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--history-weight", type=float, default=HISTORY_WEIGHT)
    ap.add_argument("--history-words", type=int, default=HISTORY_WORDS)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    lines = read_text_lines(args.text, args.lines)
    engine = load_engine(args.model)
    engines = [engine, KneserNeyEngine(engine.text, read_text_lines(args.train), 0.75)]
    out = {"model": args.model, "text": args.text, "lines": len(lines), "history_weight": args.history_weight,
           "history_words": args.history_words, "results": {}}
    print("| model | points from vocabulary words | points from words outside it | such words helped |")
    print("| --- | ---: | ---: | ---: |")
    for e in engines:
        r = breakdown(e, lines, args.history_weight, args.history_words)
        out["results"][e.name] = r
        print(f"| {e.name} | {r['points_in_vocab']:.2f} | {r['points_outside_vocab']:.2f} | "
              f"{r['outside_vocab_words_helped']} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
