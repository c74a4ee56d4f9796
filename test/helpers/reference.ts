/**
 * Independent reference implementations for op tests: plain JavaScript loops over float64
 * numbers and nested index arithmetic. They never call the engine, so a bug in a kernel
 * cannot hide in its own expected values. Written for clarity, not speed.
 */
import { prod } from "./numeric.ts";

/** A dense row-major array: the reference's only data type. */
export interface Ref {
  shape: number[];
  data: number[];
}

export function ref(shape: readonly number[], data: ArrayLike<number>): Ref {
  if (prod(shape) !== data.length) {
    throw new Error(`ref: ${data.length} values for shape [${shape}]`);
  }
  return { shape: [...shape], data: Array.from(data) };
}

export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let off = 0;
  for (let d = 0; d < shape.length; d++) off = off * shape[d] + idx[d];
  return off;
}

/** Builds an array of `shape` whose entry at multi-index `idx` is `f(idx)`. */
export function build(shape: readonly number[], f: (idx: number[]) => number): Ref {
  const n = prod(shape);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) data[i] = f(unravel(i, shape));
  return { shape: [...shape], data };
}

export function at(x: Ref, idx: readonly number[]): number {
  return x.data[ravel(idx, x.shape)];
}

export function mapRef(x: Ref, f: (v: number) => number): Ref {
  return { shape: [...x.shape], data: x.data.map(f) };
}

/** NumPy broadcasting of two shapes. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`cannot broadcast [${a}] [${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Entry of `x` read at an index of the broadcast output shape. */
function bcastAt(x: Ref, idx: readonly number[]): number {
  const lead = idx.length - x.shape.length;
  return at(x, x.shape.map((d, i) => (d === 1 ? 0 : idx[lead + i])));
}

export function zipRef(a: Ref, b: Ref, f: (x: number, y: number) => number): Ref {
  return build(broadcastShape(a.shape, b.shape), (idx) => f(bcastAt(a, idx), bcastAt(b, idx)));
}

export function whereRef(c: Ref, a: Ref, b: Ref): Ref {
  const shape = broadcastShape(broadcastShape(c.shape, a.shape), b.shape);
  return build(shape, (idx) => (bcastAt(c, idx) ? bcastAt(a, idx) : bcastAt(b, idx)));
}

export function expandRef(x: Ref, shape: readonly number[]): Ref {
  return build(shape, (idx) => bcastAt(x, idx));
}

/** Reduces `axes` (all when undefined) with `f` over the list of values of each output. */
export function reduceRef(
  x: Ref,
  axes: number[] | undefined,
  keepdim: boolean,
  f: (vals: number[]) => number,
): Ref {
  const r = x.shape.length;
  const ax = (axes ?? [...Array(r).keys()]).map((a) => (a < 0 ? a + r : a));
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < prod(keptShape); i++) groups.set(i, []);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, d) => (ax.includes(d) ? 0 : v));
    groups.get(ravel(idx, keptShape))!.push(x.data[i]);
  }
  const data = [...groups.keys()].sort((p, q) => p - q).map((k) => f(groups.get(k)!));
  return { shape: keepdim ? keptShape : x.shape.filter((_, i) => !ax.includes(i)), data };
}

export const sumOf = (v: number[]) => v.reduce((s, x) => s + x, 0);
export const meanOf = (v: number[]) => sumOf(v) / v.length;
export const maxOf = (v: number[]) =>
  v.some(Number.isNaN) ? NaN : v.reduce((m, x) => (x > m ? x : m), -Infinity);
export const minOf = (v: number[]) =>
  v.some(Number.isNaN) ? NaN : v.reduce((m, x) => (x < m ? x : m), Infinity);
/** First index of the maximum; a NaN counts as the maximum (PyTorch). */
export const argmaxOf = (v: number[]) => {
  const nan = v.findIndex(Number.isNaN);
  return nan >= 0 ? nan : v.indexOf(Math.max(...v));
};
export const argminOf = (v: number[]) => {
  const nan = v.findIndex(Number.isNaN);
  return nan >= 0 ? nan : v.indexOf(Math.min(...v));
};

/** Applies a 1-D function to every lane along `axis` (output has the input's shape). */
export function lanes(x: Ref, axis: number, f: (vals: number[]) => number[]): Ref {
  const r = x.shape.length;
  const a = axis < 0 ? axis + r : axis;
  const out = new Array<number>(x.data.length).fill(NaN);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    if (idx[a] !== 0) continue;
    const positions = Array.from({ length: x.shape[a] }, (_, j) => {
      const k = [...idx];
      k[a] = j;
      return ravel(k, x.shape);
    });
    const res = f(positions.map((p) => x.data[p]));
    positions.forEach((p, j) => (out[p] = res[j]));
  }
  return { shape: [...x.shape], data: out };
}

export function softmax1d(v: number[]): number[] {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - (Number.isFinite(m) ? m : 0)));
  const s = sumOf(e);
  return e.map((x) => x / s);
}

export function logSoftmax1d(v: number[]): number[] {
  const m = Math.max(...v);
  const s = sumOf(v.map((x) => Math.exp(x - m)));
  return v.map((x) => x - m - Math.log(s));
}

export function cumsum1d(v: number[]): number[] {
  let s = 0;
  return v.map((x) => (s += x));
}

export function permuteRef(x: Ref, dims: number[]): Ref {
  const r = x.shape.length;
  const d = dims.map((a) => (a < 0 ? a + r : a));
  return build(d.map((a) => x.shape[a]), (idx) => {
    const src = new Array<number>(r);
    d.forEach((a, i) => (src[a] = idx[i]));
    return at(x, src);
  });
}

/** Python's slice(start, stop, step).indices(n), as the list of selected positions. */
export function sliceIndices(n: number, start?: number, stop?: number, step = 1): number[] {
  let s: number;
  let e: number;
  if (step > 0) {
    s = start === undefined ? 0 : start < 0 ? Math.max(start + n, 0) : Math.min(start, n);
    e = stop === undefined ? n : stop < 0 ? Math.max(stop + n, 0) : Math.min(stop, n);
  } else {
    s = start === undefined ? n - 1 : start < 0 ? Math.max(start + n, -1) : Math.min(start, n - 1);
    e = stop === undefined ? -1 : stop < 0 ? Math.max(stop + n, -1) : Math.min(stop, n - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

/** Selects positions `pick[d]` on every axis d (undefined = all). */
export function takeRef(x: Ref, pick: (number[] | undefined)[]): Ref {
  const lists = x.shape.map((n, d) => pick[d] ?? [...Array(n).keys()]);
  return build(lists.map((l) => l.length), (idx) => at(x, idx.map((v, d) => lists[d][v])));
}

export function sliceRef(x: Ref, ranges: ([number?, number?, number?] | undefined)[]): Ref {
  return takeRef(
    x,
    x.shape.map((n, d) => (ranges[d] ? sliceIndices(n, ...ranges[d]!) : undefined)),
  );
}

export function catRef(xs: Ref[], axis: number): Ref {
  const r = xs[0].shape.length;
  const a = axis < 0 ? axis + r : axis;
  const shape = [...xs[0].shape];
  shape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
  return build(shape, (idx) => {
    let k = idx[a];
    for (const x of xs) {
      if (k < x.shape[a]) {
        const j = [...idx];
        j[a] = k;
        return at(x, j);
      }
      k -= x.shape[a];
    }
    throw new Error("unreachable");
  });
}

/** Padding with (before, after) per axis (first axis first); replicate clamps the index. */
export function padRef(
  x: Ref,
  pads: [number, number][],
  mode: "constant" | "replicate",
  value = 0,
): Ref {
  const shape = x.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  return build(shape, (idx) => {
    const src = idx.map((v, d) => v - pads[d][0]);
    if (src.every((v, d) => v >= 0 && v < x.shape[d])) return at(x, src);
    if (mode === "constant") return value;
    return at(x, src.map((v, d) => Math.min(Math.max(v, 0), x.shape[d] - 1)));
  });
}

/** NumPy matmul: 1-D operands become a row / column, batch axes broadcast. */
export function matmulRef(a: Ref, b: Ref): Ref {
  const A = a.shape.length === 1 ? ref([1, a.shape[0]], a.data) : a;
  const B = b.shape.length === 1 ? ref([b.shape[0], 1], b.data) : b;
  const [m, k] = A.shape.slice(-2);
  const [k2, n] = B.shape.slice(-2);
  if (k !== k2) throw new Error("matmulRef: inner mismatch");
  const batch = broadcastShape(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const bat = (x: Ref, bi: number[]) => {
    const xb = x.shape.slice(0, -2);
    const lead = bi.length - xb.length;
    return xb.map((d, i) => (d === 1 ? 0 : bi[lead + i]));
  };
  let out = build([...batch, m, n], (idx) => {
    const bi = idx.slice(0, -2);
    const [i, j] = idx.slice(-2);
    let s = 0;
    for (let p = 0; p < k; p++) s += at(A, [...bat(A, bi), i, p]) * at(B, [...bat(B, bi), p, j]);
    return s;
  });
  if (a.shape.length === 1) out = ref([...out.shape.slice(0, -2), n], out.data);
  if (b.shape.length === 1) out = ref(out.shape.slice(0, -1), out.data);
  return out;
}

export function transposeLast(x: Ref): Ref {
  const r = x.shape.length;
  return permuteRef(x, [...Array(r - 2).keys(), r - 1, r - 2]);
}

export interface ConvRefOptions {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
}

/** Direct 2-D convolution (cross-correlation) x [N, C, H, W], w [O, C/g, KH, KW]. */
export function conv2dRef(x: Ref, w: Ref, bias: number[] | null, o: ConvRefOptions = {}): Ref {
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.padding ?? [0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const g = o.groups ?? 1;
  const [N, C, H, W] = x.shape;
  const [O, Cg, KH, KW] = w.shape;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / g;
  if (Cg * g !== C) throw new Error("conv2dRef: channels");
  return build([N, O, OH, OW], ([n, oc, oh, ow]) => {
    const grp = Math.floor(oc / Og);
    let s = bias ? bias[oc] : 0;
    for (let c = 0; c < Cg; c++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const ih = oh * sh - ph + kh * dh;
          const iw = ow * sw - pw + kw * dw;
          if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
          s += at(x, [n, grp * Cg + c, ih, iw]) * at(w, [oc, c, kh, kw]);
        }
      }
    }
    return s;
  });
}

/**
 * Max / average pooling over [N, C, H, W]. Max ignores padding (PyTorch pads with -inf);
 * average divides by the window clipped to the padded input (count_include_pad=True).
 */
export function poolRef(
  x: Ref,
  kind: "max" | "avg",
  k: [number, number],
  s: [number, number],
  p: [number, number],
): Ref {
  const [N, C, H, W] = x.shape;
  const OH = Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1;
  const OW = Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1;
  return build([N, C, OH, OW], ([n, c, oh, ow]) => {
    const vals: number[] = [];
    let padded = 0;
    for (let i = 0; i < k[0]; i++) {
      for (let j = 0; j < k[1]; j++) {
        const ih = oh * s[0] - p[0] + i;
        const iw = ow * s[1] - p[1] + j;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W) vals.push(at(x, [n, c, ih, iw]));
        else if (ih < H + p[0] && iw < W + p[1]) padded++;
      }
    }
    return kind === "max" ? maxOf(vals) : sumOf(vals) / (vals.length + padded);
  });
}

/** PyTorch's legacy 'nearest': source = floor(dst * scale), scale = in / out by default. */
export function nearestRef(x: Ref, oh: number, ow: number, scale?: [number, number]): Ref {
  const r = x.shape.length;
  const [H, W] = x.shape.slice(-2);
  const [sh, sw] = scale ?? [H / oh, W / ow];
  return build([...x.shape.slice(0, -2), oh, ow], (idx) => {
    const i = Math.min(Math.floor(idx[r - 2] * sh), H - 1);
    const j = Math.min(Math.floor(idx[r - 1] * sw), W - 1);
    return at(x, [...idx.slice(0, -2), i, j]);
  });
}

function linear(dst: number, inSize: number, outSize: number, ac: boolean, scale?: number) {
  let src: number;
  if (ac) src = outSize > 1 ? (dst * (inSize - 1)) / (outSize - 1) : 0;
  else src = Math.max((dst + 0.5) * (scale ?? inSize / outSize) - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const i1 = Math.min(i0 + 1, inSize - 1);
  return { i0, i1, t: src - i0 };
}

/** Bilinear resize (align_corners true / false; `scale` = 1/scale_factor when given). */
export function bilinearRef(
  x: Ref,
  oh: number,
  ow: number,
  alignCorners: boolean,
  scale?: [number, number],
): Ref {
  const r = x.shape.length;
  const [H, W] = x.shape.slice(-2);
  return build([...x.shape.slice(0, -2), oh, ow], (idx) => {
    const lead = idx.slice(0, -2);
    const y = linear(idx[r - 2], H, oh, alignCorners, scale?.[0]);
    const xx = linear(idx[r - 1], W, ow, alignCorners, scale?.[1]);
    const v = (i: number, j: number) => at(x, [...lead, i, j]);
    const top = v(y.i0, xx.i0) * (1 - xx.t) + v(y.i0, xx.i1) * xx.t;
    const bot = v(y.i1, xx.i0) * (1 - xx.t) + v(y.i1, xx.i1) * xx.t;
    return top * (1 - y.t) + bot * y.t;
  });
}

/** grid_sample: bilinear, zero padding, align_corners=False. grid [N, OH, OW, 2] holds (x, y). */
export function gridSampleRef(x: Ref, grid: Ref): Ref {
  const [N, C, H, W] = x.shape;
  const [, OH, OW] = grid.shape;
  return build([N, C, OH, OW], ([n, c, i, j]) => {
    const gx = at(grid, [n, i, j, 0]);
    const gy = at(grid, [n, i, j, 1]);
    const px = ((gx + 1) * W - 1) / 2;
    const py = ((gy + 1) * H - 1) / 2;
    const x0 = Math.floor(px);
    const y0 = Math.floor(py);
    let s = 0;
    for (const [yy, wy] of [[y0, 1 - (py - y0)], [y0 + 1, py - y0]]) {
      for (const [xx, wx] of [[x0, 1 - (px - x0)], [x0 + 1, px - x0]]) {
        if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += wy * wx * at(x, [n, c, yy, xx]);
      }
    }
    return s;
  });
}

export function gatherRef(x: Ref, axis: number, index: Ref): Ref {
  return build(index.shape, (idx) => {
    const src = [...idx];
    src[axis] = at(index, idx);
    return at(x, src);
  });
}

export function scatterAddRef(x: Ref, axis: number, index: Ref, src: Ref): Ref {
  const out = ref(x.shape, x.data);
  for (let i = 0; i < index.data.length; i++) {
    const idx = unravel(i, index.shape);
    const dst = [...idx];
    dst[axis] = index.data[i];
    out.data[ravel(dst, out.shape)] += at(src, idx);
  }
  return out;
}

export function indexSelectRef(x: Ref, axis: number, index: number[]): Ref {
  return takeRef(x, x.shape.map((_, d) => (d === axis ? index : undefined)));
}

export function indexAddRef(x: Ref, axis: number, index: number[], src: Ref): Ref {
  const out = ref(x.shape, x.data);
  for (let i = 0; i < src.data.length; i++) {
    const idx = unravel(i, src.shape);
    const dst = [...idx];
    dst[axis] = index[idx[axis]];
    out.data[ravel(dst, out.shape)] += src.data[i];
  }
  return out;
}

/** Stable sort of one lane; NaN is the largest value (PyTorch). Returns [values, indices]. */
export function sort1d(v: number[], descending: boolean): [number[], number[]] {
  const rank = (x: number) => (Number.isNaN(x) ? 1 : 0);
  const order = v.map((_, i) => i).sort((p, q) => {
    const a = v[p];
    const b = v[q];
    let c = rank(a) - rank(b);
    if (c === 0 && !Number.isNaN(a)) c = a < b ? -1 : a > b ? 1 : 0;
    if (descending) c = -c;
    return c !== 0 ? c : p - q;
  });
  return [order.map((i) => v[i]), order];
}

/** erf by composite Simpson integration of 2/sqrt(pi) * exp(-t^2) (error < 1e-13). */
export function erfRef(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0) return 0;
  if (Math.abs(x) > 6) return Math.sign(x);
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
  return (s * h) / 3 * (2 / Math.sqrt(Math.PI));
}

/** Round half to even (torch.round). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** The PCG hash of Jarzynski & Olano ("Hash Functions for GPU Rendering", 2020). */
export function pcgHashRef(v: number): number {
  const state = BigInt.asUintN(32, BigInt(v >>> 0) * 747796405n + 2891336453n);
  const shift = (state >> 28n) + 4n;
  const word = BigInt.asUintN(32, ((state >> shift) ^ state) * 277803737n);
  return Number((word >> 22n) ^ word);
}

/**
 * Multi-scale deformable attention: value [N, S, M, D] (levels concatenated), locations
 * [N, Lq, M, L, P, 2] normalised (x, y), weights [N, Lq, M, L, P] -> [N, Lq, M * D].
 * Each point samples its level bilinearly at pixel (x * W - 0.5, y * H - 0.5), zero padding.
 */
export function msdaRef(value: Ref, loc: Ref, attn: Ref, levels: [number, number][]): Ref {
  const [N, , M, D] = value.shape;
  const [, Lq, , L, P] = loc.shape;
  const starts = levels.map((_, l) => levels.slice(0, l).reduce((s, [h, w]) => s + h * w, 0));
  return build([N, Lq, M * D], ([n, q, md]) => {
    const m = Math.floor(md / D);
    const d = md % D;
    let s = 0;
    for (let l = 0; l < L; l++) {
      const [H, W] = levels[l];
      for (let p = 0; p < P; p++) {
        const px = at(loc, [n, q, m, l, p, 0]) * W - 0.5;
        const py = at(loc, [n, q, m, l, p, 1]) * H - 0.5;
        const x0 = Math.floor(px);
        const y0 = Math.floor(py);
        let v = 0;
        for (const [yy, wy] of [[y0, 1 - (py - y0)], [y0 + 1, py - y0]]) {
          for (const [xx, wx] of [[x0, 1 - (px - x0)], [x0 + 1, px - x0]]) {
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) {
              v += wy * wx * at(value, [n, starts[l] + yy * W + xx, m, d]);
            }
          }
        }
        s += at(attn, [n, q, m, l, p]) * v;
      }
    }
    return s;
  });
}
