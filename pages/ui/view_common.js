// Shared by the view host and the view link (both Streamlit components.v2 modules; this text is put in front of
// each): the page's registry of embedded interactive views, one per kind ("flow", "heads"), and the delivery of
// what the server wants shown to the view's "desired" / "maxflow" sources.
const W = window;
const VIEWS = (W.attnflowViews = W.attnflowViews || {}); // kind -> {id, doc}
const WANTED = (W.attnflowWanted = W.attnflowWanted || {}); // kind -> {id, settings?, maxflow?, fresh}

// Hand the server's wishes for `kind` to its view, once the view of the same payload id is embedded. `force`
// (the host, right after embedding): apply the settings even when they are not fresh.
function deliver(kind, force) {
  const view = VIEWS[kind];
  const want = WANTED[kind];
  if (!view || !want || view.id !== want.id) return;
  const doc = view.doc;
  if (want.maxflow) {
    const mf = doc.get_model_by_name("maxflow");
    const text = JSON.stringify(want.maxflow);
    if (mf && !(mf.data.json && mf.data.json[0] === text)) mf.data = { json: [text] };
  }
  // the settings: when the server changed them (fresh), and always once for a newly embedded document (which was
  // drawn at the default settings) — not when they merely echo what the view reported
  if (want.settings && (want.fresh || force || !doc.__attnflowSettled)) {
    const desired = doc.get_model_by_name("desired");
    const text = JSON.stringify(want.settings);
    if (desired && !(desired.data.json && desired.data.json[0] === text)) desired.data = { json: [text] };
    doc.__attnflowSettled = true;
  }
}
