"""Kneser–Ney trigram perplexity (NLTK's formulas; probabilities are compared in test_keyboard_evaluate)."""

import math

import numpy as np
import pytest

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.kneser_ney import KneserNeyTrigram


def test_perplexity_equals_nltk_scores_over_padded_sentences():
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.lm.preprocessing import padded_everygram_pipeline

    rng = np.random.default_rng(3)
    train = [list(rng.integers(0, 9, size=rng.integers(2, 9))) for _ in range(60)]
    test = [list(rng.integers(0, 9, size=rng.integers(1, 7))) for _ in range(10)]
    ours = KneserNeyTrigram.fit(train, 9, discount=0.75)
    data, vocab = padded_everygram_pipeline(3, [[str(i) for i in s] for s in train])
    ref = nltk_lm.KneserNeyInterpolated(3, discount=0.75)
    ref.fit(data, vocab)
    logs = []
    for s in test:
        words = ["<s>", "<s>"] + [str(i) for i in s] + ["</s>"]
        logs += [math.log(ref.score(words[t], words[t - 2:t])) for t in range(2, len(words))]
    assert ours.perplexity(test) == pytest.approx(math.exp(-np.mean(logs)), rel=1e-9)


def test_uniform_floor_gives_unseen_words_mass_and_stays_normalised():
    train = [[0, 1, 2, 3], [2, 3, 4], [0, 2, 4, 1]]  # words 5 and 6 never seen
    plain = KneserNeyTrigram.fit(train, 7, discount=0.75)
    floor = KneserNeyTrigram.fit(train, 7, discount=0.75, uniform_floor=True)
    for ctx in [(0, 1), (2, 3), (5, 6), (floor.eos, floor.eos)]:
        p = floor.probs(ctx)
        assert p.sum() == pytest.approx(1.0, abs=1e-9) and p[5] > 0 and p[6] > 0
        assert plain.probs(ctx)[5] == 0.0
    assert math.isfinite(floor.perplexity([[5, 6]])) and not math.isfinite(_safe_ppl(plain, [[5, 6]]))
    with pytest.raises(LightRNNError, match="no sentences"):
        floor.perplexity([])


def _safe_ppl(lm, sentences):
    try:
        return lm.perplexity(sentences)
    except ValueError:  # log(0)
        return math.inf
