// Keyboard engine of the web demo: model metadata, tokenizer, state cache, exact top-k and completion.
//
// No browser or LiteRT.js import: the model is reached through a `runner` object (see
// `litert_runner.js` for the LiteRT.js one and test/ for a replay of Python outputs), so node's
// test runner checks all of this. It mirrors export/keyboard.py and export/text.py:
//
//   runner.feed(wordId, state)   -> Promise<Float32Array>    state (L*2*H)
//   runner.topK(state)           -> Promise<{words, logProbs, rowOrder, rowLogProbs}>
//   runner.expand(state, rows)   -> Promise<{words, logProbs}>  (M*C each, row-major)
//
// Exactness (export/keyboard.py): a word's log-prob is its row's score plus a column log-prob <= 0,
// so rows are expanded in decreasing row score and the loop stops when the k-th best candidate
// reaches the score of the next unexpanded row that could hold an answer.
//
// Typed-word history (historyWeight lam, 0.1 by default, 0 = off; export/keyboard.py): the last historyWords committed
// tokens of the text form a unigram cache; score = (1 - lam) * p_model + lam * count / N, with
// lam = historyWeight * N / (N + HISTORY_RAMP) (historyLambda), so a typed word outside the
// vocabulary can be suggested and the first words of a text do not come back as chips on their own. Candidates: the model's exact top k plus the
// history's words with the prefix, a history word's row expanded only while its bound can win.

export const HISTORY_WEIGHT = 0.1; // export/keyboard.py HISTORY_WEIGHT
export const HISTORY_WORDS = 500; // export/keyboard.py HISTORY_WORDS
export const HISTORY_RAMP = 20; // export/keyboard.py HISTORY_RAMP

/** The history's weight after n typed words, as export/keyboard.py history_lambda. */
export function historyLambda(weight, n) {
  return weight * n / (n + HISTORY_RAMP);
}

// === Metadata: LIGHTRNN_METADATA in Model.metadata, vocab.txt in the appended zip ===

function u32(dv, pos) { return dv.getUint32(pos, true); }

// Field `slot` of the flatbuffer table at `table`: absolute position of its value, or 0 if absent.
function field(dv, table, slot) {
  const vtable = table - dv.getInt32(table, true);
  const vtableSize = dv.getUint16(vtable, true);
  const off = 4 + 2 * slot;
  if (off >= vtableSize) return 0;
  const rel = dv.getUint16(vtable + off, true);
  return rel ? table + rel : 0;
}

function deref(dv, pos) { return pos + u32(dv, pos); }

function vectorOf(dv, pos) { // -> [start, length] of the vector referenced at pos
  const v = deref(dv, pos);
  return [v + 4, u32(dv, v)];
}

function within(bytes, start, n) { // bytes[start, start + n), or a RangeError when the file is shorter
  if (!(start >= 0 && n >= 0 && start + n <= bytes.length)) throw new RangeError(`bytes ${start}+${n} outside the file`);
  return bytes.subarray(start, start + n);
}

// What a cut or damaged file gets instead of a DataView's "Offset is outside the bounds" (as export/metadata.py).
const CORRUPT = 'the file is truncated or corrupt (its TFLite structure cannot be read; an incomplete download or copy?)';

function readString(dv, bytes, pos) {
  const [start, n] = vectorOf(dv, pos);
  return new TextDecoder().decode(within(bytes, start, n));
}

/** `{name: Uint8Array}` of every Model.metadata entry of a .tflite (schema.fbs: Model.buffers = 4, metadata = 6). */
export function metadataEntries(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(4, 8)) !== 'TFL3') {
    throw new Error('not a TFLite model (no TFL3 identifier)');
  }
  const model = u32(dv, 0);
  const out = {};
  const metaPos = field(dv, model, 6);
  const buffersPos = field(dv, model, 4);
  if (!metaPos || !buffersPos) return out;
  const [mStart, mLen] = vectorOf(dv, metaPos);
  const [bStart] = vectorOf(dv, buffersPos);
  for (let i = 0; i < mLen; i++) {
    const entry = deref(dv, mStart + 4 * i);
    const namePos = field(dv, entry, 0);
    const bufPos = field(dv, entry, 1);
    const name = namePos ? readString(dv, bytes, namePos) : '';
    const bufIndex = bufPos ? u32(dv, bufPos) : 0;
    const buffer = deref(dv, bStart + 4 * bufIndex);
    const dataPos = field(dv, buffer, 0);
    if (dataPos) {
      const [s, n] = vectorOf(dv, dataPos);
      out[name] = within(bytes, s, n);
    } else { // large models keep buffers outside the flatbuffer: Buffer.offset (1), size (2), uint64
      const offPos = field(dv, buffer, 1), sizePos = field(dv, buffer, 2);
      const off = offPos ? Number(dv.getBigUint64(offPos, true)) : 0;
      const size = sizePos ? Number(dv.getBigUint64(sizePos, true)) : 0;
      out[name] = within(bytes, off, size);
    }
  }
  return out;
}

/** `{name: Uint8Array}` of the stored (uncompressed) files of the zip appended to the model. */
export function appendedFiles(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (u32(dv, i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) return {};
  const count = dv.getUint16(eocd + 10, true);
  const cdSize = u32(dv, eocd + 12), cdOffset = u32(dv, eocd + 16);
  const shift = eocd - cdSize - cdOffset; // offsets are relative to where the zip starts
  const out = {};
  let p = eocd - cdSize;
  for (let i = 0; i < count; i++) {
    if (u32(dv, p) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = dv.getUint16(p + 10, true);
    const size = u32(dv, p + 20);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const local = u32(dv, p + 42) + shift;
    const name = new TextDecoder().decode(within(bytes, p + 46, nameLen));
    if (method !== 0) throw new Error(`zip entry ${name} is compressed; expected stored`);
    const dataStart = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    out[name] = within(bytes, dataStart, size);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The LIGHTRNN_METADATA JSON of a .tflite (Uint8Array) with `vocab` read from the appended vocab.txt;
 * an Error whose message says what is wrong (a cut or damaged file: CORRUPT). */
export function readMetadata(bytes) {
  let raw, meta, files;
  try {
    raw = metadataEntries(bytes).LIGHTRNN_METADATA;
    if (raw) meta = JSON.parse(new TextDecoder().decode(raw));
    files = appendedFiles(bytes);
  } catch (e) {
    if (e instanceof RangeError || e instanceof SyntaxError) throw new Error(CORRUPT);
    throw e;
  }
  if (!raw) throw new Error('this .tflite has no LightRNN metadata (was it written by `python -m export`?)');
  if (meta.format !== 'lightrnn_tf.export') throw new Error(`unsupported metadata format ${meta.format}`);
  if ((meta.architecture || 'lightrnn') !== 'lightrnn') {
    throw new Error(`a ${meta.architecture} model; the keyboard runs LightRNN exports (python -m export of a LightRNN run)`);
  }
  const file = files[meta.vocab_file || 'vocab.txt'];
  if (!file) throw new Error('the vocabulary (vocab.txt appended to the model) is missing: the file is truncated, or its zip was stripped');
  meta.vocab = new TextDecoder().decode(file).split('\n').slice(0, -1);
  if (meta.vocab.length !== meta.model.vocab_size) {
    throw new Error(`vocab.txt has ${meta.vocab.length} words, the model ${meta.model.vocab_size}`);
  }
  return meta;
}

// === Tokenizer (lightrnn_tf.data.Tokenizer, from the rules in the metadata) ===

const WORD = '\\p{L}\\p{N}_'; // Python's str \w: isalnum() or '_'
// Python's str \s (str.isspace): JS's \s lacks U+001C-U+001F and U+0085 and adds U+FEFF
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const IS_SPACE = new RegExp(`[${SPACE}]`, 'u');
const SPACES = new RegExp(`[${SPACE}]+`, 'u');
const NOT_SPACE = new RegExp(`[^${SPACE}]`, 'u');
// Between two word characters these keep one word: apostrophes (ASCII and typographic) and the
// zero-width (non-)joiners of Persian, Sinhala, Indic half-forms (lightrnn_tf.data WORD_JOINERS).
const JOINERS = "'\u2019\u200c\u200d";
const WORD_OR_MARK = `${WORD}\\p{M}`; // a character words are made of (export/text.py word_char)
const WORD_CHAR = new RegExp(`^[${WORD_OR_MARK}]$`, 'u');
const FORMAT_CHAR = /^\p{Cf}$/u;
/** The code point of `text` that ends at code unit `end`, as a string (export/text.py). */
function charBefore(text, end) { return String.fromCodePoint(text.codePointAt(end - 1 - (end >= 2 && /[\udc00-\udfff]/.test(text[end - 1]) ? 1 : 0))); }
/** An invisible format character that is no part of a word, under rules 3 and before (export/text.py invisible). */
function isInvisible(c) { return FORMAT_CHAR.test(c) && !JOINERS.includes(c); }

/**
 * The body of a class (flag u) of the inclusive code point ranges [[first, last], ...] a metadata
 * tokenizer lists under `key`, or null where it lists none or an empty list (export/text.py char_class).
 */
export function charClass(tok, key, rulesVersion) {
  const ranges = tok[key];
  if (ranges === undefined || ranges === null) {
    if (rulesVersion >= 4) throw new Error(`metadata: tokenizer rules ${rulesVersion} without ${key}`);
    return null;
  }
  const ok = Array.isArray(ranges) && ranges.every((r) => Array.isArray(r) && r.length === 2
    && r.every((cp) => Number.isInteger(cp) && cp >= 0 && cp <= 0x10ffff) && r[0] <= r[1]);
  if (!ok) throw new Error(`metadata: tokenizer ${key} must be a list of [first, last] code points`);
  const esc = (cp) => `\\u{${cp.toString(16)}}`;
  return ranges.length ? ranges.map(([a, b]) => (a === b ? esc(a) : `${esc(a)}-${esc(b)}`)).join('') : null;
}

// Tokens after which a sentence (or a quotation, a parenthesis) may start: a capital there may be
// the sentence's, not the word's (export/keyboard.py SENTENCE_STARTS_AFTER).
const SENTENCE_STARTS_AFTER = new Set(['.', '!', '?', '…', '。', '！', '？', '؟', '।', ':', '"', "'", '“', '‘', '«', '(',
  '[', '{', '¿', '¡', '—', '–', '-']);

// Punctuation a tap puts against the word before it, and (opening) against the word after it
// (export/keyboard.py CLOSING_PUNCT, OPENING_PUNCT).
const CLOSING_PUNCT = ',.!?:;)]}”’»›…、。，．！？：；）」』】،؛؟।॥';
const OPENING_PUNCT = '([{“‘«‹¿¡（「『【';

/** A Python `re` pattern using \w / \s -> a JS RegExp with the same meaning (flags gu). */
export function pythonPattern(src) {
  let out = '', inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length) {
      const n = src[++i];
      if (n === 'w') out += inClass ? WORD : `[${WORD}]`;
      else if (n === 's') out += inClass ? SPACE : `[${SPACE}]`;
      else if (n === 'W') out += inClass ? '' : `[^${WORD}]`; // not used by the tokenizer
      else out += '\\' + n;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c;
  }
  return new RegExp(out, 'gu');
}

/** Python's str.splitlines() line ends (\r\n, \n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029) -> '\n'. */
const LINE_BREAKS = /\r\n|[\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029]/gu;
export function normalizeLines(text) { return text.replace(LINE_BREAKS, '\n'); }

/** Python's str.isupper of one character ("𝐀" too). */
const isUpper = (c) => /\p{Uppercase}/u.test(c);

/**
 * `word` in the capitals of the typed prefix it completes (export/keyboard.py match_case): all
 * capitals if every letter typed is one and there are two or more; else each capital where it was
 * typed ("McD" -> "McDonald") when the typed characters, lowercased one by one, spell the start of
 * `word`; otherwise a capital first letter if the typed one is, else unchanged.
 */
export function matchCase(typed, word) {
  const letters = [...typed].filter((c) => /\p{L}/u.test(c));
  if (letters.length >= 2 && letters.every(isUpper)) return word.toUpperCase();
  const chars = [...word], out = [];
  let j = 0, aligned = true;
  for (const c of typed) { // each capital where it was typed, the rest of the word as it is
    const lower = [...c.toLowerCase()]; // "İ" -> "i̇", two code points
    const chunk = chars.slice(j, j + lower.length).join('');
    if (chunk.toLowerCase() !== lower.join('')) { aligned = false; break; }
    out.push(isUpper(c) ? c : chunk);
    j += lower.length;
  }
  if (aligned) return out.join('') + chars.slice(j).join('');
  const first = [...typed][0];
  if (first !== undefined && isUpper(first)) { const [w0, ...rest] = [...word]; return (w0 ?? '').toUpperCase() + rest.join(''); }
  return word;
}

/**
 * [typed, vocabulary's] apostrophe a keyboard reads typed text with (export/text.py apostrophe_fold):
 * ’ -> ' when words with letters hold ' and none holds ’, the reverse when they hold only ’, else
 * null. A phone types either (iOS's smart punctuation types ’).
 */
export function apostropheFold(words) {
  const held = ["'", '\u2019'].map((a) => words.some((w) => w.includes(a) && /\p{L}/u.test(w)));
  if (held[0] === held[1]) return null;
  return held[0] ? ['\u2019', "'"] : ["'", '\u2019'];
}

export class Tokenizer {
  constructor(meta) {
    const tok = meta.tokenizer;
    this.lowercase = !!tok.lowercase;
    this.pattern = tok.split_punct ? pythonPattern(tok.split_punct_pattern) : null;
    this.normalization = tok.normalization ?? null; // files exported before it was recorded have none
    // the version of the tokenizer's rules (lightrnn_tf.data.TOKENIZER_RULES), stated from 3 on
    this.rulesVersion = tok.rules_version ?? (this.normalization === null ? 1 : 2);
    const space = charClass(tok, 'space_chars', this.rulesVersion); // read as a space (rules 4 on)
    const removed = charClass(tok, 'remove_chars', this.rulesVersion); // removed (rules 4 on)
    this.spaceChars = space && new RegExp(`[${space}]`, 'gu');
    this.removeChars = removed && new RegExp(`[${removed}]`, 'gu');
    this.isSpaceChar = space && new RegExp(`^[${space}]$`, 'u');
    this.isRemoved = removed && new RegExp(`^[${removed}]$`, 'u');
    // The rest of a word after the caret: word characters, combining marks (the tokenizer keeps them in
    // words), inner apostrophes and joiners, and removed characters before them (export/keyboard.py
    // word_prefix_length).
    const r = removed ? `[${removed}]*` : '';
    this.restOfWord = new RegExp(`^(?:${r}[${WORD_OR_MARK}]|${r}[${JOINERS}](?=${r}[${WORD_OR_MARK}]))*`, 'u');
    if (this.normalization !== null && this.normalization !== 'NFC') {
      throw new Error(`unknown tokenizer normalization ${this.normalization} (this engine knows NFC)`);
    }
    this.words = meta.vocab;
    this.index = new Map(this.words.map((w, i) => [w, i]));
    this.fold = apostropheFold(this.words); // one character for one: lengths and positions stay
    this.unkId = meta.special_tokens['<unk>'];
    this.eosId = meta.special_tokens['<eos>'];
  }

  /** One line -> tokens; `lowercase` false: as typed, for a lowercasing model too (export/text.py). */
  tokenize(line, lowercase = this.lowercase) {
    line = this.folded(line);
    if (this.spaceChars) line = line.replace(this.spaceChars, ' ');
    if (this.removeChars) line = line.replace(this.removeChars, '');
    if (lowercase) line = line.toLowerCase();
    const tokens = this.pattern ? line.match(this.pattern) || [] : line.split(SPACES).filter((t) => t.length > 0);
    if (this.normalization === null || !/[^\x00-\x7f]/.test(line)) return tokens;
    return tokens.map((t) => t.normalize(this.normalization));
  }

  /**
   * [the word being typed at the end of `text`, how many of the text's last tokens it covers]
   * (export/text.py typed_word): ['', 0] after whitespace; a joiner right after a word ("l’",
   * "don'", Persian "می" + U+200C) belongs to it, and a zero-width joiner after an emoji ("👨" + U+200D);
   * invisible format characters at the end are skipped.
   */
  typedWord(text) {
    if (!text || this.separates(text[text.length - 1])) return ['', 0];
    let end = text.length;
    for (let c; end > 0 && this.invisible(c = charBefore(text, end));) end -= c.length;
    let start = end;
    while (start > 0 && !this.separates(text[start - 1])) start--;
    const chunk = text.slice(start, end); // no token spans whitespace (or what reads as it)
    const tokens = this.tokenize(chunk);
    if (!tokens.length) return ['', 0];
    const last = chunk[chunk.length - 1];
    let beforeJoiner = chunk.length - 1; // the character before a joiner at the end, removed ones skipped
    while (beforeJoiner > 0 && this.removed(charBefore(chunk, beforeJoiner))) beforeJoiner -= charBefore(chunk, beforeJoiner).length;
    const prev = beforeJoiner > 0 ? charBefore(chunk, beforeJoiner) : '';
    const joinsSymbols = this.rulesVersion >= 3 && last === '\u200d' && !FORMAT_CHAR.test(prev); // rules 3 join emoji
    if (prev && JOINERS.includes(last) && (WORD_CHAR.test(prev) || joinsSymbols)) {
      const before = this.tokenize(chunk.slice(0, -1));
      return [this._unfinished(chunk.slice(0, -1), before[before.length - 1]) + this.folded(last),
        tokens.length - before.length + 1];
    }
    return [this._unfinished(chunk, tokens[tokens.length - 1]), 1];
  }

  /** `text` with the typed apostrophe read as the vocabulary's (`fold`). */
  folded(text) { return this.fold === null ? text : text.replaceAll(this.fold[0], this.fold[1]); }

  /** Whitespace, or a character read as a space (space_chars: a zero-width space, NUL) (export/text.py separates). */
  separates(c) { return IS_SPACE.test(c) || (this.isSpaceChar !== null && this.isSpaceChar.test(c)); }

  /** One of remove_chars (rules 4 on: a soft hyphen, a bidi mark), which tokenizing removes (export/text.py removed). */
  removed(c) { return this.isRemoved !== null && this.isRemoved.test(c); }

  /**
   * An invisible character no token holds (export/text.py invisible): one of remove_chars, or a
   * format character that is no joiner and does not separate words (a tag after a word).
   */
  invisible(c) { return this.removed(c) || (isInvisible(c) && !this.separates(c)); }

  /** How many code units `text` starts with that continue a word (export/keyboard.py word_prefix_length). */
  wordPrefixLength(text) { return text.match(this.restOfWord)[0].length; }

  /** A capital sigma typed last is "σ" in a word still being typed, not the final "ς" (export/text.py). */
  _unfinished(typed, word) {
    return this.lowercase && typed.endsWith('Σ') && word.endsWith('ς') ? `${word.slice(0, -1)}σ` : word;
  }

  /**
   * How many code units at the end of `text` make its last token `token`: the shortest end that
   * lowercases and normalizes to it (export/text.py typed_length), else 0; invisible format
   * characters after it are counted in.
   */
  typedLength(text, token) {
    let trail = 0;
    for (let c; trail < text.length && this.invisible(c = charBefore(text, text.length - trail));) trail += c.length;
    return trail + this._typedLength(text.slice(0, text.length - trail), token);
  }

  _typedLength(text, token) {
    const becomes = (n) => {
      let end = this.folded(text.slice(text.length - n));
      if (this.removeChars) end = end.replace(this.removeChars, '');
      if (this.lowercase) end = end.toLowerCase();
      if (this.normalization !== null) end = end.normalize(this.normalization);
      return this._unfinished(text.slice(text.length - n), end) === token;
    };
    // The shortest: removed characters before the word stay, those inside it go with it (before
    // rules 4 at most one length could work); else 0: no end of the text is the token, so cut nothing
    // rather than the user's letters
    for (let n = 1; n <= Math.min(text.length, 4 * token.length + 4); n++) if (becomes(n)) return n;
    return 0;
  }

  encodeTokens(tokens) { return tokens.map((t) => (this.index.has(t) ? this.index.get(t) : this.unkId)); }

  /**
   * [tokens, cut]: the tokens of line.slice(cut), the end of `line` with at least `need` not in
   * `special` (all of the line's if it has fewer): a growing tail cut at whitespace or what reads as
   * it (a zero-width space), where no token spans (export/keyboard.py _last_tokens).
   */
  lastTokens(line, need, special = new Set()) {
    for (let span = 16 * (need + 1); span < line.length; span *= 2) {
      let cut = line.length - span;
      while (cut > 0 && !this.separates(line[cut - 1])) cut--;
      const tokens = this.tokenize(line.slice(cut));
      if (tokens.filter((t) => !special.has(t)).length >= need) return [tokens, cut];
    }
    return [this.tokenize(line), 0];
  }

  /**
   * For each of `tokens` (those of line.slice(cut)), the token as typed where its capitals are the
   * word's own (a capital inside it, or a first one away from a sentence start), '' where it was
   * typed in lowercase (which forgets capitals seen before), else null; all null where typed and
   * lowercased tokens do not align (export/keyboard.py _typed_capitals).
   */
  typedCapitals(line, cut, tokens) {
    const typed = this.tokenize(line.slice(cut), false);
    if (typed.length !== tokens.length) return tokens.map(() => null);
    return tokens.map((t, j) => {
      const s = typed[j];
      if (s === t) return '';
      const [first, ...rest] = [...s];
      const sentenceStart = j === 0 || SENTENCE_STARTS_AFTER.has(typed[j - 1]);
      const own = rest.some(isUpper) || (first !== undefined && isUpper(first) && !sentenceStart);
      return own ? s : null;
    });
  }

  /** Ids of the text before the cursor: <eos> first, <eos> after each finished non-blank line. */
  encodeContext(text) { return this._encodeLines(normalizeLines(text).split('\n')); }

  _encodeLines(lines) { // encodeContext of text already split at its line ends
    const out = [this.eosId];
    lines.forEach((line, i) => {
      out.push(...this.encodeTokens(this.tokenize(line)));
      if (i < lines.length - 1 && NOT_SPACE.test(line)) out.push(this.eosId); // Python's line.strip()
    });
    return out;
  }

  /** [committed ids, partial word or ''] (export/keyboard.py KeyboardPredictor.split_typed). */
  splitTyped(text) {
    text = normalizeLines(text);
    const lines = text.split('\n');
    const ids = this._encodeLines(lines);
    const [partial, covered] = this.typedWord(text);
    return [ids.slice(0, ids.length - covered), partial];
  }
}

// === Exact suggestions ===

function best(ids, lps, k) { // k best by log-prob, ties by id
  const order = ids.map((_, i) => i).sort((a, b) => (lps[b] - lps[a]) || (ids[a] - ids[b]));
  return order.slice(0, k).map((i) => ({ id: ids[i], logProb: lps[i] }));
}

function kthLargest(values, k) { return [...values].sort((a, b) => b - a)[k - 1]; }

export class Keyboard {
  /**
   * @param meta metadata from readMetadata
   * @param runner the model (see the top of this file)
   * @param cacheSize contexts kept (each: a state, its top_k output and its expanded rows)
   */
  constructor(meta, runner, cacheSize = 64, { historyWeight = HISTORY_WEIGHT, historyWords = HISTORY_WORDS } = {}) {
    this.meta = meta;
    this.runner = runner;
    this.tokenizer = new Tokenizer(meta);
    this.words = meta.vocab;
    this.special = new Set([this.tokenizer.unkId, this.tokenizer.eosId]);
    this.rows = meta.table.rows;
    this.cols = meta.table.cols;
    this.expandRows = meta.export.expand_rows;
    this.stateSize = meta.export.state_shape.reduce((a, b) => a * b, 1);
    this.wordRow = decodeWordRows(meta.table);
    this.cacheSize = cacheSize;
    this.cache = new Map(); // key of the committed ids (prefixKey) -> context, the last cacheSize used
    this.checkpoints = new Map(); // key -> state, every CHECKPOINT_EVERY words of the texts read
    this.stats = { feed: 0, topK: 0, expand: 0 };
    this._matchCache = { prefix: null, ids: null };
    this._historyMemo = { key: null, history: null };
    if (!(historyWeight >= 0 && historyWeight < 1)) throw new Error(`historyWeight must be in [0, 1), got ${historyWeight}`);
    if (!(historyWords >= 0)) throw new Error(`historyWords must be >= 0, got ${historyWords}`);
    this.historyWeight = historyWeight;
    this.historyWords = historyWords;
  }

  /**
   * Typed-word history of the text before the cursor: {counts: Map word -> count, n}. Reads lines
   * from the end only until it has the last historyWords tokens (a long text costs what its end does).
   */
  history(text) {
    const memoKey = `${this.historyWords}:${text}`;
    if (this._historyMemo.key === memoKey) return this._historyMemo.history; // `cased` asks again for each chip
    text = normalizeLines(text);
    const lines = text.split('\n');
    const special = new Set(['<unk>', '<eos>']);
    const tail = [], typedTail = [];
    let have = 0;
    for (let i = lines.length - 1; i >= 0 && have <= this.historyWords; i--) {
      const [toks, cut] = this.tokenizer.lastTokens(lines[i], this.historyWords + 1 - have, special);
      tail.unshift(toks);
      typedTail.unshift(this.tokenizer.lowercase ? this.tokenizer.typedCapitals(lines[i], cut, toks) : toks.map(() => null));
      have += toks.filter((t) => !special.has(t)).length;
    }
    const covered = this.tokenizer.typedWord(text)[1]; // the word being typed: not committed yet
    let tokens = tail.flat(), typed = typedTail.flat();
    tokens = tokens.slice(0, tokens.length - covered);
    typed = typed.slice(0, typed.length - covered);
    const kept = tokens.map((t, i) => [t, typed[i]]).filter(([t]) => !special.has(t));
    const counts = new Map(), surfaces = new Map();
    const last = this.historyWords ? kept.slice(Math.max(0, kept.length - this.historyWords)) : [];
    for (const [t, s] of last) {
      counts.set(t, (counts.get(t) || 0) + 1);
      if (s) surfaces.set(t, s);
      else if (s === '') surfaces.delete(t); // typed in lowercase: the capitals seen before were the sentence's
    }
    const history = { counts, n: last.length, surfaces };
    this._historyMemo = { key: memoKey, history };
    return history;
  }

  /** Ids of the non-special words that start with `prefix`. */
  matching(prefix) {
    const c = this._matchCache;
    let pool = null;
    if (c.prefix !== null && prefix.startsWith(c.prefix)) pool = c.ids;
    const out = [];
    if (pool) { for (const i of pool) if (this.words[i].startsWith(prefix)) out.push(i); }
    else {
      this.words.forEach((w, i) => { if (!this.special.has(i) && w.startsWith(prefix)) out.push(i); });
    }
    this._matchCache = { prefix, ids: out };
    return out;
  }

  _put(key, ctx) {
    this.cache.delete(key);
    this.cache.set(key, ctx);
    while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value);
  }

  /**
   * The cached context of committed ids (<eos> first): one feed per word not cached yet. Besides the
   * last cacheSize contexts, the state after every CHECKPOINT_EVERY words is kept, so moving the caret
   * anywhere in a long text feeds at most that many words again (not the whole text up to it).
   */
  async context(ids) {
    const key = prefixKeys(ids);
    let n = ids.length;
    while (n > 1 && !this.cache.has(key(n)) && !this.checkpoints.has(key(n))) n--;
    let ctx = this.cache.get(key(n));
    if (!ctx && this.checkpoints.has(key(n))) ctx = { state: this.checkpoints.get(key(n)), top: null, rows: new Map() };
    if (!ctx) {
      ctx = { state: await this.startState(), top: null, rows: new Map() };
      n = 1;
    }
    this._put(key(n), ctx);
    for (let m = n; m < ids.length; m++) {
      ctx = { state: await this.runner.feed(ids[m], ctx.state), top: null, rows: new Map() };
      this.stats.feed++;
      if ((m + 1) % CHECKPOINT_EVERY === 0) {
        if (this.checkpoints.size >= MAX_CHECKPOINTS) this.checkpoints.clear();
        this.checkpoints.set(key(m + 1), ctx.state);
      }
      if (m >= ids.length - this.cacheSize) this._put(key(m + 1), ctx); // the others would be evicted below anyway
    }
    return ctx;
  }

  async startState() {
    if (!this._start) this._start = await this.runner.feed(this.tokenizer.eosId, new Float32Array(this.stateSize));
    return this._start;
  }

  async _top(ctx) {
    if (!ctx.top) { ctx.top = await this.runner.topK(ctx.state); this.stats.topK++; }
    return ctx.top;
  }

  async _expand(ctx, rows) {
    const todo = [...new Set(rows)].filter((r) => !ctx.rows.has(r));
    const m = this.expandRows, C = this.cols;
    for (let s = 0; s < todo.length; s += m) {
      const batch = todo.slice(s, s + m);
      const padded = Int32Array.from({ length: m }, (_, j) => batch[Math.min(j, batch.length - 1)]);
      const out = await this.runner.expand(ctx.state, padded);
      this.stats.expand++;
      batch.forEach((r, j) => ctx.rows.set(r, {
        words: out.words.subarray(j * C, (j + 1) * C), logProbs: out.logProbs.subarray(j * C, (j + 1) * C),
      }));
    }
  }

  /** Exact k most probable next words (specials left out): [{id, logProb}], best first. */
  async nextWords(ctx, k = 3) {
    const top = await this._top(ctx);
    const m = this.expandRows;
    let ids = [], lps = [], expanded = m;
    for (let i = 0; i < top.words.length; i++) {
      const w = top.words[i];
      if (w >= 0 && !this.special.has(w)) { ids.push(w); lps.push(top.logProbs[i]); }
    }
    if (ids.length < k) { ids = []; lps = []; expanded = 0; }
    for (;;) {
      const bound = expanded < this.rows ? top.rowLogProbs[expanded] : -Infinity;
      if (lps.length >= k && kthLargest(lps, k) >= bound) break;
      if (expanded >= this.rows) break;
      const batch = Array.from(top.rowOrder.subarray(expanded, expanded + m));
      await this._expand(ctx, batch);
      for (const r of batch) {
        const row = ctx.rows.get(r);
        row.words.forEach((w, j) => { if (w >= 0 && !this.special.has(w)) { ids.push(w); lps.push(row.logProbs[j]); } });
      }
      expanded += batch.length;
    }
    return best(ids, lps, k);
  }

  /** Exact k most probable words starting with `prefix`: [{id, logProb}], best first. */
  async complete(ctx, prefix, k = 3) {
    const match = this.matching(prefix);
    if (!match.length) return [];
    const top = await this._top(ctx);
    const hasMatch = new Uint8Array(this.rows);
    for (const i of match) hasMatch[this.wordRow[i]] = 1;
    const ranked = [];
    top.rowOrder.forEach((r, pos) => { if (hasMatch[r]) ranked.push(pos); });
    const matching = new Set(match);
    const cand = new Map();
    const m = this.expandRows;
    for (let pos = 0; ;) {
      const bound = pos < ranked.length ? top.rowLogProbs[ranked[pos]] : -Infinity;
      if (cand.size >= k && kthLargest([...cand.values()], k) >= bound) break;
      if (pos >= ranked.length) break;
      const batch = ranked.slice(pos, pos + m).map((p) => top.rowOrder[p]);
      await this._expand(ctx, batch);
      for (const r of batch) {
        const row = ctx.rows.get(r);
        row.words.forEach((w, j) => { if (matching.has(w)) cand.set(w, row.logProbs[j]); });
      }
      pos += batch.length;
    }
    return best([...cand.keys()], [...cand.values()], k);
  }

  /**
   * Exact k best words with `prefix` ('' = next words) under the model mixed with `history`:
   * [{id (-1 outside the vocabulary), word, score}], best first (ties: vocabulary ids, then spelling).
   */
  async withHistory(ctx, prefix, history, k = 3) {
    const n = history.n, lam = historyLambda(this.historyWeight, n);
    const base = prefix ? await this.complete(ctx, prefix, k) : await this.nextWords(ctx, k);
    if (lam === 0 || n === 0) return base.map((it) => ({ id: it.id, word: this.words[it.id], score: Math.exp(it.logProb) }));
    const index = this.tokenizer.index, V = this.words.length;
    const cand = new Map(); // word -> {score, key}
    for (const it of base) {
      const w = this.words[it.id];
      cand.set(w, { score: (1 - lam) * Math.exp(it.logProb) + lam * (history.counts.get(w) || 0) / n, key: it.id });
    }
    const top = await this._top(ctx);
    const rowScore = new Float64Array(this.rows);
    top.rowOrder.forEach((r, i) => { rowScore[r] = top.rowLogProbs[i]; });
    const pending = [];
    for (const [w, c] of history.counts) {
      if (cand.has(w) || !w.startsWith(prefix)) continue;
      if (!index.has(w)) { cand.set(w, { score: lam * c / n, key: V }); continue; }
      const i = index.get(w);
      pending.push({ bound: (1 - lam) * Math.exp(rowScore[this.wordRow[i]]) + lam * c / n, w, i, c });
    }
    pending.sort((a, b) => (b.bound - a.bound) || (a.i - b.i));
    const m = this.expandRows;
    for (let pos = 0; pos < pending.length;) {
      if (cand.size >= k && kthLargest([...cand.values()].map((v) => v.score), k) >= pending[pos].bound) break;
      const batch = pending.slice(pos, pos + m);
      await this._expand(ctx, batch.map((p) => this.wordRow[p.i]));
      for (const p of batch) {
        const row = ctx.rows.get(this.wordRow[p.i]);
        const lp = row.logProbs[row.words.indexOf(p.i)];
        cand.set(p.w, { score: (1 - lam) * Math.exp(lp) + lam * p.c / n, key: p.i });
      }
      pos += batch.length;
    }
    const out = [...cand.entries()].sort(([wa, a], [wb, b]) => (b.score - a.score) || (a.key - b.key) || (wa < wb ? -1 : wa > wb ? 1 : 0));
    return out.slice(0, k).map(([w, v]) => ({ id: v.key < V ? v.key : -1, word: w, score: v.score }));
  }

  /**
   * Suggestions for the text before the cursor: {partial, items: [{id, word, logProb}]}; with the
   * typed-word history (historyWeight > 0) items are [{id, word, score}] (id -1: a typed word
   * outside the vocabulary).
   */
  async suggest(text, k = 3) {
    const [ids, partial] = this.tokenizer.splitTyped(text);
    const ctx = await this.context(ids);
    if (this.historyWeight > 0) return { partial, items: await this.withHistory(ctx, partial, this.history(text), k) };
    const items = partial ? await this.complete(ctx, partial, k) : await this.nextWords(ctx, k);
    return { partial, items: items.map((it) => ({ ...it, word: this.words[it.id] })) };
  }

  /**
   * `word` as a tap inserts it after `text`: in the typed prefix's capitals with a lowercasing model.
   * `partial`: the word being typed, when the caller has it (`suggest`'s), to save reading the text again.
   */
  cased(text, word, partial = this.tokenizer.splitTyped(text)[1]) {
    if (!this.tokenizer.lowercase) return word;
    if (this.historyWeight > 0) word = this.history(text).surfaces.get(word) ?? word; // "McDonald", "Zoë", "I"
    if (!partial) return word;
    const cased = matchCase(this.tokenizer.folded(text.slice(text.length - this.tokenizer.typedLength(text, partial))), word);
    return this.tokenizer.normalization === null ? cased : cased.normalize(this.tokenizer.normalization); // "İstanbul"
  }

  /**
   * The text around the caret after tapping `word` (export/keyboard.py accept_at): [before', after'],
   * the caret at before'.length. The word being typed is replaced whole, its rest after the caret too
   * (letters, digits, _, combining marks, and inner apostrophes and joiners); a space or tab right after it is re-used, and before a
   * line end no space is added.
   */
  acceptAt(before, after, word) {
    const [, partial] = this.tokenizer.splitTyped(before);
    let head = this.accept(before, word, partial);
    // the caret inside a word: its rest goes too; after a punctuation mark the next word stays
    const last = partial ? charBefore(partial, partial.length) : '';
    if (last && (WORD_CHAR.test(last) || JOINERS.includes(last))) after = after.slice(this.tokenizer.wordPrefixLength(after));
    if (head.endsWith(' ')) {
      if (after[0] === ' ' || after[0] === '\t') after = after.slice(1);
      else if (after && normalizeLines(after[0]) === '\n') head = head.slice(0, -1);
    }
    return [head, after];
  }

  /**
   * The text after tapping `word`: the partial word replaced (its capitals kept, `cased`), then a
   * space; closing punctuation goes against the word before it, opening punctuation gets no space
   * after it (export/keyboard.py accept).
   */
  accept(text, word, partial = this.tokenizer.splitTyped(text)[1]) {
    const typed = partial ? this.tokenizer.typedLength(text, partial) : 0;
    let head = text.slice(0, text.length - typed);
    const cased = this.cased(text, word, partial);
    const chars = [...cased];
    if (chars.length && chars.every((c) => CLOSING_PUNCT.includes(c))) {
      const attached = head.replace(/ +$/, '');
      if (attached && !IS_SPACE.test(attached[attached.length - 1])) head = attached; // after a word, not at a line's start
    } else if (chars.length && chars.every((c) => OPENING_PUNCT.includes(c))) {
      return head + cased;
    }
    return head + cased + ' ';
  }
}

// States kept every CHECKPOINT_EVERY committed words (at most MAX_CHECKPOINTS, about 2 KB each at H = 256).
const CHECKPOINT_EVERY = 256;
const MAX_CHECKPOINTS = 4096;

/**
 * key(n): a key of ids.slice(0, n), from two polynomial hashes of the prefix modulo primes below
 * 2^26 (exact in doubles) and its length, all computed in one pass (joining the ids of every prefix
 * cost O(n^2) in a long text). A hash modulo 2^32 collided on Thue-Morse sequences of two words.
 */
const HASH_P1 = 67108859, HASH_P2 = 67108837, HASH_B1 = 1000003, HASH_B2 = 50331653 % HASH_P2;
export function prefixKeys(ids) {
  const h1 = new Float64Array(ids.length), h2 = new Float64Array(ids.length);
  let a = 0, b = 0;
  for (let i = 0; i < ids.length; i++) {
    a = (a * HASH_B1 + ids[i] + 1) % HASH_P1;
    b = (b * HASH_B2 + ids[i] + 1) % HASH_P2;
    h1[i] = a;
    h2[i] = b;
  }
  return (n) => `${h1[n - 1]}:${h2[n - 1]}:${n}`;
}

/** Row of every word from the metadata's base64 `word_cell` (little-endian int16 or int32). */
export function decodeWordRows(table) {
  const bin = typeof atob === 'function' ? atob(table.word_cell) : Buffer.from(table.word_cell, 'base64').toString('binary');
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const dv = new DataView(bytes.buffer);
  const size = table.dtype === '<i2' ? 2 : 4;
  const out = new Int32Array(bytes.length / size);
  for (let i = 0; i < out.length; i++) {
    const cell = size === 2 ? dv.getInt16(i * 2, true) : dv.getInt32(i * 4, true);
    out[i] = Math.floor(cell / table.cols);
  }
  return out;
}
