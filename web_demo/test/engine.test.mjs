// node --test web_demo/test/   (KEYBOARD_FIXTURES=DIR from `python tests/keyboard_fixtures.py --out DIR`)
//
// The JS engine against the Python predictor: metadata read from a real exported .tflite, the
// tokenizer on reference texts, and every suggestion of `replay.json` reproduced by the exact
// top-k / completion loops, with a runner that answers from the recorded Python model calls.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Keyboard, Tokenizer, apostropheFold, decodeWordRows, matchCase, normalizeLines, prefixKeys, pythonPattern, readMetadata } from '../engine.js';

const DIR = process.env.KEYBOARD_FIXTURES || '';
const HAVE = DIR && fs.existsSync(path.join(DIR, 'replay.json'));
const skip = HAVE ? false : 'set KEYBOARD_FIXTURES (python tests/keyboard_fixtures.py --out DIR)';

function load() {
  const replay = JSON.parse(fs.readFileSync(path.join(DIR, 'replay.json'), 'utf8'));
  const bytes = new Uint8Array(fs.readFileSync(path.join(DIR, replay.model)));
  return { replay, bytes, meta: readMetadata(bytes) };
}

const hex = (f32) => Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength).toString('hex');
const fromHex = (h) => new Float32Array(new Uint8Array(Buffer.from(h, 'hex')).buffer);

/** A runner that answers only what the Python predictor recorded; counts its calls. */
function replayRunner(replay, cols) {
  const calls = { feed: 0, topK: 0, expand: 0, rows: 0 };
  const state = (s) => {
    const rec = replay.states[hex(s)];
    if (!rec) throw new Error('state not recorded by Python');
    return rec;
  };
  return {
    calls,
    async feed(word, s) {
      const out = replay.feeds[`${word}:${hex(s)}`];
      if (!out) throw new Error(`feed(${word}) not recorded by Python`);
      calls.feed++;
      return fromHex(out);
    },
    async topK(s) {
      const t = state(s).top_k;
      calls.topK++;
      return { words: Int32Array.from(t.words), logProbs: Float32Array.from(t.log_probs),
        rowOrder: Int32Array.from(t.row_order), rowLogProbs: Float32Array.from(t.row_log_probs) };
    },
    async expand(s, rows) {
      const rec = state(s);
      calls.expand++;
      calls.rows += new Set(rows).size;
      const words = new Int32Array(rows.length * cols), lps = new Float32Array(rows.length * cols);
      rows.forEach((r, j) => {
        words.set(rec.rows_words[r], j * cols);
        lps.set(rec.rows_log_probs[r], j * cols);
      });
      return { words, logProbs: lps };
    },
  };
}

test('python \\w and \\s patterns translate to unicode JS regexps', () => {
  const re = pythonPattern("<[^<>\\s]+>|\\w+(?:'\\w+)*|[^\\w\\s]");
  assert.deepEqual("It's <unk> naïve, 2.5%!".match(re), ["It's", '<unk>', 'naïve', ',', '2', '.', '5', '%', '!']);
  assert.deepEqual('日本語 テキスト_1'.match(re), ['日本語', 'テキスト_1']);
});

test('word rows decode from base64 int16 cells', () => {
  const cells = new Int16Array([0, 5, 7, 13]);
  const b64 = Buffer.from(cells.buffer).toString('base64');
  assert.deepEqual(Array.from(decodeWordRows({ word_cell: b64, dtype: '<i2', cols: 4 })), [0, 1, 1, 3]);
});

test('metadata and vocabulary are read from the exported .tflite', { skip }, () => {
  const { meta, replay } = load();
  assert.equal(meta.format, 'lightrnn_tf.export');
  assert.equal(meta.vocab.length, meta.model.vocab_size);
  assert.equal(meta.vocab[meta.special_tokens['<unk>']], '<unk>');
  assert.equal(meta.vocab[meta.special_tokens['<eos>']], '<eos>');
  for (const c of replay.cases) c.ids.forEach((id, i) => assert.equal(meta.vocab[id], c.words[i]));
  assert.equal(meta.export.expand_rows, 1);
  assert.deepEqual(meta.export.signatures, ['feed', 'score', 'top_k', 'expand']);
});

test('a file without LightRNN metadata is refused with one clear message', { skip }, () => {
  assert.throws(() => readMetadata(new Uint8Array(64)), /not a TFLite model/);
  const { replay } = load();
  const baseline = new Uint8Array(fs.readFileSync(path.join(DIR, replay.baseline_model)));
  assert.throws(() => readMetadata(baseline), /full_softmax_lstm model; the keyboard runs LightRNN exports/);
});

test('a truncated or damaged file is refused with one clear message', { skip }, () => {
  const { bytes } = load();
  for (const n of [4096, bytes.length >> 1, Math.floor(bytes.length * 0.9), bytes.length - 10]) {
    assert.throws(() => readMetadata(bytes.slice(0, n)),
      (e) => e.constructor === Error && /truncated/.test(e.message), `cut at ${n} of ${bytes.length}`);
  }
  const damaged = bytes.slice();
  damaged.fill(0xff, 8, 64); // the root table's vtable and the start of the flatbuffer
  damaged.set([0xff, 0xff, 0xff, 0x7f], 0); // root offset far beyond the file
  assert.throws(() => readMetadata(damaged), (e) => e.constructor === Error && /truncated or corrupt/.test(e.message));
});

/** The tokens, context ids, committed ids and partial word of every case, as Python's. */
function assertTokenizerCases(meta, cases) {
  const tok = new Tokenizer(meta);
  for (const c of cases) {
    const first = normalizeLines(c.text).split('\n')[0];
    assert.deepEqual(tok.tokenize(first), c.tokens, c.text);
    assert.deepEqual(tok.encodeContext(c.text), c.context, c.text);
    const [committed, partial] = tok.splitTyped(c.text);
    assert.deepEqual(committed, c.committed, c.text);
    assert.equal(partial, c.partial, c.text);
  }
}

test('tokenizer equals the Python tokenizer on reference texts', { skip }, () => {
  const { meta, replay } = load();
  assertTokenizerCases(meta, replay.tokenize);
});

test('tokenizer equals the Python tokenizer without split_punct (whitespace tokens)', { skip }, () => {
  const { replay } = load();
  const meta = readMetadata(new Uint8Array(fs.readFileSync(path.join(DIR, replay.whitespace.model))));
  assert.equal(meta.tokenizer.split_punct, false);
  assertTokenizerCases(meta, replay.whitespace.tokenize);
});

test('files of older tokenizer rules are read as their training read them (2: emoji split; 3: invisible characters kept)', { skip }, () => {
  const { replay } = load();
  assert.deepEqual(replay.old_rules.map((o) => o.rules), [2, 3, 3]);
  for (const old of replay.old_rules) {
    const meta = readMetadata(new Uint8Array(fs.readFileSync(path.join(DIR, old.model))));
    assert.equal(meta.tokenizer.rules_version, old.rules); // exported today from a run that recorded them
    assert.equal(meta.tokenizer.remove_chars, undefined);
    assertTokenizerCases(meta, old.tokenize);
  }
});

test('a malformed list of invisible characters in the metadata is refused with one message', () => {
  const meta = { tokenizer: { lowercase: false, split_punct: false, remove_chars: [[10, 5]] }, vocab: ['<unk>', '<eos>'],
    special_tokens: { '<unk>': 0, '<eos>': 1 } };
  for (const bad of [[[10, 5]], [[173.5, 174]], [[true, 5]], [173], 'x']) {
    assert.throws(() => new Tokenizer({ ...meta, tokenizer: { ...meta.tokenizer, remove_chars: bad } }),
      /tokenizer remove_chars must be a list of \[first, last\] code points/);
  }
  assert.throws(() => new Tokenizer({ ...meta, tokenizer: { ...meta.tokenizer, rules_version: 4, remove_chars: [] } }),
    /metadata: tokenizer rules 4 without space_chars/);
  const none = new Tokenizer({ ...meta, tokenizer: { ...meta.tokenizer, remove_chars: [], space_chars: [] } });
  assert.deepEqual(none.tokenize('hy\u00adphen\u0000x'), ['hy\u00adphen\u0000x']);
  const tok = new Tokenizer({ ...meta, tokenizer: { ...meta.tokenizer, remove_chars: [[0xad, 0xad]], space_chars: [[0, 8]] } });
  assert.deepEqual(tok.tokenize('hy\u00adphen\u0000x'), ['hyphen', 'x']);
});

test('suggestions equal the Python predictor (next words and completions)', { skip }, async () => {
  const { meta, replay } = load();
  const runner = replayRunner(replay, meta.table.cols);
  const kb = new Keyboard(meta, runner, 64, { historyWeight: 0 }); // the model alone: Python's suggest_ids
  let completions = 0;
  for (const c of replay.cases) {
    const got = await kb.suggest(c.text, 3);
    assert.equal(got.partial, c.partial, c.text);
    assert.deepEqual(got.items.map((it) => it.word), c.words, JSON.stringify(c.text));
    got.items.forEach((it, i) => assert.equal(it.logProb, c.log_probs[i]));
    completions += c.partial ? 1 : 0;
  }
  assert.ok(completions > 50);
  // exactness with early stopping: fewer rows expanded than (contexts x rows)
  assert.ok(runner.calls.rows < Object.keys(replay.states).length * meta.table.rows);
  // the state cache: one feed per distinct committed context (plus the start state)
  assert.ok(runner.calls.feed <= Object.keys(replay.feeds).length);
});

test('brute force over the recorded full tables agrees with the engine', { skip }, async () => {
  const { meta, replay } = load();
  const kb = new Keyboard(meta, replayRunner(replay, meta.table.cols), 64, { historyWeight: 0 });
  const special = new Set([meta.special_tokens['<unk>'], meta.special_tokens['<eos>']]);
  for (const c of replay.cases.filter((_, i) => i % 3 === 0)) {
    const [ids, partial] = kb.tokenizer.splitTyped(c.text);
    const ctx = await kb.context(ids);
    const rec = replay.states[hex(ctx.state)];
    const all = [];
    rec.rows_words.forEach((row, r) => row.forEach((w, j) => {
      if (w >= 0 && !special.has(w) && meta.vocab[w].startsWith(partial)) all.push([w, rec.rows_log_probs[r][j]]);
    }));
    all.sort((a, b) => (b[1] - a[1]) || (a[0] - b[0]));
    const got = (await kb.suggest(c.text)).items.map((it) => it.id);
    assert.deepEqual(got, all.slice(0, 3).map((x) => x[0]), c.text);
  }
});

test('accept replaces the partial word and adds a space', { skip }, () => {
  const { meta } = load();
  const kb = new Keyboard(meta, null);
  assert.equal(kb.accept('The ca', 'cat'), 'The cat ');
  assert.equal(kb.accept('The ', 'cat'), 'The cat ');
  assert.equal(kb.accept('', 'the'), 'the ');
});

test('typed-word history: suggestions equal the Python predictor', { skip }, async () => {
  const { meta, replay } = load();
  const h = replay.history;
  const kb = new Keyboard(meta, replayRunner(replay, meta.table.cols), 64, { historyWeight: h.weight, historyWords: h.words });
  let unknown = 0;
  for (const c of h.cases) {
    const got = await kb.suggest(c.text, 3);
    assert.equal(got.partial, c.partial, c.text);
    assert.deepEqual(got.items.map((it) => it.word), c.words, JSON.stringify(c.text));
    got.items.forEach((it, i) => assert.ok(Math.abs(it.score - c.scores[i]) <= 1e-12 * c.scores[i], c.text));
    unknown += got.items.some((it) => it.id === -1 && !meta.vocab.includes(it.word));
  }
  assert.ok(h.cases.length > 100 && unknown > 10);
  const plain = new Keyboard(meta, replayRunner(replay, meta.table.cols));
  assert.equal(plain.historyWeight, 0.1); // on by default, as in Python
  assert.throws(() => new Keyboard(meta, null, 64, { historyWeight: 1 }), /historyWeight/);
});

test('a tap keeps the typed capitals, as the Python predictor does', { skip }, () => {
  const { meta, replay } = load();
  const kb = new Keyboard(meta, null);
  assert.ok(replay.accept.some((c) => c.cased !== c.word)); // the cases do exercise capitals
  for (const c of replay.accept) {
    assert.equal(kb.cased(c.text, c.word), c.cased, JSON.stringify(c));
    assert.equal(kb.accept(c.text, c.word), c.accepted, JSON.stringify(c));
  }
  for (const c of replay.accept) assert.equal(kb.cased(c.text, c.word, kb.tokenizer.splitTyped(c.text)[1]), c.cased);
  for (const c of replay.accept_at) assert.deepEqual(kb.acceptAt(c.before, c.after, c.word), c.result, JSON.stringify(c));
  assert.deepEqual(kb.acceptAt('the ca', 't sat', 'cat'), ['the cat ', 'sat']);
  assert.equal(matchCase('Ze', 'zebedee'), 'Zebedee');
  assert.equal(matchCase('ZE', 'zebedee'), 'ZEBEDEE');
  assert.equal(matchCase('z', 'zebedee'), 'zebedee');
  assert.equal(matchCase('McD', 'mcdonald'), 'McDonald'); // capitals inside the word stay where typed
  // a typed apostrophe is read as the vocabulary's when it holds only one (export/text.py apostrophe_fold)
  assert.deepEqual(apostropheFold(['<unk>', "don't", "'"]), ['\u2019', "'"]);
  assert.deepEqual(apostropheFold(['<unk>', 'don\u2019t', "'"]), ["'", '\u2019']);
  assert.equal(apostropheFold(["don't", 'l\u2019homme']), null);
  assert.equal(apostropheFold(['dont', "'"]), null);
  assert.equal(matchCase("O'Br", "o'brien"), "O'Brien");
});

test('typed-word history of long texts equals Python (read from the end only)', { skip }, () => {
  const { meta, replay } = load();
  const h = replay.history_tokens;
  const kb = new Keyboard(meta, null, 64, { historyWeight: 0.1, historyWords: h.words });
  for (const c of h.cases) {
    const want = new Map();
    for (const t of c.tokens) want.set(t, (want.get(t) || 0) + 1);
    const got = kb.history(c.text);
    assert.equal(got.n, c.tokens.length, c.text.slice(-40));
    assert.deepEqual([...got.counts.entries()].sort(), [...want.entries()].sort(), c.text.slice(-40));
  }
});

test('typed-word history counts the last committed words only', { skip }, () => {
  const { meta } = load();
  const kb = new Keyboard(meta, null, 64, { historyWeight: 0.1, historyWords: 3 });
  const h = kb.history('one two <unk> three four fi');
  assert.deepEqual([...h.counts.entries()], [['two', 1], ['three', 1], ['four', 1]]);
  assert.equal(h.n, 3);
});

test('a caret moved back into a long text feeds at most 256 words again, and the states are exact', { skip }, async () => {
  const { meta } = load();
  const feed = (word, state) => Float32Array.from(state, (x, i) => Math.fround(0.5 * x + ((word * 31 + i) % 97) / 97));
  const runner = { feed: async (word, state) => feed(word, state) };
  const kb = new Keyboard(meta, runner, 8);
  const ids = [meta.special_tokens['<eos>']];
  for (let i = 0; i < 3000; i++) ids.push(2 + ((i * 7919) % (meta.vocab.length - 2)));
  const straight = (n) => ids.slice(1, n).reduce((s, w) => feed(w, s), feed(ids[0], new Float32Array(kb.stateSize)));
  assert.deepEqual((await kb.context(ids)).state, straight(ids.length));
  for (const n of [1700, 40, 2999, 1000]) {
    const before = kb.stats.feed;
    assert.deepEqual((await kb.context(ids.slice(0, n))).state, straight(n), `prefix ${n}`);
    assert.ok(kb.stats.feed - before < 256, `prefix ${n}: ${kb.stats.feed - before} feeds`);
  }
  const other = ids.slice(0, 1500).concat([5, 6, 7]); // a text that differs after word 1500
  const before = kb.stats.feed;
  const want = [5, 6, 7].reduce((s, w) => feed(w, s), straight(1500));
  assert.deepEqual((await kb.context(other)).state, want);
  assert.ok(kb.stats.feed - before < 256 + 3);
});

test('context keys of different texts differ, on Thue-Morse texts of two words too', () => {
  // 1,024 texts of 1,280 words, ten blocks of a 128-word Thue-Morse sequence or its complement:
  // a polynomial hash modulo 2^32 gives many of them one key
  const tm = [], co = [];
  for (let i = 0; i < 128; i++) {
    let p = 0;
    for (let k = i; k; k >>= 1) p ^= k & 1;
    tm.push(p ? 7 : 9);
    co.push(p ? 9 : 7);
  }
  const keys = new Set();
  for (let m = 0; m < 1024; m++) {
    const ids = [1];
    for (let j = 0; j < 10; j++) ids.push(...((m >> j) & 1 ? tm : co));
    keys.add(prefixKeys(ids)(ids.length));
  }
  assert.equal(keys.size, 1024);
});
