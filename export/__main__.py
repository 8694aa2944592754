"""Export a trained LightRNN run to TFLite: `python -m export`.

    python -m export --run runs/ptb --out ptb.tflite
    python -m export --run runs/ptb --out ptb_int8.tflite --quantize dynamic --max-k 10
    python -m export.inspect ptb_int8.tflite

Writes a `.tflite` with builtin ops only, the signatures `feed`, `score`, `top_k` and `expand`
(see `export/graph.py`) and the metadata described in `export/metadata.py`. Expected failures
print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata

from export.convert import DEFAULT_EXPAND_ROWS, DEFAULT_MAX_K, QUANTIZE_MODES, check_quantize
from export.text import rules_version
from export.tflite_metadata import WEIGHTS
from lightrnn_tf.errors import ArgumentParser, LightRNNError



def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m export",
                       description="Export a run directory to TFLite: a LightRNN run for the apps and "
                                   "export.evaluate, or a --model full_softmax / sampled_softmax baseline "
                                   "run (the full-softmax LSTM, for export.evaluate only).")
    p.add_argument("--run", required=True, help="run directory written by python -m lightrnn_tf.train")
    p.add_argument("--out", required=True, help="output .tflite file")
    p.add_argument("--quantize", default="none",
                   help=f"weight quantization: {', '.join(QUANTIZE_MODES)} (default: %(default)s)")
    p.add_argument("--max-k", type=int, default=DEFAULT_MAX_K,
                   help="most suggestions one top_k call returns (default: %(default)s)")
    p.add_argument("--expand-rows", type=int, default=None,
                   help=f"table rows top_k/expand expand in one batched step (default: {DEFAULT_EXPAND_ROWS}); raised to "
                        "ceil(max_k / C) so that one step holds max_k words, and at most R; the file records the "
                        "value used (export.expand_rows), the number of rows its expand signature takes")
    return p


def capitals_note(meta: dict) -> str:
    """A warning for keyboards when the model keeps capitals but its vocabulary has (almost) none: there
    a typed "The" reads as `<unk>` and "Th" completes nothing. `""` when that is not the case."""
    if meta["tokenizer"]["lowercase"]:
        return ""
    caseable = [w for w in meta["vocab"] if w.upper() != w.lower() and w not in ("<unk>", "<eos>")]  # none in Hindi
    cased = [w for w in caseable if w != w.lower()]
    if not caseable or len(cased) > max(1, len(caseable) // 200):  # > 0.5% capitalised: the corpus has capitals
        return ""
    which = f" (all but {', '.join(repr(w) for w in cased)})" if cased else ""
    return (f"the vocabulary is lowercase{which} but the model keeps capitals, so on a keyboard a typed "
            f"'The' reads as <unk> and 'Th' completes nothing; train with --lowercase for a keyboard model")


def unicode_note(meta: dict) -> str:
    """A note when the run was trained with the tokenizer rules of before 2026-12-06 (no
    `normalization` in the metadata) on text that is not all ASCII: the file keeps those rules, so
    it reads text as training did, but words with combining marks or joiners are split and a
    decomposed "é" is another word. `""` otherwise."""
    if meta["tokenizer"].get("normalization") or all(w.isascii() for w in meta["vocab"]):
        return ""
    return ("the run was trained with the tokenizer rules of before 2026-12-06, which the file keeps: words are "
            "split at combining marks and joiners, and text is not put in Unicode NFC; retrain it for today's rules")


def emoji_note(meta: dict) -> str:
    """A note when the run was trained with `--split-punct` under rules before 3 (no `rules_version` in
    the metadata, or less than 3) and its vocabulary holds a piece of an emoji: an emoji variation
    selector U+FE0F, a skin tone or a lone regional indicator. Those rules split "❤️" into "❤" and an
    invisible U+FE0F, which a keyboard then suggests as a blank chip. `""` otherwise."""
    tok = meta["tokenizer"]
    if not tok.get("split_punct") or rules_version(tok) >= 3:
        return ""
    emoji_part = lambda c: c in "\ufe0e\ufe0f\u20e3" or "\U0001F3FB" <= c <= "\U0001F3FF" or "\U0001F1E6" <= c <= "\U0001F1FF"  # noqa: E731
    # a word of nothing but marks, skin tones and regional indicators, one of them an emoji's: a
    # variation selector ("❤️"), a keycap's "\ufe0f\u20e3" ("#️⃣"), a skin tone, half a flag
    pieces = [w for w in meta["vocab"] if any(map(emoji_part, w))
              and all(emoji_part(c) or unicodedata.category(c)[0] == "M" for c in w)]
    if not pieces:
        return ""
    return (f"the run was trained with the tokenizer rules of before emoji were kept whole, which the file keeps: "
            f"its vocabulary has pieces of emoji ({', '.join(ascii(w) for w in pieces[:3])}) that a keyboard "
            f"would suggest as blank or stray chips; retrain it for today's rules")


def invisible_note(meta: dict) -> str:
    """A note when the run was trained with the tokenizer rules of before 4 and its vocabulary holds
    words with invisible characters that rules 4 remove or read as a space (`lightrnn_tf.data`
    `REMOVE_CHARS`, `SPACE_CHARS`: a soft hyphen, a zero-width space, a bidi mark, NUL): such a word
    shows as a chip that looks like another, or like nothing. `""` otherwise."""
    from lightrnn_tf.data import has_invisible

    if rules_version(meta["tokenizer"]) >= 4:
        return ""
    odd = [w for w in meta["vocab"] if has_invisible(w)]
    if not odd:
        return ""
    return (f"the run was trained with the tokenizer rules of before invisible characters were removed, which the "
            f"file keeps: {len(odd)} vocabulary word(s) hold a soft hyphen, a zero-width space, a bidi mark or a "
            f"control character ({', '.join(ascii(w) for w in odd[:3])}), which a keyboard would suggest as chips "
            f"that look like other words or like nothing; retrain it for today's rules")


def apostrophe_note(meta: dict) -> str:
    """A note when the vocabulary holds words in both apostrophes, ' (U+0027) and ’ (U+2019):
    "don't" and "don’t" are then two words to the model, each with part of the counts, and a
    keyboard completes a typed "don’" only with the words spelled with ’ (phones type either,
    depending on the keyboard and its settings). `""` otherwise."""
    words = set(meta["vocab"])
    both = [w for w in meta["vocab"] if "\u2019" in w and w.replace("\u2019", "'") in words]
    if not both:
        return ""
    return (f"{len(both)} vocabulary word(s) are also in it with the other apostrophe "
            f"({', '.join(repr(w.replace(chr(0x2019), chr(39))) + '/' + repr(w) for w in both[:3])}): the model "
            f"and a keyboard read them as different words, each with part of the counts; put one apostrophe "
            f"in the training text (e.g. sed \"s/\u2019/'/g\") and retrain")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_quantize(args.quantize)  # before the slow imports
        from export.convert import export_run

        asked = DEFAULT_EXPAND_ROWS if args.expand_rows is None else args.expand_rows
        meta = export_run(args.run, args.out, quantize=args.quantize, max_k=args.max_k, expand_rows=asked)
    except LightRNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    used, lightrnn = meta["export"]["expand_rows"], meta.get("architecture", "lightrnn") == "lightrnn"
    resized = ""
    if lightrnn and used > asked:
        resized = (f"--expand-rows {asked} was raised to {used}: one step must hold --max-k {args.max_k} words "
                   f"(ceil(max_k / C)); the file's expand signature takes exactly {used} rows")
    elif lightrnn and used < asked and args.expand_rows is not None:
        resized = (f"--expand-rows {asked} was capped at the table's {used} rows; the file's expand signature "
                   f"takes exactly {used} rows")
    for note in (capitals_note(meta), unicode_note(meta), emoji_note(meta), invisible_note(meta), apostrophe_note(meta),
                 resized):
        if note:
            print(f"note: {note}", file=sys.stderr)
    m = meta["model"]
    shape = "full softmax" if meta.get("architecture") == "full_softmax_lstm" else f"table {m['rows']}x{m['cols']}"
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes, {WEIGHTS[args.quantize]} weights, |V| = {m['vocab_size']}, "
          f"{shape}, signatures {', '.join(meta['export']['signatures'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
