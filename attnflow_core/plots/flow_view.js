// The Attention flow view's redraw (the body of one Bokeh CustomJS, after flow_engine.js, which defines
// AttnflowEngine). Every drawing setting lives in the view's own widgets; a change to any of them, a click on a token
// node, the arrival of a max-flow solution or of the settings the server asks for ("desired") schedules ONE redraw
// per animation frame: the engine recomputes the figure data in the browser and the sources, titles and ranges are
// patched in place (the document, its figures and their ids stay).
//
// args: payload (CDS: base, tuned = the measured attention, Float32Array L·H·n·n), meta (sizes, labels, the
// methods' keys, which settings each uses and why not), vocab (engine_vocab), maxflow (CDS: json = one max-flow
// solution for one source/layers/heads), desired (CDS: json = settings from the server), the widgets w_method,
// w_source, w_tau, w_alpha, w_layers, w_heads, w_toggles, w_note, and the drawn models and their axes, mappers
// and hover (see flow_view.py).
//
// In the app the page's link (pages/ui/view_link.js) installs window.attnflowReport(kind, id, settings, urgent),
// through which the settings drawn go back to Python (the URL, the exports, and max-flow, which is solved there).
// In a standalone HTML export there is no link: trace and rollout redraw all the same; max-flow shows the solution
// exported with the file.
const host = typeof window !== "undefined" ? window : globalThis;
const doc = payload.document;
const view = doc ? (doc.__attnflow = doc.__attnflow || { drawn: null, fromServer: null, scheduled: false }) : {};
const E = AttnflowEngine;

function currentSettings() {
  const method = meta.methods[w_method.active] || meta.methods[0];
  const lo = Math.round(Number(w_layers.value[0]));
  const hi = Math.round(Number(w_layers.value[1]));
  const heads = meta.perHead && w_heads.value.length
    ? [...new Set(w_heads.value.map(Number))].sort((p, q) => p - q)
    : null;
  return {
    method,
    source: Number(w_source.value),
    threshold: Number(w_tau.value),
    decay: Number(w_alpha.value),
    layers: [Math.min(lo, hi), Math.max(lo, hi)],
    heads,
    perHead: meta.perHead && w_toggles.active.includes(1),
    differences: w_toggles.active.includes(0),
    unit: meta.unit,
  };
}

// the key of a max-flow solution: what max-flow depends on among the drawing settings
function maxflowKey(s) {
  return `${s.source}|${s.layers[0]}:${s.layers[1]}|${s.heads == null ? "all" : s.heads.join(",")}`;
}

function applyDesired(s) {
  const m = meta.methods.indexOf(s.method);
  if (m >= 0 && w_method.active !== m) w_method.active = m;
  if (String(s.source) !== w_source.value) w_source.value = String(s.source);
  if (Number(w_tau.value) !== s.threshold) w_tau.value = s.threshold;
  if (Number(w_alpha.value) !== s.decay) w_alpha.value = s.decay;
  const layers = s.layers || [1, meta.L];
  if (Number(w_layers.value[0]) !== layers[0] || Number(w_layers.value[1]) !== layers[1]) {
    w_layers.value = [layers[0], layers[1]];
  }
  const heads = (s.heads || []).map(String);
  if (heads.join(",") !== w_heads.value.join(",")) w_heads.value = heads;
  const active = [...(s.differences ? [0] : []), ...(s.perHead ? [1] : [])];
  if (active.join(",") !== w_toggles.active.join(",")) w_toggles.active = active;
}

function controlsFor(s) {
  const uses = vocab.methodUses[s.method];
  w_tau.disabled = !uses.threshold;
  w_alpha.disabled = !uses.decay;
  w_heads.disabled = !meta.perHead;
  const reasons = [];
  if (!uses.threshold) reasons.push(meta.unused[s.method].threshold);
  if (!uses.decay) reasons.push(meta.unused[s.method].decay);
  if (!meta.perHead) reasons.push(meta.headsReason);
  w_note.text = reasons.join(" ");
}

function tooltipsFor(flowName) {
  return hover.tooltips.map(([label, field]) => {
    const model = label.endsWith(" pre-trained") ? " pre-trained" : label.endsWith(" fine-tuned") ? " fine-tuned" : "";
    return model && field.startsWith("@m") ? [flowName + model, field] : [label, field];
  });
}

// Set a property only when its value changes: every change of a title, range or ticker makes BokehJS lay the figure
// out again, which costs more than the redraw's arithmetic.
function put(model, prop, value) {
  const old = model[prop];
  const same = typeof value === "object" && value !== null
    ? JSON.stringify(old instanceof Map ? [...old] : old) === JSON.stringify(value instanceof Map ? [...value] : value)
    : old === value;
  if (!same) model[prop] = value;
}

function draw(fd) {
  const g = fd.graph;
  put(fig.title, "text", g.title);
  put(fig.x_range, "start", g.xRange[0]);
  put(fig.x_range, "end", g.xRange[1]);
  put(x_axis.ticker, "ticks", g.ticks);
  put(x_axis, "major_label_overrides", new Map(g.ticks.map((t) => [t, g.tickLabels[t]])));
  put(stop_title, "text", g.stopLabel);
  put(stop_title, "visible", Boolean(g.stopLabel));
  put(hover, "tooltips", tooltipsFor(g.flowName));
  put(legend, "data", g.legend);
  put(token_labels, "data", g.tokenLabels);
  put(ring, "data", g.ring);
  edges.data = fd.edges;
  const perHead = Boolean(fd.headEdges);
  if (perHead || head_edges.data.x0.length) {
    head_edges.data = perHead ? fd.headEdges : Object.fromEntries(Object.keys(head_edges.data).map((k) => [k, []]));
  }
  put(edge_lines, "visible", !perHead);
  put(head_edge_lines, "visible", perHead);
  nodes.data = fd.nodes;
  put(caption, "text", fd.caption.text);
  const sd = fd.sentence;
  sentence.data = sd.data;
  put(sentence_fig.title, "text", sd.title);
  put(sentence_map_sb, "high", sd.high);
  put(sentence_map_st, "high", sd.high);
  put(sentence_mark, "data", { x: [sd.highlight.x], y: [sd.highlight.y], w: [sd.highlight.w] });
  const grids = [
    ["base", grid_base, grid_base_cells, grid_base_axis, grid_base_map],
    ["tuned", grid_tuned, grid_tuned_cells, grid_tuned_axis, grid_tuned_map],
  ];
  for (const [key, grid, cells, axis, mapper] of grids) {
    const gd = fd.grids[key];
    put(grid.title, "text", gd.title);
    put(grid.y_range, "start", gd.yRange[0]);
    put(grid.y_range, "end", gd.yRange[1]);
    put(axis.ticker, "ticks", gd.ticks);
    cells.data = gd.data;
    put(mapper, "high", gd.high);
  }
}

function report(s, urgent) {
  if (typeof host.attnflowReport === "function") {
    host.attnflowReport(meta.kind, meta.id, { ...s, maxflowKey: maxflowKey(s) }, urgent);
    return true;
  }
  return false;
}

function redraw() {
  view.scheduled = false;
  const base = payload.data.base[0];
  const tuned = payload.data.tuned[0];
  if (!base || base.length !== meta.L * meta.H * meta.n * meta.n) return; // the arrays have not arrived yet
  const s = currentSettings();
  controlsFor(s);
  const key = JSON.stringify(s);
  let mf = null;
  if (meta.serverSolved.includes(s.method)) {
    const got = maxflow.data.json && maxflow.data.json.length ? JSON.parse(maxflow.data.json[0]) : null;
    if (!got || maxflowKey(got.settings) !== maxflowKey(s)) {
      view.drawn = null;
      caption.text = report(s, true)
        ? `<b>${vocab.methodTitles[s.method]}</b> is solved on the server: solving for these settings …`
        : `<b>${vocab.methodTitles[s.method]}</b> is solved on the server: this file holds its solution for the ` +
          "exported settings only (open the app to change them, or choose another method).";
      return;
    }
    mf = got;
  }
  if (key === view.drawn) return;
  const P = {
    n: meta.n, L: meta.L, H: meta.H, labels: meta.labels, segments: meta.segments,
    specialPositions: meta.specialPositions, attnBase: base, attnTuned: tuned, measure: meta.measure,
    measureIncludesResidual: meta.measureIncludesResidual, unit: meta.unit,
  };
  const t0 = host.performance ? host.performance.now() : 0;
  const fd = E.figureData(P, s, vocab, mf);
  const t1 = host.performance ? host.performance.now() : 0;
  draw(fd);
  const t2 = host.performance ? host.performance.now() : 0;
  host.attnflowTiming = { compute: t1 - t0, patch: t2 - t1 }; // for benchmarks: the last redraw's parts (ms)
  view.drawn = key;
  host.attnflowDrawn = (host.attnflowDrawn || 0) + 1; // for tests and benchmarks: redraws so far
  if (key !== view.fromServer) report(s, false);
}

if (cb_obj === nodes.selected) {
  // a click on a token node: trace from that token (a change of w_source, which schedules the redraw)
  const idx = nodes.selected.indices;
  if (idx.length) {
    const token = nodes.data.token[idx[0]];
    nodes.selected.indices = [];
    if (String(token) !== w_source.value) w_source.value = String(token);
  }
} else {
  if (cb_obj === desired && desired.data.json && desired.data.json.length) {
    const want = JSON.parse(desired.data.json[0]);
    applyDesired(want);
    view.fromServer = JSON.stringify(currentSettings());
  }
  if (!view.scheduled) {
    view.scheduled = true;
    const later = host.requestAnimationFrame ? host.requestAnimationFrame.bind(host) : (f) => setTimeout(f, 0);
    later(redraw);
  }
}
