/**
 * The WebGPU backend against the CPU reference:
 * - the shared catalog suite (test/helpers/catalog.ts: forward checks against float64
 *   references, analytic gradients against the CPU's);
 * - a differential table: every non-alias catalog op run on both backends with the same
 *   random inputs (odd sizes that are not multiples of the workgroup size, size-1 axes,
 *   broadcasting), forward values and input gradients compared with per-op tolerances;
 * - large reductions (> 1M elements), a matmul grid (M, N, K in {1, 3, 17, 64, 257} with
 *   transposes), error reporting, and a training loop whose GPU memory must stay constant.
 * Skipped (with the reason printed) when no WebGPU adapter exists.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend, Tensor } from "../mod.ts";
import { hasAdapter, NO_ADAPTER_MESSAGE, webgpuStats } from "../src/backend/webgpu/mod.ts";
import { BINARY, UNARY } from "../src/ops/elementwise_table.ts";
import { runCatalogSuite } from "./helpers/catalog.ts";
import { assertClose, ints, rng, uniform } from "./helpers/numeric.ts";

type Dt = "f32" | "i32" | "bool" | "u8";

/** An input: shape, value range (uniform) or explicit values, dtype. */
interface In {
  shape: number[];
  lo?: number;
  hi?: number;
  values?: number[];
  dtype?: Dt;
  /** Integers in [lo, hi) instead of floats. */
  int?: boolean;
  /** Values rounded to one decimal (creates ties for sort/max). */
  coarse?: boolean;
}

/** Tolerance with the reason it is what it is. */
interface Tol {
  rtol: number;
  atol: number;
  why: string;
}

interface Diff {
  inputs: In[];
  run: (...xs: Tensor[]) => Tensor | Tensor[];
  tol: Tol;
  /** Compare input gradients too (float inputs only). */
  grad?: boolean;
  gradTol?: Tol;
}

const EXACT: Tol = { rtol: 0, atol: 0, why: "data movement / integer / exactly rounded IEEE ops" };
const ULP: Tol = {
  rtol: 2e-7,
  atol: 1e-30,
  why: "one f32 rounding of the same operation (CPU rounds an f64 result once)",
};
const TRANSCENDENTAL: Tol = {
  rtol: 4e-6,
  atol: 2e-6,
  why: "GPU exp/log/sin/erf are f32 approximations (a few ulp); CPU computes in f64",
};
const ACCUM: Tol = {
  rtol: 2e-5,
  atol: 2e-5,
  why: "f32 accumulation in a different order than the CPU's f64 accumulator",
};
const GRAD: Tol = {
  rtol: 1e-4,
  atol: 3e-5,
  why: "gradients chain several f32 ops and accumulations (CPU: f64 accumulators)",
};

const UNARY_TOL: Record<string, Tol> = {
  neg: EXACT,
  abs: EXACT,
  sign: EXACT,
  floor: EXACT,
  ceil: EXACT,
  round: EXACT,
  relu: EXACT,
  logical_not: EXACT,
  isnan: EXACT,
  sqrt: ULP,
  reciprocal: ULP,
  rsqrt: { rtol: 2e-6, atol: 0, why: "inverseSqrt is an approximation on most GPUs" },
};

const BINARY_TOL: Record<string, Tol> = {
  add: ULP,
  sub: ULP,
  mul: ULP,
  div: ULP,
  minimum: EXACT,
  maximum: EXACT,
  pow: TRANSCENDENTAL,
  atan2: { rtol: 1e-5, atol: 2e-6, why: "llvmpipe's atan2 is accurate to ~4e-6 relative" },
};

const DOMAINS: Record<string, [number, number]> = {
  log: [0.1, 3],
  sqrt: [0.1, 3],
  rsqrt: [0.1, 3],
  reciprocal: [0.2, 3],
  div: [0.5, 2],
  pow: [0.5, 2],
};

function unaryDiff(name: string): Diff {
  const [lo, hi] = DOMAINS[name] ?? [-3, 3];
  const spec = T.getOp(name);
  const f = (x: Tensor) => T.apply1(name, [x]);
  return {
    // 7 x 1 x 13: odd, with a size-1 axis
    inputs: [{ shape: [7, 1, 13], lo, hi }],
    run: f,
    tol: UNARY_TOL[name] ?? TRANSCENDENTAL,
    grad: !!spec.backward && !spec.domain?.noGradCheck,
  };
}

function binaryDiff(name: string): Diff {
  const [lo, hi] = DOMAINS[name] ?? [-2, 2];
  const spec = T.getOp(name);
  const pred = !spec.backward;
  return {
    // broadcasting [5, 1, 9] with [1, 3, 9]; predicates on coarse values to get ties
    inputs: [{ shape: [5, 1, 9], lo, hi, coarse: pred }, {
      shape: [1, 3, 9],
      lo,
      hi,
      coarse: pred,
    }],
    run: (a, b) => T.apply1(name, [a, b]),
    tol: BINARY_TOL[name] ?? EXACT,
    grad: !!spec.backward,
  };
}

const r = (shape: number[], lo = -1, hi = 1): In => ({ shape, lo, hi });
const idx = (shape: number[], lo: number, hi: number): In => ({
  shape,
  lo,
  hi,
  int: true,
  dtype: "i32",
});

/** Every non-alias, non-internal catalog op; internal ops run through the gradients. */
const DIFF: Record<string, Diff> = {
  fill: { inputs: [], run: () => T.full([3, 17], -2.5, { backend: gpuOrCpu() }), tol: EXACT },
  arange: {
    inputs: [],
    run: () => [
      T.arange(-7, 301, 3, { backend: gpuOrCpu() }),
      T.linspace(-1, 2, 257, { backend: gpuOrCpu() }),
    ],
    tol: { rtol: 1.2e-7, atol: 1e-7, why: "start + i*step in double-single vs f64 (1 ulp)" },
  },
  rand_uniform: {
    inputs: [],
    run: () => T.rand([1001], { generator: new T.Generator(1234), backend: gpuOrCpu() }),
    tol: EXACT,
  },
  permute: { inputs: [r([3, 5, 7])], run: (x) => T.permute(x, [2, 0, 1]), tol: EXACT, grad: true },
  expand: {
    inputs: [r([3, 1, 7])],
    run: (x) => T.expand(x, [2, 3, 5, 7]),
    tol: EXACT,
    grad: true,
    gradTol: ACCUM,
  },
  slice: {
    inputs: [r([9, 11, 5])],
    run: (x) => T.slice(x, [[1, 8, 2], [undefined, undefined, -3], [4, 0, -1]]),
    tol: EXACT,
    grad: true,
  },
  cat: {
    inputs: [r([3, 5, 7]), r([3, 2, 7]), r([3, 1, 7])],
    run: (a, b, c) => T.cat([a, b, c], 1),
    tol: EXACT,
    grad: true,
  },
  pad: {
    inputs: [r([2, 5, 7])],
    run: (x) => [T.pad(x, [1, 2, 3, 0], "constant", 1.5), T.pad(x, [2, 1, 0, 3], "replicate")],
    tol: EXACT,
    grad: true,
    gradTol: ACCUM,
  },
  sum: {
    inputs: [r([6, 7, 1, 9])],
    run: (x) => [T.sum(x), T.sum(x, [0, 2]), T.sum(x, [1, 3], true), T.sum(x, -1)],
    tol: ACCUM,
    grad: true,
  },
  mean: {
    inputs: [r([6, 7, 1, 9])],
    run: (x) => [T.mean(x), T.mean(x, [0, 3]), T.mean(x, 1, true)],
    tol: ACCUM,
    grad: true,
  },
  max: {
    inputs: [{ shape: [6, 7, 9], coarse: true, lo: -2, hi: 2 }],
    run: (x) => [T.max(x), T.max(x, [0, 2]), T.max(x, 1, true)],
    tol: EXACT,
    grad: true,
  },
  min: {
    inputs: [{ shape: [6, 7, 9], coarse: true, lo: -2, hi: 2 }],
    run: (x) => [T.min(x), T.min(x, [1]), T.min(x, [0, 2], true)],
    tol: EXACT,
    grad: true,
  },
  argmax: {
    inputs: [{ shape: [5, 7, 9], coarse: true }],
    run: (x) => [T.argmax(x, 0), T.argmax(x, 1), T.argmax(x, 2, true)],
    tol: EXACT,
  },
  argmin: {
    inputs: [{ shape: [5, 7, 9], coarse: true }],
    run: (x) => [T.argmin(x, 0), T.argmin(x, -1)],
    tol: EXACT,
  },
  cumsum: {
    inputs: [r([5, 301, 3]), idx([7, 33], -50, 50)],
    run: (x, i) => [T.cumsum(x, 1), T.cumsum(x, 0), T.cumsum(x, 2), T.cumsum(i, 1)],
    tol: ACCUM,
    grad: true,
  },
  softmax: {
    inputs: [r([5, 301], -4, 4), r([3, 7, 5], -4, 4)],
    run: (x, y) => [T.softmax(x), T.softmax(y, 1)],
    tol: TRANSCENDENTAL,
    grad: true,
  },
  log_softmax: {
    inputs: [r([5, 301], -4, 4), r([3, 7, 5], -4, 4)],
    run: (x, y) => [T.logSoftmax(x), T.logSoftmax(y, 1)],
    tol: TRANSCENDENTAL,
    grad: true,
  },
  cast: {
    inputs: [r([7, 13], -300, 300), idx([7, 13], -300, 300)],
    run: (x, i) => [
      T.cast(x, "i32"),
      T.cast(x, "u8"),
      T.cast(x, "bool"),
      T.cast(i, "f32"),
      T.cast(i, "u8"),
      T.cast(T.cast(i, "u8"), "i32"),
    ],
    tol: EXACT,
  },
  where: {
    inputs: [{ shape: [5, 1, 9], values: ints(45, 3, 0, 2), dtype: "bool" }, r([1, 3, 9]), r([9])],
    run: (c, a, b) => T.where(c, a, b),
    tol: EXACT,
    grad: true,
    gradTol: ACCUM,
  },
  matmul: {
    inputs: [r([2, 1, 17, 13]), r([3, 13, 9]), r([13, 6])],
    run: (a, b, c) => [
      T.matmul(a, b),
      T.matmul(c, b, { transA: true }),
      T.matmul(a, T.transpose(b), { transB: true }),
    ],
    tol: ACCUM,
    grad: true,
  },
  gather: {
    inputs: [r([5, 7, 3]), idx([4, 7, 2], -5, 5)],
    run: (x, i) => T.gather(x, 0, i),
    tol: EXACT,
    grad: true,
    gradTol: ACCUM,
  },
  scatter_add: {
    inputs: [r([5, 7, 3]), idx([9, 6, 3], 0, 5), r([9, 7, 3])],
    run: (x, i, s) => T.scatterAdd(x, 0, i, s),
    tol: ACCUM,
    grad: true,
  },
  index_select: {
    inputs: [r([5, 7, 3]), idx([11], -5, 5)],
    run: (x, i) => [T.indexSelect(x, 1, i), T.indexSelect(x, 0, T.abs(T.cast(i, "i32")))],
    tol: EXACT,
    grad: true,
    gradTol: ACCUM,
  },
  index_add: {
    inputs: [r([5, 7, 3]), idx([11], 0, 7), r([5, 11, 3])],
    run: (x, i, s) => T.indexAdd(x, 1, i, s),
    tol: ACCUM,
    grad: true,
  },
  sort: {
    inputs: [{ shape: [5, 37], coarse: true }, { shape: [9, 4, 3], coarse: true }],
    run: (x, y) => [...T.sort(x, 1), ...T.sort(x, 1, true), ...T.sort(y, 0), ...T.sort(y, 1, true)],
    tol: EXACT,
    grad: true,
  },
  conv2d: {
    inputs: [r([2, 6, 11, 13]), r([4, 3, 3, 3]), r([4]), r([5, 6, 2, 1])],
    run: (x, w, b, w2) => [
      T.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }),
      T.conv2d(x, w2, null, { dilation: [2, 1], padding: [1, 0] }),
    ],
    tol: ACCUM,
    grad: true,
  },
  max_pool2d: {
    inputs: [{ shape: [2, 3, 11, 9], coarse: true }],
    run: (x) => [T.maxPool2d(x, 3, { stride: 2, padding: 1 }), T.maxPool2d(x, [2, 3])],
    tol: EXACT,
    grad: true,
  },
  avg_pool2d: {
    inputs: [r([2, 3, 11, 9])],
    run: (x) => [T.avgPool2d(x, 3, { stride: 2, padding: 1 }), T.avgPool2d(x, [2, 3])],
    tol: ACCUM,
    grad: true,
  },
  resize_nearest: {
    inputs: [r([2, 3, 7, 5]), idx([1, 4, 5], 0, 100)],
    run: (x, i) => [
      T.interpolate(x, { size: [13, 17] }),
      T.interpolate(x, { size: [3, 2] }),
      T.interpolate(x, { scaleFactor: 2 }),
      T.interpolate(i, { size: [9, 7] }),
    ],
    tol: EXACT,
    grad: true,
  },
  resize_bilinear: {
    inputs: [r([2, 3, 7, 5])],
    run: (x) => [
      T.interpolate(x, { size: [13, 17], mode: "bilinear" }),
      T.interpolate(x, { size: [3, 4], mode: "bilinear", alignCorners: true }),
      T.interpolate(x, { scaleFactor: 1.5, mode: "bilinear" }),
    ],
    tol: ACCUM,
    grad: true,
  },
  grid_sample: {
    inputs: [r([2, 3, 7, 9]), r([2, 5, 11, 2], -1.2, 1.2)],
    run: (x, g) => T.gridSample(x, g),
    tol: ACCUM,
    grad: true,
  },
  msda: {
    inputs: [r([2, 7 * 5 + 3 * 2, 2, 3]), r([2, 5, 2, 2, 3, 2], -0.1, 1.1), r([2, 5, 2, 2, 3])],
    run: (v, l, a) => T.msda(v, l, a, [[7, 5], [3, 2]]),
    tol: ACCUM,
    grad: true,
  },
  layer_norm: {
    // 300 rows of 97 (a thread per row on CPU adapters; two splits of the weight gradient),
    // 3 rows of 1500 (a workgroup per row), rows of one element
    inputs: [r([300, 97], 2, 4), r([97], 0.5, 1.5), r([97]), r([3, 1500], -3, 3), r([5, 1, 1])],
    run: (x, w, b, xl, x1) => [
      T.layerNorm(x, [97], w, b),
      T.layerNorm(x, [97], null, b),
      T.layerNorm(xl, [1500], null, null, 1e-6),
      T.layerNorm(x1, [1, 1]),
    ],
    tol: ACCUM,
    grad: true,
  },
  group_norm: {
    inputs: [r([3, 6, 5, 7], 2, 4), r([6], 0.5, 1.5), r([6]), r([2, 4, 1, 1]), r([1, 2, 30, 41])],
    run: (x, w, b, x1, xl) => [
      T.groupNorm(x, 3, w, b),
      T.groupNorm(x, 2, w),
      T.groupNorm(x1, 4),
      T.groupNorm(xl, 1),
    ],
    tol: ACCUM,
    grad: true,
  },
  window_attention: {
    // 300 windows of 7 (several bias-gradient groups), 2 heads of 5, a mask of 3 windows;
    // one head of 40 channels over 20 tokens, no mask
    inputs: [
      r([300, 7, 30]),
      r([2, 7, 7]),
      { shape: [3, 7, 7], values: windowMask(3, 7) },
      r([2, 20, 120]),
      r([1, 20, 20]),
    ],
    run: (q, b, m, q2, b2) => [
      T.windowAttentionCore(q, b, m, 2, 0.45),
      T.windowAttentionCore(q2, b2, null, 1, 0.2),
    ],
    tol: ACCUM,
    grad: true,
  },
};

/** A Swin-like attention mask [nW, n, n] of 0 and -100. */
function windowMask(nw: number, n: number): number[] {
  return Array.from({ length: nw * n * n }, (_, k) => (k % 5 === 1 ? -100 : 0));
}

let gpuBackend: Backend | undefined;
let which: "gpu" | "cpu" = "cpu";

/** The backend creation ops without inputs should use in the current run. */
function gpuOrCpu(): Backend {
  return which === "gpu" ? gpuBackend! : T.getBackend("cpu");
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function inputValues(op: string, ins: In[]): number[][] {
  return ins.map((inp, k) => {
    if (inp.values) return inp.values;
    const n = inp.shape.reduce((a, b) => a * b, 1);
    const seed = hashSeed(`${op}/${k}`);
    if (inp.int) return ints(n, seed, inp.lo ?? 0, inp.hi ?? 10);
    const v = uniform(n, seed, inp.lo ?? -1, inp.hi ?? 1);
    return inp.coarse ? v.map((x) => Math.round(x * 10) / 10) : v;
  });
}

interface RunResult {
  outs: { shape: readonly number[]; dtype: string; data: ArrayLike<number> }[];
  grads: (ArrayLike<number> | null)[];
}

async function runOn(backend: Backend, d: Diff, values: number[][]): Promise<RunResult> {
  which = backend.name === "webgpu" ? "gpu" : "cpu";
  let outs: Tensor[] = [];
  let grads: (Tensor | null)[] = [];
  T.tidy(() => {
    const xs = d.inputs.map((inp, k) =>
      T.tensor(values[k], inp.shape, { dtype: inp.dtype ?? "f32", backend })
    );
    const wantGrad = d.grad ?? false;
    if (wantGrad) { for (const x of xs) if (x.dtype === "f32") x.requireGrad(); }
    const res = d.run(...xs);
    outs = (Array.isArray(res) ? res : [res]).map((t) => T.keep(t));
    if (wantGrad) {
      // loss = sum_k sum(v_k * out_k) with fixed random cotangents
      const rand = rng(7);
      let loss: Tensor | null = null;
      for (const o of outs) {
        if (o.dtype !== "f32" || !o.node) continue;
        const v = T.tensor(Array.from({ length: o.size }, () => 2 * rand() - 1), o.shape, {
          backend,
        });
        const term = T.sum(T.mul(o, v));
        loss = loss ? T.add(loss, term) : term;
      }
      loss?.backward();
    }
    grads = xs.map((x) => (x.grad ? T.keep(x.grad) : null));
  });
  const result: RunResult = { outs: [], grads: [] };
  for (const o of outs) {
    result.outs.push({ shape: o.shape, dtype: o.dtype, data: await o.data() });
    o.dispose();
  }
  for (const g of grads) {
    result.grads.push(g ? await g.data() : null);
    g?.dispose();
  }
  return result;
}

function compare(op: string, d: Diff, gpu: RunResult, cpu: RunResult): void {
  expect(gpu.outs.length, `${op}: outputs`).toBe(cpu.outs.length);
  cpu.outs.forEach((c, i) => {
    const g = gpu.outs[i];
    expect(g.shape, `${op} output ${i} shape`).toEqual(c.shape);
    expect(g.dtype, `${op} output ${i} dtype`).toBe(c.dtype);
    const tol = c.dtype === "f32" ? d.tol : EXACT;
    assertClose(g.data, c.data, tol, `${op} output ${i} (${tol.why})`);
  });
  cpu.grads.forEach((c, i) => {
    if (!c) return;
    const g = gpu.grads[i];
    expect(g, `${op}: gradient of input ${i} missing on webgpu`).not.toBeNull();
    // a case's gradTol loosens the default gradient tolerance, never tightens it
    const g0 = d.gradTol;
    const tol = g0
      ? { rtol: Math.max(g0.rtol, GRAD.rtol), atol: Math.max(g0.atol, GRAD.atol), why: g0.why }
      : GRAD;
    assertClose(g!, c, tol, `${op} gradient of input ${i} (${tol.why})`);
  });
}

const available = await hasAdapter();

if (!available) {
  console.warn(`skipping test/webgpu_catalog.test.ts: ${NO_ADAPTER_MESSAGE}`);
  describe.skip(`webgpu (skipped: ${NO_ADAPTER_MESSAGE})`, () => {
    test("needs a WebGPU adapter", () => {});
  });
} else {
  await import("../src/backend/webgpu/mod.ts");
  runCatalogSuite("webgpu");

  describe("webgpu vs cpu", () => {
    let cpu!: Backend;
    beforeAll(async () => {
      gpuBackend = await T.initBackend("webgpu");
      cpu = T.getBackend("cpu");
    });

    test("the backend implements every kernel of the catalog", () => {
      const missing = T.requiredKernels().filter((k) => !gpuBackend!.kernels[k]);
      expect(missing).toEqual([]);
    });

    const UNARY_OR_BINARY = new Set<string>();
    test("every non-alias catalog op has a differential case", () => {
      const missing = T.opCatalog()
        .filter((s) => !s.alias && !s.internal && !UNARY_OR_BINARY.has(s.name) && !DIFF[s.name])
        .map((s) => s.name);
      expect(missing).toEqual([]);
    });

    for (const spec of T.opCatalog()) {
      if (spec.alias || spec.internal) continue;
      let d = DIFF[spec.name];
      if (!d && spec.arity === 1 && spec.name in unaryTable()) d = unaryDiff(spec.name);
      if (!d && spec.arity === 2 && spec.name in binaryTable()) d = binaryDiff(spec.name);
      if (!d) continue;
      if (!DIFF[spec.name]) UNARY_OR_BINARY.add(spec.name);
      const diff = d;
      test(`${spec.name}: forward${diff.grad ? " and gradients" : ""} match the CPU`, async () => {
        const values = inputValues(spec.name, diff.inputs);
        const want = await runOn(cpu, diff, values);
        const got = await runOn(gpuBackend!, diff, values);
        compare(spec.name, diff, got, want);
      });
    }

    test("large reductions (> 1M elements)", async () => {
      const n = 1_200_007;
      const v = uniform(n, 99, -1, 1);
      const run = async (b: Backend) => {
        const x = T.tensor(v, [n], { backend: b });
        const x2 = T.reshape(T.slice(x, [[0, 1201 * 999]]), [1201, 999]);
        const outs = [
          T.sum(x),
          T.mean(x),
          T.max(x),
          T.min(x),
          T.argmax(x),
          T.argmin(x),
          T.sum(x2, 0),
          T.sum(x2, 1),
          T.mean(T.reshape(T.slice(x, [[0, 1200000]]), [100, 12000]), 1),
        ];
        const data = await Promise.all(outs.map((o) => o.data()));
        const sumAbs = v.reduce((a, b) => a + Math.abs(b), 0);
        [x, ...outs].forEach((t) => t.dispose());
        return { data, sumAbs };
      };
      const want = await run(cpu);
      const got = await run(gpuBackend!);
      // f32 pairwise/tree sums: error bounded by ~log2(n) ulp of sum|x|
      const atol = 24 * 6e-8 * want.sumAbs;
      assertClose(got.data[0], want.data[0], { rtol: 0, atol }, "sum of 1.2M");
      assertClose(got.data[1], want.data[1], { rtol: 0, atol: atol / n }, "mean of 1.2M");
      assertClose(got.data[2], want.data[2], { rtol: 0, atol: 0 }, "max of 1.2M");
      assertClose(got.data[3], want.data[3], { rtol: 0, atol: 0 }, "min of 1.2M");
      assertClose(got.data[4], want.data[4], { rtol: 0, atol: 0 }, "argmax of 1.2M");
      assertClose(got.data[5], want.data[5], { rtol: 0, atol: 0 }, "argmin of 1.2M");
      assertClose(got.data[6], want.data[6], { rtol: 1e-4, atol: 1e-4 }, "column sums");
      assertClose(got.data[7], want.data[7], { rtol: 1e-4, atol: 1e-4 }, "row sums");
      assertClose(got.data[8], want.data[8], { rtol: 1e-4, atol: 1e-6 }, "row means");
    });

    // each matmul kernel (the "auto" choice is "tiled" on GPUs, "ubo" on CPU adapters)
    for (const kernel of ["tiled", "rows"] as const) {
      test(`matmul grid (${kernel} kernel): M, N, K in {1, 3, 17, 64, 257}, transA / transB`, async () => {
        const rt = (gpuBackend as unknown as { runtime: { options: { matmul: string } } }).runtime;
        rt.options.matmul = kernel;
        try {
          await matmulGrid();
        } finally {
          rt.options.matmul = "auto";
        }
      });
    }

    test("window_attention with its operands in workgroup memory (forced)", async () => {
      const rt = (gpuBackend as unknown as {
        runtime: { options: { windowAttention: "auto" | "shared" | "storage" } };
      }).runtime;
      rt.options.windowAttention = "shared";
      try {
        const d: Diff = {
          inputs: [r([9, 6, 24]), r([2, 6, 6]), { shape: [3, 6, 6], values: windowMask(3, 6) }],
          run: (q, b, m) => T.windowAttentionCore(q, b, m, 2, 0.5),
          tol: ACCUM,
          grad: true,
        };
        const values = inputValues("window_attention/shared", d.inputs);
        const want = await runOn(cpu, d, values);
        const got = await runOn(gpuBackend!, d, values);
        compare("window_attention (workgroup memory)", d, got, want);
      } finally {
        rt.options.windowAttention = "auto";
      }
    });

    async function matmulGrid() {
      const sizes = [1, 3, 17, 64, 257];
      const cases: [number, number, number, boolean, boolean][] = [];
      for (const m of sizes) {
        for (const n of sizes) {
          for (const k of sizes) {
            for (const ta of [false, true]) {
              for (const tb of [false, true]) cases.push([m, n, k, ta, tb]);
            }
          }
        }
      }
      const pool = uniform(2 * 257 * 257, 5, -1, 1);
      const gpuOuts: Tensor[] = [];
      const cpuData: Float32Array[] = [];
      for (const [m, n, k, ta, tb] of cases) {
        const aShape = ta ? [k, m] : [m, k];
        const bShape = tb ? [n, k] : [k, n];
        const av = pool.slice(0, m * k);
        const bv = pool.slice(1000, 1000 + k * n);
        const mk = (
          b: Backend,
        ) => [T.tensor(av, aShape, { backend: b }), T.tensor(bv, bShape, { backend: b })];
        const [ca, cb] = mk(cpu);
        cpuData.push(T.matmul(ca, cb, { transA: ta, transB: tb }).dataSync() as Float32Array);
        const [ga, gb] = mk(gpuBackend!);
        gpuOuts.push(T.matmul(ga, gb, { transA: ta, transB: tb }));
        ga.dispose();
        gb.dispose();
      }
      const got = await Promise.all(gpuOuts.map((o) => o.data()));
      cases.forEach(([m, n, k, ta, tb], i) => {
        // |error| <= K * eps * sum|a||b| for f32 dot products (inputs in [-1, 1])
        assertClose(
          got[i],
          cpuData[i],
          { rtol: 1e-5, atol: 1e-6 * k },
          `matmul ${m}x${k}x${n} tA=${ta} tB=${tb}`,
        );
      });
      gpuOuts.forEach((o) => o.dispose());
    }

    test("large matmuls (the CPU-adapter uniform-window path, tail rows, batches)", async () => {
      const shapes: [number[], number[]][] = [
        [[67, 256], [256, 260]],
        [[2, 1, 35, 128], [3, 128, 512]],
        [[20, 2048], [2048, 64]],
        [[18, 4096], [4096, 16]],
      ];
      for (const [as, bs] of shapes) {
        const av = uniform(as.reduce((p, q) => p * q, 1), 11, -1, 1);
        const bv = uniform(bs.reduce((p, q) => p * q, 1), 12, -1, 1);
        const want = T.matmul(T.tensor(av, as), T.tensor(bv, bs)).dataSync();
        const got = await T.matmul(
          T.tensor(av, as, { backend: gpuBackend }),
          T.tensor(bv, bs, { backend: gpuBackend }),
        ).data();
        assertClose(
          got,
          want,
          { rtol: 1e-5, atol: 1e-6 * as[as.length - 1] },
          `matmul ${as} @ ${bs}`,
        );
      }
    });

    test("conv2d: im2col GEMM path (CPU adapters) and split-K weight gradients", async () => {
      const cases: Record<string, Diff> = {
        "32->64 3x3 (GEMM path, K = 288)": {
          inputs: [r([2, 32, 16, 20]), r([64, 32, 3, 3])],
          run: (x, w) => T.conv2d(x, w, null, { padding: 1 }),
          tol: { rtol: 1e-5, atol: 3e-4, why: "f32 sums of 288 products" },
        },
        "4->8 on 30x30 (split-K weight gradient)": {
          inputs: [r([2, 4, 30, 30]), r([8, 4, 3, 3])],
          run: (x, w) => T.conv2d(x, w, null, { stride: 1 }),
          tol: ACCUM,
          grad: true,
          gradTol: { rtol: 1e-4, atol: 3e-4, why: "weight gradients sum 1568 products in f32" },
        },
      };
      for (const [name, d] of Object.entries(cases)) {
        const values = inputValues(name, d.inputs);
        compare(name, d, await runOn(gpuBackend!, d, values), await runOn(cpu, d, values));
      }
    });

    test("u8 / bool / i32 round trips and wrap-around", async () => {
      const u8 = T.tensor(Uint8Array.from([0, 1, 200, 255]), [4], { backend: gpuBackend });
      expect(Array.from(await u8.data())).toEqual([0, 1, 200, 255]);
      expect(Array.from(await T.add(u8, u8).data())).toEqual([0, 2, 144, 254]);
      const i = T.tensor(Int32Array.from([-2147483648, -1, 0, 2147483647]), [4], {
        backend: gpuBackend,
      });
      expect(Array.from(await i.data())).toEqual([-2147483648, -1, 0, 2147483647]);
      expect(Array.from(await T.add(i, 1).data())).toEqual([-2147483647, 0, 1, -2147483648]);
      const b = T.tensor([true, false, true], { backend: gpuBackend });
      expect(b.dtype).toBe("bool");
      expect(Array.from(await T.logicalNot(b).data())).toEqual([0, 1, 0]);
    });

    test("an out-of-range index raises when the result is read back", async () => {
      const x = T.tensor([1, 2, 3], { backend: gpuBackend });
      const i = T.tensor(Int32Array.from([0, 5]), [2], { backend: gpuBackend });
      const y = T.indexSelect(x, 0, i);
      await expect(y.data()).rejects.toThrow(/index_select: index out of range/);
      // the flag is cleared: later work is unaffected
      expect(Array.from(await T.add(x, 1).data())).toEqual([2, 3, 4]);
    });

    test("a tensor larger than maxStorageBufferBindingSize is rejected naming the limit", () => {
      const limit = (gpuBackend as unknown as { context: { limits: Record<string, number> } })
        .context.limits.maxStorageBufferBindingSize;
      expect(() => T.zeros([limit / 4 + 1], { backend: gpuBackend })).toThrow(
        /maxStorageBufferBindingSize/,
      );
    });

    test("steady-state training allocates no new GPU memory (200 SGD steps, tidy)", async () => {
      const b = gpuBackend!;
      const gen = new T.Generator(3);
      const w1 = T.keep(T.mul(T.sub(T.rand([8, 16], { backend: b, generator: gen }), 0.5), 0.5));
      const b1 = T.keep(T.zeros([16], { backend: b }));
      const w2 = T.keep(T.mul(T.sub(T.rand([16, 3], { backend: b, generator: gen }), 0.5), 0.5));
      const params = [w1, b1, w2];
      for (const p of params) p.requireGrad();
      const x = T.rand([32, 8], { backend: b, generator: gen });
      const y = T.rand([32, 3], { backend: b, generator: gen });
      const allocated: number[] = [];
      let first = 0;
      let last = 0;
      for (let step = 0; step < 200; step++) {
        const loss = T.tidy(() => {
          const h = T.relu(T.add(T.matmul(x, w1), b1));
          const d = T.sub(T.matmul(h, w2), y);
          const l = T.mean(T.mul(d, d));
          l.backward();
          return l;
        });
        T.tidy(() => {
          for (const p of params) {
            const upd = T.noGrad(() => T.sub(p, T.mul(p.grad!, 0.1)));
            p.assign(upd);
            p.grad!.dispose();
            p.grad = null;
          }
        });
        if (step === 0) first = await loss.item();
        if (step === 199) last = await loss.item();
        loss.dispose();
        if (step % 10 === 9) await b.sync();
        allocated.push(webgpuStats().allocatedBytes);
      }
      expect(last).toBeLessThan(first);
      const settled = allocated.slice(5);
      expect(new Set(settled).size, `allocated bytes over steps 5..199: ${[...new Set(settled)]}`)
        .toBe(1);
      for (const t of [...params, x, y]) t.dispose();
    });
  });
}

function unaryTable(): Record<string, unknown> {
  return Object.fromEntries(
    T.opCatalog().filter((s) => s.arity === 1 && !s.alias && !s.internal && isTableOp(s.name, 1))
      .map((s) => [s.name, s]),
  );
}

function binaryTable(): Record<string, unknown> {
  return Object.fromEntries(
    T.opCatalog().filter((s) => s.arity === 2 && isTableOp(s.name, 2)).map((s) => [s.name, s]),
  );
}

function isTableOp(name: string, arity: number): boolean {
  return arity === 1 ? name in UNARY : name in BINARY;
}
