// Runs the flow view's CustomJS (flow_engine.js + flow_view.js) in Node.js against stand-ins for its Bokeh models,
// for tests/plots/test_flow_view.py. Reads a JSON spec from stdin:
//   {code, args: {name: arg}, triggers: [[arg name, property], ...], report: bool, steps: [...]}
// An arg is plain JSON, or {"$model": {...properties}} (a Bokeh model: its properties; a ColumnDataSource has
// "data" and "selected": {"indices": []}), arrays as {"$f32": base64}. Setting a property listed in `triggers` runs
// the callback with cb_obj = that model (as js_on_change does); "selected.indices" of a source runs it with
// cb_obj = its `selected`. Steps: {"set": [arg, property, value]} or {"tap": [arg, index]} (a node selection),
// each followed by the scheduled redraw. Prints {args: their final properties, reports: [...], drawn: count}.
"use strict";

function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== "object") return v;
  if ("$f32" in v) {
    const buf = Buffer.from(v.$f32, "base64");
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
}

const spec = JSON.parse(require("fs").readFileSync(0, "utf8"));
const reports = [];
const timers = [];
globalThis.setTimeout = (f) => timers.push(f);
if (spec.report) globalThis.attnflowReport = (kind, id, settings, urgent) => reports.push({ kind, id, settings, urgent });

const names = Object.keys(spec.args);
const args = {};
const triggers = new Set(spec.triggers.map(([n, p]) => `${n}.${p}`));
let callback = null;
function model(name, props) {
  const store = { ...props };
  const target = {};
  if (store.selected) {
    const sel = { indices: store.selected.indices || [] };
    store.selected = new Proxy(sel, {
      set(obj, prop, value) {
        obj[prop] = value;
        if (prop === "indices" && triggers.has(`${name}.selected.indices`)) callback(store.selected);
        return true;
      },
    });
  }
  if (store.major_label_overrides && !(store.major_label_overrides instanceof Map)) {
    store.major_label_overrides = new Map(Object.entries(store.major_label_overrides).map(([k, v]) => [Number(k), v]));
  }
  return new Proxy(target, {
    get(_, prop) {
      if (prop === "setv") return (values) => Object.assign(store, values);
      if (prop === "document") return store.document || (store.document = {});
      return store[prop];
    },
    set(_, prop, value) {
      store[prop] = value;
      if (triggers.has(`${name}.${String(prop)}`)) callback(args[name]);
      return true;
    },
  });
}
for (const name of names) {
  const v = spec.args[name];
  args[name] = v && typeof v === "object" && "$model" in v ? model(name, decode(v.$model)) : decode(v);
}
const func = new Function(...names, "cb_obj", "cb_data", "cb_context", '"use strict";\n' + spec.code);
callback = (cbObj) => func(...names.map((n) => args[n]), cbObj, {}, {});
function flush() {
  while (timers.length) timers.shift()();
}

for (const step of spec.steps) {
  if (step.set) {
    const [name, prop, value] = step.set;
    args[name][prop] = decode(value);
  } else if (step.tap) {
    const [name, index] = step.tap;
    args[name].selected.indices = [index];
  }
  flush();
}

function plain(v) {
  if (v instanceof Map) return Object.fromEntries(v);
  if (ArrayBuffer.isView(v)) return Array.from(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
const out = {};
for (const name of names) {
  const v = spec.args[name];
  if (v && typeof v === "object" && "$model" in v) {
    out[name] = {};
    for (const prop of Object.keys(decode(v.$model))) {
      if (prop === "data" || prop === "document") continue;
      out[name][prop] = plain(args[name][prop]);
    }
    if ("data" in v.$model) out[name].data = plain(args[name].data);
  }
}
process.stdout.write(JSON.stringify({ args: out, reports, drawn: globalThis.attnflowDrawn || 0 }));
