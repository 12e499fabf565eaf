// The Head differences view: show one head's matrices (a Bokeh CustomJS). Runs when the "Head to show" selector
// changes, when a heatmap cell is tapped (either heatmap's selection), and when the example's attention arrives
// (payload). The matrices come from payload.base/tuned (Float32Array, layers × heads × n × n, after the
// special-token treatment): the chosen head's n × n block, and their difference (fine-tuned − pre-trained).
// args: payload, picker, cells, other (the two heatmaps' sources), src_b, src_t, src_d, diff_mapper, caption,
// captions (one per head, written by Python), n, H.
let k = Number(picker.value);
if (cb_obj === cells.selected || cb_obj === other.selected) {
  const idx = cb_obj.indices;
  if (!idx.length) { return; }
  k = idx[0];
  if (String(k) !== picker.value) { picker.value = String(k); return; } // the selector's change shows it
}
if (cells.selected.indices[0] !== k) { cells.selected.indices = [k]; }
if (other.selected.indices[0] !== k) { other.selected.indices = [k]; }
const all_b = payload.data.base[0];
const all_t = payload.data.tuned[0];
const size = n * n;
if (!all_b || all_b.length < (k + 1) * size) { return; } // the attention has not arrived yet
const b = all_b.slice(k * size, (k + 1) * size);
const t = all_t.slice(k * size, (k + 1) * size);
const d = new Float32Array(size);
let lim = 1e-3;
for (let i = 0; i < size; i++) {
  d[i] = t[i] - b[i];
  lim = Math.max(lim, Math.abs(d[i]));
}
// one image each, n × n (row j = query token j): a BokehJS ndarray in the browser (shape known, no copy); rows of
// numbers where BokehJS is absent (Node.js tests)
const B = typeof window !== "undefined" && window.Bokeh && window.Bokeh.require ? window.Bokeh : null;
const nd = B ? B.require("core/util/ndarray").ndarray : null;
const rows = (a) => nd
  ? nd(a, { dtype: "float32", shape: [n, n] })
  : Array.from({ length: n }, (_, i) => Array.from(a.slice(i * n, (i + 1) * n)));
src_b.data = { image: [rows(b)] };
src_t.data = { image: [rows(t)] };
src_d.data = { image: [rows(d)] };
diff_mapper.low = -lim;
diff_mapper.high = lim;
caption.text = captions[k];
const host = typeof window !== "undefined" ? window : globalThis;
host.attnflowHeadShown = k; // for tests and benchmarks: the head last shown
