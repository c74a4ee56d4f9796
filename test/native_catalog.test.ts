/**
 * The native backend (C kernels through Deno.dlopen) against the CPU reference:
 * - the shared catalog suite (test/helpers/catalog.ts) on "native";
 * - differential tests of every overridden kernel on random inputs with odd sizes, batch
 *   broadcasting, transposes, size-1 axes and special values (NaN, +-Inf, +-0), run under
 *   every instruction-set variant this CPU supports (avx512 / avx2 / generic);
 * - forward + backward (autograd in f32) of matmul and conv2d against the CPU backend;
 * - thread-count independence, the fallback paths, and the "no compiler" error.
 *
 * Tolerances: where C and the reference do the same IEEE operation the results are equal;
 * libm f32 functions are within 1 ulp of the reference's f64-then-rounded values; matmul and
 * conv accumulate in f32 (the reference in f64), so they get the standard dot-product bound
 * |error| <= (K + 2) u sum_k |a_k b_k| (u = 2^-24), computed per entry from |A| |B|.
 * Skipped (with the reason) when no C compiler exists.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend, Tensor } from "../mod.ts";
import { findCompiler, NativeBuildError } from "../src/backend/native/build.ts";
import {
  createNativeBackend,
  type IsaName,
  NATIVE_BINARY,
  NATIVE_THRESHOLDS,
  NATIVE_UNARY,
  type NativeLibrary,
} from "../src/backend/native/mod.ts";
import { runCatalogSuite } from "./helpers/catalog.ts";
import { assertClose, ints, uniform } from "./helpers/numeric.ts";

const U = 2 ** -24;

let noCompiler = "";
try {
  await findCompiler();
} catch (e) {
  noCompiler = e instanceof Error ? e.message : String(e);
}

/** Tolerance with the reason it is what it is. */
interface Tol {
  rtol: number;
  atol: number;
  why: string;
}
const EXACT: Tol = { rtol: 0, atol: 0, why: "the same IEEE f32 operation, or data movement" };
const ULP1: Tol = {
  rtol: 1.2e-7,
  atol: 1e-37,
  why: "glibc f32 function (< 1 ulp) vs the reference's f64 result rounded once",
};
const ULP2: Tol = {
  rtol: 2.4e-7,
  atol: 1e-37,
  why: "f64 evaluation rounded once vs V8's f64 evaluation rounded once (<= 1 ulp apart)",
};
const SUM: Tol = {
  rtol: 2.4e-7,
  atol: 1e-12,
  why: "both accumulate in f64 (different order), then round to f32",
};
const SOFTMAX: Tol = {
  rtol: 6e-7,
  atol: 1e-12,
  why: "polynomial exp (~1 ulp, argument corrected to the exact x - max), f64 sum, one " +
    "multiply by 1/sum: a few f32 roundings (measured max 2.4e-7)",
};
const LOG_SOFTMAX: Tol = {
  rtol: 1e-6,
  atol: 1e-6,
  why: "(x - m) - log(sum) in f32: ~1 ulp of |x - m| + |log sum| (values of order 10)",
};

const UNARY_TOL: Record<string, Tol> = {
  neg: EXACT,
  abs: EXACT,
  sign: EXACT,
  sqrt: EXACT,
  rsqrt: EXACT,
  reciprocal: EXACT,
  relu: EXACT,
  floor: EXACT,
  ceil: EXACT,
  round: EXACT,
  logical_not: EXACT,
  isnan: EXACT,
  log: ULP1,
  sin: ULP1,
  cos: ULP1,
  // erfc from a fit with relative error < 1.2e-7 (measured max 1.9e-7 after rounding); the
  // reference's 0.5 x (1 + erf(x / sqrt 2)) cancels for x < -5 (absolute error ~1e-16 x)
  gelu: { ...ULP2, atol: 1e-14, why: "erfc fit < 1.2e-7 + one rounding; reference cancels" },
  gelu_tanh: { ...ULP2, atol: 1e-14, why: ULP2.why + "; the reference's 1 + tanh cancels" },
};

const BINARY_TOL: Record<string, Tol> = { pow: ULP2, atan2: ULP2 };

const SPECIAL = [
  NaN,
  Infinity,
  -Infinity,
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  1.5,
  2.5,
  -2.5,
  3,
  -7,
  1e-30,
  -1e-30,
  1e-45,
  88,
  -104,
  30,
];

/** n values: the specials first, then uniform in [lo, hi]. */
function values(n: number, seed: number, lo: number, hi: number, specials = true): number[] {
  const v = uniform(n, seed, lo, hi);
  if (specials) { for (let i = 0; i < Math.min(n, SPECIAL.length); i++) v[i] = SPECIAL[i]; }
  return v;
}

/** Reads f32 results of the same computation on both backends. */
async function both(
  nat: Backend,
  cpu: Backend,
  run: (b: Backend) => Tensor | Tensor[],
): Promise<[ArrayLike<number>[], ArrayLike<number>[]]> {
  const read = async (b: Backend) => {
    const outs = T.tidy(() => {
      const r = run(b);
      return Array.isArray(r) ? r : [r];
    });
    const data = await Promise.all(outs.map((o) => o.data()));
    for (const o of outs) o.dispose();
    return data;
  };
  return [await read(nat), await read(cpu)];
}

/** |got - want| <= bound elementwise (NaN only where NaN is expected). */
function assertWithin(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: ArrayLike<number>,
  what: string,
) {
  expect(got.length, `${what}: length`).toBe(want.length);
  let bad = 0;
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    const b = bound[i] + 1e-30;
    if (!(e <= b)) {
      bad++;
      if (!(e / b <= worstRatio)) {
        worstRatio = e / b;
        worst = i;
      }
    }
  }
  if (bad) {
    throw new Error(
      `${what}: ${bad}/${want.length} entries outside the bound; worst at ${worst}: got ` +
        `${got[worst]}, expected ${want[worst]}, bound ${bound[worst]}`,
    );
  }
}

if (noCompiler) {
  console.warn(`skipping test/native_catalog.test.ts: ${noCompiler}`);
  describe.skip(`native backend (skipped: ${noCompiler})`, () => {
    test("needs a C compiler", () => {});
  });
} else {
  runCatalogSuite("native");

  describe("native vs cpu", () => {
    let nat!: Backend & { lib: NativeLibrary };
    let cpu!: Backend;
    let isas: IsaName[] = [];
    const thresholds = { ...NATIVE_THRESHOLDS };
    beforeAll(async () => {
      // small shapes too run the C kernels here (the catalog suite above used the defaults)
      NATIVE_THRESHOLDS.binary = 0;
      NATIVE_THRESHOLDS.unary = 0;
      nat = (await T.initBackend("native")) as Backend & { lib: NativeLibrary };
      cpu = T.getBackend("cpu");
      isas = nat.lib.usableIsas().reverse();
    });

    afterAll(() => void Object.assign(NATIVE_THRESHOLDS, thresholds));

    /** Runs `body` once per instruction set the CPU supports, restoring the best one. */
    async function eachIsa(body: (isa: IsaName) => Promise<void> | void) {
      try {
        for (const isa of isas) {
          expect(nat.lib.setIsa(isa)).toBe(isa);
          await body(isa);
        }
      } finally {
        nat.lib.setIsa("best");
      }
    }

    test("the backend has every catalog kernel, and C versions of the hot ones", async () => {
      const missing = T.requiredKernels().filter((k) => !nat.kernels[k]);
      expect(missing).toEqual([]);
      const other = await createNativeBackend();
      for (const k of ["matmul", "conv2d", "softmax", "sum", "strided_copy", "add", "exp"]) {
        expect(other.kernels[k], k).not.toBe(cpu.kernels[k]);
      }
      expect(other.kernels.sort).toBe(cpu.kernels.sort);
      expect(nat.lib.isa()).toBe(nat.lib.bestIsa());
    });

    test("freed large buffers are reused, zero-filled", () => {
      const n = 70_000;
      const b = nat.alloc("f32", n) as Float32Array;
      b.fill(5);
      nat.free(b, "f32", n);
      const c = nat.alloc("f32", n) as Float32Array;
      expect(c).toBe(b);
      expect(c.every((v) => v === 0)).toBe(true);
      const small = nat.alloc("f32", 10) as Float32Array;
      nat.free(small, "f32", 10);
      expect(nat.alloc("f32", 10)).not.toBe(small);
    });

    test("a missing compiler gives a clear error", async () => {
      await expect(findCompiler("no-such-cc-dmf")).rejects.toThrow(NativeBuildError);
      await expect(findCompiler("no-such-cc-dmf")).rejects.toThrow(/no C compiler found/);
    });

    // ---- matmul ----------------------------------------------------------------------------

    /** Checks matmul(a, b) on native against the CPU with the dot-product error bound. */
    async function checkMatmul(
      as: number[],
      bs: number[],
      transA: boolean,
      transB: boolean,
      seed: number,
      what: string,
    ) {
      const av = uniform(as.reduce((p, q) => p * q, 1), seed, -1, 1);
      const bv = uniform(bs.reduce((p, q) => p * q, 1), seed + 1, -1, 1);
      const K = transA ? as[as.length - 2] : as[as.length - 1];
      const [[got], [want, abs]] = await both(nat, cpu, (b) => {
        const a = T.tensor(av, as, { backend: b });
        const bb = T.tensor(bv, bs, { backend: b });
        const y = T.matmul(a, bb, { transA, transB });
        if (b === nat) return y;
        return [y, T.matmul(T.abs(a), T.abs(bb), { transA, transB })];
      });
      const bound = Array.from(abs, (v) => (K + 2) * U * v);
      assertWithin(got, want, bound, what);
    }

    test("matmul grid: M, N, K in {1, 2, 15, 33, 100}, transA / transB, every ISA", async () => {
      const sizes = [1, 2, 15, 33, 100];
      await eachIsa(async (isa) => {
        let seed = 1;
        for (const m of sizes) {
          for (const n of sizes) {
            for (const k of sizes) {
              for (const ta of [false, true]) {
                for (const tb of [false, true]) {
                  await checkMatmul(
                    ta ? [k, m] : [m, k],
                    tb ? [n, k] : [k, n],
                    ta,
                    tb,
                    seed++,
                    `${isa} matmul ${m}x${k}x${n} tA=${ta} tB=${tb}`,
                  );
                }
              }
            }
          }
        }
      });
    });

    test("matmul across packing blocks (K > 256, M > 336, N > 2048 edges), every ISA", async () => {
      const shapes: [number, number, number][] = [
        [337, 259, 515],
        [29, 70, 2100],
        [701, 33, 300],
      ];
      await eachIsa(async (isa) => {
        for (const [m, k, n] of shapes) {
          for (const [ta, tb] of [[false, false], [true, true], [true, false], [false, true]]) {
            await checkMatmul(
              ta ? [k, m] : [m, k],
              tb ? [n, k] : [k, n],
              ta,
              tb,
              m + n,
              `${isa} ${m}x${k}x${n} tA=${ta} tB=${tb}`,
            );
          }
        }
      });
    });

    test("batched matmul with broadcast batch axes and size-1 dims", async () => {
      const cases: [number[], number[], boolean, boolean][] = [
        [[2, 1, 17, 13], [3, 13, 9], false, false],
        [[2, 1, 13, 17], [3, 9, 13], true, true],
        [[5, 7, 9], [9, 4], false, false],
        [[7, 9], [4, 9, 3], false, false],
        [[1, 1, 40], [6, 40, 33], false, false],
        [[6, 1, 40], [1, 33, 40], false, true],
        [[3, 1, 1, 5, 1], [1, 4, 2, 1, 6], false, false],
        [[2, 3, 64, 24], [2, 3, 64, 40], true, false],
        [[16, 50, 32], [16, 50, 32], false, true],
      ];
      let seed = 100;
      for (const [as, bs, ta, tb] of cases) {
        await checkMatmul(as, bs, ta, tb, seed++, `batched ${as} @ ${bs} tA=${ta} tB=${tb}`);
      }
    });

    test("matmul results do not depend on the thread count", () => {
      const av = uniform(300 * 301, 7, -1, 1);
      const bv = uniform(301 * 302, 8, -1, 1);
      const run = () =>
        T.matmul(
          T.tensor(av, [300, 301], { backend: nat }),
          T.tensor(bv, [301, 302], {
            backend: nat,
          }),
        ).dataSync();
      const before = nat.lib.threads();
      const many = run();
      nat.lib.setThreads(1);
      try {
        expect(Array.from(run())).toEqual(Array.from(many));
      } finally {
        nat.lib.setThreads(before);
      }
    });

    test("matmul falls back to the reference for f64", () => {
      const a = T.tensor(uniform(12, 1), [3, 4], { dtype: "f64", backend: nat });
      const b = T.tensor(uniform(20, 2), [4, 5], { dtype: "f64", backend: nat });
      const ca = T.tensor(a.dataSync(), [3, 4], { dtype: "f64" });
      const cb = T.tensor(b.dataSync(), [4, 5], { dtype: "f64" });
      expect(Array.from(T.matmul(a, b).dataSync())).toEqual(
        Array.from(T.matmul(ca, cb).dataSync()),
      );
    });

    test("matmul forward and backward (autograd, f32) match the CPU", async () => {
      for (
        const [as, bs, ta, tb] of [
          [[2, 1, 17, 13], [3, 13, 9], false, false],
          [[21, 7], [9, 21], true, true],
        ] as [number[], number[], boolean, boolean][]
      ) {
        const av = uniform(as.reduce((p, q) => p * q, 1), 31, -1, 1);
        const bv = uniform(bs.reduce((p, q) => p * q, 1), 32, -1, 1);
        const [got, want] = await both(nat, cpu, (b) => {
          const a = T.tensor(av, as, { backend: b }).requireGrad();
          const bb = T.tensor(bv, bs, { backend: b }).requireGrad();
          const y = T.matmul(a, bb, { transA: ta, transB: tb });
          const v = T.tensor(uniform(y.size, 33, -1, 1), y.shape, { backend: b });
          T.sum(T.mul(y, v)).backward();
          return [y, T.keep(a.grad!), T.keep(bb.grad!)];
        });
        // K <= 21 products per entry (x3 batch sums in the gradient of b): (K + 2) u |a||b|
        const tol = { rtol: 1e-5, atol: 5e-6 };
        got.forEach((g, i) => assertClose(g, want[i], tol, `matmul ${as} @ ${bs} output ${i}`));
      }
    });

    // ---- conv2d ----------------------------------------------------------------------------

    interface ConvCase {
      x: number[];
      w: number[];
      opts: T.Conv2dOptions;
    }
    const CONVS: ConvCase[] = [
      { x: [2, 5, 11, 13], w: [7, 5, 3, 3], opts: { padding: 1 } },
      { x: [2, 6, 11, 13], w: [4, 3, 3, 3], opts: { stride: 2, padding: 1, groups: 2 } },
      { x: [2, 6, 11, 13], w: [5, 6, 2, 1], opts: { dilation: [2, 1], padding: [1, 0] } },
      { x: [3, 8, 9, 7], w: [6, 8, 1, 1], opts: {} },
      { x: [1, 8, 9, 7], w: [6, 8, 1, 1], opts: { stride: 2 } },
      { x: [1, 3, 10, 9], w: [4, 3, 5, 5], opts: { padding: 2, stride: [1, 3] } },
      { x: [2, 4, 3, 2], w: [3, 4, 5, 5], opts: { padding: 2 } },
      { x: [1, 6, 8, 8], w: [6, 1, 3, 3], opts: { padding: 1, groups: 6 } },
      { x: [1, 20, 17, 19], w: [33, 20, 3, 3], opts: { padding: 1 } },
      // padding beyond d (K - 1): the input gradient takes the explicit col2im path
      { x: [1, 3, 6, 5], w: [2, 3, 1, 1], opts: { padding: 1 } },
      { x: [2, 3, 7, 6], w: [4, 3, 3, 3], opts: { padding: [3, 1] } },
      {
        x: [1, 4, 13, 12],
        w: [4, 2, 3, 3],
        opts: { stride: 2, dilation: 2, padding: 2, groups: 2 },
      },
    ];

    test("conv2d forward, input grad and weight grad (autograd, f32), every ISA", async () => {
      await eachIsa(async (isa) => {
        for (const [ci, c] of CONVS.entries()) {
          const xv = uniform(c.x.reduce((p, q) => p * q, 1), 40 + ci, -1, 1);
          const wv = uniform(c.w.reduce((p, q) => p * q, 1), 60 + ci, -1, 1);
          let vv: number[] = [];
          const run = (b: Backend, abs: boolean) => {
            const x = T.tensor(abs ? xv.map(Math.abs) : xv, c.x, { backend: b }).requireGrad();
            const w = T.tensor(abs ? wv.map(Math.abs) : wv, c.w, { backend: b }).requireGrad();
            const y = T.conv2d(x, w, null, c.opts);
            if (!vv.length) vv = uniform(y.size, 80 + ci, -1, 1);
            const v = T.tensor(abs ? vv.map(Math.abs) : vv, y.shape, { backend: b });
            T.sum(T.mul(y, v)).backward();
            return [y, T.keep(x.grad!), T.keep(w.grad!)];
          };
          const [got, want] = await both(nat, cpu, (b) => run(b, false));
          // bounds from the same sums over absolute values (|x|, |w|, |dy|)
          const [, bounds] = await both(nat, cpu, (b) => run(b, true));
          const [N, , OH, OW] = T.conv2d(
            T.zeros(c.x),
            T.zeros(c.w),
            null,
            c.opts,
          ).shape;
          const [O, Cg, KH, KW] = c.w;
          const groups = c.opts.groups ?? 1;
          const terms = [Cg * KH * KW, (O / groups) * KH * KW, N * OH * OW];
          ["output", "input grad", "weight grad"].forEach((what, i) => {
            const bound = Array.from(bounds[i], (v) => (terms[i] + 2) * U * v);
            assertWithin(got[i], want[i], bound, `${isa} conv ${ci} ${what}`);
          });
        }
      });
    });

    // ---- elementwise -----------------------------------------------------------------------

    const BIN_SHAPES: [number[], number[]][] = [
      [[7, 1, 13], [7, 1, 13]],
      [[7, 13], [1]],
      [[1], [5, 9]],
      [[5, 1, 9], [1, 3, 9]],
      [[4, 6, 5], [6, 1]],
      [[2, 3, 4, 5], [3, 1, 1]],
      [[37], []],
      [[1, 2, 1, 2, 1, 2, 1, 2, 1, 3], [2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1]],
    ];
    const BIN_DOMAIN: Record<string, [number, number]> = { pow: [0, 3], div: [-2, 2] };

    test("binary ops: same shape, scalar and general broadcasts, specials, every ISA", async () => {
      await eachIsa(async (isa) => {
        for (const name of NATIVE_BINARY) {
          const [lo, hi] = BIN_DOMAIN[name] ?? [-3, 3];
          const pred = !T.getOp(name).backward;
          for (const [si, [as, bs]] of BIN_SHAPES.entries()) {
            const na = as.reduce((p, q) => p * q, 1);
            const nb = bs.reduce((p, q) => p * q, 1);
            let av = values(na, 3 + si, lo, hi);
            let bv = values(nb, 5 + si, lo, hi).reverse();
            if (pred) {
              // coarse values: ties for the comparisons
              av = av.map((v) => Math.round(v * 2) / 2);
              bv = bv.map((v) => Math.round(v * 2) / 2);
            }
            const [[got], [want]] = await both(nat, cpu, (b) =>
              T.apply1(name, [
                T.tensor(av, as, { backend: b }),
                T.tensor(bv, bs, { backend: b }),
              ]));
            const tol = BINARY_TOL[name] ?? EXACT;
            assertClose(got, want, tol, `${isa} ${name} [${as}] [${bs}] (${tol.why})`);
          }
        }
        // every pair of special values (Math.pow / atan2 / NaN semantics)
        const n = SPECIAL.length;
        const av = SPECIAL.flatMap((a) => SPECIAL.map(() => a));
        const bv = SPECIAL.flatMap(() => SPECIAL);
        for (const name of NATIVE_BINARY) {
          const [[got], [want]] = await both(nat, cpu, (b) =>
            T.apply1(name, [
              T.tensor(av, [n, n], { backend: b }),
              T.tensor(bv, [n, n], { backend: b }),
            ]));
          const tol = BINARY_TOL[name] ?? EXACT;
          assertClose(got, want, tol, `${isa} ${name} on special pairs`);
        }
      });
    });

    test("binary ops on large arrays (threaded) and non-f32 fallbacks", async () => {
      const n = 200_003;
      const av = uniform(n, 1, -2, 2);
      const bv = uniform(n, 2, -2, 2);
      const [got, want] = await both(nat, cpu, (b) => {
        const a = T.tensor(av, [n], { backend: b });
        const c = T.tensor(bv, [n], { backend: b });
        const m = T.tensor(bv.slice(0, 1000), [1000, 1], { backend: b });
        return [
          T.add(a, c),
          T.mul(a, 3),
          T.lt(a, c),
          T.sub(T.reshape(T.slice(a, [[0, 200_000]]), [1000, 200]), m),
          T.add(T.cast(a, "i32"), T.cast(c, "i32")),
          T.maximum(T.cast(a, "f64"), T.cast(c, "f64")),
        ];
      });
      got.forEach((g, i) => assertClose(g, want[i], EXACT, `large binary ${i}`));
    });

    test("unary ops on specials and [-6, 6], every ISA", async () => {
      await eachIsa(async (isa) => {
        for (const name of NATIVE_UNARY) {
          const v = values(7 * 1 * 131, 11, -6, 6);
          const [[got], [want]] = await both(
            nat,
            cpu,
            (b) => T.apply1(name, [T.tensor(v, [7, 1, 131], { backend: b })]),
          );
          const tol = UNARY_TOL[name] ?? ULP2;
          assertClose(got, want, tol, `${isa} ${name} (${tol.why})`);
        }
      });
      // large (threaded) and an i32 fallback
      const big = uniform(100_001, 12, -5, 5);
      const [got, want] = await both(nat, cpu, (b) => {
        const x = T.tensor(big, [100_001], { backend: b });
        return [T.gelu(x), T.exp(x), T.abs(T.cast(x, "i32")), T.isnan(x)];
      });
      got.forEach((g, i) => assertClose(g, want[i], UNARY_TOL.gelu, `large unary ${i}`));
    });

    // ---- reductions and softmax -------------------------------------------------------------

    test("sum / mean / max / min over contiguous axes; other axes fall back", async () => {
      const shapes = [[6, 7, 1, 9], [1, 300], [3, 1], [64, 4096], [2, 1_100_000]];
      await eachIsa(async (isa) => {
        for (const [si, shape] of shapes.entries()) {
          const n = shape.reduce((p, q) => p * q, 1);
          const v = values(n, 20 + si, -2, 2, si === 0);
          // a NaN in the large array (every max/min row that holds it is NaN)
          if (n > 1e6) v[777_777] = NaN;
          const coarse = v.map((x) => Math.round(x * 4) / 4);
          const r = shape.length;
          const axesList: number[][] = [[r - 1], [], [...Array(r).keys()]];
          if (r > 1) axesList.push([0], [0, r - 1]);
          if (r === 4) axesList.push([1, 2], [0, 1, 2], [1, 3]);
          const [got, want] = await both(nat, cpu, (b) => {
            const x = T.tensor(v, shape, { backend: b });
            const xc = T.tensor(coarse, shape, { backend: b });
            return axesList.flatMap((axes) => [
              T.sum(x, axes),
              T.mean(x, axes, true),
              T.max(xc, axes),
              T.min(xc, axes, true),
            ]);
          });
          got.forEach((g, i) => {
            const tol = i % 4 < 2 ? SUM : EXACT;
            const axes = axesList[Math.floor(i / 4)];
            assertClose(g, want[i], tol, `${isa} [${shape}] axes [${axes}] op ${i % 4}`);
          });
        }
      });
    });

    test("softmax / log_softmax over the last axis (rows of odd length, -inf, NaN)", async () => {
      await eachIsa(async (isa) => {
        for (const shape of [[5, 301], [3, 7, 5], [4, 1], [1, 9], [300, 257]]) {
          const n = shape.reduce((p, q) => p * q, 1);
          const v = uniform(n, 9, -8, 8);
          if (n > 20) {
            v[3] = -Infinity;
            for (let i = 0; i < shape[shape.length - 1]; i++) {
              v[shape[shape.length - 1] + i] = -Infinity;
            }
            v[v.length - 2] = NaN;
          }
          const [got, want] = await both(nat, cpu, (b) => {
            const x = T.tensor(v, shape, { backend: b });
            return [T.softmax(x), T.logSoftmax(x), T.softmax(x, 0)];
          });
          assertClose(got[0], want[0], SOFTMAX, `${isa} softmax [${shape}] (${SOFTMAX.why})`);
          assertClose(got[1], want[1], LOG_SOFTMAX, `${isa} log_softmax [${shape}]`);
          // axis 0: the reference kernel, except [4, 1] whose axis 0 is a row
          assertClose(got[2], want[2], SOFTMAX, `${isa} softmax axis 0`);
        }
      });
    });

    // ---- strided copy ----------------------------------------------------------------------

    test("strided_copy: permutes (3-D, 4-D), expand, slices, every dtype", async () => {
      const perms3 = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
      const perms4 = [[0, 2, 3, 1], [0, 3, 1, 2], [1, 0, 2, 3], [0, 1, 3, 2], [3, 2, 1, 0]];
      for (const dtype of ["f32", "i32", "u8", "bool", "f64"] as const) {
        const v3 = ints(5 * 37 * 33, 3, 0, 200);
        const v4 = ints(2 * 35 * 1 * 67, 4, 0, 200);
        const [got, want] = await both(nat, cpu, (b) => {
          const x = T.tensor(v3, [5, 37, 33], { dtype, backend: b });
          const y = T.tensor(v4, [2, 35, 1, 67], { dtype, backend: b });
          return [
            ...perms3.map((p) => T.permute(x, p)),
            ...perms4.map((p) => T.permute(y, p)),
            T.expand(T.reshape(x, [5, 1, 37, 33]), [5, 3, 37, 33]),
            T.slice(x, [[1, 5, 2], [undefined, undefined, -3], [4, 30, 1]]),
            T.transpose(T.slice(x, [[1, 4], [2, 35], [1, 32]]), 0, 2),
          ];
        });
        got.forEach((g, i) => assertClose(g, want[i], EXACT, `${dtype} strided copy ${i}`));
      }
      // large: threaded rows and tiled transposes with edges
      const big = uniform(3 * 513 * 700, 5, -1, 1);
      const [got, want] = await both(nat, cpu, (b) => {
        const x = T.tensor(big, [3, 513, 700], { backend: b });
        return [T.permute(x, [0, 2, 1]), T.permute(x, [2, 1, 0]), T.permute(x, [1, 0, 2])];
      });
      got.forEach((g, i) => assertClose(g, want[i], EXACT, `large permute ${i}`));
    });

    // ---- a small training run -----------------------------------------------------------------

    test("a conv + MLP training step gives the same losses and gradients as the CPU", async () => {
      const xv = uniform(2 * 3 * 12 * 12, 1, -1, 1);
      const w1v = uniform(8 * 3 * 3 * 3, 2, -0.3, 0.3);
      const w2v = uniform(8 * 12 * 12 * 5, 3, -0.05, 0.05);
      const [got, want] = await both(nat, cpu, (b) => {
        const x = T.tensor(xv, [2, 3, 12, 12], { backend: b });
        const w1 = T.tensor(w1v, [8, 3, 3, 3], { backend: b }).requireGrad();
        const w2 = T.tensor(w2v, [8 * 12 * 12, 5], { backend: b }).requireGrad();
        const h = T.gelu(T.conv2d(x, w1, null, { padding: 1 }));
        const logits = T.matmul(T.reshape(h, [2, 8 * 12 * 12]), w2);
        const loss = T.mean(T.neg(T.logSoftmax(logits)));
        loss.backward();
        return [loss, T.keep(w1.grad!), T.keep(w2.grad!)];
      });
      const tol = { rtol: 2e-5, atol: 2e-6 };
      got.forEach((g, i) => assertClose(g, want[i], tol, `training step ${i}`));
    });
  });
}
