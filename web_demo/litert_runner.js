// The model behind the keyboard engine, run by LiteRT.js (WASM, CPU/XNNPACK): feed / top_k / expand.
import { Tensor, loadAndCompile, loadLiteRt } from '@litertjs/core';

let liteRtReady = null;

/** Loads the LiteRT.js WASM runtime once, from the npm package served beside the page (no network). */
export function initLiteRt(wasmDir = './node_modules/@litertjs/core/wasm/') {
  if (!liteRtReady) liteRtReady = loadLiteRt(wasmDir);
  return liteRtReady;
}

/** A runner (see engine.js) over a compiled .tflite given as bytes. */
export async function createRunner(bytes, meta) {
  await initLiteRt();
  const model = await loadAndCompile(bytes.slice(), { accelerator: 'wasm' });
  const stateShape = meta.export.state_shape;
  const m = meta.export.expand_rows;

  async function run(signature, inputs) {
    const tensors = {};
    for (const [name, [data, shape]] of Object.entries(inputs)) tensors[name] = new Tensor(data, shape);
    try {
      const out = await model.run(signature, tensors);
      const res = {};
      for (const [name, t] of Object.entries(out)) {
        res[name] = (await t.data()).slice(); // copy out of WASM memory before deleting
        t.delete();
      }
      return res;
    } finally {
      for (const t of Object.values(tensors)) t.delete();
    }
  }

  return {
    model,
    async feed(word, state) {
      return (await run('feed', { word: [Int32Array.of(word), [1]], state: [state, stateShape] })).state;
    },
    async topK(state) {
      const o = await run('top_k', { state: [state, stateShape] });
      return { words: o.words, logProbs: o.log_probs, rowOrder: o.row_order, rowLogProbs: o.row_log_probs };
    },
    async expand(state, rows) {
      const o = await run('expand', { state: [state, stateShape], rows: [rows, [m]] });
      return { words: o.words, logProbs: o.log_probs };
    },
    delete() { model.delete(); },
  };
}
