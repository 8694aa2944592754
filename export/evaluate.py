"""Suggestion quality of a keyboard: a simulated typist, next-word accuracy, keystroke savings, latency.

    python -m export.evaluate --model ptb_int8.tflite --text ptb.test.txt --lines 300
    python -m export.evaluate --model lightrnn_int8.tflite --model lstm_int8.tflite \
        --train ptb.valid.txt --text ptb.test.txt --lines 300 --json results.json

Each `--model` is a `.tflite` with LightRNN metadata: a LightRNN export (`python -m export`) or
the full-softmax LSTM baseline (`benchmarks/keyboard_models.py`). With `--train`, two baselines
are built from that text with the first model's tokenizer and vocabulary: an interpolated
Kneser–Ney trigram (`lightrnn_tf.kneser_ney`, NLTK's formulas, discount 0.75 unless `--kn-discount`)
and the most frequent words (completions: the most frequent words with the typed prefix).

Protocol (the same for every model). The lines of `--text` are typed one after the other, each
ended by Enter (the neural models read `<eos>` and keep their state, as the apps do for a
multi-line text; the trigram starts a new sentence); `--reset-each-line` types each line into an
empty field instead (the state restarts from `<eos>` read from zeros). A line's tokens (the
model's tokenizer; words outside the vocabulary stay as typed and can never be suggested) are
the words, and the characters to type are every word plus one space (the last
space stands for the final Enter). For each word the typist looks at the three suggestions before
every character and after the last one (prefix "" = next-word suggestions, then completions of
the typed prefix); as soon as the word is among them it taps it, which costs one keystroke and
inserts the word and a space. Otherwise it types the next character (after the whole word: the
space). Reports:

    top-1 / top-3    next-word accuracy: the word is the first / among the three suggestions
                     shown before its first character (every word position counts)
    savings          1 - keystrokes / characters (spaces included)
    latency p50/p99  per keystroke: the suggestions' computation, plus reading the word just
                     committed (one recurrent step) on the first keystroke of a word

Every model, baselines included, gets the keyboard's typed-word history (`export.keyboard`; the
same defaults as the apps): the last `--history-words` words typed (across lines) form a unigram
cache mixed in as `(1 - LAM) p_model + LAM count / N` with LAM = `--history-weight`, and a word
outside the vocabulary becomes a hit once the history suggests it. `--history-weight 0` measures
the models alone (the tables before the history existed).

Expected failures (missing file, a file without LightRNN metadata, empty text) print one line to
stderr and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from export.keyboard import HISTORY_WEIGHT, HISTORY_WORDS, history_lambda
from lightrnn_tf.errors import ArgumentParser, LightRNNError, positive_int


# === Engines: begin() -> ctx, commit(ctx, word_id) -> ctx, suggest(ctx, prefix, k) -> ids,
#     suggest_words(ctx, prefix, k, history, lam) -> words (with the typed-word history) ===

def _mixed_top(p, rank, text, prefix, k, history, lam):
    """Top-k words (strings) of `(1 - lam) p + lam count / N` among the vocabulary words (specials
    left out) and the history's words that start with `prefix`; exact, as in `KeyboardPredictor`.

    Args:
        p: (V,) float, the model's probabilities (or any non-negative scores summing to 1).
    """
    n = len(history)
    lam = history_lambda(lam, n)  # as KeyboardPredictor.with_history
    cand = {}
    for i in rank.top(p, prefix, k):
        w = text.words[i]
        cand[w] = ((1 - lam) * float(p[i]) + lam * history.counts.get(w, 0) / n, i)
    for w, c in history.counts.items():
        if w not in cand and w.startswith(prefix):
            i = text.index.get(w)
            cand[w] = ((1 - lam) * float(p[i]) if i is not None else 0.0) + lam * c / n, len(text.words) if i is None else i
    return [w for w, _ in sorted(cand.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))[:k]]


class _FullDistribution:
    """`suggest_words` for engines with the whole distribution (`probs(ctx)` -> (V,))."""

    def suggest_words(self, ctx, prefix, k, history, lam):
        if lam == 0 or not len(history):
            return [self.text.words[i] for i in self.suggest(ctx, prefix, k)]
        return _mixed_top(self.probs(ctx), self.rank, self.text, prefix, k, history, lam)

class LightRNNEngine:
    """Exact LightRNN suggestions (`export.keyboard.KeyboardPredictor`)."""

    def __init__(self, path, num_threads=1):
        from export.keyboard import KeyboardPredictor, _Context
        from export.predictor import NextWordPredictor

        self._ctx_cls = _Context
        self.kb = KeyboardPredictor(NextWordPredictor(path, num_threads=num_threads), history_weight=0.0)
        self.name = f"LightRNN ({self.kb.predictor.meta['export']['quantization']})"
        self.text = self.kb.text

    def begin(self):
        return self._ctx_cls(self.kb.predictor.start_state())

    def commit(self, ctx, word_id):
        return self._ctx_cls(self.kb.predictor.feed(int(word_id), ctx.state))

    def end_line(self, ctx):
        return self.commit(ctx, self.text.eos_id)

    def suggest(self, ctx, prefix, k=3):
        ids, _ = self.kb.complete(ctx, prefix, k) if prefix else self.kb.next_words(ctx, k)
        return [int(i) for i in ids]

    def suggest_words(self, ctx, prefix, k, history, lam):
        return [w for w, _ in self.kb.with_history(ctx, prefix, history, k, weight=lam)]


class _Ranking:
    """Top-k of a full score vector among words with a prefix (specials left out)."""

    def __init__(self, words, special):
        from export.keyboard import WordIndex

        self.index = WordIndex(words, special)
        self.allowed = np.ones(len(words), bool)
        self.allowed[list(special)] = False

    def top(self, scores, prefix, k):
        ids = self.index.matching(prefix) if prefix else np.flatnonzero(self.allowed)
        if len(ids) == 0:
            return []
        s = scores[ids]
        part = ids[np.argpartition(-s, k - 1)[:k]] if len(ids) > k else ids
        return [int(i) for i in part[np.lexsort((part, -scores[part]))]]


class FullSoftmaxEngine(_FullDistribution):
    """The full-softmax LSTM baseline: the whole V-way distribution once per word, then ranking."""

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        from export.metadata import read_metadata
        from export.text import TextEncoder

        meta = read_metadata(path)
        self.text = TextEncoder(meta, fold_apostrophes=True)  # a keyboard, as KeyboardPredictor
        self.name = f"full-softmax LSTM ({meta['export']['quantization']})"
        interp = Interpreter(model_path=path, num_threads=positive_int(num_threads, "num_threads"))
        self._feed = interp.get_signature_runner("feed")
        self._log_probs = interp.get_signature_runner("log_probs")
        self.state_shape = tuple(meta["export"]["state_shape"])
        self.rank = _Ranking(self.text.words, {self.text.unk_id, self.text.eos_id})
        self._start = None

    def begin(self):
        if self._start is None:
            zero = np.zeros(self.state_shape, np.float32)
            self._start = self._feed(word=np.array([self.text.eos_id], np.int32), state=zero)["state"]
        return [self._start, None]

    def commit(self, ctx, word_id):
        return [self._feed(word=np.array([word_id], np.int32), state=ctx[0])["state"], None]

    def end_line(self, ctx):
        return self.commit(ctx, self.text.eos_id)

    def _log_probs_of(self, ctx):
        """The context's (V,) log-probs, computed once per committed word."""
        if ctx[1] is None:
            ctx[1] = self._log_probs(state=ctx[0])["log_probs"]
        return ctx[1]

    def suggest(self, ctx, prefix, k=3):
        return self.rank.top(self._log_probs_of(ctx), prefix, k)

    def probs(self, ctx):
        return np.exp(np.asarray(self._log_probs_of(ctx), np.float64))


class KneserNeyEngine(_FullDistribution):
    """Interpolated Kneser–Ney trigram over the model's vocabulary."""

    def __init__(self, text_encoder, train_lines, discount):
        from lightrnn_tf.kneser_ney import KneserNeyTrigram

        self.text = text_encoder
        sents = [text_encoder.encode_tokens(text_encoder.tokenize(ln)) for ln in train_lines if ln.strip()]
        self.kn = KneserNeyTrigram.fit(sents, len(text_encoder.words), discount)
        self.name = f"KN trigram (d={discount:g})"
        self.rank = _Ranking(text_encoder.words, {text_encoder.unk_id, text_encoder.eos_id})

    def begin(self):
        return self.kn.start()

    def commit(self, ctx, word_id):
        return (ctx[1], int(word_id))

    def end_line(self, ctx):
        return self.kn.start()  # trained on padded sentences: a line starts from (<s>, <s>)

    def suggest(self, ctx, prefix, k=3):
        return self.rank.top(self.probs(ctx), prefix, k)

    def probs(self, ctx):
        return self.kn.probs(ctx)[: len(self.text.words)]


class FrequencyEngine(_FullDistribution):
    """The most frequent words of the training text (with the typed prefix)."""

    def __init__(self, text_encoder, train_lines):
        self.text = text_encoder
        counts = np.zeros(len(text_encoder.words), np.float64)
        for ln in train_lines:
            np.add.at(counts, text_encoder.encode_tokens(text_encoder.tokenize(ln)), 1)
        self.scores = counts
        self.name = "most frequent words"
        self.rank = _Ranking(text_encoder.words, {text_encoder.unk_id, text_encoder.eos_id})

    def begin(self):
        return None

    def commit(self, ctx, word_id):
        return None

    def end_line(self, ctx):
        return None

    def suggest(self, ctx, prefix, k=3):
        return self.rank.top(self.scores, prefix, k)

    def probs(self, ctx):
        return self.scores / max(self.scores.sum(), 1.0)


def load_engine(path, num_threads=1):
    from export.metadata import read_metadata

    meta = read_metadata(path)
    if meta.get("architecture") == "full_softmax_lstm":
        return FullSoftmaxEngine(path, num_threads)
    return LightRNNEngine(path, num_threads)


# === The simulated typist ===

def simulate(engine, lines, k=3, reset_each_line=False, history_weight=0.0, history_words=None) -> dict:
    """Types `lines` with `engine`'s suggestions; returns the metrics (see the module docstring).
    With `history_weight` > 0 the suggestions mix in the last `history_words` typed words."""
    from export.keyboard import HISTORY_WORDS, SPECIAL_TOKENS, History

    text = engine.text
    lam = float(history_weight)
    history_words = HISTORY_WORDS if history_words is None else int(history_words)
    history = History(history_words)
    chars = keys = words = top1 = top3 = 0
    latency = []
    clock = time.perf_counter
    ctx = engine.begin()
    for n, line in enumerate(lines):
        tokens = text.tokenize(line)
        ids = text.encode_tokens(tokens)
        if n and reset_each_line:
            ctx = engine.begin()
            history = History(history_words)
        elif n:
            t0 = clock()
            ctx = engine.end_line(ctx)  # the Enter that ended the previous line (<eos>)
            if latency:
                latency[-1] += clock() - t0
        for tok, wid in zip(tokens, ids):
            cost = len(tok) + 1
            chars += cost
            words += 1
            for j in range(len(tok) + 1):
                t0 = clock()
                if lam:
                    shown = engine.suggest_words(ctx, tok[:j], k, history, lam)
                else:
                    shown = [text.words[i] for i in engine.suggest(ctx, tok[:j], k)]
                latency.append(clock() - t0)
                hit = tok not in SPECIAL_TOKENS and tok in shown
                if j == 0:
                    top1 += bool(shown) and shown[0] == tok and hit
                    top3 += hit
                if hit:
                    cost = j + 1
                    break
            keys += cost
            t0 = clock()
            ctx = engine.commit(ctx, wid)
            history.add(tok)
            latency[-1] += clock() - t0  # reading the word is paid by the next keystroke
    if not words:
        raise LightRNNError("the text has no words to type")
    ms = np.asarray(latency) * 1e3
    return {"model": engine.name, "lines": len(lines), "reset_each_line": bool(reset_each_line),
            "history_weight": lam, "history_words": history_words if lam else 0,
            "words": words, "characters": chars, "keystrokes": keys,
            "top1": top1 / words, "top3": top3 / words, "keystroke_savings": 1 - keys / chars,
            "latency_p50_ms": float(np.percentile(ms, 50)), "latency_p99_ms": float(np.percentile(ms, 99)),
            "keystrokes_timed": len(ms)}


def table(results) -> str:
    out = ["| model | top-1 | top-3 | keystroke savings | p50 ms/key | p99 ms/key |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        out.append(f"| {r['model']} | {r['top1']:.1%} | {r['top3']:.1%} | {r['keystroke_savings']:.1%} | "
                   f"{r['latency_p50_ms']:.3f} | {r['latency_p99_ms']:.3f} |")
    r = results[0]
    out.append(f"\n{r['lines']} lines, {r['words']} words, {r['characters']} characters (spaces included)")
    if r.get("history_weight"):
        out.append(f"typed-word history for every model: weight {r['history_weight']:g}, last {r['history_words']} words")
    return "\n".join(out)


def read_text_lines(path, n=0):
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise LightRNNError(f"text file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise LightRNNError(f"{path} is not valid UTF-8 (byte {e.start}); convert it to UTF-8 first") from None
    except IsADirectoryError:
        raise LightRNNError(f"expected a text file, got a directory: {path}") from None
    if not lines:
        raise LightRNNError(f"{path} has no non-blank line")
    return lines[:n] if n else lines


def build_parser():
    p = ArgumentParser(prog="python -m export.evaluate",
                       description="Simulated typist: next-word accuracy, keystroke savings, latency.")
    p.add_argument("--model", action="append", required=True,
                   help=".tflite with LightRNN metadata (LightRNN or full-softmax baseline); repeat for several")
    p.add_argument("--text", required=True, help="text to type, one sentence a line")
    p.add_argument("--lines", type=int, default=0, help="type only the first N non-blank lines (0: all)")
    p.add_argument("--train", default="", help="training text: adds the KN trigram and most-frequent baselines")
    p.add_argument("--kn-discount", type=float, default=0.75, help="Kneser–Ney discount (default: %(default)s)")
    p.add_argument("--reset-each-line", action="store_true",
                   help="start every line from the start state instead of carrying the state across lines")
    p.add_argument("--history-weight", type=float, default=HISTORY_WEIGHT,
                   help="weight of the typed-word history (the last --history-words words typed, mixed into "
                        "every model's suggestions as the keyboard does); 0: the models alone (default: %(default)s)")
    p.add_argument("--history-words", type=int, default=HISTORY_WORDS,
                   help="words the typed-word history keeps (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="interpreter CPU threads (default: %(default)s)")
    p.add_argument("--json", default="", help="write the results here as JSON")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.lines < 0:
            raise LightRNNError(f"Received an invalid value for `--lines`, expected N >= 0, got {args.lines}.")
        if not 0 <= args.history_weight < 1:
            raise LightRNNError(f"--history-weight must be in [0, 1), got {args.history_weight}")
        if args.history_words < 0:
            raise LightRNNError(f"--history-words must be >= 0, got {args.history_words}")
        positive_int(args.threads, "--threads")
        if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
            raise LightRNNError(f"--json: directory not found: {os.path.dirname(os.path.abspath(args.json))}")
        lines = read_text_lines(args.text, args.lines)
        engines = [load_engine(m, args.threads) for m in args.model]
        names = [e.name for e in engines]
        for e, path in zip(engines, args.model):
            if names.count(e.name) > 1:  # two models of one kind: tell them apart by file
                e.name = f"{e.name} {os.path.basename(path)}"
        if args.train:
            train = read_text_lines(args.train)
            enc = engines[0].text
            engines += [KneserNeyEngine(enc, train, args.kn_discount), FrequencyEngine(enc, train)]
        results = []
        for e in engines:
            results.append(simulate(e, lines, reset_each_line=args.reset_each_line,
                                    history_weight=args.history_weight, history_words=args.history_words))
            print(f"{e.name}: done", file=sys.stderr, flush=True)
    except (LightRNNError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r, path in zip(results, args.model + [""] * 2):
        r["file"] = path
        if path:
            r["file_bytes"] = os.path.getsize(path)
    print(table(results))
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"text": args.text, "train": args.train, "results": results}, f, indent=2)
        except OSError as e:
            print(f"error: could not write {args.json} ({e.strerror or e}); the table above has the results",
                  file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
