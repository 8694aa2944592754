"""Tests of the keyboard evaluation: Kneser–Ney trigram against NLTK, the simulated typist, the CLI."""

import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from export_fixtures import PTB_VALID, TINY_TEXT, files, ptb_lines  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _nltk_kn(sentences, discount):
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    train, vocab = padded_everygram_pipeline(3, [[str(i) for i in s] for s in sentences])
    lm = KneserNeyInterpolated(3, discount=discount)
    lm.fit(train, vocab)
    return lm


@pytest.mark.parametrize("discount", [0.1, 0.75])
def test_kneser_ney_equals_nltk(discount):
    """Every P(w | u v) of our vectorised trigram equals NLTK's KneserNeyInterpolated."""
    pytest.importorskip("nltk")
    from lightrnn_tf.kneser_ney import KneserNeyTrigram

    rng = np.random.default_rng(1)
    v = 12
    sents = [list(rng.integers(0, v, size=rng.integers(0, 9)) % (v - 2)) for _ in range(40)]  # words 10, 11 unseen
    ours = KneserNeyTrigram.fit(sents, v, discount)
    ref = _nltk_kn(sents, discount)
    name = {i: str(i) for i in range(v)} | {ours.bos: "<s>", ours.eos: "</s>"}
    seen = [i for i in range(v) if any(i in s for s in sents)] + [ours.eos]
    contexts = [(ours.bos, ours.bos), (ours.bos, 3), (3, 4), (5, 5), (ours.eos, ours.eos), (9, 0), (11, 11), (4, 11)]
    checked = 0
    for u, w_prev in contexts:
        p = ours.probs((u, w_prev))
        for w in seen:
            expect = ref.score(name[w], [name[u], name[w_prev]])
            assert p[w] == pytest.approx(expect, rel=1e-9, abs=1e-12), (u, w_prev, w)
            checked += 1
        if w_prev != ours.bos:  # a proper distribution over all ids (see the <s> note in lightrnn_tf.kneser_ney)
            assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert checked > 50


def test_kneser_ney_on_real_text_equals_nltk(data_dir):
    """The same on 200 real PTB lines (word strings mapped to ids), a sample of contexts and words."""
    pytest.importorskip("nltk")
    from lightrnn_tf.kneser_ney import KneserNeyTrigram

    lines = ptb_lines(PTB_VALID, 200)
    words = sorted({w for ln in lines for w in ln.split()})
    index = {w: i for i, w in enumerate(words)}
    sents = [[index[w] for w in ln.split()] for ln in lines]
    ours = KneserNeyTrigram.fit(sents, len(words), 0.75)
    ref = _nltk_kn(sents, 0.75)
    rng = np.random.default_rng(0)
    for s in rng.choice(len(sents), 5, replace=False):
        ids = [ours.bos, ours.bos] + sents[s]
        for t in range(2, min(len(ids), 8)):
            ctx = (ids[t - 2], ids[t - 1])
            p = ours.probs(ctx)
            name = lambda i: "<s>" if i == ours.bos else str(i)  # noqa: E731  (_nltk_kn's word names)
            for w in rng.choice(len(words), 4, replace=False).tolist() + [ids[t]]:
                expect = ref.score(name(w), [name(c) for c in ctx])
                assert expect > 0 and p[w] == pytest.approx(expect, rel=1e-9)


def test_simulated_typist_counts_keystrokes(files):
    """A hand-made engine whose suggestions are known: keystrokes and accuracy follow the protocol."""
    from export.evaluate import simulate
    from export.metadata import read_metadata
    from export.text import TextEncoder

    enc = TextEncoder(read_metadata(files["none"]))

    class Oracle:  # shows the intended word once `reveal` characters are typed
        name, text = "oracle", enc

        def __init__(self, line, reveal):
            self.ids, self.reveal = enc.encode_tokens(enc.tokenize(line)), reveal

        def begin(self):
            return 0

        def commit(self, ctx, wid):
            return ctx + 1

        def end_line(self, ctx):
            return ctx

        def suggest(self, ctx, prefix, k=3):
            return [self.ids[ctx]] if len(prefix) >= self.reveal else []

    line = "the cat sat on the mat"
    chars = sum(len(w) + 1 for w in line.split())
    r = simulate(Oracle(line, 0), [line])
    assert r["top1"] == r["top3"] == 1.0 and r["keystrokes"] == 6
    assert r["keystroke_savings"] == pytest.approx(1 - 6 / chars)
    r = simulate(Oracle(line, 2), [line])  # two letters then a tap; "on" needs 2 letters + tap as well
    assert r["top3"] == 0.0 and r["keystrokes"] == 6 * 3
    r = simulate(Oracle(line, 99), [line])  # never suggested: every character and space typed
    assert r["keystrokes"] == chars and r["keystroke_savings"] == 0.0
    r = simulate(Oracle("the zzzunknown cat", 0), ["the zzzunknown cat"])  # <unk> is never a hit
    assert r["keystrokes"] == 1 + len("zzzunknown") + 1 + 1 and r["top3"] == pytest.approx(2 / 3)


def test_engines_agree_with_keyboard_predictor(files):
    """The LightRNN engine's suggestions are KeyboardPredictor's on text; top-3 hits are consistent."""
    from export.evaluate import LightRNNEngine, simulate
    from export.keyboard import KeyboardPredictor

    from export.keyboard import HISTORY_WORDS, History

    eng = LightRNNEngine(files["dynamic"])
    kb = KeyboardPredictor(files["dynamic"], history_weight=0)
    kb_history = KeyboardPredictor(files["dynamic"])  # the default typed-word history
    line = TINY_TEXT[0] + " the cat and zorblat sat on the zorblat"
    tokens = eng.text.tokenize(line)
    ctx = eng.begin()
    typed = ""
    history = History(HISTORY_WORDS)
    for tok, wid in zip(tokens, eng.text.encode_tokens(tokens)):
        for j in range(len(tok) + 1):
            shown = eng.suggest(ctx, tok[:j])
            assert [kb.words[i] for i in shown] == kb.suggest(typed + tok[:j]), typed + tok[:j]
            with_history = eng.suggest_words(ctx, tok[:j], 3, history, kb_history.history_weight)
            assert with_history == kb_history.suggest(typed + tok[:j]), typed + tok[:j]
        ctx = eng.commit(ctx, wid)
        history.add(tok)
        typed += tok + " "
    r = simulate(eng, TINY_TEXT[:3])
    assert 0 <= r["top1"] <= r["top3"] <= 1 and 0 <= r["keystroke_savings"] < 1
    assert r["keystrokes_timed"] >= r["words"]
    # carrying the state across lines = typing the lines as one text with newlines
    eng2 = LightRNNEngine(files["dynamic"])
    two = TINY_TEXT[:2]
    ctx = eng2.end_line(eng2.commit(eng2.commit(eng2.begin(), eng2.text.encode_tokens(["the"])[0]),
                                    eng2.text.encode_tokens(["cat"])[0]))
    np.testing.assert_allclose(ctx.state, kb.context(kb.split_typed("the cat\n")[0]).state, atol=1e-6)
    assert simulate(eng2, two)["words"] == simulate(eng2, two, reset_each_line=True)["words"]


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-m", "export.evaluate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_table_and_json(files, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("\n".join(TINY_TEXT[:3]) + "\n")
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TINY_TEXT) + "\n")
    out = tmp_path / "r.json"
    proc = _cli("--model", files["dynamic"], "--text", str(text), "--train", str(train), "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| LightRNN (dynamic) |" in proc.stdout and "| KN trigram" in proc.stdout and "most frequent" in proc.stdout
    import json

    res = json.loads(out.read_text())["results"]
    assert len(res) == 3 and all(0 <= r["keystroke_savings"] < 1 for r in res)


def test_cli_json_directory_checked_first_and_models_told_apart(files, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("\n".join(TINY_TEXT[:2]) + "\n")
    proc = _cli("--model", files["dynamic"], "--text", str(text), "--json", str(tmp_path / "no" / "r.json"))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: --json: directory not found: {tmp_path / 'no'}"]
    assert "done" not in proc.stderr  # refused before typing anything
    twin = tmp_path / "twin.tflite"  # two models of one kind: each row names its file
    twin.write_bytes(open(files["dynamic"], "rb").read())
    proc = _cli("--model", files["dynamic"], "--model", str(twin), "--text", str(text), "--history-weight", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| LightRNN")]
    assert rows[0].startswith(f"| LightRNN (dynamic) {os.path.basename(files['dynamic'])} |")
    assert rows[1].startswith("| LightRNN (dynamic) twin.tflite |")


@pytest.mark.parametrize("case", ["missing", "no_metadata", "empty_text", "history_weight"])
def test_cli_bad_input(files, tmp_path, case):
    text = tmp_path / "t.txt"
    text.write_text("the cat\n")
    model = files["dynamic"]
    if case == "missing":
        model = str(tmp_path / "nope.tflite")
    elif case == "no_metadata":
        model = str(tmp_path / "plain.tflite")
        with open(files["dynamic"], "rb") as f:  # strip the metadata: a plain flatbuffer
            from export.metadata import _fb

            m = _fb.ModelT.InitFromObj(_fb.Model.GetRootAs(f.read(), 0))
        m.metadata = []
        import flatbuffers

        b = flatbuffers.Builder(0)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        open(model, "wb").write(bytes(b.Output()))
    elif case == "empty_text":
        text.write_text("\n \n")
    extra = ["--history-weight", "1"] if case == "history_weight" else []
    proc = _cli("--model", model, "--text", str(text), *extra)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    if case == "history_weight":
        assert "--history-weight" in lines[0]


def test_history_exact_engine_equals_full_distribution(files):
    """With the typed-word history, LightRNN's exact loops give the same typist as ranking its whole
    distribution (`_mixed_top` over `log_probs`), and a typed unknown word becomes a hit."""
    from export.evaluate import LightRNNEngine, _FullDistribution, _Ranking, simulate

    class Brute(_FullDistribution):  # the same model, through its full distribution
        def __init__(self, path):
            self.inner = LightRNNEngine(path)
            self.text, self.name = self.inner.text, "brute"
            self.rank = _Ranking(self.text.words, {self.text.unk_id, self.text.eos_id})

        def begin(self):
            return self.inner.begin()

        def commit(self, ctx, wid):
            return self.inner.commit(ctx, wid)

        def end_line(self, ctx):
            return self.inner.end_line(ctx)

        def probs(self, ctx):
            return np.exp(self.inner.kb.predictor.log_probs(ctx.state).astype(np.float64))

        def suggest(self, ctx, prefix, k=3):
            return self.rank.top(self.probs(ctx), prefix, k)

    lines = TINY_TEXT[:4] + ["Zorblat met the cat, and zorblat sat on the mat.", "A zorblat dog"]
    for lam, size in [(0.1, 500), (0.4, 5)]:
        exact = simulate(LightRNNEngine(files["narrow"]), lines, history_weight=lam, history_words=size)
        brute = simulate(Brute(files["narrow"]), lines, history_weight=lam, history_words=size)
        assert exact["keystrokes"] == brute["keystrokes"] and exact["top3"] == brute["top3"]
    plain = simulate(LightRNNEngine(files["narrow"]), lines)
    with_history = simulate(LightRNNEngine(files["narrow"]), lines, history_weight=0.1)
    # "zorblat" (7 letters + space) is never suggested without the history; with it, the 2nd and 3rd
    # times it is typed cost at most a few letters and a tap
    assert with_history["keystrokes"] < plain["keystrokes"] - 8
    assert with_history["history_weight"] == 0.1 and plain["history_weight"] == 0.0
