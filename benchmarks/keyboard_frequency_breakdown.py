"""Where a model's keystrokes differ from the Kneser–Ney trigram's, by how often the word was seen in training.

    python benchmarks/keyboard_frequency_breakdown.py --model ptb_int8.tflite \
        --train ../shared/data/ptb/ptb.valid.txt --text ../shared/data/ptb/ptb.test.txt --lines 300 \
        --json frequency_breakdown.json

Types the text as `export.evaluate` does (the same typist; the models alone, no typed-word
history) with the exported model and with the trigram built from `--train` on the model's
vocabulary, records each word's keystrokes, and sums them over bands of the word's count in the
`--train` text. Prints, per band, the words, their characters, each model's keystrokes and the
trigram's lead in points of keystroke savings (positive: the trigram saves more there); the leads
add up to the difference of the two savings.
"""

import argparse
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export.evaluate import KneserNeyEngine, load_engine, read_text_lines  # noqa: E402
from keyboard_history_breakdown import word_costs  # noqa: E402

BANDS = ((0, 0), (1, 1), (2, 4), (5, 19), (20, 99), (100, 999), (1000, None))


def frequency_breakdown(model_costs, trigram_costs, counts) -> list:
    """Per band of training count: `{band, words, characters, model_keys, trigram_keys, trigram_lead_points}`."""
    chars = sum(len(tok) + 1 for tok, _, _ in model_costs)
    rows = []
    for lo, hi in BANDS:
        sel = [(tok, a, b) for (tok, _, a), (_, _, b) in zip(model_costs, trigram_costs)
               if counts.get(tok, 0) >= lo and (hi is None or counts.get(tok, 0) <= hi)]
        model_keys, trigram_keys = sum(a for _, a, _ in sel), sum(b for _, _, b in sel)
        rows.append({"band": f"{lo}+" if hi is None else (f"{lo}" if lo == hi else f"{lo}-{hi}"), "words": len(sel),
                     "characters": sum(len(tok) + 1 for tok, _, _ in sel), "model_keys": model_keys,
                     "trigram_keys": trigram_keys, "trigram_lead_points": 100 * (model_keys - trigram_keys) / chars})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an exported .tflite (LightRNN or full-softmax LSTM)")
    parser.add_argument("--train", required=True, help="the training text (the trigram and the counts)")
    parser.add_argument("--text", required=True, help="the text to type")
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--kn-discount", type=float, default=0.75)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    engine = load_engine(args.model)
    train = read_text_lines(args.train)
    lines = read_text_lines(args.text, args.lines)
    trigram = KneserNeyEngine(engine.text, train, args.kn_discount)
    counts = Counter(tok for line in train for tok in engine.text.tokenize(line))
    rows = frequency_breakdown(word_costs(engine, lines, 0.0, 1), word_costs(trigram, lines, 0.0, 1), counts)
    print(f"| count in --train | words | characters | {engine.name} keys | trigram keys | trigram's lead (points) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['band']} | {r['words']} | {r['characters']} | {r['model_keys']} | {r['trigram_keys']} | "
              f"{r['trigram_lead_points']:+.2f} |")
    total = sum(r["trigram_lead_points"] for r in rows)
    print(f"trigram's lead in all: {total:+.2f} points")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "train": args.train, "text": args.text, "lines": args.lines,
                       "rows": rows, "trigram_lead_points": total}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
