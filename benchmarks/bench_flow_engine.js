// Times AttnflowEngine.figureData on a prepared payload (for benchmarks/bench_flow_engine.py).
// Input (stdin, JSON): {"payload": {..., "attnBase": base64 float32, "attnTuned": …}, "vocab", "scenarios":
// [{"name", "settings"}], "repeat"}. Output: {name: {"median_ms", "min_ms", "edges", "nodes"}}.
"use strict";
const path = require("path");
const E = require(path.join(__dirname, "..", "attnflow_core", "plots", "flow_engine.js"));

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const f32 = (b64) => {
  const buf = Buffer.from(b64, "base64");
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};
const payload = { ...input.payload, attnBase: f32(input.payload.attnBase), attnTuned: f32(input.payload.attnTuned) };
const out = {};
for (const { name, settings } of input.scenarios) {
  for (let k = 0; k < 3; k++) E.figureData(payload, settings, input.vocab); // warm up the JIT
  const times = [];
  let fig = null;
  for (let k = 0; k < input.repeat; k++) {
    const t0 = process.hrtime.bigint();
    fig = E.figureData(payload, settings, input.vocab);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  out[name] = {
    median_ms: times[Math.floor(times.length / 2)],
    min_ms: times[0],
    edges: fig.edges.x0.length,
    head_edges: fig.headEdges ? fig.headEdges.x0.length : 0,
  };
}
process.stdout.write(JSON.stringify(out));
