// The page: loads ./model.tflite (or a picked file), shows three suggestion chips per keystroke.
import { HISTORY_WEIGHT, Keyboard, readMetadata } from './engine.js';
import { createRunner } from './litert_runner.js';

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

async function loadModel(bytes, name) {
  status.dataset.ready = '0';
  demo.ready = false;
  text.disabled = true;
  setStatus(`Loading ${name}…`);
  const meta = readMetadata(bytes);
  if (demo.keyboard) demo.keyboard.runner.delete();
  const runner = await createRunner(bytes, meta);
  demo.keyboard = new Keyboard(meta, runner, 64, { historyWeight: historyWeight() });
  demo.latencies = [];
  $('model-name').textContent = `${name} (${meta.export.quantization}, table ${meta.table.rows}×${meta.table.cols})`;
  $('model-size').textContent = `${(bytes.length / 1e6).toFixed(2)} MB`;
  $('vocab-size').textContent = meta.model.vocab_size.toLocaleString('en');
  text.disabled = false;
  demo.ready = true;
  status.dataset.ready = '1';
  setStatus('Ready: type, or tap a suggestion.');
  await refresh();
}

// === Suggestions: one computation at a time, always for the latest text ===

let busy = false;
let pending = false;

function before() { return text.value.slice(0, text.selectionStart ?? text.value.length); }

async function refresh() {
  if (!demo.keyboard) return;
  if (busy) { pending = true; return; }
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
        c.textContent = it ? demo.keyboard.cased(typed, it.word) : ''; // what a tap inserts
        c.dataset.word = it ? it.word : '';
      });
      $('chips').dataset.text = typed;
      $('chips').dataset.history = String(demo.keyboard.historyWeight);
      $('chips').dataset.mode = res.partial ? 'complete' : 'next';
      $('latency').textContent = `${ms.toFixed(1)} ms`;
      $('latency-p50').textContent = `${median(demo.latencies).toFixed(1)} ms (${demo.latencies.length} keys)`;
    } while (pending);
  } catch (e) {
    setStatus(`Error: ${e.message}`, true);
  } finally {
    busy = false;
  }
}

text.addEventListener('input', refresh);
learn.addEventListener('change', () => {
  if (demo.keyboard) demo.keyboard.historyWeight = historyWeight();
  refresh();
});
text.addEventListener('click', refresh);
text.addEventListener('keyup', (e) => { if (e.key.startsWith('Arrow')) refresh(); });

for (const chip of chips) {
  chip.addEventListener('mousedown', (e) => e.preventDefault()); // keep the text field's focus and caret
  chip.addEventListener('click', () => {
    const word = chip.dataset.word;
    if (!word || !demo.keyboard) return;
    const head = demo.keyboard.accept(before(), word);
    const tail = text.value.slice(text.selectionEnd ?? text.value.length);
    text.value = head + tail;
    text.setSelectionRange(head.length, head.length);
    text.focus();
    refresh();
  });
}

$('model-file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (err) {
    setStatus(`Cannot use ${file.name}: ${err.message}`, true);
  }
});

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
  try {
    const resp = await fetch('model.tflite');
    if (!resp.ok) throw new Error(`model.tflite: HTTP ${resp.status}`);
    await loadModel(new Uint8Array(await resp.arrayBuffer()), 'model.tflite');
  } catch (e) {
    setStatus(`Error: ${e.message}. Pick a .tflite file written by python -m export.`, true);
    return;
  }
  try {
    await cacheForOffline();
  } catch (e) {
    $('offline').textContent = `unavailable (${e.message})`;
  }
}

main();
