"""The Kneser–Ney trigram against NLTK's KneserNeyInterpolated, position by position."""

import numpy as np
import pytest

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.kneser_ney import KneserNeyTrigram

TEXT = ("the cat sat on the mat . the dog sat on the log . a cat and a dog sat on a mat . "
        "the mat is red and the log is brown . a red cat sat on the brown log . the dog and the cat .").split()


@pytest.mark.parametrize("discount", [0.1, 0.75])
def test_matches_nltk_position_by_position(discount):
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.util import everygrams

    words = sorted(set(TEXT))
    ids = np.array([words.index(w) for w in TEXT])
    train, test = ids[:40], ids[30:]  # the test stream reuses contexts and has unseen trigrams
    ref = nltk_lm.KneserNeyInterpolated(order=3, discount=discount)
    train_words = [words[i] for i in train]
    ref.fit([list(everygrams(train_words, max_len=3))], train_words)
    ours = KneserNeyTrigram(train, len(words), discount=discount, nltk_unigram=True)
    got = np.exp(ours.log_probs(test))
    test_words = [words[i] for i in test]
    want = [ref.score(test_words[t], test_words[max(0, t - 2):t]) for t in range(1, len(test_words))]
    assert len(want) == len(got) and min(want) > 0
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_probabilities_sum_to_one_over_the_vocabulary():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 12, 400)
    lm = KneserNeyTrigram(ids, 15)  # 3 words never seen: the uniform floor still gives them mass
    vocab = np.arange(15)
    for u, v in [(1, 2), (3, 3), (13, 14), (0, 14)]:  # seen, and unseen contexts
        p = lm.trigram(np.full(15, u), np.full(15, v), vocab)
        assert p.sum() == pytest.approx(1.0, abs=1e-9) and (p > 0).all()
    assert lm.bigram(np.full(15, 4), vocab).sum() == pytest.approx(1.0, abs=1e-9)
    assert lm.unigram(vocab).sum() == pytest.approx(1.0, abs=1e-9)


def test_bad_input_is_one_line():
    with pytest.raises(LightRNNError, match="at least 3 training tokens"):
        KneserNeyTrigram([1, 2], 5)
    with pytest.raises(LightRNNError, match=r"ids must lie in \[0, 5\)"):
        KneserNeyTrigram([1, 2, 7], 5)
