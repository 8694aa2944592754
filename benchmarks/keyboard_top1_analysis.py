"""Where two keyboard models' first suggestions differ: top-1 hits by position and by word.

    python benchmarks/keyboard_top1_analysis.py --model m_int8.tflite \
        --train ../shared/data/ptb/ptb.valid.txt --text ../shared/data/ptb/ptb.test.txt --lines 300 \
        --json benchmarks/results/keyboard_top1_analysis_ptb.json

Types the text as `export.evaluate` does (lines one after the other, Enter = `<eos>`) with the
exported LightRNN and the Kneser–Ney trigram built from `--train`, and records each word's first
suggestion before any character is typed. Prints the top-1 hits at the first word of a line, the
second, and later; the words that only one of the two predicts; and which words each suggests first
most often. Writes the same as JSON.
"""

import argparse
import collections
import json
import sys

from export.evaluate import KneserNeyEngine, load_engine, read_text_lines


def first_suggestions(engine, lines):
    """`[(position in line, token, word id, first suggestion or -1)]` for every word typed."""
    text, ctx, out = engine.text, engine.begin(), []
    for n, line in enumerate(lines):
        tokens = text.tokenize(line)
        if n:
            ctx = engine.end_line(ctx)
        for i, (tok, wid) in enumerate(zip(tokens, text.encode_tokens(tokens))):
            shown = engine.suggest(ctx, "", 3)
            out.append((i, tok, int(wid), int(shown[0]) if shown else -1))
            ctx = engine.commit(ctx, wid)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported LightRNN .tflite")
    p.add_argument("--train", required=True, help="training text of the Kneser-Ney trigram")
    p.add_argument("--text", required=True, help="text to type")
    p.add_argument("--lines", type=int, default=300, help="lines of --text typed (0 = all)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args(argv)
    lines = read_text_lines(args.text, args.lines)
    lrnn = load_engine(args.model)
    kn = KneserNeyEngine(lrnn.text, read_text_lines(args.train), 0.75)
    text = lrnn.text
    a, b = first_suggestions(lrnn, lines), first_suggestions(kn, lines)
    never = (text.unk_id, text.eos_id)
    hits = collections.Counter()
    only = {"lightrnn": collections.Counter(), "trigram": collections.Counter()}
    for (i, tok, wid, s1), (_, _, _, s2) in zip(a, b):
        where = "first word" if i == 0 else "second word" if i == 1 else "later words"
        h1, h2 = wid not in never and s1 == wid, wid not in never and s2 == wid
        hits[(where, "positions")] += 1
        hits[(where, "lightrnn")] += h1
        hits[(where, "trigram")] += h2
        if h1 != h2:
            only["lightrnn" if h1 else "trigram"][tok] += 1
    first = {name: collections.Counter(text.words[s] for *_, s in out if s >= 0).most_common(15)
             for name, out in (("lightrnn", a), ("trigram", b))}
    print("| position | words | LightRNN top-1 | trigram top-1 |\n| --- | ---: | ---: | ---: |")
    for where in ("first word", "second word", "later words"):
        print(f"| {where} | {hits[(where, 'positions')]} | {hits[(where, 'lightrnn')]} | {hits[(where, 'trigram')]} |")
    for name, counts in only.items():
        print(f"only {name} right ({sum(counts.values())}):", ", ".join(f"{w} {c}" for w, c in counts.most_common(20)))
    for name, counts in first.items():
        print(f"{name} suggests first most often:", ", ".join(f"{w} {c}" for w, c in counts))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "train": args.train, "text": args.text, "lines": len(lines),
                       "top1_hits": {f"{k[0]}/{k[1]}": v for k, v in hits.items()},
                       "only_right": {k: v.most_common(50) for k, v in only.items()},
                       "most_suggested_first": first}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
