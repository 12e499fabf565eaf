// The flow graph's node click (a Bokeh CustomJS; args: nodes, note, labels).
// A click is state: the token goes to the page's bridge (window.attnflowSetSource, installed by the Attention flow
// page), which sets the sidebar's "trace from", the URL and the exports, and redraws the view from the server.
// Without a bridge (a standalone HTML export) the caption says how to trace from that token instead.
const idx = nodes.selected.indices;
if (idx.length === 0) { return; }
const s = nodes.data.token[idx[0]];
const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const host = (typeof window !== "undefined") ? window : globalThis;
const bridge = host.attnflowSetSource;
const name = "<b>" + esc(labels[s]) + "</b> (#" + s + ")";
if (typeof bridge === "function") {
  bridge(s);
  note.text = "<b>Tracing from</b> <span style='color:#e74c3c'>" + name + "</span> … redrawing.";
} else {
  note.text = "To trace from " + name + ", pick it under <b>Trace from</b> in the app's sidebar " +
    "(this exported file is not connected to the app).";
}
