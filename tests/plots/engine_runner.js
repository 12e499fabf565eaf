// Runs flow_engine.js on a batch of cases read from stdin (JSON) and prints each case's results (JSON), for
// tests/plots/test_flow_engine.py: one Node.js process per test module.
//
// Input: {"vocab": {...}, "cases": [{"id", "payload"?, "settings"?, "maxflow"?, "ops"?: [{"op", "args"}]}]}.
// Arrays travel as {"$f32" | "$f64" | "$i32": base64 of little-endian bytes}. A case with settings gets
// "figure" = figureData(payload, settings, vocab, maxflow); each op's result (or {"error": message}) goes to "ops".
"use strict";
const path = require("path");
const E = require(path.join(__dirname, "..", "..", "attnflow_core", "plots", "flow_engine.js"));

const TYPES = { $f32: Float32Array, $f64: Float64Array, $i32: Int32Array };

function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== "object") return v;
  for (const [tag, T] of Object.entries(TYPES)) {
    if (tag in v) {
      const buf = Buffer.from(v[tag], "base64");
      return new T(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    }
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
}

function attnOf(payload, which) {
  return E.attention(which === "tuned" ? payload.attnTuned : payload.attnBase, payload.L, payload.H, payload.n);
}

const FORMATS = {
  sig: (x) => E.sig(x),
  fmtG: (x) => E.fmtG(x),
  fixed2: (x) => E.fmtFixed(x, 2),
  pyRound2: (x) => E.pyRound(x, 2),
  pyRound4: (x) => E.pyRound(x, 4),
  npRound2: (x) => E.npRound(x, 2),
  npRound4: (x) => E.npRound(x, 4),
};

const OPS = {
  trace: (c, a) => E.trace(attnOf(c.payload, a.attn), a.opts),
  residualAttention: (c, a) => E.residualAttention(attnOf(c.payload, a.attn), a.heads, a.layers, a.residual),
  rollout: (c, a) => E.rollout(attnOf(c.payload, a.attn), a.heads, a.residual),
  flowScores: (c, a) => E.flowScores(attnOf(c.payload, a.attn), a.method, a.opts),
  methodEdges: (c, a) => E.methodEdges(attnOf(c.payload, a.attn), a.method, a.opts),
  budget: (c, a) => E.budget(a.masses, a.n, a.source, a.layers, a.maxEdges, a.perNode),
  selectHeads: (c, a) => E.selectHeads(a.H, a.heads),
  sum: (c, a) => a.rows.map((r) => E.npSum(r)),
  format: (c, a) => a.values.map(FORMATS[a.fn]),
  mappedColour: (c, a) => Array.from(a.values, (v) => E.mappedColour(a.palette, v, a.low, a.high)),
  textOn: (c, a) => a.fills.map((f) => E.textOn(f, a.dark, a.light)),
};

function main() {
  const input = decode(JSON.parse(require("fs").readFileSync(0, "utf8")));
  const out = {};
  for (const c of input.cases) {
    const res = {};
    if (c.settings) {
      try {
        res.figure = E.figureData(c.payload, c.settings, input.vocab, c.maxflow || null);
      } catch (err) {
        res.figure = { error: String(err && err.stack ? err.stack : err) };
      }
    }
    res.ops = (c.ops || []).map(({ op, args }) => {
      try {
        return OPS[op](c, args);
      } catch (err) {
        return { error: String(err && err.message ? err.message : err) };
      }
    });
    out[c.id] = res;
  }
  const plain = (key, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
  process.stdout.write(JSON.stringify(out, plain));
}

main();
