/**
 * The C kernels of native/shape_ops.c, index_ops.c, resample.c, pooling.c and msda.c against
 * the CPU reference kernels on odd shapes, small and large (threaded). Each case checks that
 * the C path ran (NATIVE_CALLS counts the calls that did not fall back).
 *
 * Tolerance: none. These kernels move data, or evaluate the reference's f64 expressions in
 * the reference's order and round once, and the backward kernels split work so that every
 * output element receives its additions in the reference's order: results are identical.
 * Skipped (with the reason) when no C compiler exists.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend, Tensor } from "../mod.ts";
import { findCompiler } from "../src/backend/native/build.ts";
import { NATIVE_CALLS, NATIVE_THRESHOLDS, type NativeLibrary } from "../src/backend/native/mod.ts";
import { assertClose, ints, prod, uniform } from "./helpers/numeric.ts";

let noCompiler = "";
try {
  await findCompiler();
} catch (e) {
  noCompiler = e instanceof Error ? e.message : String(e);
}

const EXACT = { rtol: 0, atol: 0 };

/** Coarse values (ties for max pooling) with a few NaN and infinities. */
function coarse(n: number, seed: number): number[] {
  const v = uniform(n, seed, -3, 3).map((x) => Math.round(x * 2) / 2);
  if (n > 20) [v[3], v[11], v[17]] = [NaN, Infinity, -Infinity];
  return v;
}

if (noCompiler) {
  console.warn(`skipping test/native_kernels.test.ts: ${noCompiler}`);
  describe.skip(`native kernels (skipped: ${noCompiler})`, () => {
    test("needs a C compiler", () => {});
  });
} else {
  describe("native C kernels vs the cpu reference", () => {
    let nat!: Backend & { lib: NativeLibrary };
    let cpu!: Backend;
    const thresholds = { ...NATIVE_THRESHOLDS };
    beforeAll(async () => {
      NATIVE_THRESHOLDS.binary = 0; // `where` runs in C on small shapes too
      nat = (await T.initBackend("native")) as Backend & { lib: NativeLibrary };
      cpu = T.getBackend("cpu");
    });
    afterAll(() => void Object.assign(NATIVE_THRESHOLDS, thresholds));

    /**
     * Runs `run` on both backends, expects identical results and `kernels` to have run in C
     * on the native side.
     */
    async function same(kernels: string[], what: string, run: (b: Backend) => Tensor[]) {
      const before = kernels.map((k) => NATIVE_CALLS[k] ?? 0);
      const read = async (b: Backend) => {
        const outs = T.tidy(() => run(b));
        const data = await Promise.all(outs.map((o) => o.data()));
        outs.forEach((o) => o.dispose());
        return data;
      };
      const got = await read(nat);
      kernels.forEach((k, i) => {
        expect(NATIVE_CALLS[k] ?? 0, `${what}: ${k} ran in C`).toBeGreaterThan(before[i]);
      });
      const want = await read(cpu);
      expect(got.length).toBe(want.length);
      got.forEach((g, i) => assertClose(g, want[i], EXACT, `${what} output ${i}`));
    }

    /** y = f(x...) and the gradients of sum(y * v) for the inputs that require them. */
    function withGrads(b: Backend, xs: Tensor[], f: (...xs: Tensor[]) => Tensor): Tensor[] {
      const ins = xs.map((x) => x.requireGrad());
      const y = f(...ins);
      const v = T.tensor(uniform(y.size, 99, -1, 1), y.shape, { backend: b });
      T.sum(T.mul(y, v)).backward();
      return [y, ...ins.map((x) => T.keep(x.grad!))];
    }

    const t = (b: Backend, v: number[], shape: readonly number[], dtype: T.DType = "f32") =>
      T.tensor(v, shape, { backend: b, dtype });

    test("pad: constant and replicate, any axis, dtypes, empty axes, large", async () => {
      const cases: [number[], number[], "constant" | "replicate", number, T.DType][] = [
        [[2, 3, 5, 7], [1, 2, 0, 3], "constant", 1.5, "f32"],
        [[2, 3, 5, 7], [2, 1, 3, 0], "replicate", 0, "f32"],
        [[3, 4, 5], [0, 0, 0, 0, 2, 1], "constant", -2, "f32"],
        [[3, 4, 5], [0, 0, 1, 1, 1, 0], "replicate", 0, "i32"],
        [[6, 5], [3, 2], "constant", 7, "i32"],
        [[4, 9], [1, 1, 1, 1], "constant", 1, "u8"],
        [[2, 0, 3], [1, 1, 1, 0], "constant", 4, "f32"],
        [[2, 40, 50, 48], [0, 0, 1, 2, 3, 0], "constant", 0, "f32"],
      ];
      for (const [ci, [shape, pads, mode, value, dtype]] of cases.entries()) {
        const v = ints(prod(shape), ci + 1, 0, 100);
        await same(["pad"], `pad ${ci}`, (b) => [T.pad(t(b, v, shape, dtype), pads, mode, value)]);
      }
    });

    test("cat along each axis, dtypes, empty parts, one long row", async () => {
      const cases: [number[][], number, T.DType][] = [
        [[[2, 3, 4], [5, 3, 4], [1, 3, 4]], 0, "f32"],
        [[[2, 3, 4], [2, 1, 4], [2, 0, 4], [2, 5, 4]], 1, "f32"],
        [[[2, 3, 4], [2, 3, 7]], 2, "i32"],
        [[[3, 2], [3, 5]], 1, "u8"],
        [[[1, 300_001], [1, 100_003]], 1, "f32"],
        [[[64, 33, 20], [64, 31, 20]], 1, "f32"],
      ];
      for (const [ci, [shapes, axis, dtype]] of cases.entries()) {
        const vs = shapes.map((s, i) => ints(prod(s), 10 * ci + i, 0, 100));
        await same(["cat"], `cat ${ci}`, (b) => [
          T.cat(shapes.map((s, i) => t(b, vs[i], s, dtype)), axis),
        ]);
      }
    });

    test("where with broadcasting, scalars and i32 values", async () => {
      const cases: number[][][] = [
        [[5, 1, 7], [1, 6, 7], [7]],
        [[4, 9], [4, 9], [4, 9]],
        [[3, 1], [1, 300], [3, 300]],
        [[70, 1, 33], [70, 20, 33], [1]],
      ];
      for (const [ci, [cs, as, bs]] of cases.entries()) {
        const cv = uniform(prod(cs), ci + 1);
        const av = uniform(prod(as), ci + 2);
        const bv = uniform(prod(bs), ci + 3);
        await same(["where"], `where ${ci}`, (b) => {
          const c = T.gt(t(b, cv, cs), 0);
          return [
            T.where(c, t(b, av, as), t(b, bv, bs)),
            T.where(c, t(b, av, as), 0.5),
            T.where(c, T.cast(t(b, av, as), "i32"), T.cast(t(b, bv, bs), "i32")),
          ];
        });
      }
    });

    test("cumsum along every axis, blocks wider than one task", async () => {
      for (const shape of [[4, 37, 5], [3, 300], [2, 5, 300], [40, 1000]]) {
        const v = uniform(prod(shape), shape.length, -2, 2);
        for (let axis = 0; axis < shape.length; axis++) {
          await same(["cumsum"], `cumsum [${shape}] axis ${axis}`, (b) => [
            T.cumsum(t(b, v, shape), axis),
          ]);
        }
      }
    });

    test("gather and scatter_add: negative and repeated indices, smaller index shapes", async () => {
      const x = [4, 6, 5];
      const xv = uniform(prod(x), 1, -2, 2);
      const cases: [number, number[], number, number][] = [
        [0, [3, 6, 5], -4, 4],
        [1, [4, 9, 2], 0, 6],
        [2, [2, 3, 7], -5, 5],
        [1, [4, 400, 5], 0, 6],
      ];
      for (const [ci, [axis, is, lo, hi]] of cases.entries()) {
        const iv = ints(prod(is), 20 + ci, lo, hi);
        const src = is.map((d, k) => (k === axis ? d + 1 : d));
        const sv = uniform(prod(src), 30 + ci, -1, 1);
        const scatterIndex = iv.map((i) => (i < 0 ? i + x[axis] : i));
        await same(["gather", "scatter_add"], `gather/scatter_add ${ci}`, (b) => {
          const xt = t(b, xv, x);
          return [
            T.gather(xt, axis, t(b, iv, is, "i32")),
            T.gather(T.cast(xt, "i32"), axis, t(b, iv, is, "i32")),
            T.scatterAdd(xt, axis, t(b, scatterIndex.slice(0, prod(is)), is, "i32"), t(b, sv, src)),
          ];
        });
      }
      const xt = t(nat, xv, x);
      expect(() => T.gather(xt, 1, t(nat, [0, 6], [1, 2, 1], "i32"))).toThrow(RangeError);
      expect(() => T.scatterAdd(xt, 1, t(nat, [-7], [1, 1, 1], "i32"), t(nat, [1], [1, 1, 1])))
        .toThrow(RangeError);
    });

    test("index_select and index_add: repeated and negative indices, large inner blocks", async () => {
      const cases: [number[], number, number[]][] = [
        [[5, 7, 3], 1, [6, -1, 0, 6, 2, -7, 3, 3, 1]],
        [[7, 4], 0, [0, 6, 6, -2]],
        [[3, 5], 1, [4, 4, 4]],
        [[30, 3000], 0, [1, 29, 1, 0, 17, -3]],
      ];
      for (const [ci, [shape, axis, index]] of cases.entries()) {
        const xv = uniform(prod(shape), 40 + ci);
        const src = shape.map((d, k) => (k === axis ? index.length : d));
        const sv = uniform(prod(src), 50 + ci);
        await same(["index_select", "index_add"], `index_select/add ${ci}`, (b) => {
          const xt = t(b, xv, shape);
          const it = t(b, index, [index.length], "i32");
          return [
            T.indexSelect(xt, axis, it),
            T.indexSelect(T.cast(xt, "i32"), axis, it),
            T.indexAdd(xt, axis, it, t(b, sv, src)),
          ];
        });
      }
      expect(() => T.indexSelect(t(nat, [1, 2], [2]), 0, t(nat, [2], [1], "i32"))).toThrow(
        RangeError,
      );
    });

    test("resize nearest and bilinear (align corners or not), forward and backward", async () => {
      const cases: [number[], T.InterpolateOptions][] = [
        [[2, 3, 7, 9], { size: [13, 5] }],
        [[2, 3, 7, 9], { scaleFactor: 2 }],
        [[1, 2, 10, 6], { size: [3, 17] }],
        [[2, 3, 7, 9], { size: [13, 5], mode: "bilinear" }],
        [[2, 3, 7, 9], { size: [4, 20], mode: "bilinear", alignCorners: true }],
        [[1, 2, 10, 6], { scaleFactor: 2.5, mode: "bilinear" }],
        [[1, 1, 1, 5], { size: [3, 1], mode: "bilinear", alignCorners: true }],
        [[4, 8, 45, 80], { size: [90, 160], mode: "bilinear" }],
        [[4, 8, 45, 80], { scaleFactor: 2 }],
      ];
      for (const [ci, [shape, opts]] of cases.entries()) {
        const name = `resize_${opts.mode ?? "nearest"}`;
        const v = uniform(prod(shape), 60 + ci, -2, 2);
        await same(
          [name, `${name}_backward`],
          `${name} ${ci}`,
          (b) => withGrads(b, [t(b, v, shape)], (x) => T.interpolate(x, opts)),
        );
      }
      // nearest moves raw elements of any dtype
      await same(["resize_nearest"], "resize_nearest i32", (b) => [
        T.interpolate(t(b, ints(63, 1, 0, 9), [1, 7, 9], "i32"), { size: [4, 11] }),
      ]);
    });

    test("grid_sample forward and backward, points outside and on the borders", async () => {
      for (
        const [ci, [xs, gs]] of [[[2, 3, 6, 7], [2, 5, 4]], [[1, 4, 30, 40], [1, 50, 60]]].entries()
      ) {
        const xv = uniform(prod(xs), 70 + ci, -2, 2);
        const gv = uniform(prod(gs) * 2, 80 + ci, -1.3, 1.3);
        // exact pixel centres, the map edges and beyond
        const [, , H, W] = xs;
        const specials = [-1, 1, -1 - 1 / W, 1 + 1 / H, 1 / W - 1, 0, 1 - 1 / H];
        specials.forEach((s, i) => (gv[2 * i + (i % 2)] = s));
        await same(
          ["grid_sample", "grid_sample_backward"],
          `grid_sample ${ci}`,
          (b) => withGrads(b, [t(b, xv, xs), t(b, gv, [...gs, 2])], (x, g) => T.gridSample(x, g)),
        );
      }
    });

    test("max / avg pooling forward and backward: padding, ties, NaN, strides", async () => {
      const cases: [number[], number | [number, number], T.PoolOptions][] = [
        [[2, 3, 9, 8], 3, { stride: 2, padding: 1 }],
        [[2, 3, 9, 8], [2, 3], { stride: [2, 1], padding: [1, 0] }],
        [[1, 2, 5, 5], 2, {}],
        [[2, 16, 40, 36], 3, { stride: 1, padding: 1 }],
      ];
      for (const [ci, [shape, kernel, opts]] of cases.entries()) {
        const v = coarse(prod(shape), 90 + ci);
        await same(
          ["max_pool2d", "max_pool2d_backward"],
          `max_pool2d ${ci}`,
          (b) => withGrads(b, [t(b, v, shape)], (x) => T.maxPool2d(x, kernel, opts)),
        );
        const finite = v.map((x) => (Number.isFinite(x) ? x : 0.25));
        await same(
          ["avg_pool2d", "avg_pool2d_backward"],
          `avg_pool2d ${ci}`,
          (b) => withGrads(b, [t(b, finite, shape)], (x) => T.avgPool2d(x, kernel, opts)),
        );
      }
    });

    describe("msda", () => {
      type Levels = [number, number][];
      /** Locations over [-0.3, 1.3] (some points outside), a few exactly on the borders. */
      function problem(N: number, M: number, D: number, Lq: number, P: number, levels: Levels) {
        const S = levels.reduce((s, [h, w]) => s + h * w, 0);
        const L = levels.length;
        const loc = uniform(N * Lq * M * L * P * 2, 7, -0.3, 1.3);
        const [h, w] = levels[0];
        [0, 1, 0.5 / w, -0.5 / w, (w + 0.5) / w, 1 / h].forEach((s, i) => (loc[3 * i] = s));
        return {
          shapes: { value: [N, S, M, D], loc: [N, Lq, M, L, P, 2], attn: [N, Lq, M, L, P] },
          value: uniform(N * S * M * D, 5, -1, 1),
          loc,
          attn: uniform(N * Lq * M * L * P, 9, 0, 1),
          gout: uniform(N * Lq * M * D, 11, -1, 1),
          levels,
        };
      }

      const PROBLEMS = [
        problem(2, 2, 5, 7, 3, [[4, 5], [2, 3], [1, 1]]),
        problem(1, 3, 1, 4, 2, [[3, 2]]),
        problem(2, 8, 32, 300, 4, [[20, 24], [10, 12], [5, 6], [3, 3]]),
      ];

      test("forward and backward match the reference exactly", async () => {
        for (const [pi, p] of PROBLEMS.entries()) {
          await same(["msda", "msda_backward"], `msda problem ${pi}`, (b) => {
            const v = t(b, p.value, p.shapes.value);
            const l = t(b, p.loc, p.shapes.loc);
            const a = t(b, p.attn, p.shapes.attn);
            const attrs = { spatialShapes: p.levels };
            const out = T.msda(v, l, a, p.levels);
            const g = t(b, p.gout, out.shape);
            return [out, ...T.apply("msda_backward", [v, l, a, g], attrs)];
          });
        }
      });

      test("results do not depend on the thread count; f64 runs the reference", () => {
        const p = PROBLEMS[2];
        const run = () => {
          const v = t(nat, p.value, p.shapes.value);
          const l = t(nat, p.loc, p.shapes.loc);
          const a = t(nat, p.attn, p.shapes.attn);
          const g = t(nat, p.gout, [p.shapes.attn[0], p.shapes.attn[1], p.shapes.value[2] * 32]);
          const outs = [T.msda(v, l, a, p.levels)];
          outs.push(...T.apply("msda_backward", [v, l, a, g], { spatialShapes: p.levels }));
          return outs.map((o) => Array.from(o.dataSync()));
        };
        const many = run();
        const threads = nat.lib.threads();
        nat.lib.setThreads(1);
        try {
          expect(run()).toEqual(many);
        } finally {
          nat.lib.setThreads(threads);
        }
        const before = NATIVE_CALLS.msda ?? 0;
        const q = PROBLEMS[0];
        const f64 = (v: number[], s: number[]) => t(nat, v, s, "f64");
        T.msda(
          f64(q.value, q.shapes.value),
          f64(q.loc, q.shapes.loc),
          f64(q.attn, q.shapes.attn),
          q.levels,
        );
        expect(NATIVE_CALLS.msda ?? 0).toBe(before);
      });
    });
  });
}
