"""Reference files for the JavaScript and Java keyboard engines, written by the Python predictor.

    python tests/keyboard_fixtures.py --out /tmp/kbd_fixtures          # what .ci/keyboard.sh runs

Writes into OUT:
  - `tiny.tflite`: a tiny LightRNN trained on `export_fixtures.TINY_TEXT` (lowercase, split_punct,
    a 7x7 table with empty cells), exported with `max_k` 4 and `expand_rows` 1 so the engines'
    loops must call `expand` (a real exported model: metadata flatbuffer + appended vocab.txt);
  - `full_softmax.tflite`: a full-softmax LSTM export (`export.baseline_keyboard`), which the apps refuse;
  - `replay.json`: every model call the Python `KeyboardPredictor` made, keyed by its inputs, so a
    replaying interpreter can answer the engines' calls without LiteRT:
      feeds   {"<word>:<state hex>": "<state hex>"}     (state: float32 little-endian bytes)
      states  {"<state hex>": {top_k: {...}, rows_words (R, C), rows_log_probs (R, C)}}
              (every row of every state is recorded, so any expand batch can be answered)
      cases   [{text, partial, ids, words, log_probs}]  the Python suggestions, k = 3
      history {weight, words, cases: [{text, partial, words, scores}]}  suggestions with the
              typed-word history (`KeyboardPredictor.with_history`), k = 3
      tokenize [{text, tokens, context, committed, partial}]  tokenizer reference outputs;
      accept  [{text, word, cased, accepted}]  taps (`KeyboardPredictor.cased`, `accept`);
      accept_at [{before, after, word, result}]  taps with the caret inside the text (`accept_at`);
      history_tokens {words, cases: [{text, tokens}]}  the typed-word history of long texts.
The engines must reproduce `cases` exactly, calling only what the replay holds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOKENIZER_TEXTS = [
    "The cat's mat, isn't it?  Yes!!",
    "U.S. stocks fell 2.5% -- the <unk> index's worst day since 1987...",
    "Ünïcödé wörds — and “quotes” & dashes – ok",
    "tabs\tand   spaces",
    "<UNK> <eos> <foo bar> <b>bold</b>",
    "",
    "two lines.\nsecond li",
    "finished line\n",
    "The Cat,",
    "DOGS and CATS d",
    # every line end of Python's str.splitlines, which the engines map to "\n"
    "one\vtwo th", "one\ftwo th", "a\x1cb\x1dc\x1ed", "one\x85two", "one\u2028two\u2029th", "one\r\ntwo\rth",
    # combining marks stay in their word, and every token is NFC: decomposed input, Devanagari,
    # Arabic harakat, a mark after a space or punctuation, "İ" (lowercases to two characters)
    "Nai\u0308ve cafe\u0301 au lai", "हिन्दी भाषा, ठीक है", "مَرْحَبًا بِكَ", "a \u0301b (\u0301) x\u20dd", "İstanbul İs",
    "the cafe\u0301",
    # apostrophes and zero-width joiners inside words; invisible format characters are no tokens;
    # whitespace as Python's str.isspace (U+001F is, U+FEFF is not)
    "می\u200cخواهم کتاب\u200cها را", "ශ්\u200dරී ලංකා", "l’homme d’affaires, l’h", "a\u200c b \ufeffx \u200e!",
    "Die\x1fStraße", "\ufeffDie Straße", "x\u3000y\u00a0z\u2007w",
    # a joiner right after a word belongs to the word being typed; invisible marks at the end are skipped
    "the l’", "I don'", "می\u200c", "x\u200d", "the word\u200e", "a '", "\u200e", "ab,'", "!\U000e0041",
    # a blank line is Python's not line.strip(): <eos> after a line of U+001F, not after one of U+FEFF
    "\u00a0\nb", "\u2007\nb", "\x1f\nb", "\ufeff\nb", "\x01\nb",
    # a capital sigma typed last is no final sigma yet
    "ΜΙΣ", "ΟΙ ΜΙΣ", "μισ", "ΜΙΣ’",
    # an emoji is one token with its variation selector, skin tone, keycap, tags and the symbols a
    # zero-width joiner adds; two regional indicators are one flag; a joiner typed after an emoji
    # belongs to the word being typed
    "I ❤\ufe0f you 👍\U0001F3FD!", "us 👨\u200d👩\u200d👧 here", "us 👨\u200d", "🇺🇸🇬🇧🇫 #\ufe0f\u20e3 1\ufe0f\u20e3",
    "go🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F!", "ok 👍", "❤\u200d\u0301x", "!\u200d",
    # invisible characters (rules 4): a soft hyphen, bidi marks, a word joiner are removed; a
    # zero-width space and a control character read as a space
    "a hy\u00adphen is\u200bgood\x00ok", "the hy\u00adph", "the Hy\u00adPh", "word\u200b", "word\x00", "x\u2060y \x7f",
    "\u202bשלום\u202c עולם", "go\u200e\u200b", "👨\u00ad\u200d👩",
    # a removed character before a joiner typed last, before a word (the shortest end is the word),
    # and a tag character after a word (the pattern drops it)
    "می\u200f\u200c", "us 👨\u00ad\u200d", "hello\u00ad'", "x \u200eİst", "x \U000E0001İst", "word\U000E0067",
]

# Random texts over characters chosen to stress the rules the three engines share: combining marks,
# joiners and other format characters, exotic whitespace and line ends, case mappings that change
# lengths ("İ", "ß"), titlecase, characters outside the BMP. Left out: what the runtimes' Unicode
# versions or casing rules disagree on (the Greek final sigma; marks newer than Java 17's Unicode 13).
FUZZ_ALPHABET = list("aZé _'’,.-1") + [
    "e\u0301", "\u0301", "ह", "\u093f", "\u094d", "ر", "\u064e", "\u200c", "\u200d", "\u200b", "\u200e", "\ufeff", "\u00ad", "\u2060",
    "\x00", "\x7f", "\x9f", "\U000E0001",
    "\x1f", "\u00a0", "\u3000", "\t", "\n", "\u2028", "İ", "ß", "ǅ", "𝐀", "\U0001F600", "\U000E0041", "<unk>",
    "❤", "\ufe0f", "\U0001F3FD", "\u20e3", "\U0001F1FA", "\U0001F1F8"]


def fuzz_texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(FUZZ_ALPHABET, size=int(rng.integers(1, 16)))) for _ in range(n)]


# (text, word) taps: the inserted word keeps the typed prefix's capitals (a lowercasing model)
ACCEPT_CASES = [("The ca", "cat"), ("The Ca", "cat"), ("THE CA", "cat"), ("the (Ca", "cat"), ("The ", "cat"),
                ("", "the"), ("DOGS and CATS d", "dog"), ("x\u2028Ca", "cat"), ("Ünï", "ünïcödé"), ("Ü", "ünïcödé"),
                ("dogs D", "dog"), ("A", "a"), ("I", "in"), ("the Cafe\u0301", "café"), ("the cafe\u0301", "café"),
                ("İs", "is"), ("हिन्", "हिन्दी"), ("𝐀𝐁", "ab"), ("Ⓐb", "ab"), ("İst", "i\u0307stanbul"), ("the l’", "l’homme"), ("می\u200c", "می\u200cخواهم"), ("the word\u200e", "words"), ("hello\u200c", "world"), ("the cat \u200b", "world"), ("!\U000e0041", "élan"), ("ΜΙΣ", "μισθός"),
                ("می\u200f\u200c", "می\u200cخواهم"), ("us 👨\u00ad\u200d", "👨\u200d👩\u200d👧"), ("hello\u00ad'", "hello's"),
                ("x \u200eİst", "i\u0307stanbul"), ("x \U000E0001İst", "i\u0307stanbul"), ("word\U000E0067", "words"),
                ("I ❤", "❤\ufe0f"), ("us 👨\u200d", "👨\u200d👩\u200d👧"), ("ok 👍", "👍\U0001F3FD"), ("go \U0001F1FA", "\U0001F1FA\U0001F1F8"),
                # closing punctuation against the word before it, opening punctuation against the next
                ("the heaven ", ","), ("the heaven  ", "."), ("the heaven", ","), ("line\n", ","), (" ", "?"),
                ("see ", "("), ("he said ", "“"), ("done ", "…"), ("so ", "),"), ("the heaven\u00a0", ","),
                # the capitals a word was typed with come back with it, not those of a sentence start
                ("I met McDonald and Zoë. Then i ", "mcdonald"), ("I met McDonald and Zoë. Then i ", "zoë"),
                ("I met McDonald and Zoë. Then i Mc", "mcdonald"), ("I met McDonald and Zoë. Then i z", "zoë"),
                ("The cat and The dog. The ", "the"), ("so I think i ", "i"), ("NASA and iPhone, nasa i", "iphone"),
                ("a MCDONALD then McDonald x ", "mcdonald"), ("Zoë\nZoë and Zo", "zoë"), ("ok. Zoë and Zo", "zoë"),
                ("“The cat sat,” he said. the dog and the ", "the"), ("Dogs: The cat (The dog) and ", "the"),
                ("We met on 5 May. you may go, you may ", "may"), ("We met on 5 May. you may go, May ", "may"),
                # capitals inside the typed prefix stay where they were typed
                ("OMG!!! McD", "mcdonald"), ("my new iPh", "iphone"), ("said O'Br", "o'brien"), ("x İStA", "i\u0307stanbul"),
                ("mcD", "mcdonald"), ("the CafE\u0301", "café"), ("ǅa", "ǆab"), ("NASA and iPhone, nasa iPH", "iphone"),
                # a typed ’ where the vocabulary has ': the word inserted is the vocabulary's
                ("they don\u2019", "don't"), ("Don\u2019", "don't"), ("it\u2019s the c", "cat's"), ("DON\u2019", "don't")]

# (before, after, word) taps with the caret inside the text (`KeyboardPredictor.accept_at`)
ACCEPT_AT_CASES = [("the ca", "t sat", "cat"), ("the Ca", "t, sat", "cat"), ("the ", "cat sat", "dog"),
                   ("the ca", " sat", "cat"), ("the ca", "\tsat", "cat"), ("the ca", "\nsat", "cat"),
                   ("the ca", "\u2028sat", "cat"), ("the ", "", "cat"), ("do", "n't go", "dog"),
                   ("the ca", "t's mat", "cat"), ("the ca", "t'", "cat"), ("the ca", "tü2_x y", "cat"), ("", "", "the"),
                   ("the cafe", "\u0301 au lait", "café"), ("हि", "न्दी है", "हिन्दी"), ("l’ho", "mme est", "l’homme"),
                   ("می", "\u200cخواهم را", "می\u200cخواهم"),
                   # after a punctuation mark the next word stays; punctuation against the word before
                   ("and they said,", "Lord, help", ","), ("what time?", "Tomorrow", "?"), ("the heaven ", "\nnext", ","),
                   ("see ", "now", "("), ("see ", " now", "("), ("l’", "homme", "l’homme"),
                   # removed characters inside the rest of the word go with it
                   ("the hy", "\u00adphen is", "hyphen"), ("the hyph", "en\u00adated x", "hyphenated"),
                   ("the ca", "\u200et sat", "cat"), ("the ca", "t\u00ad's x", "cat"), ("the ca", "t\u00ad", "cat"),
                   ("the ca", "\U000E0001t x", "cat")]


def long_history_texts():
    """Texts whose history the engines must read from the end only: a long single line, many lines, a
    line of <unk>s, a long word with no space (cut points), and a partial word at the end."""
    words = "the cat sat on the mat and the dog ate a log , then Zorblat met the Quux".split()
    one_line = " ".join(words[i % len(words)] for i in range(400))
    return [one_line + " th", one_line + " ", "\n".join(words * 3) + "\nZor", "<unk> " * 60 + "cat dog",
            "x" * 500 + " the cat", one_line + "\u2028the c", "a,b.c;d " * 40 + "e",
            one_line.replace(" ", "\u200b") + "\u200bThe Quux. the"]  # cut at zero-width spaces too


def typed_prefixes(lines, step=1, limit=None):
    out = []
    for line in lines:
        line = line[:limit] if limit else line
        out.extend(line[:j] for j in range(0, len(line) + 1, step))
    return out


HISTORY_TEXTS = ["Zorblat the cat met Zorblat and the dog. Then Zorb",
                 # words outside the vocabulary typed as often: ordered by UTF-16 code units in all engines
                 "\uff41\uff42 \U0001F467 the ",
                 "the mat the mat, the log the mat the m", "Quux quux, the log.\nA quux dog sat on the qu"]
HISTORY_WEIGHT, HISTORY_WORDS = 0.3, 12


def record(model_path, texts, k=3, history_texts=()):
    """Runs `KeyboardPredictor` on `texts` (and, with the typed-word history, on `history_texts`)
    and returns the replay dict."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model_path)
    p = kb.predictor
    feeds, states = {}, {}
    raw_feed = p._run["feed"]

    def feed(word, state):
        out = raw_feed(word=word, state=state)
        feeds[f"{int(word[0])}:{state.astype('<f4').tobytes().hex()}"] = out["state"].astype("<f4").tobytes().hex()
        states[out["state"].astype("<f4").tobytes().hex()] = out["state"]
        return out

    p._run["feed"] = feed
    cases = []
    for text in texts:
        ids, lps, partial = kb.suggest_ids(text, k)
        cases.append({"text": text, "partial": partial, "ids": [int(i) for i in ids],
                      "words": [kb.words[int(i)] for i in ids], "log_probs": [float(x) for x in lps]})
    hkb = KeyboardPredictor(p, history_weight=HISTORY_WEIGHT, history_words=HISTORY_WORDS)  # same hooked model
    history = []
    for text in history_texts:
        ids, partial = hkb.split_typed(text)
        got = hkb.with_history(hkb.context(ids), partial, hkb.history(text), k)
        history.append({"text": text, "partial": partial, "words": [w for w, _ in got], "scores": [s for _, s in got]})
    table = {}
    every_row = np.arange(p.rows, dtype=np.int32)
    m = p.expand_rows
    for key, state in states.items():
        top = p._run["top_k"](state=state)
        words, lps = [], []
        for start in range(0, p.rows, m):
            rows = every_row[np.minimum(np.arange(start, start + m), p.rows - 1)]
            ex = p._run["expand"](state=state, rows=rows)
            n = min(m, p.rows - start)
            words.extend(ex["words"][:n].tolist())
            lps.extend(ex["log_probs"][:n].astype(np.float64).tolist())
        table[key] = {"top_k": {name: top[name].tolist() for name in ("words", "log_probs", "row_order", "row_log_probs")},
                      "rows_words": words, "rows_log_probs": lps}
    return {"state_size": int(np.prod(p.state_shape)), "feeds": feeds, "states": table, "cases": cases,
            "history": {"weight": HISTORY_WEIGHT, "words": HISTORY_WORDS, "cases": history}}


def tokenizer_cases(model_path, texts):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model_path)
    out = []
    for t in texts:
        committed, partial = kb.split_typed(t)
        out.append({"text": t, "tokens": kb.text.tokenize(t.splitlines()[0] if t.splitlines() else ""),
                    "context": kb.text.encode_context(t), "committed": list(committed), "partial": partial})
    return out


def accept_cases(model_path, cases):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model_path)
    return [{"text": t, "word": w, "cased": kb.cased(t, w), "accepted": kb.accept(t, w)} for t, w in cases]


def accept_at_cases(model_path, cases):
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model_path)
    return [{"before": b, "after": a, "word": w, "result": list(kb.accept_at(b, a, w))} for b, a, w in cases]


def history_tokens(model_path, texts, words):
    """The typed-word history's tokens, oldest first, for each text (history_words = `words`)."""
    from export.keyboard import KeyboardPredictor

    kb = KeyboardPredictor(model_path, history_words=words)
    return {"words": words, "cases": [{"text": t, "tokens": list(kb.history(t)._tokens)} for t in texts]}


def write_baseline(lightrnn_path, out) -> str:
    """An (untrained) full-softmax LSTM export with the vocabulary and tokenizer of the LightRNN export
    `lightrnn_path`, written to `out`: a file the apps refuse. Returns its file name."""
    from export.baseline_keyboard import export_baseline
    from export.metadata import read_metadata
    from lightrnn_tf.baselines import FullSoftmaxLSTM

    meta = read_metadata(lightrnn_path)
    lstm = FullSoftmaxLSTM(len(meta["vocab"]), embedding_dim=4, hidden_dim=4)
    lstm((np.zeros((1, 3), np.int32),) * 2)
    export_baseline(lstm, meta["vocab"], {k: meta["tokenizer"][k] for k in ("lowercase", "split_punct")}, out)
    return os.path.basename(out)


# Texts whose tokens or typed word differ between tokenizer rules 2 (emoji split; a run that
# recorded them keeps them) and 3, and between rules 3 (invisible characters as they come) and 4
OLD_RULES_TEXTS = {
    2: ["I ❤\ufe0f you 👍\U0001F3FD!", "us 👨\u200d", "us 👨\u200d👩", "🇺🇸 #\ufe0f\u20e3", "ok 👍", "the l’"],
    3: ["a hy\u00adphen", "the hy\u00adph", "word\u200b", "a\x00b", "the word\u200e", "x\u2060y", "\ufeffDie", "a \x00"],
}


def write_old_rules(run_dir, out, rules: int, split_punct: bool = True) -> dict:
    """A tiny run that recorded tokenizer rules `rules`, exported to `out`, and the Python
    predictor's reading of `OLD_RULES_TEXTS[rules]` with it: the engines must read an old file as
    its training did."""
    import json as json_lib

    from export.convert import export_run
    from export_fixtures import TINY_TEXT, make_run

    run = make_run(run_dir, TINY_TEXT + ["i ❤\ufe0f you 👍\U0001F3FD"], split_punct=split_punct, train_steps=0)
    cfg_path = os.path.join(run, "config.json")
    with open(cfg_path) as f:
        doc = json_lib.load(f)
    doc["train"]["tokenizer_rules"] = rules
    with open(cfg_path, "w") as f:
        json_lib.dump(doc, f)
    export_run(run, out, quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    return {"rules": rules, "split_punct": split_punct, "model": os.path.basename(out),
            "tokenize": tokenizer_cases(out, OLD_RULES_TEXTS[rules])}


def write_whitespace(run_dir, out, texts) -> dict:
    """A tiny run of today's rules without `split_punct` (tokens split at whitespace only), exported
    to `out`, and the Python predictor's reading of `texts` with it."""
    from export.convert import export_run
    from export_fixtures import make_run

    run = make_run(run_dir, split_punct=False, train_steps=0)
    export_run(run, out, quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    return {"model": os.path.basename(out), "tokenize": tokenizer_cases(out, texts)}


def write_fixtures(out_dir) -> dict:
    from export.convert import export_run
    from export_fixtures import TINY_TEXT, make_run

    os.makedirs(out_dir, exist_ok=True)
    run = make_run(os.path.join(out_dir, "run"))
    model = os.path.join(out_dir, "tiny.tflite")
    export_run(run, model, quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    # ... and a phone's typographic apostrophe, which the keyboards read as the vocabulary's '
    texts = typed_prefixes(TINY_TEXT[:4] + ["Unknownword the c", "dogs and CATS d", "two lines.\nthe c",
                                            "It\u2019s the cat\u2019s mat, isn\u2019t it? Dogs don\u2019t"])
    replay = record(model, texts, history_texts=typed_prefixes(HISTORY_TEXTS))
    fuzz = fuzz_texts()
    replay["tokenize"] = tokenizer_cases(model, TOKENIZER_TEXTS + fuzz)
    replay["accept"] = accept_cases(model, ACCEPT_CASES + [(t, "éab") for t in fuzz])
    replay["accept_at"] = accept_at_cases(model, ACCEPT_AT_CASES + [(t[: len(t) // 2], t[len(t) // 2:], "ab")
                                                                   for t in fuzz_texts(200, seed=1)])
    replay["history_tokens"] = history_tokens(model, long_history_texts(), HISTORY_WORDS)
    replay["model"] = "tiny.tflite"
    replay["old_rules"] = [write_old_rules(os.path.join(out_dir, f"run_{name}"), os.path.join(out_dir, f"tiny_{name}.tflite"),
                                           r, split_punct)
                           for name, r, split_punct in (("rules2", 2, True), ("rules3", 3, True), ("rules3_ws", 3, False))]
    replay["whitespace"] = write_whitespace(os.path.join(out_dir, "run_whitespace"),
                                            os.path.join(out_dir, "tiny_whitespace.tflite"), TOKENIZER_TEXTS + fuzz)
    replay["baseline_model"] = write_baseline(model, os.path.join(out_dir, "full_softmax.tflite"))
    with open(os.path.join(out_dir, "replay.json"), "w", encoding="utf-8") as f:
        json.dump(replay, f)
    return replay


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the JS/Java keyboard engine reference files.")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    replay = write_fixtures(args.out)
    print(f"wrote {args.out}: {len(replay['cases'])} cases, {len(replay['states'])} states, "
          f"{len(replay['feeds'])} feeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
