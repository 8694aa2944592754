"""`NextWordPredictor`: next-word suggestions and perplexity from an exported `.tflite` file.

    from export.predictor import NextWordPredictor
    p = NextWordPredictor("ptb.tflite")              # one CPU thread by default
    p.suggest("the company said it", k=3)           # [("will", -2.1), ("is", -2.4), ...]
    p.perplexity("the market fell sharply .")

Runs on `ai_edge_litert` + NumPy only: importing this module imports neither TensorFlow nor the
training code. The vocabulary, tokenizer rules and settings come from the model's metadata.

Letters: L layers, H hidden, R rows, C columns, V words, K = `max_k`, M = `expand_rows`.
A state is a float32 `(L, 2, H)` array (see `export.graph`).

Exact top-k (`top_k`): the `top_k` signature scores the R rows, expands the M best ones with one
batched column step and returns their K best words and `bound`, the best unexpanded row score.
A word's log-prob is its row's score plus a column log-prob <= 0, so no word of an unexpanded row
can beat `bound`: if the k-th best candidate reaches `bound` the answer is exact. Otherwise the
next M rows of `row_order` are expanded with the `expand` signature, and so on (all R rows at
worst). `stats` counts how often that happened.
"""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from export.metadata import read_metadata
from export.text import TextEncoder
from lightrnn_tf.errors import LightRNNError, positive_int

REQUIRED_SIGNATURES = ("feed", "score", "top_k", "expand")


class EmptyTextError(LightRNNError, ValueError):
    """The text has no words to read or score."""


class NextWordPredictor:
    """Runs an exported LightRNN model.

    Args:
        model_path: str, a `.tflite` file written by `python -m export`.
        num_threads: int, CPU threads of the interpreter. Default: `1`.
    """

    def __init__(self, model_path: str, num_threads: int = 1):
        positive_int(num_threads, "num_threads")
        self.meta = read_metadata(model_path)
        if self.meta.get("architecture", "lightrnn") != "lightrnn":
            raise LightRNNError(f"{model_path} is a {self.meta['architecture']} model; NextWordPredictor runs "
                                f"LightRNN exports (python -m export.evaluate scores both)")
        self.text = TextEncoder(self.meta)
        exp = self.meta["export"]
        self.max_k, self.expand_rows = int(exp["max_k"]), int(exp["expand_rows"])
        self.state_shape = tuple(exp["state_shape"])
        self.rows, self.cols = self.meta["table"]["rows"], self.meta["table"]["cols"]
        self.vocab_size = len(self.text.words)
        try:
            self.interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
        except ValueError as e:
            raise LightRNNError(f"{model_path} could not be loaded: {str(e).splitlines()[0]}") from None
        found = self.interpreter.get_signature_list()
        missing = [s for s in REQUIRED_SIGNATURES if s not in found]
        if missing:
            raise LightRNNError(f"{model_path} lacks the signature(s) {missing}; re-export it with `python -m export`")
        self._run = {name: self.interpreter.get_signature_runner(name) for name in REQUIRED_SIGNATURES}
        self.stats = {"top_k_calls": 0, "expand_calls": 0}
        self._start = None

    # === Words <-> ids ===

    @property
    def words(self) -> list[str]:
        return self.text.words

    def encode(self, text: str) -> list[int]:
        """Training encoding: each line's ids followed by `<eos>`."""
        return self.text.encode_lines(text)

    # === States ===

    def zero_state(self) -> np.ndarray:
        return np.zeros(self.state_shape, np.float32)

    def start_state(self) -> np.ndarray:
        """State at the start of a text: `<eos>` read from the zero state."""
        if self._start is None:
            self._start = self.feed(self.text.eos_id, self.zero_state())
        return self._start.copy()

    def feed(self, word_id: int, state: np.ndarray) -> np.ndarray:
        """Reads one word id -> the new state `(L, 2, H)`."""
        return self._run["feed"](word=np.array([word_id], np.int32), state=state)["state"]

    def score(self, word_id: int, state: np.ndarray) -> tuple[float, np.ndarray]:
        """`(log P(word | state), state after it)`."""
        out = self._run["score"](word=np.array([word_id], np.int32), state=state)
        return float(out["log_prob"][0]), out["state"]

    def state_for(self, text: str) -> np.ndarray:
        """State after the typed `text` (see `TextEncoder.encode_context`)."""
        ids = self.text.encode_context(text)
        state = self.start_state()
        for i in ids[1:]:
            state = self.feed(i, state)
        return state

    # === Distributions ===

    def top_k(self, state: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k most probable next words: `(ids (k,) int, log_probs (k,) float32)`, best first."""
        self._check_k(k)
        return self._exact_top_k(state, k)

    def _exact_top_k(self, state, k):
        k = min(k, self.vocab_size)
        out = self._run["top_k"](state=state)
        self.stats["top_k_calls"] += 1
        order, row_scores = out["row_order"], out["row_log_probs"]
        if k <= self.max_k:
            ids, lps, expanded = [out["words"]], [out["log_probs"]], self.expand_rows
        else:  # more than the graph returns: start from scratch with `expand`
            ids, lps, expanded = [], [], 0
        while True:
            cand_ids = np.concatenate(ids or [np.zeros(0, np.int32)])
            cand_lps = np.concatenate(lps or [np.zeros(0, np.float32)])
            real = cand_ids >= 0
            cand_ids, cand_lps = cand_ids[real], cand_lps[real]
            bound = row_scores[expanded] if expanded < self.rows else -np.inf
            if len(cand_lps) >= k and np.partition(cand_lps, len(cand_lps) - k)[len(cand_lps) - k] >= bound:
                break
            if expanded >= self.rows:
                break  # everything expanded (only possible with k > number of words)
            rows = order[expanded : expanded + self.expand_rows]
            n_new = len(rows)
            rows = np.concatenate([rows, np.repeat(rows[-1:], self.expand_rows - n_new)]).astype(np.int32)
            ex = self._run["expand"](state=state, rows=rows)
            self.stats["expand_calls"] += 1
            ids.append(ex["words"][:n_new].ravel())
            lps.append(ex["log_probs"][:n_new].ravel())
            expanded += n_new
        best = np.argsort(-cand_lps, kind="stable")[:k]
        return cand_ids[best], cand_lps[best]

    def log_probs(self, state: np.ndarray) -> np.ndarray:
        """Exact full next-word distribution `(V,)` float32 (expands all R rows, M at a time)."""
        out = np.full(self.vocab_size, -np.inf, np.float32)
        m = self.expand_rows
        for start in range(0, self.rows, m):
            rows = np.minimum(np.arange(start, start + m), self.rows - 1).astype(np.int32)
            ex = self._run["expand"](state=state, rows=rows)
            n = min(m, self.rows - start)
            words, lps = ex["words"][:n].ravel(), ex["log_probs"][:n].ravel()
            out[words[words >= 0]] = lps[words >= 0]
        return out

    # === Text API ===

    def suggest(self, text: str, k: int = 3, skip_special: bool = True) -> list[tuple[str, float]]:
        """The k most probable next words after `text`, as `(word, log_prob)`, best first.

        Args:
            text: str, the text typed so far; a trailing newline means "start a new sentence".
            k: int, 1 <= k <= `max_k`.
            skip_special: bool, leave `<unk>` and `<eos>` out of the answer. Default: `True`.
        """
        self._check_k(k)
        if not isinstance(text, str) or not text.strip():
            raise EmptyTextError("empty text: suggest() needs at least one word of context")
        state = self.state_for(text)
        special = {self.text.unk_id, self.text.eos_id} if skip_special else set()
        ids, lps = self._exact_top_k(state, k + len(special))
        pairs = [(self.text.words[i], float(lp)) for i, lp in zip(ids, lps) if int(i) not in special]
        return pairs[:k]

    def stream_log_probs(self, ids) -> np.ndarray:
        """`log P(s_t | s_0..s_{t-1})` for t = 1..N of an id stream, from the state after s_0 `(N,)`."""
        ids = [int(i) for i in ids]
        if len(ids) < 2:
            raise EmptyTextError("empty text: need at least one word to score")
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise LightRNNError(f"word id {bad[0]} is outside [0, {self.vocab_size})")
        state = self.feed(ids[0], self.zero_state())
        out = np.empty(len(ids) - 1, np.float64)
        score = self._run["score"]
        word = np.zeros(1, np.int32)
        for t, i in enumerate(ids[1:]):
            word[0] = i
            res = score(word=word, state=state)
            out[t], state = res["log_prob"][0], res["state"]
        return out

    def perplexity(self, text: str) -> float:
        """exp(mean NLL) of every word and every line's `<eos>` of `text`, read from the start state."""
        if not isinstance(text, str) or not text.strip():
            raise EmptyTextError("empty text: perplexity() needs at least one word")
        lp = self.stream_log_probs([self.text.eos_id] + self.text.encode_lines(text))
        return math.exp(-float(np.mean(lp)))

    def _check_k(self, k):
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= self.max_k:
            raise LightRNNError(f"Received an invalid value for `k`, expected 1 <= k <= {self.max_k} "
                                f"(the model's max_k; re-export with a larger --max-k), got {k!r}.")
