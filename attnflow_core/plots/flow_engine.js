// The Attention flow view's drawing engine: every drawing setting (method trace/rollout, source token, τ, α, layer
// range, heads, per-head edges, "emphasise differences") recomputed in the browser from each example's measured
// attention, sent once. Pure functions: no DOM, no Bokeh; runs in Node.js (tests/plots/test_flow_engine.py checks
// it against the Python definitions) and in the browser (concatenated into the page's components.v2 module).
//
// It is a port of, with the same semantics, edge sets, orderings and tie-breaking:
//   attnflow_core/flows.py            select_heads, trace (+ input_scores), residual_attention, rollout, flow_scores
//   attnflow_core/graph.py            trace_masses, rollout_masses, budget, _edges, method_edges, pair_graph,
//                                     head_shares, MethodEdges.stopped (max-flow edges come from the server)
//   attnflow_core/plots/flow_graph.py _edge_columns, _head_edge_columns, _per_head_text, _node_sizes, the node and
//                                     sentence columns, _sentence_layout, graph_title, _caption, _stop_message,
//                                     _stop_label, _nothing_drawn, the head grids' values, the axes, _sig
// Arithmetic is float64 on the float32 inputs, in numpy's order (its pairwise summation included), so the masses,
// and hence every tie the edge budget breaks, come out the same to the bit. Wording and colours come from the
// `vocab` argument, which Python builds from its own definitions (attnflow_core/plots/flow_payload.py).
//
// Conventions (as flows.py): attention is a flat Float32Array of shape (L, H, n, n), row-major:
// A[((l - 1) * H + h) * n * n + j * n + i] is how much query token j attends to key token i in layer l (1-based).
// Per-layer (n, n) matrices and (L + 1, n) node arrays are flat Float64Arrays, row-major.

const AttnflowEngine = (() => {
  "use strict";

  // ---------------------------------------------------------------- numpy's arithmetic, bit for bit

  /** numpy's pairwise summation of `count` float64 values a[off], a[off + stride], … — what np.add.reduce does
   * along a contiguous axis (`x.sum()`, `x.sum(axis=-1)`, `x.mean(axis=-1)`): 8 accumulators in blocks of ≤ 128,
   * halves above. */
  function pairwiseSum(a, off, count, stride) {
    if (count < 8) {
      let res = -0.0;
      for (let i = 0; i < count; i++) res += a[off + i * stride];
      return res;
    }
    if (count <= 128) {
      let r0 = a[off], r1 = a[off + stride], r2 = a[off + 2 * stride], r3 = a[off + 3 * stride];
      let r4 = a[off + 4 * stride], r5 = a[off + 5 * stride], r6 = a[off + 6 * stride], r7 = a[off + 7 * stride];
      const end = count - (count % 8);
      let i = 8;
      for (; i < end; i += 8) {
        const p = off + i * stride;
        r0 += a[p]; r1 += a[p + stride]; r2 += a[p + 2 * stride]; r3 += a[p + 3 * stride];
        r4 += a[p + 4 * stride]; r5 += a[p + 5 * stride]; r6 += a[p + 6 * stride]; r7 += a[p + 7 * stride];
      }
      let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
      for (; i < count; i++) res += a[off + i * stride];
      return res;
    }
    let n2 = Math.floor(count / 2);
    n2 -= n2 % 8;
    return pairwiseSum(a, off, n2, stride) + pairwiseSum(a, off + n2 * stride, count - n2, stride);
  }

  /** np.sum of a contiguous run (the reduction starts from numpy's identity 0.0). */
  function npSum(a, off = 0, count = a.length - off, stride = 1) {
    return 0.0 + pairwiseSum(a, off, count, stride);
  }

  /** numpy's `max(initial=0.0)` of a run of values. */
  function maxOr0(a) {
    let m = 0.0;
    for (let k = 0; k < a.length; k++) if (a[k] > m) m = a[k];
    return m;
  }

  /** np.rint: round half to even. */
  function rint(y) {
    const f = Math.floor(y);
    const d = y - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  /** numpy's round (np.round, and Python's round() of a numpy float): rint(x · 10^d) / 10^d. */
  function npRound(x, digits) {
    const f = 10 ** digits;
    return rint(x * f) / f;
  }

  // ---------------------------------------------------------------- Python's decimal formatting, ties included
  // JavaScript's toFixed/toExponential round the exact binary value correctly but send exact ties away from zero;
  // Python sends them to the even digit (f"{0.125:.2f}" == "0.12"). Only exact ties differ, and they are found
  // from the double's exact decimal expansion.

  const bits = new DataView(new ArrayBuffer(8));

  /** The exact decimal expansion of a finite x > 0: {d, e} with x = 0.d × 10^e, d without trailing zeros. */
  function exactDigits(x) {
    bits.setFloat64(0, x);
    const hi = bits.getUint32(0);
    const lo = bits.getUint32(4);
    const bexp = (hi >>> 20) & 0x7ff;
    let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    let e2 = -1074;
    if (bexp !== 0) {
      mant |= 1n << 52n;
      e2 = bexp - 1075;
    }
    let d;
    let e;
    if (e2 >= 0) {
      d = (mant << BigInt(e2)).toString();
      e = d.length;
    } else {
      d = (mant * 5n ** BigInt(-e2)).toString();
      e = d.length + e2;
    }
    return { d: d.replace(/0+$/, ""), e };
  }

  /** x.toExponential(p - 1) for finite x ≥ 0 (p significant digits), exact ties to even as Python. */
  function expHalfEven(x, p) {
    const native = x.toExponential(p - 1);
    if (x === 0) return native;
    const probe = x.toExponential(p);
    if (probe[probe.indexOf("e") - 1] !== "5") return native;
    const { d, e } = exactDigits(x);
    if (d.length !== p + 1 || d[p] !== "5" || (d.charCodeAt(p - 1) - 48) % 2 === 1) return native;
    const k = d.slice(0, p); // a tie whose kept digit is even: truncate
    const x10 = e - 1;
    return k[0] + (p > 1 ? "." + k.slice(1) : "") + "e" + (x10 < 0 ? "-" : "+") + Math.abs(x10);
  }

  /** x.toFixed(nd) for finite x ≥ 0, exact ties to even as Python. */
  function fixedHalfEven(x, nd) {
    if (x >= 1e21) {
      // an integer, which toFixed would write in exponent form: its exact digits
      const { d, e } = exactDigits(x);
      return d.padEnd(e, "0") + (nd > 0 ? "." + "0".repeat(nd) : "");
    }
    const native = x.toFixed(nd);
    if (x === 0) return native;
    const probe = x.toFixed(nd + 1);
    if (probe[probe.length - 1] !== "5") return native;
    const { d, e } = exactDigits(x);
    const k = e + nd; // digits kept
    if (k < 0 || d.length !== k + 1 || d[k] !== "5") return native;
    if (k > 0 && (d.charCodeAt(k - 1) - 48) % 2 === 1) return native;
    const s = (d.slice(0, k) || "0").padStart(nd + 1, "0");
    return nd > 0 ? s.slice(0, s.length - nd) + "." + s.slice(s.length - nd) : s;
  }

  const negative = (x) => x < 0 || Object.is(x, -0);

  /** f"{x:.{nd}f}" */
  function fmtFixed(x, nd) {
    if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
    return (negative(x) ? "-" : "") + fixedHalfEven(Math.abs(x), nd);
  }

  /** Python's round(x, nd) of a float (correctly rounded, ties to even). */
  function pyRound(x, nd) {
    return Number.isFinite(x) ? Number(fmtFixed(x, nd)) : x;
  }

  /** flow_graph._sig: float(f"{x:.{digits}g}"), x rounded to `digits` significant digits. */
  function sig(x, digits = 5) {
    if (!Number.isFinite(x) || x === 0) return x;
    return (negative(x) ? -1 : 1) * Number(expHalfEven(Math.abs(x), digits));
  }

  /** f"{x:g}": 6 significant digits, trailing zeros dropped, exponent form below 1e-4 and from 1e6. */
  function fmtG(x) {
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    const sign = negative(x) ? "-" : "";
    if (x === 0) return sign + "0";
    const s = expHalfEven(Math.abs(x), 6);
    const at = s.indexOf("e");
    const digits = s.slice(0, at).replace(".", "").replace(/0+$/, "");
    const exp = Number(s.slice(at + 1));
    if (exp < -4 || exp >= 6) {
      const mant = digits[0] + (digits.length > 1 ? "." + digits.slice(1) : "");
      return sign + mant + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    }
    if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
    const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    const frac = digits.slice(exp + 1);
    return sign + whole + (frac ? "." + frac : "");
  }

  /** flow_graph._esc */
  const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  /** Python's len() of a str: code points, not UTF-16 units. */
  const pyLen = (t) => {
    let k = 0;
    for (const _ of String(t)) k++;
    return k;
  };

  // ---------------------------------------------------------------- settings checks (flows.py, settings.py)

  /** An attention array: {data: Float32Array (L·H·n·n), L, H, n}. */
  function attention(data, L, H, n) {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    if (!(L >= 1 && H >= 1 && n >= 1) || arr.length !== L * H * n * n) {
      const want = `(${L}, ${H}, ${n}, ${n})`;
      throw new Error(`attention must have shape (layers, heads, n, n) = ${want}; got ${arr.length} values`);
    }
    return { data: arr, L, H, n };
  }

  /** flows.select_heads: sorted unique head indices; null means all heads. */
  function selectHeads(nHeads, heads) {
    if (heads == null) return Int32Array.from({ length: nHeads }, (_, k) => k);
    const sel = Array.from(new Set(Array.from(heads, Number))).sort((x, y) => x - y);
    if (sel.length === 0) throw new Error(`select at least one head (0..${nHeads - 1}), or pass null for all heads`);
    if (!sel.every(Number.isInteger) || sel[0] < 0 || sel[sel.length - 1] >= nHeads) {
      throw new Error(`heads must be in 0..${nHeads - 1}; got ${JSON.stringify(sel)}`);
    }
    return Int32Array.from(sel);
  }

  function checkLayers(layers, nLayers) {
    if (layers == null) return [1, nLayers];
    const a = Number(layers[0]);
    const b = Number(layers[1]);
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 1 && a <= b && b <= nLayers)) {
      throw new Error(`layers must satisfy 1 <= a <= b <= ${nLayers}; got ${JSON.stringify(layers)}`);
    }
    return [a, b];
  }

  function checkSource(source, n) {
    const s = Number(source);
    if (!(Number.isInteger(s) && s >= 0 && s < n)) {
      throw new Error(`source must be a token index in 0..${n - 1}; got ${source}`);
    }
    return s;
  }

  function checkThresholdDecay(threshold, decay) {
    if (!(threshold >= 0 && threshold <= 1)) throw new Error(`threshold must be in [0, 1]; got ${threshold}`);
    if (!(decay > 0 && decay <= 1)) throw new Error(`decay must be in (0, 1]; got ${decay}`);
  }

  // ---------------------------------------------------------------- flows.py

  /** The thresholded trace, with graph.trace_masses computed in the same pass (same order of additions).
   * opts: {source, threshold, layers: [a, b] | null, heads: [..] | null, decay}; edges: also list the per-head
   * edges (flows.Trace's arrays). -> {influence (L+1)·n, masses {l: n·n}, stopped, heads, layers, edges?} */
  function traceRun(A, opts, edges = false) {
    const { data, L, H, n } = A;
    const nn = n * n;
    const threshold = opts.threshold;
    const decay = opts.decay == null ? 1.0 : opts.decay;
    checkThresholdDecay(threshold, decay);
    const source = checkSource(opts.source, n);
    const [lo, hi] = checkLayers(opts.layers, L);
    const sel = selectHeads(H, opts.heads);
    const nh = sel.length;
    const influence = new Float64Array((L + 1) * n);
    influence[hi * n + source] = 1.0;
    const masses = {};
    const reached = {};
    for (let layer = lo; layer <= hi; layer++) {
      masses[layer] = new Float64Array(nn);
      reached[layer] = false;
    }
    const list = edges ? { layer: [], head: [], src: [], dst: [], weight: [] } : null;
    const active = new Int32Array(n);
    for (let layer = hi; layer >= lo; layer--) {
      let na = 0;
      for (let j = 0; j < n; j++) if (influence[layer * n + j] > 0) active[na++] = j;
      if (na === 0) break;
      const next = new Float64Array(n); // np.bincount(dst, weights=flow): added in (head, src, dst) order
      const m = masses[layer];
      for (let c = 0; c < nh; c++) {
        const h = sel[c];
        const block = ((layer - 1) * H + h) * nn;
        for (let q = 0; q < na; q++) {
          const j = active[q];
          const infl = influence[layer * n + j];
          const row = block + j * n;
          for (let i = 0; i < n; i++) {
            const w = data[row + i];
            if (w >= threshold && w > 0) {
              const f = (infl * w) / nh;
              next[i] += f;
              m[j * n + i] += f;
              if (f !== 0) reached[layer] = true;
              if (list) {
                list.layer.push(layer);
                list.head.push(h);
                list.src.push(j);
                list.dst.push(i);
                list.weight.push(w);
              }
            }
          }
        }
      }
      for (let i = 0; i < n; i++) influence[(layer - 1) * n + i] = decay * next[i];
    }
    let stopped = null;
    for (let layer = hi; layer >= lo; layer--) {
      if (!reached[layer]) {
        stopped = layer;
        break;
      }
    }
    const out = { influence, masses, stopped, source, threshold, layers: [lo, hi], heads: sel, decay, n, L };
    if (list) {
      out.edges = {
        layer: Int32Array.from(list.layer),
        head: Int32Array.from(list.head),
        src: Int32Array.from(list.src),
        dst: Int32Array.from(list.dst),
        weight: Float64Array.from(list.weight),
      };
    }
    return out;
  }

  /** Trace.input_scores: the influence at the bottom of the range, normalised to sum 1 (zeros if none). */
  function inputScores(influence, n, bottomLayer) {
    const bottom = influence.subarray(bottomLayer * n, (bottomLayer + 1) * n);
    return normalised(bottom, false);
  }

  /** v / v.sum() (zeros if the sum is not positive); clip: negative values to 0 first (analysis._normalised). */
  function normalised(values, clip) {
    const v = Float64Array.from(values, (x) => (clip ? Math.max(x, 0.0) : x));
    const total = npSum(v);
    if (!(total > 0)) return new Float64Array(v.length);
    for (let k = 0; k < v.length; k++) v[k] = v[k] / total;
    return v;
  }

  /** flows.trace: -> {layer, head, src, dst (Int32Array), weight (Float64Array), influence ((L+1)·n), inputScores,
   * source, threshold, layers, heads, decay, nEdges}; edges ordered by layer descending, head, src, dst. */
  function trace(A, opts) {
    const t = traceRun(A, opts, true);
    return {
      ...t.edges,
      nEdges: t.edges.layer.length,
      influence: t.influence,
      inputScores: inputScores(t.influence, A.n, t.layers[0] - 1),
      source: t.source,
      threshold: t.threshold,
      layers: t.layers,
      heads: t.heads,
      decay: t.decay,
    };
  }

  /** flows.residual_attention over layers a..b: Â_l = rownorm(½·mean_h(A_l) + ½·I), or rownorm(mean_h(A_l)) when
   * `residual` is false (for a measure that already includes the residual). -> Float64Array ((b-a+1)·n·n) */
  function residualAttention(A, heads = null, layers = null, residual = true) {
    const { data, L, H, n } = A;
    const nn = n * n;
    const sel = selectHeads(H, heads);
    const nh = sel.length;
    const [a, b] = checkLayers(layers, L);
    const out = new Float64Array((b - a + 1) * nn);
    for (let layer = a; layer <= b; layer++) {
      const o = (layer - a) * nn;
      for (let c = 0; c < nh; c++) {
        const base = ((layer - 1) * H + sel[c]) * nn;
        for (let e = 0; e < nn; e++) out[o + e] += data[base + e];
      }
      for (let e = 0; e < nn; e++) out[o + e] = out[o + e] / nh;
      if (residual) {
        for (let e = 0; e < nn; e++) out[o + e] = 0.5 * out[o + e];
        for (let j = 0; j < n; j++) out[o + j * n + j] = out[o + j * n + j] + 0.5;
      }
      for (let j = 0; j < n; j++) {
        const s = npSum(out, o + j * n, n);
        const d = s > 0 ? s : 1.0;
        for (let i = 0; i < n; i++) out[o + j * n + i] = out[o + j * n + i] / d;
      }
    }
    return out;
  }

  /** flows.rollout: (L, H, n, n) -> Float64Array (L·n·n) with R_1 = Â_1, R_l = Â_l · R_(l-1) (full matrices; the
   * view only needs one row, which rolloutMasses gives in O(L·n²)). */
  function rollout(A, heads = null, residual = true) {
    const { L, n } = A;
    const nn = n * n;
    const res = residualAttention(A, heads, null, residual);
    const out = new Float64Array(L * nn);
    out.set(res.subarray(0, nn), 0);
    for (let l = 1; l < L; l++) {
      const r = l * nn;
      const p = (l - 1) * nn;
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < n; k++) {
          const x = res[r + j * n + k];
          if (x === 0) continue;
          for (let i = 0; i < n; i++) out[r + j * n + i] += x * out[p + k * n + i];
        }
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- graph.py

  /** graph.rollout_masses: ({l: n·n} mass r_l[j]·Â_l[j, i], node r ((L+1)·n, rows a-1..b filled)). */
  function rolloutMasses(A, opts) {
    const { L, n } = A;
    const nn = n * n;
    const source = checkSource(opts.source, n);
    const [a, b] = checkLayers(opts.layers, L);
    const res = residualAttention(A, opts.heads, [a, b], opts.residual !== false);
    const node = new Float64Array((L + 1) * n);
    node[b * n + source] = 1.0;
    const masses = {};
    for (let layer = b; layer >= a; layer--) {
      const m = new Float64Array(nn);
      const r = (layer - a) * nn;
      const below = (layer - 1) * n;
      for (let j = 0; j < n; j++) {
        const v = node[layer * n + j];
        if (v === 0) continue; // 0 · Â adds +0 to every column sum: skipping it changes no bit
        for (let i = 0; i < n; i++) {
          const x = v * res[r + j * n + i];
          m[j * n + i] = x;
          node[below + i] += x;
        }
      }
      masses[layer] = m;
    }
    return { masses, node };
  }

  /** flows.flow_scores for trace and rollout: (n,) per-input-token scores, normalised to sum 1. The rollout's row
   * is computed as a vector product (numpy multiplies whole matrices): equal up to rounding. */
  function flowScores(A, method, opts) {
    const [a] = checkLayers(opts.layers, A.L);
    if (method === "trace") return inputScores(traceRun(A, opts).influence, A.n, a - 1);
    if (method === "rollout") return inputScores(rolloutMasses(A, opts).node, A.n, a - 1);
    throw new Error(`the engine computes the trace and rollout; max-flow comes from the server (got ${method})`);
  }

  /** graph.budget: the edges kept from per-layer masses {l: n·n}: -> [[l, j, i, mass], …] sorted by (-l, j, i).
   * Top down from {source} at layer b: per reached node, its perNode strongest incoming edges from drawn nodes
   * (ties with the perNode-th kept), then the layer's maxEdges // layers strongest (mass descending, then j, i). */
  function budget(masses, n, source, layers, maxEdges, perNode) {
    const [a, b] = layers;
    const perLayer = Math.max(1, Math.floor(maxEdges / (b - a + 1)));
    let drawn = new Uint8Array(n);
    drawn[source] = 1;
    const out = [];
    const top = new Float64Array(n * Math.max(perNode, 1));
    for (let layer = b; layer >= a; layer--) {
      const M = masses[layer];
      let kth = null;
      if (perNode < n) {
        // the perNode-th largest of each column (non-drawn rows and non-positive masses count as 0)
        top.fill(0.0);
        for (let j = 0; j < n; j++) {
          if (!drawn[j]) continue;
          for (let i = 0; i < n; i++) {
            const v = M[j * n + i];
            const t = i * perNode;
            if (!(v > top[t + perNode - 1])) continue;
            let p = perNode - 1;
            while (p > 0 && top[t + p - 1] < v) {
              top[t + p] = top[t + p - 1];
              p--;
            }
            top[t + p] = v;
          }
        }
        kth = new Float64Array(n);
        for (let i = 0; i < n; i++) kth[i] = top[i * perNode + perNode - 1];
      }
      const cand = [];
      for (let j = 0; j < n; j++) {
        if (!drawn[j]) continue;
        for (let i = 0; i < n; i++) {
          const v = M[j * n + i];
          if (v > 0 && (kth === null || v >= kth[i])) cand.push({ j, i, v });
        }
      }
      cand.sort((p, q) => (p.v === q.v ? 0 : p.v > q.v ? -1 : 1)); // stable: (j, i) order among equal masses
      const nxt = new Uint8Array(n);
      let any = false;
      for (let k = 0; k < Math.min(perLayer, cand.length); k++) {
        const c = cand[k];
        out.push([layer, c.j, c.i, c.v]);
        nxt[c.i] = 1;
        any = true;
      }
      drawn = nxt;
      if (!any) break;
    }
    out.sort((x, y) => y[0] - x[0] || x[1] - y[1] || x[2] - y[2]);
    return out;
  }

  /** graph._edges: a MethodEdges {layer, src, dst (Int32Array), mass (Float64Array), node, stopped, nEdges}. */
  function edgesOf(node, kept, stopped) {
    return {
      layer: Int32Array.from(kept, (e) => e[0]),
      src: Int32Array.from(kept, (e) => e[1]),
      dst: Int32Array.from(kept, (e) => e[2]),
      mass: Float64Array.from(kept, (e) => e[3]),
      node,
      stopped,
      nEdges: kept.length,
    };
  }

  /** graph.method_edges for trace and rollout. opts: {source, threshold, layers, heads, decay, residual,
   * maxEdges, perNode}; `traced`: this model's traceRun with the same settings, if already computed. */
  function methodEdges(A, method, opts, traced = null) {
    const lay = checkLayers(opts.layers, A.L);
    const source = checkSource(opts.source, A.n);
    let masses;
    let node;
    let stopped = null;
    if (method === "trace") {
      const t = traced || traceRun(A, { ...opts, layers: lay });
      masses = t.masses;
      node = t.influence;
      stopped = t.stopped;
    } else if (method === "rollout") {
      ({ masses, node } = rolloutMasses(A, { ...opts, layers: lay }));
    } else {
      throw new Error(`the engine draws trace and rollout; max-flow edges come from the server (got ${method})`);
    }
    return edgesOf(node, budget(masses, A.n, source, lay, opts.maxEdges, opts.perNode), stopped);
  }

  /** A MethodEdges from the server (graph.maxflow_masses through graph.method_edges), arrays as lists or typed. */
  function givenEdges(e, L, n) {
    const node = Float64Array.from(e.node.flat ? e.node.flat() : e.node);
    if (node.length !== (L + 1) * n) {
      throw new Error(`node must have (L+1)·n = ${(L + 1) * n} values; got ${node.length}`);
    }
    return {
      layer: Int32Array.from(e.layer),
      src: Int32Array.from(e.src),
      dst: Int32Array.from(e.dst),
      mass: Float64Array.from(e.mass),
      node,
      stopped: e.stopped == null ? null : e.stopped,
      nEdges: e.layer.length,
    };
  }

  /** graph.pair_graph: the two models' edges merged on (layer, src, dst), sorted by (-layer, src, dst).
   * -> {method, base, tuned, layer, src, dst, massBase, massTuned, status ("shared" | "base" | "tuned"), heads,
   * attnBase, attnTuned (E·|H| row-major: each selected head's attention on the edge), meanBase, meanTuned,
   * nEdges} */
  function pairGraph(Ab, At, method, eb, et, heads) {
    const { H, n } = Ab;
    const table = new Map();
    for (const [which, e] of [[0, eb], [1, et]]) {
      for (let k = 0; k < e.nEdges; k++) {
        const key = (e.layer[k] * n + e.src[k]) * n + e.dst[k];
        let row = table.get(key);
        if (!row) {
          row = [0.0, 0.0, false, false];
          table.set(key, row);
        }
        row[which] = e.mass[k];
        row[2 + which] = true;
      }
    }
    const keys = Array.from(table.keys()).map((key) => {
      const dst = key % n;
      const rest = (key - dst) / n;
      const src = rest % n;
      return [(rest - src) / n, src, dst, key];
    });
    keys.sort((x, y) => y[0] - x[0] || x[1] - y[1] || x[2] - y[2]);
    const E = keys.length;
    const sel = selectHeads(H, heads);
    const nh = sel.length;
    const g = {
      method,
      base: eb,
      tuned: et,
      layer: new Int32Array(E),
      src: new Int32Array(E),
      dst: new Int32Array(E),
      massBase: new Float64Array(E),
      massTuned: new Float64Array(E),
      status: new Array(E),
      heads: sel,
      attnBase: new Float64Array(E * nh),
      attnTuned: new Float64Array(E * nh),
      meanBase: new Float64Array(E),
      meanTuned: new Float64Array(E),
      nEdges: E,
    };
    keys.forEach(([layer, src, dst, key], k) => {
      const row = table.get(key);
      g.layer[k] = layer;
      g.src[k] = src;
      g.dst[k] = dst;
      g.massBase[k] = row[0];
      g.massTuned[k] = row[1];
      g.status[k] = row[2] && row[3] ? "shared" : row[2] ? "base" : "tuned";
      for (let c = 0; c < nh; c++) {
        const at = (((layer - 1) * H + sel[c]) * n + src) * n + dst;
        g.attnBase[k * nh + c] = Ab.data[at];
        g.attnTuned[k * nh + c] = At.data[at];
      }
      g.meanBase[k] = npSum(g.attnBase, k * nh, nh) / nh;
      g.meanTuned[k] = npSum(g.attnTuned, k * nh, nh) / nh;
    });
    return g;
  }

  /** graph.head_shares: each head's share of one model's drawn flow: Float64Array (L·H), sums to 1 (or all 0). */
  function headShares(g, nLayers, nHeads, model) {
    const mass = model === "base" ? g.massBase : g.massTuned;
    const attn = model === "base" ? g.attnBase : g.attnTuned;
    const out = new Float64Array(nLayers * nHeads);
    if (!g.nEdges) return out;
    const nh = g.heads.length;
    for (let k = 0; k < g.nEdges; k++) {
      const tot = npSum(attn, k * nh, nh);
      for (let c = 0; c < nh; c++) {
        const split = mass[k] * (tot > 0 ? attn[k * nh + c] / tot : 0.0);
        out[(g.layer[k] - 1) * nHeads + g.heads[c]] += split;
      }
    }
    const s = npSum(out);
    if (s > 0) for (let k = 0; k < out.length; k++) out[k] = out[k] / s;
    return out;
  }

  // ---------------------------------------------------------------- plots/flow_graph.py: figure data

  /** flow_graph._per_head_text: the (up to) four heads with the most attention on edge k in either model,
   * 'h3 0.41→0.12, h7 …'. Ties keep head order (numpy's argsort, not stable, may order them otherwise). */
  function perHeadText(g, k, top = 4) {
    const nh = g.heads.length;
    const order = Array.from({ length: nh }, (_, c) => c);
    const key = (c) => -Math.max(g.attnBase[k * nh + c], g.attnTuned[k * nh + c]);
    order.sort((p, q) => key(p) - key(q));
    return order
      .slice(0, top)
      .map((c) => `h${g.heads[c]} ${fmtFixed(g.attnBase[k * nh + c], 2)}→${fmtFixed(g.attnTuned[k * nh + c], 2)}`)
      .join(", ");
  }

  /** flow_graph._edge_columns: one row per drawn (layer, from, to); perHead: the measure has a per-head part (the
   * hover names the top heads; else vocab.wholeLayer). */
  function edgeColumns(g, labels, differences, vocab, perHead = true) {
    const top = Math.max(maxOr0(g.massBase), maxOr0(g.massTuned)) || 1.0;
    const names = ["x0", "y0", "x1", "y1", "colour", "alpha", "width", "status", "mb", "mt", "ab", "at", "perhead",
      "from", "to", "layer", "xm", "ym"];
    const cols = Object.fromEntries(names.map((k) => [k, []]));
    for (let k = 0; k < g.nEdges; k++) {
      const st = g.status[k];
      const lay = g.layer[k];
      const j = g.src[k];
      const i = g.dst[k];
      const faded = differences && st === "shared";
      cols.x0.push(lay);
      cols.y0.push(-j);
      cols.x1.push(lay - 1);
      cols.y1.push(-i);
      cols.colour.push(faded ? vocab.faded : vocab.statusColours[st]);
      cols.alpha.push(faded ? 0.35 : 0.75);
      cols.width.push(npRound(0.8 + (7.0 * Math.max(g.massBase[k], g.massTuned[k])) / top, 2));
      cols.status.push(vocab.statusLabels[st]);
      cols.mb.push(sig(g.massBase[k]));
      cols.mt.push(sig(g.massTuned[k]));
      cols.ab.push(sig(g.meanBase[k]));
      cols.at.push(sig(g.meanTuned[k]));
      cols.perhead.push(perHead ? perHeadText(g, k) : vocab.wholeLayer);
      cols.from.push(`${labels[j]} #${j}`);
      cols.to.push(`${labels[i]} #${i}`);
      cols.layer.push(lay);
      cols.xm.push(lay - 0.5);
      cols.ym.push(-(j + i) / 2);
    }
    return cols;
  }

  /** flow_graph._head_edge_columns: each drawn edge split into the heads that carry it (attention ≥ τ for the
   * trace, `threshold` null: ≥ the heads' mean), side by side. */
  function headEdgeColumns(g, threshold, differences, vocab) {
    const names = ["x0", "y0", "x1", "y1", "colour", "alpha", "width", "head", "w"];
    const cols = Object.fromEntries(names.map((k) => [k, []]));
    const nh = g.heads.length;
    const w = new Float64Array(nh);
    for (let k = 0; k < g.nEdges; k++) {
      const st = g.status[k];
      for (let c = 0; c < nh; c++) w[c] = Math.max(g.attnBase[k * nh + c], g.attnTuned[k * nh + c]);
      const cut = threshold != null ? threshold : npSum(w) / nh;
      const carry = [];
      for (let c = 0; c < nh; c++) if (w[c] >= cut) carry.push(c);
      const faded = differences && st === "shared";
      carry.forEach((c, pos) => {
        const off = 0.08 * (pos - (carry.length - 1) / 2);
        cols.x0.push(g.layer[k]);
        cols.y0.push(-g.src[k] + off);
        cols.x1.push(g.layer[k] - 1);
        cols.y1.push(-g.dst[k] + off);
        cols.colour.push(faded ? vocab.faded : vocab.statusColours[st]);
        cols.alpha.push(faded ? 0.35 : 0.7);
        cols.width.push(pyRound(0.5 + 4.0 * w[c], 2));
        cols.head.push(g.heads[c]);
        cols.w.push(pyRound(w[c], 4));
      });
    }
    return cols;
  }

  /** flow_graph._node_sizes: marker size per node relative to the largest value anywhere; 0 where nothing arrives. */
  function nodeSizes(values) {
    const peak = maxOr0(values);
    return Float64Array.from(values, (v) => {
      const rel = peak > 0 ? v / peak : 0.0;
      return rel > 0 ? 4.0 + 14.0 * Math.sqrt(Math.max(rel, 0.0)) : 0.0;
    });
  }

  /** The "nodes" source of flow_graph._node_glyphs: layers a-1..b × tokens, layer-major. */
  function nodeColumns(g, labels, n, a, b) {
    const rows = (b - a + 2) * n;
    const sb = nodeSizes(g.base.node);
    const st = nodeSizes(g.tuned.node);
    const cols = {
      x: new Int16Array(rows), y: new Int16Array(rows), layer: new Int16Array(rows), token: new Int16Array(rows),
      label: new Array(rows), ib: new Float32Array(rows), it: new Float32Array(rows), sb: new Float32Array(rows),
      st: new Float32Array(rows), xb: new Float32Array(rows), xt: new Float32Array(rows),
    };
    let r = 0;
    for (let lay = a - 1; lay <= b; lay++) {
      for (let tok = 0; tok < n; tok++, r++) {
        const at = lay * n + tok;
        cols.x[r] = lay;
        cols.y[r] = -tok;
        cols.layer[r] = lay;
        cols.token[r] = tok;
        cols.label[r] = labels[tok];
        cols.ib[r] = g.base.node[at];
        cols.it[r] = g.tuned.node[at];
        cols.sb[r] = sb[at];
        cols.st[r] = st[at];
        cols.xb[r] = lay - 0.08;
        cols.xt[r] = lay + 0.08;
      }
    }
    return cols;
  }

  /** flow_graph._sentence_layout: wrap the units into lines (segment B starts a new line). */
  function sentenceLayout(labels, segments, maxUnits = 104.0) {
    const xs = [];
    const ys = [];
    const ws = [];
    let x = 0.0;
    let line = 0;
    let prev = segments.length ? segments[0] : 0;
    labels.forEach((label, k) => {
      const seg = segments[k];
      const w = Math.max(3.0, pyLen(label) * 0.9 + 2.0);
      if ((seg !== prev && x > 0) || x + w > maxUnits) {
        x = 0.0;
        line += 1;
      }
      xs.push(x + w / 2);
      ys.push(-line);
      ws.push(w - 1.0); // a gap between units, so that words read apart
      x += w;
      prev = seg;
    });
    return { x: xs, line: ys, w: ws };
  }

  /** flow_graph._stop_message */
  function stopMessage(g, threshold, vocab) {
    const parts = [];
    for (const [e, key] of [[g.base, "base"], [g.tuned, "tuned"]]) {
      if (e.stopped != null) {
        parts.push(`The ${vocab.modelLabels[key]} model's trace stops at layer ${e.stopped}: ` +
          `no edge from the tokens it reached passes τ = ${fmtG(threshold)}.`);
      }
    }
    if (parts.length) parts.push("Lower τ, or switch the method to rollout, to follow it further.");
    return parts.join(" ");
  }

  /** flow_graph._stop_label */
  function stopLabel(g, threshold, vocab) {
    const parts = [];
    for (const [e, key] of [[g.base, "base"], [g.tuned, "tuned"]]) {
      if (e.stopped != null) parts.push(`${vocab.modelLabels[key]} at layer ${e.stopped}`);
    }
    return parts.length ? `Trace stops: ${parts.join(", ")} — no edge passes τ = ${fmtG(threshold)}` : "";
  }

  /** flow_graph.graph_title */
  function graphTitle(s, labels, measure, vocab) {
    const [a, b] = s.layers;
    const uses = vocab.methodUses[s.method];
    const heads = vocab.measurePerHead[measure] === false
      ? vocab.wholeLayers
      : s.heads == null
        ? "all heads"
        : `heads [${[...new Set(Array.from(s.heads, Number))].sort((p, q) => p - q).join(", ")}]`;
    const parts = [];
    if (uses.threshold) parts.push(`τ = ${fmtG(s.threshold)}`);
    if (uses.decay) parts.push(`α = ${fmtG(s.decay)}`);
    parts.push(heads);
    return `${vocab.methodTitles[s.method]} of ${vocab.measureTitles[measure]} from '${labels[s.source]}' ` +
      `(#${s.source}) at layer ${b} down to the input${a === 1 ? "" : ` of layer ${a}`} — ${parts.join(", ")}`;
  }

  /** flow_graph._caption */
  function caption(s, labels, g, stop, vocab) {
    let text = `<b>${vocab.methodVerbs[s.method]} from</b> ` +
      `<span style='color:${vocab.highlight}'><b>${esc(labels[s.source])}</b> (#${s.source})</span>` +
      ` — ${g.base.nEdges} edges drawn for the pre-trained model, ${g.tuned.nEdges} for the fine-tuned ` +
      "(each reached token's strongest incoming edges). Click any token node to trace from it.";
    if (stop) text += `<br><span style='color:${vocab.highlight}'>${esc(stop)}</span>`;
    return text;
  }

  /** flow_graph._nothing_drawn */
  function nothingDrawn(g, key, vocab, perHead = true) {
    const e = key === "base" ? g.base : g.tuned;
    if (e.nEdges) return "";
    const why = e.stopped != null ? `: its trace stops at layer ${e.stopped}` : "";
    return `No ${perHead ? "head" : "layer"} carries the ${vocab.modelLabels[key]} flow${why}`;
  }

  /** The values of flow_graph.build_head_grids (through heatmap.layer_head_heatmap, digits=3); perHead: the measure
   * has a per-head part (else each layer is one whole cell, and the titles say layers: flow_graph.head_grid_title). */
  function headGrids(g, L, H, method, vocab, layers = null, perHead = true) {
    const [ga, gb] = layers || [1, L];
    const shareB = headShares(g, L, H, "base");
    const shareT = headShares(g, L, H, "tuned");
    const top = Math.max(maxOr0(shareB), maxOr0(shareT)) || 1.0;
    const layer = Int32Array.from({ length: L * H }, (_, k) => Math.floor(k / H) + 1);
    const head = Int32Array.from({ length: L * H }, (_, k) => k % H);
    const rounded = (v) => Float64Array.from(v, (x) => npRound(x, 4));
    const extra = { [vocab.modelLabels.base]: rounded(shareB), [vocab.modelLabels.tuned]: rounded(shareT) };
    const m = vocab.methodTitles[method].toLowerCase();
    const gridTitle = (key) => {
      // flow_graph.head_grid_title
      const what = perHead ? "Heads carrying the" : "Whole layers in the";
      const title = `${what} ${m} — ${vocab.modelLabels[key]}`;
      return title.length <= vocab.gridTitleChars ? title : `${what} flow — ${vocab.modelLabels[key]}`;
    };
    const grid = (values, key) => ({
      title: nothingDrawn(g, key, vocab, perHead) || gridTitle(key),
      data: { layer, head, v: rounded(values), ...extra },
      high: Math.max(top, 0.0 + 1e-6),
      yRange: [ga - 0.5, gb + 0.5],
      ticks: Array.from({ length: gb - ga + 1 }, (_, k) => ga + k),
    });
    return { base: grid(shareB, "base"), tuned: grid(shareT, "tuned"), shareBase: shareB, shareTuned: shareT };
  }

  /** The sentence strip's source, title, size and highlight (flow_graph.build_sentence_figure). */
  /** flow_graph.spread_note: " — spread almost evenly (max/min = r)" when each model gives every unit some flow and
   * the larger max/min ratio is under vocab.evenRatio. */
  function spreadNote(scoresB, scoresT, vocab) {
    const ratios = [];
    for (const v of [scoresB, scoresT]) {
      if (!v.length) return "";
      let lo = Infinity;
      let hi = -Infinity;
      for (let k = 0; k < v.length; k++) {
        if (!(v[k] > 0)) return "";
        lo = Math.min(lo, v[k]);
        hi = Math.max(hi, v[k]);
      }
      ratios.push(hi / lo);
    }
    const top = Math.max(...ratios);
    return top < vocab.evenRatio ? ` — spread almost evenly (max/min = ${fmtFixed(top, 1)})` : "";
  }

  /** theme.mapped_colour: the colour a LinearColorMapper(palette, low, high) gives a value (NaN: the first). */
  function mappedColour(palette, value, low, high) {
    const n = palette.length;
    if (high <= low || Number.isNaN(value)) return palette[0];
    const k = Number.isFinite(value) ? Math.floor(((value - low) / (high - low)) * n) : value;
    return palette[Math.min(Math.max(k, 0), n - 1)];
  }

  /** theme.luminance: WCAG 2 relative luminance of '#rrggbb' (0 = black, 1 = white). */
  function luminance(hex) {
    const h = hex.replace("#", "");
    const [r, g, b] = [0, 2, 4].map((i) => {
      const c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  /** theme.contrast: WCAG contrast ratio of two colours (1 = none, 21 = black on white). */
  function contrast(a, b) {
    const [la, lb] = [luminance(a), luminance(b)].sort((x, y) => x - y);
    return (lb + 0.05) / (la + 0.05);
  }

  /** theme.text_on: of dark and light, the text colour whose lowest contrast over the fills is the higher. */
  function textOn(fills, dark, light) {
    const worstDark = Math.min(...fills.map((f) => contrast(f, dark)));
    const worstLight = Math.min(...fills.map((f) => contrast(f, light)));
    return worstDark >= worstLight ? dark : light;
  }

  /** flow_graph.text_colours: the text colour that reads on both halves of each sentence cell. */
  function textColours(sb, st, high, vocab) {
    return sb.map((vb, k) => textOn([mappedColour(vocab.palettes.base, vb, 0.0, high),
      mappedColour(vocab.palettes.tuned, st[k], 0.0, high)], vocab.darkText, vocab.lightText));
  }

  function sentenceData(s, labels, segments, scoresB, scoresT, measure, vocab) {
    const lay = sentenceLayout(labels, segments);
    const nLines = lay.line.length ? -Math.min(...lay.line) + 1 : 1;
    const top = Math.max(maxOr0(scoresB), maxOr0(scoresT)) || 1.0;
    const sb = Array.from(scoresB, (v) => sig(v));
    const st = Array.from(scoresT, (v) => sig(v));
    return {
      data: {
        x: lay.x,
        yb: lay.line.map((y) => y + 0.2),
        yt: lay.line.map((y) => y - 0.2),
        y: lay.line,
        w: lay.w,
        text: Array.from(labels),
        sb,
        st,
        tc: textColours(sb, st, top, vocab),
      },
      title: `Sentence view: ${vocab.methodTitles[s.method].toLowerCase()} score of ` +
        `${vocab.measureTitles[measure]} per ${s.unit} (upper half ${vocab.plainModelLabels.base}, lower ${vocab.plainModelLabels.tuned})${spreadNote(scoresB, scoresT, vocab)}`,
      height: 90 + 46 * nLines,
      yRange: [-nLines + 0.4, 0.8],
      high: top,
      highlight: { x: lay.x[s.source], y: lay.line[s.source], w: lay.w[s.source] + 0.4 },
    };
  }

  /** The flow graph figure's settings-dependent parts (flow_graph.build_graph_figure, _legend_and_labels). */
  function graphFigure(s, labels, n, g, measure, stop, vocab) {
    const [a, b] = s.layers;
    const ticks = [];
    const tickLabels = {};
    for (let lay = a - 1; lay <= b; lay++) {
      ticks.push(lay);
      tickLabels[lay] = lay === a - 1 ? (a === 1 ? "input" : `input to layer ${a}`) : `layer ${lay}`;
    }
    const order = ["base", "tuned", "shared"];
    return {
      title: graphTitle(s, labels, measure, vocab),
      xRange: [a - 1 - 1.2, b + 1.2],
      yRange: [-n + 0.3, 1.2],
      height: Math.max(320, 17 * n + 110),
      ticks,
      tickLabels,
      stopLabel: stop ? stopLabel(g, s.threshold, vocab) : "",
      flowName: vocab.methodUses[s.method].threshold ? "trace flow" : "flow",
      legend: {
        x: [a - 1, a - 1, a - 1],
        y: [1, 1, 1],
        colour: order.map((k) => (s.differences && k === "shared" ? vocab.faded : vocab.statusColours[k])),
        label: order.map((k) => `edge: ${vocab.statusLabels[k]}`),
      },
      tokenLabels: {
        y: Array.from(labels, (_, i) => -i),
        text: Array.from(labels),
        xl: Array.from(labels, () => a - 1 - 0.18),
        xr: Array.from(labels, () => b + 0.18),
      },
      ring: { x: [b], y: [-s.source] },
    };
  }

  /** The settings checked, layers as [a, b] (null = all layers), heads as given (null = all heads). Every other
   * field is required: the defaults are Python's (settings.FlowSettings), which sends them. */
  function resolveSettings(settings, payload, vocab) {
    for (const key of ["method", "source", "threshold", "decay", "perHead", "differences"]) {
      if (settings[key] == null) throw new Error(`settings.${key} is missing`);
    }
    if (!(settings.method in vocab.methodTitles)) throw new Error(`unknown method ${settings.method}`);
    const s = {
      method: settings.method,
      source: checkSource(settings.source, payload.n),
      threshold: Number(settings.threshold),
      decay: Number(settings.decay),
      layers: checkLayers(settings.layers, payload.L),
      heads: settings.heads == null ? null : Array.from(settings.heads, Number),
      perHead: Boolean(settings.perHead),
      differences: Boolean(settings.differences),
      unit: settings.unit || payload.unit,
    };
    checkThresholdDecay(s.threshold, s.decay);
    selectHeads(payload.H, s.heads);
    return s;
  }

  /** Everything the Attention flow view draws for one example under one set of drawing settings.
   *
   * payload: {n, L, H, labels [n], segments [n], specialPositions, attnBase, attnTuned (Float32Array L·H·n·n, the
   *   measured attention after the measure, the special-token treatment and the units), measure (key),
   *   measureIncludesResidual (bool: rollout then omits its ½·I), unit?}; vocab.measurePerHead[measure] false (a
   *   measure without a per-head part, H = 1): heads and per-head edges are ignored, titles and hover say layers
   * settings: {method: "trace" | "rollout" | "maxflow", source, threshold, decay, layers: [a, b] | null,
   *   heads: [..] | null, perHead, differences, unit}
   * vocab: flow_payload.engine_vocab() (titles, labels, colours, the edge budget)
   * maxflow: for method "maxflow", {base, tuned}: each model's graph.method_edges from the server
   *   ({layer, src, dst, mass, node ((L+1)·n or nested)}).
   *
   * -> {settings, graph (figure parts), edges, headEdges (null unless perHead), nodes, caption {text, height},
   *     sentence, grids {base, tuned}, scores {base, tuned}, pair (the merged graph)} */
  function figureData(payload, settings, vocab, maxflow = null) {
    const { n, L, H } = payload;
    const Ab = attention(payload.attnBase, L, H, n);
    const At = attention(payload.attnTuned, L, H, n);
    // a measure without a per-head part (one whole-layer "head"): no head subset, no per-head edges (as analysis_of)
    const perHeadPart = vocab.measurePerHead[payload.measure] !== false;
    const s = resolveSettings(
      perHeadPart ? settings : { ...settings, heads: null, perHead: false }, payload, vocab,
    );
    const [a] = s.layers;
    const labels = payload.labels;
    const opts = {
      source: s.source, threshold: s.threshold, layers: s.layers, heads: s.heads, decay: s.decay,
      residual: !payload.measureIncludesResidual, maxEdges: vocab.maxEdges, perNode: vocab.perNode,
    };
    let eb;
    let et;
    let scoresB;
    let scoresT;
    if (s.method === "trace") {
      const tb = traceRun(Ab, opts);
      const tt = traceRun(At, opts);
      eb = methodEdges(Ab, "trace", opts, tb);
      et = methodEdges(At, "trace", opts, tt);
      scoresB = inputScores(tb.influence, n, a - 1);
      scoresT = inputScores(tt.influence, n, a - 1);
    } else if (s.method === "rollout") {
      eb = methodEdges(Ab, "rollout", opts);
      et = methodEdges(At, "rollout", opts);
      scoresB = inputScores(eb.node, n, a - 1);
      scoresT = inputScores(et.node, n, a - 1);
    } else {
      if (!maxflow) throw new Error("max-flow is solved on the server: pass its edges as figureData's 4th argument");
      eb = givenEdges(maxflow.base, L, n);
      et = givenEdges(maxflow.tuned, L, n);
      scoresB = normalised(eb.node.subarray((a - 1) * n, a * n), true);
      scoresT = normalised(et.node.subarray((a - 1) * n, a * n), true);
    }
    const g = pairGraph(Ab, At, s.method, eb, et, s.heads);
    const stop = stopMessage(g, s.threshold, vocab);
    const grids = headGrids(g, L, H, s.method, vocab, s.layers, perHeadPart);
    return {
      settings: s,
      graph: graphFigure(s, labels, n, g, payload.measure, stop, vocab),
      edges: edgeColumns(g, labels, s.differences, vocab, perHeadPart),
      headEdges: s.perHead
        ? headEdgeColumns(g, vocab.methodUses[s.method].threshold ? s.threshold : null, s.differences, vocab)
        : null,
      nodes: nodeColumns(g, labels, n, s.layers[0], s.layers[1]),
      caption: { text: caption(s, labels, g, stop, vocab), height: vocab.captionHeight },
      sentence: sentenceData(s, labels, payload.segments, scoresB, scoresT, payload.measure, vocab),
      grids: { base: grids.base, tuned: grids.tuned },
      shares: { base: grids.shareBase, tuned: grids.shareTuned },
      scores: { base: scoresB, tuned: scoresT },
      pair: g,
    };
  }

  return {
    // the view
    figureData,
    // flows.py
    attention, selectHeads, trace, traceRun, residualAttention, rollout, flowScores,
    // graph.py
    rolloutMasses, budget, methodEdges, givenEdges, pairGraph, headShares,
    // flow_graph.py pieces
    edgeColumns, headEdgeColumns, perHeadText, nodeSizes, nodeColumns, sentenceLayout, stopMessage, stopLabel,
    graphTitle, caption, nothingDrawn, headGrids, spreadNote, textColours, mappedColour, luminance, contrast, textOn,
    // numpy / Python numerics
    pairwiseSum, npSum, npRound, pyRound, fmtFixed, fmtG, sig, rint,
  };
})();

if (typeof module !== "undefined") {
  module.exports = AttnflowEngine;
}
