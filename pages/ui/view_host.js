// The host of one interactive Bokeh view (after view_common.js). Its data is one binary payload:
//   [u32 little-endian header length][header JSON {id, kind, doc, arrays: [[name, length], ...]}][float32 arrays]
// `doc` is the view's Bokeh document (bokeh.embed.json_item); the arrays (the example's measured attention) go into
// the document's "payload" source. A new payload id replaces the previous document (dropped from Bokeh.documents);
// the same payload again (any rerun of the page) leaves the view, and whatever the person set in it, as it is.
// BokehJS comes from streamlit-bokeh's own assets (the app imports streamlit_bokeh, which registers them).
const BOKEH_ASSETS = "/_stcore/bidi-components/streamlit-bokeh.streamlit_bokeh/bokeh/";
const BOKEH_FILES = ["bokeh-3.9.2.min.js", "bokeh-widgets-3.9.2.min.js"];

function loadScript(src) {
  return new Promise((resolve, reject) => {
    let el = document.querySelector(`script[src="${src}"]`);
    if (el && el.dataset.loaded === "true") return resolve();
    if (!el) {
      el = document.createElement("script");
      el.src = src;
      el.async = false;
      document.head.appendChild(el);
    }
    el.addEventListener("load", () => { el.dataset.loaded = "true"; resolve(); });
    el.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
  });
}

async function loadBokeh() {
  const base = new URL(BOKEH_ASSETS, W.location.href).href;
  if (!W.Bokeh) await loadScript(base + BOKEH_FILES[0]);
  if (!(W.Bokeh && W.Bokeh.Widgets)) await loadScript(base + BOKEH_FILES[1]);
}

function dropDocument(doc) {
  const B = W.Bokeh;
  for (const [id, v] of Object.entries(B.index || {})) {
    if (v && v.model && v.model.document === doc) {
      try { v.remove(); } catch (err) { /* already gone */ }
      try { delete B.index[id]; } catch (err) { /* read-only index */ }
    }
  }
  const at = B.documents.indexOf(doc);
  if (at >= 0) B.documents.splice(at, 1);
}

export default async function (component) {
  const { data, parentElement } = component;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dv.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + size)));
  const box = parentElement.querySelector(".attnflow-view");
  const current = VIEWS[header.kind];
  if (box.dataset.id === header.id && current && current.id === header.id) return;
  box.dataset.id = header.id;
  await loadBokeh();
  if (current) dropDocument(current.doc);
  box.replaceChildren();
  const target = document.createElement("div");
  target.id = `attnflow-${header.kind}-${header.id}`;
  box.appendChild(target);
  const before = new Set(W.Bokeh.documents);
  await W.Bokeh.embed.embed_item(JSON.parse(header.doc), target.id);
  const doc = W.Bokeh.documents.find((d) => !before.has(d));
  // the arrays: copied out of the message (it may be reused), each a Float32Array
  let offset = 4 + size;
  const columns = {};
  for (const [name, length] of header.arrays) {
    const start = bytes.byteOffset + offset;
    columns[name] = [new Float32Array(bytes.buffer.slice(start, start + 4 * length))];
    offset += 4 * length;
  }
  const payload = doc.get_model_by_name("payload");
  VIEWS[header.kind] = { id: header.id, doc };
  payload.data = columns; // schedules the first redraw of the view
  deliver(header.kind, true);
  W.attnflowEmbeds = (W.attnflowEmbeds || 0) + 1; // for tests and benchmarks: documents embedded so far
}
