/**
 * Kernel-variant tests for the CUDA backend: shapes chosen to reach every code path of the
 * kernels in cuda/ that the engine catalog's small tensors do not (block-per-row reductions,
 * multi-chunk scans, the global bitonic sort, 128x128 GEMM tiles, split-K weight gradients,
 * shuffle groups of several widths, byte atomics, integer wrap-around...). Each case runs on
 * the CPU reference and on the backend under test, comparing outputs and input gradients.
 *
 * Runs on "cuda" when a GPU, its driver and the built library are present, and on "cuda_emu"
 * (the same sources compiled for the CPU, see cuda/emu/cuda_emu.h) when g++ is present.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import "../src/backend/cuda/mod.ts";
import { buildCuda, findGxx } from "../src/backend/cuda/build.ts";
import { cudaUnavailableReason } from "../src/backend/cuda/probe.ts";
import type { Backend, DType, Tensor } from "../mod.ts";
import { assertClose, ints, uniform } from "./helpers/numeric.ts";

interface In {
  shape: number[];
  dtype?: DType;
  /** float values uniform in [lo, hi] (default [-1, 1]) */
  lo?: number;
  hi?: number;
  /** integers uniform in [lo, hi) */
  int?: [number, number];
  values?: number[];
  /** round float values to this many decimals (creates ties) */
  round?: number;
}

interface KCase {
  name: string;
  inputs: In[];
  fn: (...xs: Tensor[]) => Tensor | Tensor[];
  /** also compare input gradients of sum(v * out) (single float output) */
  grad?: boolean;
  /** for cases without inputs: builds the outputs on the given backend */
  create?: (b: Backend) => Tensor[];
  rtol?: number;
  atol?: number;
}

function values(c: KCase, i: number): number[] {
  const s = c.inputs[i];
  const n = s.shape.reduce((a, b) => a * b, 1);
  if (s.values) return s.values;
  let seed = 17 + i;
  for (let k = 0; k < c.name.length; k++) seed = (seed * 31 + c.name.charCodeAt(k)) >>> 0;
  if (s.int) return ints(n, seed, s.int[0], s.int[1]);
  const v = uniform(n, seed, s.lo ?? -1, s.hi ?? 1);
  if (s.round !== undefined) {
    const f = 10 ** s.round;
    return v.map((x) => Math.fround(Math.round(x * f) / f));
  }
  return v;
}

async function runCase(backend: Backend, c: KCase) {
  const vals = c.inputs.map((_, i) => values(c, i));
  const outs: { data: number[]; dtype: DType; shape: readonly number[] }[] = [];
  const grads: (number[] | null)[] = [];
  const keep: Tensor[] = [];
  T.tidy(() => {
    const xs = c.inputs.map((s, i) => {
      const t = T.tensor(vals[i], s.shape, { dtype: s.dtype ?? "f32", backend });
      return c.grad && (s.dtype ?? "f32") === "f32" ? t.requireGrad() : t;
    });
    const r = c.create ? c.create(backend) : c.fn(...xs);
    const list = Array.isArray(r) ? r : [r];
    for (const o of list) keep.push(T.keep(o));
    if (c.grad) {
      const y = list[0];
      const v = T.tensor(uniform(y.size, 99, -1, 1), y.shape, { backend });
      y.backward(v);
      for (const x of xs) keep.push(T.keep(x.grad ?? T.zeros([0], { backend })));
    }
  });
  const nOut = keep.length - (c.grad ? c.inputs.length : 0);
  for (let i = 0; i < keep.length; i++) {
    const t = keep[i];
    const data = Array.from(await t.data());
    if (i < nOut) outs.push({ data, dtype: t.dtype, shape: t.shape });
    else grads.push(t.size ? data : null);
    t.dispose();
  }
  return { outs, grads };
}

/** Registers one test per case comparing `backendName` with the CPU reference. */
function kernelCaseTests(getBackend: () => Backend, cases: KCase[]): void {
  for (const c of cases) {
    test(c.name, async () => {
      const want = await runCase(T.getBackend("cpu"), c);
      const got = await runCase(getBackend(), c);
      expect(got.outs.length).toBe(want.outs.length);
      got.outs.forEach((o, i) => {
        const w = want.outs[i];
        expect(o.shape, `output ${i} shape`).toEqual(w.shape);
        expect(o.dtype, `output ${i} dtype`).toBe(w.dtype);
        const exact = w.dtype !== "f32";
        assertClose(
          o.data,
          w.data,
          exact ? { rtol: 0, atol: 0 } : { rtol: c.rtol ?? 1e-4, atol: c.atol ?? 1e-4 },
          `output ${i}`,
        );
      });
      got.grads.forEach((g, i) => {
        const w = want.grads[i];
        if (!w) return;
        assertClose(
          g ?? w.map(() => 0),
          w,
          { rtol: c.rtol ?? 1e-3, atol: c.atol ?? 1e-4 },
          `gradient ${i}`,
        );
      });
    });
  }
}

const NAN = NaN;
const INF = Infinity;

const CASES: KCase[] = [
  // ---- elementwise ----
  {
    name: "binary broadcast rank 4 (f32) with gradients",
    inputs: [{ shape: [2, 3, 4, 5] }, { shape: [3, 1, 5] }],
    fn: (a, b) => T.add(T.mul(a, b), T.div(a, T.add(T.abs(b), 1))),
    grad: true,
  },
  {
    name: "integer arithmetic wraps like typed arrays",
    inputs: [
      { shape: [4], dtype: "i32", values: [2147483647, -2147483648, 123456789, -7] },
      { shape: [4], dtype: "i32", values: [2, 3, 1000, 3] },
      { shape: [3], dtype: "u8", values: [250, 10, 7] },
      { shape: [3], dtype: "u8", values: [10, 250, 9] },
    ],
    fn: (a, b, c, d) => [
      T.mul(a, b),
      T.add(a, b),
      T.sub(a, b),
      T.pow(b, T.tensor([31, -1, 2, 3], [4], { dtype: "i32", backend: a.backend })),
      T.add(c, d),
      T.sub(c, d),
      T.mul(c, d),
      T.neg(a),
      T.abs(a),
      T.maximum(a, b),
      T.div(a, b),
    ],
  },
  {
    name: "NaN, infinities and signed zeros",
    inputs: [
      { shape: [8], values: [NAN, 0, -0, INF, -INF, 1, -1, 0.5] },
      { shape: [8], values: [1, -0, 0, INF, 2, NAN, -1, -2.5] },
    ],
    fn: (a, b) => [
      T.minimum(a, b),
      T.maximum(a, b),
      T.pow(a, b),
      T.atan2(a, b),
      T.eq(a, b),
      T.lt(a, b),
      T.logicalXor(a, b),
      T.isnan(a),
      T.sign(a),
      T.relu(a),
      T.round(T.mul(a, 2.5)),
      T.sigmoid(a),
      T.softplus(T.mul(a, 30)),
      T.logicalNot(a),
    ],
  },
  {
    name: "unary ops on a range",
    inputs: [{ shape: [3, 200], lo: -4, hi: 4 }],
    fn: (a) => [
      T.exp(a),
      T.tanh(a),
      T.erf(a),
      T.gelu(a),
      T.gelu(a, "tanh"),
      T.sin(a),
      T.cos(a),
      T.floor(a),
      T.ceil(a),
      T.rsqrt(T.add(T.abs(a), 0.1)),
      T.log(T.add(T.abs(a), 0.1)),
      T.sqrt(T.abs(a)),
      T.reciprocal(a),
    ],
  },
  {
    name: "where with three broadcasts, bool logic",
    inputs: [
      { shape: [4, 1], dtype: "bool", values: [1, 0, 1, 0] },
      { shape: [1, 5] },
      { shape: [4, 5] },
      { shape: [4, 5], dtype: "bool", int: [0, 2] },
    ],
    fn: (c, a, b, m) => [T.where(c, a, b), T.logicalAnd(c, m), T.logicalOr(m, c), T.add(m, c)],
  },
  {
    name: "casts between every dtype",
    inputs: [
      { shape: [10], values: [NAN, INF, -1.7, 3e9, -3e9, 255.9, 256.5, -0.5, 1e10, -INF] },
      { shape: [4], dtype: "i32", values: [-1, 256, 300, 16777217] },
      { shape: [3], dtype: "u8", values: [0, 2, 255] },
    ],
    fn: (f, i, u) => [
      T.cast(f, "i32"),
      T.cast(f, "u8"),
      T.cast(f, "bool"),
      T.cast(i, "u8"),
      T.cast(i, "f32"),
      T.cast(i, "bool"),
      T.cast(u, "bool"),
      T.cast(u, "i32"),
      T.cast(T.cast(u, "bool"), "u8"),
    ],
  },
  // ---- data movement ----
  {
    name: "rank-5 permute, flip, strided slice and its backward",
    inputs: [{ shape: [2, 3, 4, 5, 6] }],
    fn: (x) => {
      const p = T.permute(x, [4, 0, 3, 1, 2]);
      const f = T.flip(p, [0, 3]);
      const s = T.slice(f, [[1, 6, 2], undefined, [4, 0, -2]]);
      return T.mul(s, s);
    },
    grad: true,
  },
  {
    name: "cat with an empty part, bytes and ints",
    inputs: [{ shape: [3, 2, 5] }, { shape: [3, 0, 5] }, { shape: [3, 4, 5] }, {
      shape: [2, 3],
      dtype: "u8",
      int: [0, 255],
    }, { shape: [2, 2], dtype: "u8", int: [0, 255] }],
    fn: (a, b, c, u, v) => [T.cat([a, b, c], 1), T.cat([u, v], 1)],
  },
  {
    name: "pad constant and replicate with gradients",
    inputs: [{ shape: [2, 3, 5, 4] }],
    fn: (x) =>
      T.add(
        T.sum(T.pad(x, [1, 2, 0, 3], "constant", 0.5), [2, 3], true),
        T.sum(T.pad(x, [2, 1, 1, 1], "replicate"), [2, 3], true),
      ),
    grad: true,
  },
  // ---- reductions ----
  {
    name: "sum of long rows (block per output)",
    inputs: [{ shape: [64, 3000] }],
    fn: (x) => [T.sum(x, 1), T.mean(x, 1), T.max(x, 1), T.min(x, 1)],
    grad: true,
  },
  {
    name: "reductions over split axes and columns",
    inputs: [{ shape: [17, 9, 33] }],
    fn: (
      x,
    ) => [T.sum(x, [0, 2]), T.mean(x, [0]), T.max(x, [0, 1], true), T.sum(x), T.mean(x, [1, 2])],
    grad: true,
  },
  {
    name: "reductions with NaN, integers and bools",
    inputs: [
      { shape: [3, 40], values: Array.from({ length: 120 }, (_, i) => (i === 45 ? NAN : i % 7)) },
      { shape: [50, 30], dtype: "i32", int: [-1000, 1000] },
      { shape: [20, 30], dtype: "bool", int: [0, 2] },
    ],
    fn: (f, i, b) => [
      T.max(f, 1),
      T.min(f, 0),
      T.sum(i, 0),
      T.max(i, 1),
      T.mean(i, [0, 1]),
      T.sum(b, 1),
      T.sum(b),
    ],
  },
  {
    name: "argmax / argmin (rows, columns, ties, NaN)",
    inputs: [
      { shape: [50, 300], round: 1 },
      { shape: [40, 7], round: 0, lo: -2, hi: 2 },
      { shape: [2, 5], values: [1, NAN, 3, NAN, 0, 2, 2, 1, 2, 0] },
    ],
    fn: (
      a,
      b,
      c,
    ) => [
      T.argmax(a, 1),
      T.argmin(a, 0),
      T.argmax(b, 0),
      T.argmin(b, 1),
      T.argmax(c, 1),
      T.argmin(c, 1),
    ],
  },
  {
    name: "cumsum: long rows, columns, integers",
    inputs: [{ shape: [5, 1000] }, { shape: [300, 4] }, {
      shape: [3, 700],
      dtype: "i32",
      int: [-50, 50],
    }],
    fn: (
      a,
      b,
      i,
    ) => [T.cumsum(a, 1), T.cumsum(b, 0), T.cumsum(i, 1), T.cumsum(T.cast(i, "bool"), 1)],
  },
  {
    name: "cumsum gradient",
    inputs: [{ shape: [4, 300] }],
    fn: (a) => T.cumsum(a, 1),
    grad: true,
  },
  {
    name: "softmax: warp rows, block rows, columns",
    inputs: [{ shape: [40, 100], lo: -5, hi: 5 }, { shape: [6, 1500], lo: -5, hi: 5 }, {
      shape: [3, 50, 7],
      lo: -5,
      hi: 5,
    }],
    fn: (a, b, c) => [T.softmax(a, -1), T.logSoftmax(b, -1), T.softmax(c, 1), T.logSoftmax(c, 1)],
  },
  {
    name: "softmax gradient, -inf row",
    inputs: [{ shape: [3, 1200], lo: -3, hi: 3 }],
    fn: (a) =>
      T.softmax(
        T.where(T.tensor([1, 0, 1], [3, 1], { dtype: "bool", backend: a.backend }), a, -Infinity),
        -1,
      ),
  },
  {
    name: "log_softmax gradient",
    inputs: [{ shape: [5, 1100] }],
    fn: (a) => T.logSoftmax(a, -1),
    grad: true,
  },
  // ---- sort ----
  {
    name: "sort: long lines (global bitonic) with ties, both orders",
    inputs: [{ shape: [3, 5000], round: 1 }],
    fn: (x) => [...T.sort(x, 1), ...T.sort(x, 1, true)],
  },
  {
    name: "sort: many short lines per block, axis 0, ints, NaN",
    inputs: [
      { shape: [300, 37], round: 1 },
      { shape: [100, 3], round: 1 },
      { shape: [5, 9], dtype: "i32", int: [-3, 3] },
      { shape: [6], values: [2, NAN, -0, 0, NAN, -INF] },
    ],
    fn: (
      a,
      b,
      i,
      n,
    ) => [
      ...T.sort(a, 1),
      ...T.sort(b, 0, true),
      ...T.sort(i, 1),
      ...T.sort(n, 0),
      ...T.sort(n, 0, true),
    ],
  },
  {
    name: "sort gradient",
    inputs: [{ shape: [4, 3000] }],
    fn: (x) => T.sort(x, 1, true)[0],
    grad: true,
  },
  // ---- matmul ----
  {
    name: "matmul 64-tiles with ragged edges, gradients",
    inputs: [{ shape: [70, 33] }, { shape: [33, 90] }],
    fn: (a, b) => T.matmul(a, b),
    grad: true,
  },
  {
    name: "matmul 128-tiles and transposed operands",
    inputs: [{ shape: [300, 40] }, { shape: [40, 260] }, { shape: [260, 40] }, {
      shape: [40, 300],
    }],
    fn: (a, b, bt, at) => [
      T.matmul(a, b),
      T.matmul(a, bt, { transB: true }),
      T.matmul(at, b, { transA: true }),
      T.matmul(at, bt, { transA: true, transB: true }),
    ],
    rtol: 1e-4,
    atol: 1e-4,
  },
  {
    name: "matmul 128-tiles gradient",
    inputs: [{ shape: [260, 24] }, { shape: [24, 300] }],
    fn: (a, b) => T.matmul(a, b),
    grad: true,
  },
  {
    name: "matmul with unmergeable broadcast batch, integers",
    inputs: [
      { shape: [2, 1, 3, 16, 8] },
      { shape: [4, 1, 8, 5] },
      { shape: [3, 4, 6], dtype: "i32", int: [-100, 100] },
      { shape: [6, 2], dtype: "i32", int: [-100, 100] },
    ],
    fn: (a, b, i, j) => [T.matmul(a, b), T.matmul(i, j)],
  },
  {
    name: "matmul broadcast batch gradient",
    inputs: [{ shape: [2, 1, 3, 16, 8] }, { shape: [4, 1, 8, 5] }],
    fn: (a, b) => T.matmul(a, b),
    grad: true,
  },
  // ---- convolution and pooling ----
  {
    name: "conv2d 128-channel output (big tiles), padding, gradients",
    inputs: [{ shape: [2, 8, 15, 13] }, { shape: [128, 8, 3, 3] }, { shape: [128] }],
    fn: (x, w, b) => T.conv2d(x, w, b, { padding: 1 }),
    grad: true,
  },
  {
    name: "conv2d groups, stride, dilation, gradients",
    inputs: [{ shape: [2, 6, 17, 19] }, { shape: [4, 3, 3, 3] }],
    fn: (x, w) => T.conv2d(x, w, null, { stride: 2, padding: [2, 1], dilation: 2, groups: 2 }),
    grad: true,
  },
  {
    name: "conv2d weight gradient split over K",
    inputs: [{ shape: [2, 4, 32, 32] }, { shape: [8, 4, 3, 3] }],
    fn: (x, w) => T.conv2d(x, w, null, { padding: 1 }),
    grad: true,
  },
  {
    name: "pooling with overlapping windows and padding, gradients",
    inputs: [{ shape: [2, 3, 17, 16] }],
    fn: (x) =>
      T.add(
        T.sum(T.maxPool2d(x, 3, { stride: 2, padding: 1 })),
        T.add(
          T.sum(T.avgPool2d(x, 3, { stride: 2, padding: 1 })),
          T.sum(T.avgPool2d(x, [2, 3], { stride: 1 })),
        ),
      ),
    grad: true,
  },
  {
    name: "pooling forward values",
    inputs: [{ shape: [2, 3, 17, 16] }],
    fn: (
      x,
    ) => [
      T.maxPool2d(x, 3, { stride: 2, padding: 1 }),
      T.avgPool2d(x, [3, 2], { stride: [1, 2], padding: [1, 1] }),
    ],
  },
  // ---- resampling ----
  {
    name: "interpolate bilinear / nearest, up and down",
    inputs: [{ shape: [2, 3, 16, 11] }, { shape: [1, 2, 5, 7], dtype: "i32", int: [0, 100] }],
    fn: (x, i) => [
      T.interpolate(x, { size: [37, 23], mode: "bilinear" }),
      T.interpolate(x, { size: [7, 5], mode: "bilinear", alignCorners: true }),
      T.interpolate(x, { size: [40, 21] }),
      T.interpolate(x, { scaleFactor: 0.5 }),
      T.interpolate(x, { size: [32, 22] }),
      T.interpolate(i, { size: [9, 12] }),
    ],
  },
  {
    name: "interpolate gradients",
    inputs: [{ shape: [2, 3, 16, 11] }],
    fn: (x) =>
      T.add(
        T.sum(T.interpolate(x, { size: [37, 23], mode: "bilinear" })),
        T.add(
          T.sum(T.mul(T.interpolate(x, { size: [8, 5], mode: "bilinear", alignCorners: true }), 3)),
          T.sum(T.mul(T.interpolate(x, { size: [40, 21] }), 2)),
        ),
      ),
    grad: true,
  },
  {
    name: "grid_sample few channels, out-of-range points, gradients",
    inputs: [{ shape: [2, 3, 9, 10] }, { shape: [2, 7, 5, 2], lo: -1.3, hi: 1.3 }],
    fn: (x, g) => T.gridSample(x, g),
    grad: true,
  },
  {
    name: "grid_sample many channels, gradients",
    inputs: [{ shape: [1, 40, 6, 7] }, { shape: [1, 4, 9, 2], lo: -1.1, hi: 1.1 }],
    fn: (x, g) => T.gridSample(x, g),
    grad: true,
  },
  // ---- deformable attention ----
  {
    name: "msda D=8 (8-lane groups), three levels, gradients",
    inputs: [{ shape: [2, 48 + 12 + 4, 4, 8] }, { shape: [2, 11, 4, 3, 4, 2], lo: -0.1, hi: 1.1 }, {
      shape: [2, 11, 4, 3, 4],
      lo: 0,
      hi: 1,
    }],
    fn: (v, l, a) => T.msda(v, l, a, [[6, 8], [3, 4], [2, 2]]),
    grad: true,
  },
  {
    name: "msda D=48 (lanes loop twice), gradients",
    inputs: [{ shape: [1, 20 + 6, 2, 48] }, { shape: [1, 9, 2, 2, 3, 2], lo: -0.2, hi: 1.2 }, {
      shape: [1, 9, 2, 2, 3],
      lo: 0,
      hi: 1,
    }],
    fn: (v, l, a) => T.msda(v, l, a, [[4, 5], [2, 3]]),
    grad: true,
  },
  // ---- window attention ----
  {
    name: "window attention head_dim 130 (8 values per lane), 33 x 130 > staging, gradients",
    inputs: [
      { shape: [1, 33, 390] },
      { shape: [1, 33, 33] },
      {
        shape: [1, 33, 33],
        values: Array.from({ length: 33 * 33 }, (_, k) => -100 * +(k % 6 === 1)),
      },
    ],
    fn: (q, b, m) => T.windowAttentionCore(q, b, m, 1, 0.1),
    grad: true,
  },
  {
    name: "window attention over 513 windows (bias-gradient groups of 2), gradients",
    inputs: [{ shape: [513, 2, 3] }, { shape: [1, 2, 2] }],
    fn: (q, b) => T.windowAttentionCore(q, b, null, 1, 0.9),
    grad: true,
  },
  // ---- indexing ----
  {
    name: "gather / scatter_add / index_select / index_add, gradients",
    inputs: [
      { shape: [6, 50, 4] },
      { shape: [6, 30, 4], dtype: "i32", int: [-50, 50] },
      { shape: [25], dtype: "i32", int: [-50, 50] },
    ],
    fn: (x, i, j) =>
      T.add(
        T.sum(T.mul(T.gather(x, 1, i), 1.5)),
        T.add(
          T.sum(T.indexSelect(x, 1, j)),
          T.sum(T.scatterAdd(x, 1, i, T.mul(T.gather(x, 1, i), 2))),
        ),
      ),
    grad: true,
  },
  {
    name: "indexing on bytes and ints, repeated indices",
    inputs: [
      { shape: [4, 6], dtype: "u8", int: [200, 256] },
      { shape: [4, 9], dtype: "i32", int: [0, 6] },
      { shape: [4, 9], dtype: "u8", int: [100, 200] },
      { shape: [7], dtype: "i32", values: [0, 1, 1, 1, 5, 5, -1] },
      { shape: [4, 7], dtype: "i32", int: [-1000, 1000] },
      { shape: [4, 6], dtype: "i32", int: [-1000, 1000] },
    ],
    fn: (u, i, s, j, src, xi) => [
      T.scatterAdd(u, 1, i, s),
      T.gather(u, 1, i),
      T.indexAdd(xi, 1, j, src),
      T.indexSelect(u, 1, j),
      T.indexAdd(T.cast(xi, "f32"), 1, j, T.cast(src, "f32")),
    ],
  },
];

/** Creation kernels (no tensor inputs): made directly on each backend. */
const CREATION_CASE: KCase = {
  name: "fill, arange and rand are exact",
  inputs: [],
  fn: () => [],
  create: (b) => [
    T.full([5], 300, { dtype: "u8", backend: b }),
    T.full([3], -2.7, { dtype: "i32", backend: b }),
    T.full([4], 1 / 3, { backend: b }),
    T.arange(0, 1, 0.1, { backend: b }),
    T.arange(-5, 20, 3, { dtype: "i32", backend: b }),
    T.rand([3000], { generator: new T.Generator(1234), backend: b }),
    T.rand([5], { generator: new T.Generator(0xffffffff), backend: b }),
  ],
  rtol: 0,
  atol: 0,
};

const ALL = [...CASES, CREATION_CASE];

function suite(name: string, reason: string | null) {
  if (reason) {
    describe.skip(`cuda kernel variants on ${name}: skipped, ${reason}`, () => {
      test("needs the backend", () => {});
    });
    return;
  }
  describe(`cuda kernel variants on ${name}`, () => {
    let backend!: Backend;
    beforeAll(async () => {
      backend = await T.initBackend(name);
    });
    kernelCaseTests(() => backend, ALL);
  });
}

const gxx = await findGxx();
if (gxx) await buildCuda({ emulate: true, strict: true });
suite("cuda_emu", gxx ? null : "no C++ compiler (g++) found");
suite("cuda", await cudaUnavailableReason());
