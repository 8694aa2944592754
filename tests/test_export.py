"""Tests of `python -m export`: signatures vs Keras, builtin ops, metadata, quantization, CLI errors.

    pytest -q tests/test_export.py tests/test_predictor.py
"""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from export_fixtures import (TINY_HELD_OUT, files, keras_state, keras_stream_log_probs, make_run,  # noqa: E402,F401
                             ptb_files, ptb_run, ptb_test_text, run)

from export import metadata as metadata_lib  # noqa: E402
from lightrnn_tf.errors import LightRNNError  # noqa: E402

ATOL = 1e-5




def _runners(path):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    return interp, {name: interp.get_signature_runner(name) for name in interp.get_signature_list()}


def _text_ids(run):
    """Held-out text over the tiny run's words."""
    return [run.vocab.eos_id] + list(run.vocab.encode_lines(TINY_HELD_OUT, run.tokenizer))


# === f32 export == Keras, every signature ===

@pytest.mark.parametrize("name", ["none", "folded"])
def test_feed_and_score_match_keras(files, run, name):
    model = run.model
    _, sig = _runners(files[name])
    ids = _text_ids(run)[:25]
    state = sig["feed"](word=np.array(ids[:1], np.int32), state=np.zeros((2, 2, 16), np.float32))["state"]
    kstate = model.start_state(np.array(ids[:1]))
    np.testing.assert_allclose(state, keras_state(kstate), atol=ATOL)
    for w in ids[1:]:
        full = np.asarray(model.next_word_log_probs(kstate))[0]  # (V,)
        out = sig["score"](word=np.array([w], np.int32), state=state)
        kstate = model.feed_word(np.array([w]), kstate)
        np.testing.assert_allclose(out["log_prob"][0], full[w], atol=ATOL)
        np.testing.assert_allclose(out["state"], keras_state(kstate), atol=ATOL)
        fed = sig["feed"](word=np.array([w], np.int32), state=state)["state"]
        np.testing.assert_allclose(fed, out["state"], atol=1e-6)
        state = out["state"]


@pytest.mark.parametrize("name", ["none", "folded"])
def test_top_k_and_expand_match_keras(files, run, name):
    model, table = run.model, run.model.get_table()
    meta = metadata_lib.read_metadata(files[name])
    assert meta["export"]["fold_inputs"] == (name == "folded")
    k, m = meta["export"]["max_k"], meta["export"]["expand_rows"]
    _, sig = _runners(files[name])
    ids = _text_ids(run)[:12]
    kstate = model.start_state(np.array(ids[:1]))
    cell_word = table.cell_word.reshape(table.rows, table.cols)
    for w in ids[1:]:
        state = keras_state(kstate).astype(np.float32)
        full = np.asarray(model.next_word_log_probs(kstate))[0]  # (V,)
        row_lp = np.asarray(model.softmax.row_log_probs(kstate[-1][0]))[0]  # (R,)
        out = sig["top_k"](state=state)
        order = np.argsort(-row_lp, kind="stable")
        np.testing.assert_allclose(out["row_log_probs"], row_lp[order], atol=ATOL)
        np.testing.assert_array_equal(np.sort(out["row_order"]), np.arange(table.rows))
        np.testing.assert_allclose(row_lp[out["row_order"]], out["row_log_probs"], atol=ATOL)
        # K best words among the cells of the M expanded rows
        in_rows = np.isin(table.word_row, out["row_order"][:m])
        n_real = min(k, int(in_rows.sum()))  # fewer words than K in those rows: empty cells fill up
        ref = np.argsort(-np.where(in_rows, full, -np.inf), kind="stable")[:n_real]
        np.testing.assert_array_equal(out["words"][:n_real], ref)
        np.testing.assert_allclose(out["log_probs"][:n_real], full[ref], atol=ATOL)
        assert np.all(out["words"][n_real:] == -1)
        np.testing.assert_allclose(out["bound"], out["row_log_probs"][m : m + 1], atol=0)
        rows = np.array([table.rows - 1, 0][:m], np.int32)
        ex = sig["expand"](state=state, rows=rows)
        np.testing.assert_array_equal(ex["words"], cell_word[rows])
        real = ex["words"] >= 0
        np.testing.assert_allclose(ex["log_probs"][real], full[ex["words"][real]], atol=ATOL)
        assert np.all(ex["log_probs"][~real] < -1e8)  # empty cells get no probability
        kstate = model.feed_word(np.array([w]), kstate)


def test_tflite_perplexity_matches_keras_on_ptb_slice(ptb_files, ptb_run):
    from export.predictor import NextWordPredictor

    text = ptb_test_text(ptb_run, 4)
    ids = [ptb_run.vocab.eos_id] + list(ptb_run.vocab.encode_lines(text.splitlines(), ptb_run.tokenizer))
    ref = np.exp(-keras_stream_log_probs(ptb_run.model, ids).mean())
    for name in ("none", "folded"):
        got = NextWordPredictor(ptb_files[name]).perplexity(text)
        assert abs(got - ref) / ref < 5e-5  # four significant digits


# === Operators ===

@pytest.mark.parametrize("mode", ["none", "folded", "dynamic", "float16"])
def test_builtin_operators_only(files, mode):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    ops = metadata_lib.operator_names(files[mode])
    assert ops and all(metadata_lib.is_builtin(op) for op in ops), ops
    assert not any("FLEX" in op.upper() or op.startswith("custom:") for op in ops)
    assert {"FULLY_CONNECTED", "TOPK_V2", "LOG_SOFTMAX"} <= set(ops)
    # the builtin-only resolver (no Flex delegate, no custom ops) must be able to run every signature
    interp = Interpreter(model_path=files[mode],
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert set(interp.get_signature_list()) == {"feed", "score", "top_k", "expand"}
    state = np.zeros((2, 2, 16), np.float32)
    interp.get_signature_runner("top_k")(state=state)
    interp.get_signature_runner("score")(word=np.array([2], np.int32), state=state)


# === Metadata ===

def test_metadata_round_trip(files, run):
    from lightrnn_tf import __version__
    from lightrnn_tf.data import PUNCT_RE

    meta = metadata_lib.read_metadata(files["dynamic"])
    table = run.model.get_table()
    assert meta["vocab"] == run.vocab.words
    assert meta["special_tokens"] == {"<unk>": 0, "<eos>": 1}
    assert meta["tokenizer"]["lowercase"] is True and meta["tokenizer"]["split_punct"] is True
    assert meta["tokenizer"]["split_punct_pattern"] == PUNCT_RE.pattern
    assert meta["library_version"] == __version__
    rows, cols = metadata_lib.decode_allocation(meta["table"])
    np.testing.assert_array_equal(rows, table.word_row)
    np.testing.assert_array_equal(cols, table.word_col)
    assert (meta["table"]["rows"], meta["table"]["cols"]) == table.shape
    cfg = run.model_config
    for key in ("vocab_size", "rows", "cols", "embedding_dim", "hidden_dim", "num_layers"):
        assert meta["model"][key] == getattr(cfg, key)
    assert meta["export"] == {"quantization": "dynamic", "max_k": 6, "expand_rows": 2, "fold_inputs": True,
                              "int8_tables": True,
                              "state_shape": [2, 2, 16], "signatures": ["feed", "score", "top_k", "expand"]}


def test_standard_tflite_metadata(files):
    std = metadata_lib.read_model_metadata(files["none"])
    assert std["name"] == "LightRNN next-word model" and std["min_parser_version"] == "1.0.1"
    assert std["associated_files"][0]["name"] == "vocab.txt"
    assert std["associated_files"][0]["type"] == "VOCABULARY"
    # one SubGraphMetadata whose tensor lists match subgraph 0 (what tflite-support validates)
    from ai_edge_litert import schema_py_generated as fb

    with open(files["none"], "rb") as f:
        sg = fb.Model.GetRootAs(f.read(), 0).Subgraphs(0)
    (sub,) = std["subgraph_metadata"]
    assert len(sub["inputs"]) == sg.InputsLength() and len(sub["outputs"]) == sg.OutputsLength()
    # named and described as the signature of subgraph 0 names them, not "StatefulPartitionedCall:1"
    assert sub["name"] == "expand"
    assert {t["name"] for t in sub["inputs"]} == {"state", "rows"}
    assert {t["name"] for t in sub["outputs"]} == {"words", "log_probs"}
    assert all(t["description"] for t in sub["inputs"] + sub["outputs"])
    assert metadata_lib.associated_files(files["none"])["vocab.txt"].decode().split("\n")[:2] == ["<unk>", "<eos>"]
    assert metadata_lib.buffer_alignment(files["none"]) == 16


def test_rewriting_metadata_replaces_it(files):
    with open(files["none"], "rb") as f:
        data = f.read()
    meta = metadata_lib.read_metadata(data)
    meta["export"]["note"] = "rewritten"
    again = metadata_lib.write_metadata(data, meta)
    names = list(metadata_lib.metadata_entries(again))
    assert names.count("LIGHTRNN_METADATA") == 1 and names.count("TFLITE_METADATA") == 1
    assert metadata_lib.read_metadata(again)["export"]["note"] == "rewritten"
    assert metadata_lib.read_metadata(again)["vocab"] == meta["vocab"]


def test_inspect_prints_metadata(files, capsys):
    from export.inspect import main

    assert main([files["float16"]]) == 0
    out = capsys.readouterr().out
    meta = metadata_lib.read_metadata(files["float16"])
    assert f"{meta['model']['vocab_size']} words" in out
    assert f"rules={meta['tokenizer']['rules_version']} lowercase=True split_punct=True" in out
    assert "quantization=float16" in out and "float16 weights" in out
    assert "vocab.txt (VOCABULARY" in out and "<eos> = 1" in out
    assert main([files["none"], "--json"]) == 0
    out = capsys.readouterr().out
    assert '"LightRNN next-word model"' in out and "float32 weights" in out
    words = metadata_lib.read_metadata(files["none"])["vocab"]
    assert "vocab" not in json.loads(out) and json.loads(out)["vocab_first_words"] == words[:12]  # nothing passes for it
    assert main([files["none"], "--json", "--vocab"]) == 0
    assert json.loads(capsys.readouterr().out)["vocab"] == words


def test_inspect_prints_a_full_softmax_export(files, tmp_path, capsys):
    """The full-softmax LSTM file (`python -m export` of a --model full_softmax run) carries the same
    metadata without a LightRNN network's training settings: inspect says what it is."""
    from export.inspect import main
    from keyboard_fixtures import write_baseline

    path = str(tmp_path / write_baseline(files["none"], str(tmp_path / "lstm.tflite")))
    assert main([path]) == 0
    out = capsys.readouterr().out
    assert "architecture    full_softmax_lstm (a full V-way softmax" in out and "log_probs" in out
    assert main([files["none"]]) == 0
    assert "architecture    lightrnn\n" in capsys.readouterr().out


# === Quantization ===

def test_quantized_tensor_types(files):
    from export.predictor import NextWordPredictor

    # the tiny weights are mostly under the converter's 1024-element quantization threshold, so
    # check the tensor types rather than the sizes (bench_export.py measures sizes at |V| = 10k)
    assert _constant_types(files["none"]) == {"FLOAT32", "INT16", "INT32"}
    assert "INT8" in _constant_types(files["dynamic"]) and "FLOAT16" not in _constant_types(files["dynamic"])
    assert "FLOAT16" in _constant_types(files["float16"]) and "INT8" not in _constant_types(files["float16"])


def test_quantized_accuracy_on_ptb_slice(ptb_files, ptb_run):
    from export.predictor import NextWordPredictor

    text = ptb_test_text(ptb_run, 3)
    preds = {mode: NextWordPredictor(ptb_files[mode]) for mode in ("folded", "dynamic", "float16")}
    ppl = {mode: p.perplexity(text) for mode, p in preds.items()}
    assert abs(ppl["dynamic"] - ppl["folded"]) / ppl["folded"] < 0.02
    assert abs(ppl["float16"] - ppl["folded"]) / ppl["folded"] < 0.002
    ids = [1] + preds["folded"].encode(text)
    agree, s32, s8 = 0, preds["folded"].start_state(), preds["dynamic"].start_state()
    for w in ids[1:60]:
        agree += list(preds["folded"].top_k(s32, 3)[0]) == list(preds["dynamic"].top_k(s8, 3)[0])
        s32, s8 = preds["folded"].feed(w, s32), preds["dynamic"].feed(w, s8)
    assert agree / len(ids[1:60]) >= 0.9


def _constant_types(path):
    """Type names of the tensors that hold constant data (weights and tables)."""
    from ai_edge_litert import schema_py_generated as fb

    names = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    with open(path, "rb") as f:
        model = fb.Model.GetRootAs(f.read(), 0)
    out = set()
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            if model.Buffers(tensor.Buffer()).DataLength():
                out.add(names[tensor.Type()])
    return out


# === CLI ===

def test_cli_exports(tmp_path, files, capsys):
    from export.__main__ import main

    out = tmp_path / "cli.tflite"
    assert main(["--run", files["run"], "--out", str(out), "--max-k", "3", "--expand-rows", "99"]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out
    meta = metadata_lib.read_metadata(str(out))
    rows = meta["table"]["rows"]
    assert meta["export"]["max_k"] == 3 and meta["export"]["expand_rows"] == rows
    assert f"note: --expand-rows 99 was capped at the table's {rows} rows" in captured.err
    assert main(["--run", files["run"], "--out", str(out), "--max-k", "3", "--expand-rows", "1"]) == 0
    assert "--expand-rows" not in capsys.readouterr().err  # 1 row holds 3 words: kept
    assert main(["--run", files["run"], "--out", str(out), "--max-k", str(2 * meta["table"]["cols"] + 1),
                 "--expand-rows", "1"]) == 0
    assert "note: --expand-rows 1 was raised to 3: one step must hold" in capsys.readouterr().err
    assert main(["--run", files["run"], "--out", str(out)]) == 0  # the default 16, capped: no note
    assert "--expand-rows" not in capsys.readouterr().err


@pytest.mark.parametrize("argv_tail, message", [
    (["--quantize", "int4"], "unknown quantization mode 'int4'; expected one of: none, dynamic, float16"),
    (["--max-k", "0"], "Received an invalid value for `max_k`"),
    (["--expand-rows", "0"], "Received an invalid value for `expand_rows`"),
])
def test_cli_bad_flags(tmp_path, files, capsys, argv_tail, message):
    from export.__main__ import main

    assert main(["--run", files["run"], "--out", str(tmp_path / "x.tflite")] + argv_tail) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "x.tflite").exists()


def test_cli_on_a_full_disk_keeps_the_file_there(tmp_path, files, capsys):
    """The output on a tmpfs too small for the export: one line, the old file unchanged, no temp file."""
    import subprocess

    from export.__main__ import main

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        out = disk / "model.tflite"
        out.write_bytes(b"an older export")
        assert main(["--run", files["run"], "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: could not write {out} (disk full); nothing was replaced\n"
        assert out.read_bytes() == b"an older export" and os.listdir(disk) == ["model.tflite"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_cli_missing_and_incomplete_run_dir(tmp_path, capsys):
    from export.__main__ import main

    assert main(["--run", str(tmp_path / "nope"), "--out", str(tmp_path / "x.tflite")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: run directory not found: {tmp_path / 'nope'}\n"
    run = make_run(tmp_path / "run", train_steps=0, num_layers=1)
    os.remove(os.path.join(run, "model.keras"))
    assert main(["--run", run, "--out", str(tmp_path / "x.tflite")]) == 2
    err = capsys.readouterr().err
    assert "is incomplete: no model.keras" in err and err.count("\n") == 1


def test_convert_model_rejects_bad_arguments(run):
    from export.convert import check_quantize, convert_model

    with pytest.raises(LightRNNError, match="unknown quantization mode 'int8'"):
        check_quantize("int8")
    with pytest.raises(LightRNNError, match="max_k"):
        convert_model(run.model, max_k=run.model.vocab_size + 1)


# === Full-softmax baseline (benchmarks/bench_export.py) ===

def test_baseline_export_matches_keras():
    from ai_edge_litert.interpreter import Interpreter

    from export.baseline_graph import convert_baseline
    from lightrnn_tf.baselines import FullSoftmaxLSTM

    model = FullSoftmaxLSTM(30, embedding_dim=8, hidden_dim=12, num_layers=2, dropout=0.0)
    flat = convert_baseline(model, "none", max_k=4)
    assert all(metadata_lib.is_builtin(op) for op in metadata_lib.operator_names(flat))
    interp = Interpreter(model_content=flat)
    score, top_k = interp.get_signature_runner("score"), interp.get_signature_runner("top_k")
    state, kstate = np.zeros((2, 2, 12), np.float32), model.zero_state(1)
    for w in (1, 7, 29, 3):
        full = np.asarray(model.next_word_log_probs(kstate))[0]
        out, best = score(word=np.array([w], np.int32), state=state), top_k(state=state)
        np.testing.assert_allclose(out["log_prob"][0], full[w], atol=ATOL)
        np.testing.assert_array_equal(best["words"], np.argsort(-full, kind="stable")[:4])
        kstate = model.feed_word(np.array([w]), kstate)
        np.testing.assert_allclose(out["state"], keras_state(kstate), atol=ATOL)
        state = out["state"]
    ids = np.array([1, 7, 29, 3, 3, 8], np.int32)  # sequence path == single steps
    lp, _ = model.target_log_probs(ids[None, 1:], model.start_state(ids[:1]))
    state, ref = model.start_state(ids[:1]), []
    for w in ids[1:]:
        ref.append(np.asarray(model.next_word_log_probs(state))[0, w])
        state = model.feed_word(np.array([w]), state)
    np.testing.assert_allclose(np.asarray(lp)[0], ref, atol=ATOL)


def test_a_run_trained_before_the_unicode_rules_keeps_its_tokenizer(tmp_path):
    """A config.json without `tokenizer_rules` (written before 2026-12-06) loads with the rules the
    run was trained with (rules 1: Python's \\w words, no NFC), and its export states them, so the
    apps read text as its training did; a run that recorded rules 2 keeps them (emoji split), one
    that recorded rules 3 its invisible characters (no `remove_chars` in its export); a new run
    records today's rules (4)."""
    import json
    import unicodedata

    from export.convert import export_run
    from export.keyboard import KeyboardPredictor
    from export_fixtures import make_run
    from lightrnn_tf.rundir import load_run

    run = make_run(tmp_path / "run", train_steps=0)
    cfg_path = tmp_path / "run" / "config.json"
    doc = json.loads(cfg_path.read_text())
    assert doc["train"]["tokenizer_rules"] == 4 and load_run(run).tokenizer.rules == 4
    meta = export_run(run, str(tmp_path / "new.tflite"), quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    assert meta["tokenizer"]["rules_version"] == 4 and [0xAD, 0xAD] in meta["tokenizer"]["remove_chars"]
    assert KeyboardPredictor(str(tmp_path / "new.tflite")).text.tokenize("hy\u00adphen\x00") == ["hyphen"]
    doc["train"]["tokenizer_rules"] = 3
    cfg_path.write_text(json.dumps(doc))
    meta = export_run(run, str(tmp_path / "rules3.tflite"), quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    assert meta["tokenizer"]["rules_version"] == 3 and "remove_chars" not in meta["tokenizer"]
    assert KeyboardPredictor(str(tmp_path / "rules3.tflite")).text.tokenize("hy\u00adphen\x00") == ["hy", "phen", "\x00"]
    doc["train"]["tokenizer_rules"] = 2
    cfg_path.write_text(json.dumps(doc))
    assert load_run(run).tokenizer("❤️ 👍🏽") == ["❤", "\ufe0f", "👍", "\U0001F3FD"]
    del doc["train"]["tokenizer_rules"]
    cfg_path.write_text(json.dumps(doc))
    old = load_run(run).tokenizer
    assert old.rules == 1 and old("हिन्दी") == ["ह", "ि", "न", "्", "द", "ी"]
    assert old(unicodedata.normalize("NFD", "é")) == ["e", "\u0301"]
    meta = export_run(run, str(tmp_path / "old.tflite"), quantize="none", max_k=4, expand_rows=1, fold_inputs=True)
    assert meta["tokenizer"]["split_punct_pattern"] == old.pattern.pattern and meta["tokenizer"]["normalization"] is None
    assert meta["tokenizer"]["rules_version"] == 1
    kb = KeyboardPredictor(str(tmp_path / "old.tflite"))
    assert kb.text.tokenize("हिन्दी") == old("हिन्दी")


def test_unicode_note_for_runs_trained_before_the_unicode_rules():
    """A file exported with the old rules (no normalization) from non-ASCII text is noted."""
    from export.__main__ import unicode_note

    old = {"lowercase": True, "split_punct": True, "normalization": None}
    assert unicode_note({"tokenizer": old, "vocab": ["<unk>", "<eos>", "the"]}) == ""
    assert unicode_note({"tokenizer": {**old, "normalization": "NFC"}, "vocab": ["<unk>", "<eos>", "café"]}) == ""
    assert "retrain it for today's rules" in unicode_note({"tokenizer": old, "vocab": ["<unk>", "<eos>", "café"]})


def test_emoji_note_for_runs_trained_before_emoji_were_kept_whole():
    from export.__main__ import emoji_note

    rules2 = {"lowercase": True, "split_punct": True, "normalization": "NFC"}  # no "rules_version": exported before it
    vocab = ["<unk>", "<eos>", "❤", "\ufe0f", "\U0001F3FD"]
    assert "'\\ufe0f'" in emoji_note({"tokenizer": rules2, "vocab": vocab})
    assert emoji_note({"tokenizer": rules2, "vocab": ["<unk>", "<eos>", "❤"]}) == ""
    assert emoji_note({"tokenizer": {**rules2, "rules_version": 3}, "vocab": vocab}) == ""
    assert emoji_note({"tokenizer": {**rules2, "split_punct": False}, "vocab": vocab}) == ""


def test_invisible_note_for_runs_trained_before_rules_4():
    """`python -m export` notes a run of rules 3 whose vocabulary holds words with characters rules 4
    remove or read as a space, naming them; none for a clean vocabulary or a run of rules 4."""
    from export.__main__ import invisible_note

    rules3 = {"lowercase": False, "split_punct": False, "normalization": "NFC", "rules_version": 3}
    vocab = ["<unk>", "<eos>", "the", "word\u200b", "hy\u00adphen", "a\x00b", "don't", "l’homme", "👨\u200d👩"]
    note = invisible_note({"tokenizer": rules3, "vocab": vocab})
    assert "3 vocabulary word(s)" in note and "'word\\u200b'" in note and "'hy\\xadphen'" in note
    assert invisible_note({"tokenizer": rules3, "vocab": vocab[:3] + vocab[6:]}) == ""
    assert invisible_note({"tokenizer": {**rules3, "rules_version": 4}, "vocab": vocab}) == ""
    assert invisible_note({"tokenizer": {**rules3, "rules_version": 1}, "vocab": ["cafe\u0301", "x"]}) == ""  # no NFC then


def test_apostrophe_note_names_words_in_both_apostrophes():
    """`python -m export` notes a vocabulary holding a word with ' and with ’, counting them."""
    from export.__main__ import apostrophe_note

    vocab = ["<unk>", "<eos>", "don't", "don\u2019t", "it's", "it\u2019s", "l\u2019homme", "o'clock"]
    note = apostrophe_note({"vocab": vocab})
    assert note.startswith("2 vocabulary word(s)") and "don\u2019t" in note and "l\u2019homme" not in note
    assert apostrophe_note({"vocab": ["<unk>", "<eos>", "don\u2019t", "l\u2019homme", "it's"]}) == ""


def test_a_baseline_export_states_the_rules_it_was_given():
    """The full-softmax file's tokenizer: today's rules in full when given only the two flags; the
    rules of an older run or export kept (no invisible-character sets before rules 4)."""
    from export.baseline_keyboard import stated_rules
    from lightrnn_tf.data import TOKENIZER_RULES, Tokenizer

    assert stated_rules({"lowercase": True, "split_punct": True}) == Tokenizer(True, True).to_dict()
    assert stated_rules({"lowercase": True, "split_punct": True})["rules_version"] == TOKENIZER_RULES
    for rules in (1, 2, 3):
        stated = stated_rules(Tokenizer(True, True, rules).to_dict())
        assert stated == Tokenizer(True, True, rules).to_dict() and "remove_chars" not in stated
    old_export = {"lowercase": False, "split_punct": True, "split_punct_pattern": Tokenizer(rules=1).pattern.pattern,
                  "normalization": None}  # a file of rules 1: no rules_version
    assert stated_rules(old_export)["normalization"] is None and "remove_chars" not in stated_rules(old_export)


def test_capitals_note_for_keyboards():
    """`python -m export` warns when a model keeps capitals but its vocabulary has (almost) none."""
    from export.__main__ import capitals_note

    def meta(words, lowercase=False):
        return {"tokenizer": {"lowercase": lowercase}, "vocab": ["<unk>", "<eos>"] + words}

    lower = [f"w{i}" for i in range(400)]
    assert "train with --lowercase" in capitals_note(meta(lower))
    assert "(all but 'N')" in capitals_note(meta(lower + ["N"]))  # PTB's number token
    assert capitals_note(meta(lower + ["The", "And", "God"])) == ""  # a corpus with capitals
    assert capitals_note(meta(lower, lowercase=True)) == ""
    # a script without capitals (Devanagari, Chinese, digits and punctuation): nothing to lowercase
    caseless = [f"नमस्ते{i}" for i in range(200)] + [f"中文{i}" for i in range(200)] + [".", ",", "42"]
    assert capitals_note(meta(caseless)) == ""
    assert "train with --lowercase" in capitals_note(meta(caseless + lower))  # its Latin words are all lowercase


def test_export_model_from_keras_code_equals_the_run_export(run, tmp_path):
    """`export_model(model, vocab, tokenizer, out)`, for a model trained in your own code, writes
    the file `export_run` writes for the same model saved with `save_run`: the same metadata and the
    same next-word log-probs (the converter's bytes differ from one conversion to the next anyway)."""
    from export import metadata as metadata_lib
    from export.convert import export_model, export_run
    from export.predictor import NextWordPredictor
    from lightrnn_tf.rundir import load_run, save_run

    loaded = load_run(run.path)  # a fresh copy: exporting reads the model
    direct = str(tmp_path / "direct.tflite")
    meta = export_model(loaded.model, loaded.vocab, loaded.tokenizer, direct, quantize="dynamic", max_k=4)
    saved = save_run(str(tmp_path / "saved"), model=loaded.model, vocab=loaded.vocab, tokenizer=loaded.tokenizer)
    export_run(saved, str(tmp_path / "via_run.tflite"), quantize="dynamic", max_k=4)
    via_run = str(tmp_path / "via_run.tflite")
    assert metadata_lib.read_metadata(direct) == metadata_lib.read_metadata(via_run)
    a, b = NextWordPredictor(direct), NextWordPredictor(via_run)
    text = " ".join(loaded.vocab.words[2:8])
    np.testing.assert_array_equal(a.log_probs(a.state_for(text)), b.log_probs(b.state_for(text)))
    assert meta["tokenizer"] == loaded.tokenizer.to_dict() | {"rules": meta["tokenizer"]["rules"]}
    with pytest.raises(LightRNNError, match="save_run: pass tokenizer="):
        export_model(loaded.model, loaded.vocab, None, str(tmp_path / "x.tflite"))
    assert not os.path.exists(tmp_path / "x.tflite")
