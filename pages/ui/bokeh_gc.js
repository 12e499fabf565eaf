// Bokeh documents must not pile up in the page (issue 12): streamlit-bokeh empties a chart's container before
// embedding the new figure but leaves the old document in Bokeh.documents and its views in Bokeh.index (11 after
// one walk through the pages). Every few seconds, drop the documents whose embedded layout (first root) has left
// the page, with all their views; a document still being embedded (no view yet) or shown is kept.
(function () {
  const w = window.parent && window.parent !== window ? window.parent : window;
  if (w.__attnflowBokehGc) {
    return;
  }
  w.__attnflowBokehGc = true;
  function prune() {
    const B = w.Bokeh;
    if (!B || !B.index || !Array.isArray(B.documents)) {
      return;
    }
    try {
      const dead = new Set();
      for (const doc of B.documents) {
        const roots = typeof doc.roots === "function" ? doc.roots() : doc.roots || [];
        const main = roots.length ? B.index[roots[0].id] : undefined;
        // the embedded layout (the document's first root) has left the page: the whole document is gone
        if (main && main.el && !main.el.isConnected) {
          dead.add(doc);
        }
      }
      for (const [id, view] of Object.entries(B.index)) {
        if (view && view.model && dead.has(view.model.document)) {
          try {
            view.remove();
          } catch (err) {
            // already torn down
          }
          try {
            delete B.index[id];
          } catch (err) {
            // a read-only index: the document is still dropped below
          }
        }
      }
      for (let i = B.documents.length - 1; i >= 0; i--) {
        if (dead.has(B.documents[i])) {
          B.documents.splice(i, 1);
        }
      }
    } catch (err) {
      // never break the page over housekeeping
    }
  }
  w.setInterval(prune, 3000);
})();
