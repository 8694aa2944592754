// The page: loads ./model.tflite (or the file picked, kept across visits), shows three suggestion
// chips per keystroke.
import { HISTORY_WEIGHT, Keyboard, readMetadata } from './engine.js';

const CACHE = 'lightrnn-kbd-v1';
const $ = (id) => document.getElementById(id);
const text = $('text');
const chips = [...document.querySelectorAll('.chip')];
const status = $('status');
const learn = $('learn');
const historyWeight = () => (learn.checked ? HISTORY_WEIGHT : 0);

// What the browser tests read: the keyboard, per-keystroke latencies (ms), readiness.
const demo = { keyboard: null, latencies: [], ready: false, offlineReady: false };
window.kbdDemo = demo;

function setStatus(msg, error = false) {
  status.textContent = msg;
  status.classList.toggle('error', error);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

// LiteRT.js is imported when first needed, so that a runtime that cannot load is reported as such.
let runtime = null;
async function liteRt() {
  if (!runtime) {
    runtime = import('./litert_runner.js').catch((e) => {
      runtime = null;
      throw new Error(`the LiteRT.js runtime could not be loaded (${e.message}); run npm ci in web_demo`);
    });
  }
  return runtime;
}

/** Loads a model; the current one stays in use until the new one is ready, and on any error. */
async function loadModel(bytes, name) {
  status.dataset.ready = '0';
  demo.ready = false;
  text.disabled = true;
  setStatus(`Loading ${name}…`);
  let meta, keyboard;
  try {
    meta = readMetadata(bytes);
    const { createRunner } = await liteRt();
    let runner;
    try {
      runner = await createRunner(bytes, meta);
    } catch (e) {
      throw new Error(`the LiteRT.js runtime could not run it (${e.message})`);
    }
    try {
      keyboard = new Keyboard(meta, runner, 64, { historyWeight: historyWeight() }); // its tokenizer checks the rules
    } catch (e) {
      runner.delete();
      throw e;
    }
  } finally {
    if (!keyboard && demo.keyboard) { // keep typing with the model already loaded
      text.disabled = false;
      demo.ready = true;
      status.dataset.ready = '1';
    }
  }
  if (demo.keyboard) demo.keyboard.runner.delete();
  demo.keyboard = keyboard;
  demo.latencies = [];
  $('model-name').textContent = `${name} (${meta.export.quantization}, table ${meta.table.rows}×${meta.table.cols})`;
  $('model-size').textContent = `${(bytes.length / 1e6).toFixed(2)} MB`;
  $('vocab-size').textContent = meta.model.vocab_size.toLocaleString('en');
  text.disabled = false;
  demo.ready = true;
  status.dataset.ready = '1';
  setStatus('Ready: type, or tap a suggestion.');
  await refresh(true);
}

// === Suggestions: one computation at a time, always for the latest text ===

/** The served model's file name: percent-encoded bytes, UTF-8 if they decode. */
function modelName(header) {
  try {
    return decodeURIComponent(header || 'model.tflite');
  } catch {
    return header;
  }
}

/**
 * Whether a sentence starts at the end of `before`: it is empty or blank, ends a line, or ends with
 * whitespace after '.', '!' or '?' (closing quotes and brackets between them allowed); as the
 * Android keyboard's KeyLayout.sentenceStart.
 */
function sentenceStart(before) {
  let i = before.length;
  if (i > 0 && !/\s/u.test(before[i - 1])) return false;
  while (i > 0 && /\s/u.test(before[i - 1])) {
    if (/[\n\r\v\f\u0085\u2028\u2029]/u.test(before[i - 1])) return true;
    i--;
  }
  if (i === 0) return true;
  while (i > 0 && '"\')]”’»'.includes(before[i - 1])) i--;
  return i > 0 && '.!?'.includes(before[i - 1]);
}

/**
 * A chip's word as shown and inserted: the engine's capitals (`cased`), and with a lowercasing
 * model a capital first letter at a sentence start, as a phone keyboard's Shift gives it there.
 */
function shown(typed, word, partial) {
  const cased = demo.keyboard.cased(typed, word, partial);
  if (partial || !demo.keyboard.tokenizer.lowercase || !sentenceStart(typed)) return cased;
  if (cased !== cased.toLowerCase()) return cased; // capitals of its own ("iPhone"): as typed before
  const [first, ...rest] = [...cased];
  return first === undefined ? cased : (first.toUpperCase() + rest.join('')).normalize('NFC'); // "İstanbul"
}

let busy = false;
let pending = false;

function before() { return text.value.slice(0, text.selectionStart ?? text.value.length); }

async function refresh(force = false) {
  if (!demo.keyboard) return;
  if (busy) { pending = true; return; } // the loop below computes again for the latest text
  if (!force && before() === $('chips').dataset.text) return; // e.g. a selectionchange after the input event
  busy = true;
  try {
    do {
      pending = false;
      const typed = before();
      const t0 = performance.now();
      const res = await demo.keyboard.suggest(typed, 3);
      const ms = performance.now() - t0;
      demo.latencies.push(ms);
      chips.forEach((c, i) => {
        const it = res.items[i];
        c.textContent = it ? shown(typed, it.word, res.partial) : ''; // what a tap inserts
        c.dataset.word = it ? it.word : '';
      });
      $('chips').dataset.text = typed;
      $('chips').dataset.history = String(demo.keyboard.historyWeight);
      $('chips').dataset.mode = res.partial ? 'complete' : 'next';
      $('latency').textContent = `${ms.toFixed(1)} ms`;
      $('latency-p50').textContent = `${median(demo.latencies).toFixed(1)} ms (${demo.latencies.length} keys)`;
      if (status.classList.contains('error')) setStatus('Ready: type, or tap a suggestion.');
    } while (pending);
  } catch (e) {
    setStatus(`Error: ${e.message}`, true);
  } finally {
    busy = false;
  }
}

text.addEventListener('input', () => refresh());
learn.addEventListener('change', () => {
  if (demo.keyboard) demo.keyboard.historyWeight = historyWeight();
  refresh(true);
});
// The caret moved (click, arrows, Home/End, touch handles, a selection): suggest for the new place.
document.addEventListener('selectionchange', () => { if (document.activeElement === text) refresh(); });

// A phone keyboard composes the word being typed (underlined); a tap must end that composition
// first, or the keyboard would go on composing over the inserted word ("don" + tap "don't", then
// "f" typed gave "f't").
let composing = false;
text.addEventListener('compositionstart', () => { composing = true; });
text.addEventListener('compositionend', () => { composing = false; });

for (const chip of chips) {
  chip.addEventListener('mousedown', (e) => e.preventDefault()); // keep the text field's focus and caret
  chip.addEventListener('click', () => {
    if (!chip.dataset.word || !demo.keyboard) return;
    const word = chip.textContent; // as shown: the engine's capitals, and a sentence's first capital
    if (composing) { // leaving the field commits the composition as typed; then the tap replaces it
      text.blur();
      text.focus();
      composing = false;
    }
    const value = text.value;
    const start = text.selectionStart ?? value.length;
    const [head, tail] = demo.keyboard.acceptAt(value.slice(0, start), value.slice(text.selectionEnd ?? value.length), word);
    // Replace only what changed, as typing would, so that Ctrl+Z undoes the tap.
    let p = 0;
    while (p < head.length && p < start && head[p] === value[p]) p++;
    let q = 0;
    while (q < tail.length && q < value.length - p && tail[tail.length - 1 - q] === value[value.length - 1 - q]) q++;
    const isLow = (c) => c >= 0xdc00 && c <= 0xdfff; // never cut a surrogate pair
    if (p > 0 && p < value.length && isLow(value.charCodeAt(p))) p--;
    if (q > 0 && isLow(value.charCodeAt(value.length - q))) q--;
    text.focus();
    text.setSelectionRange(p, value.length - q);
    const inserted = (head + tail).slice(p, head.length + tail.length - q);
    if (!document.execCommand('insertText', false, inserted)) { // no execCommand: set the value (no undo)
      text.value = head + tail;
    }
    text.setSelectionRange(head.length, head.length);
    refresh();
  });
}

// === A picked model: used instead of the served one, and kept (Cache Storage) across reloads ===

const PICKED = './picked-model.tflite'; // its key in the cache; the server has no such file

/** The picked model kept by an earlier visit, as `{bytes, name}`, or null. */
async function keptModel() {
  if (!window.caches) return null; // only pages from https:// or localhost have Cache Storage
  const resp = await (await caches.open(CACHE)).match(PICKED);
  if (!resp) return null;
  return { bytes: new Uint8Array(await resp.arrayBuffer()), name: modelName(resp.headers.get('X-Model-Name')) };
}

/**
 * Keeps (or, with null, forgets) the picked model; returns whether the next visit will have it.
 * Never throws: without Cache Storage (http:// on a LAN address, some private windows) or room in
 * it, the pick runs for this visit only, and no older pick is left to come back instead.
 */
async function keepModel(bytes, name) {
  if (!window.caches) return false;
  try {
    const cache = await caches.open(CACHE);
    if (bytes) {
      try {
        await cache.put(PICKED, new Response(bytes, { headers: { 'X-Model-Name': encodeURIComponent(name) } }));
        return true;
      } catch { /* quota: forget the older pick below */ }
    }
    await cache.delete(PICKED);
  } catch { /* no storage at all: nothing was kept */ }
  return false;
}

function showPicked(picked) {
  $('served-model').hidden = !picked;
}

// Model switches (the first load, a pick, "Served model") run one at a time, in the order asked,
// so that the model running, the button and the kept file always agree.
let switching = Promise.resolve();
function switchModel(job) {
  const run = switching.then(job);
  switching = run.catch(() => {});
  return run;
}

$('model-file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  e.target.value = ''; // picking the same file again is a change too
  if (!file) return;
  switchModel(async () => {
    let bytes;
    try {
      bytes = new Uint8Array(await file.arrayBuffer());
      await loadModel(bytes, file.name);
    } catch (err) {
      setStatus(`Cannot use ${file.name}: ${err.message}`, true);
      return;
    }
    showPicked(true);
    if (!(await keepModel(bytes, file.name))) {
      setStatus(`Ready with ${file.name}; it is not kept for the next visit (no storage here).`);
    }
  });
});

// Back to the model the server gives; the picked one is forgotten once the served one runs.
$('served-model').addEventListener('click', () => switchModel(async () => {
  try {
    await loadServed();
  } catch (err) {
    setStatus(`Cannot load the served model: ${err.message}`, true);
    return;
  }
  await keepModel(null);
  showPicked(false);
}));

async function loadServed() {
  const resp = await fetch('model.tflite');
  if (!resp.ok) throw new Error(`model.tflite: HTTP ${resp.status}`);
  await loadModel(new Uint8Array(await resp.arrayBuffer()), modelName(resp.headers.get('X-Model-Name')));
}

// === Offline: a service worker answers from the cache when the network is gone ===

async function cacheForOffline() {
  if (!('serviceWorker' in navigator) || !window.caches) {
    $('offline').textContent = 'not supported here';
    return;
  }
  await navigator.serviceWorker.register('sw.js');
  await navigator.serviceWorker.ready;
  const urls = new Set([location.pathname]);
  for (const e of performance.getEntriesByType('resource')) {
    const u = new URL(e.name);
    if (u.origin === location.origin) urls.add(u.pathname);
  }
  const cache = await caches.open(CACHE);
  await cache.addAll([...urls]);
  demo.offlineReady = true;
  $('offline').textContent = `ready (${urls.size} files cached)`;
}

async function main() {
  await switchModel(firstModel);
  if (!demo.keyboard) return;
  try {
    await cacheForOffline();
  } catch (e) {
    $('offline').textContent = `unavailable (${e.message})`;
  }
}

/** The model kept from an earlier pick, else the served one; a kept one that fails gives way. */
async function firstModel() {
  let kept = null;
  try {
    kept = await keptModel();
  } catch { /* no cache to read: the served model */ }
  try {
    if (kept) {
      try {
        await loadModel(kept.bytes, kept.name);
        showPicked(true);
      } catch (e) { // e.g. a runtime update refuses it: the served model, and say why
        await loadServed();
        setStatus(`The model picked before (${kept.name}) could not be used (${e.message}); the served one runs.`, true);
        await keepModel(null);
      }
    } else {
      await loadServed();
    }
  } catch (e) {
    const hint = /runtime could not be loaded/.test(e.message) ? '' : ' Pick a .tflite file written by python -m export.';
    setStatus(`Error: ${e.message}.${hint}`, true);
  }
}

main();
