/** Self-tests of the shared test helpers: gradcheck, op tracing, references, assertClose. */
import { describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import { defineOp } from "../src/ops/registry.ts";
import { coverageProblems } from "./helpers/catalog.ts";
import { gradcheck } from "./helpers/gradcheck.ts";
import { traceOps } from "./helpers/trace.ts";
import { assertClose, rng, uniform } from "./helpers/numeric.ts";
import {
  bilinearRef,
  erfRef,
  matmulRef,
  pcgHashRef,
  ref,
  roundHalfEven,
  sliceIndices,
  sort1d,
} from "./helpers/reference.ts";

const f64 = (v: number[], shape: number[]) => T.tensor(v, shape, { dtype: "f64" });

describe("gradcheck", () => {
  test("passes a correct gradient and reports every entry", () => {
    const x = f64(uniform(6, 1), [2, 3]);
    const w = f64(uniform(3, 2), [3]);
    const r = gradcheck((a, b) => T.mul(T.tanh(a), b), [x, w]);
    expect(r.checked).toBe(9);
    expect(r.maxAbsError).toBeLessThan(1e-8);
    expect(r.ops.has("tanh") && r.ops.has("mul")).toBe(true);
    expect(x.grad).toBeNull(); // the inputs are copied, never modified
  });

  test("catches a wrong gradient (a detached factor halves d(x*x)/dx)", () => {
    const x = f64([0.5, -1.5, 2], [3]);
    expect(() => gradcheck((a) => T.mul(a.detach(), a), [x])).toThrow(/gradcheck failed/);
  });

  test("catches a missing gradient (value used through a non-differentiable path)", () => {
    const x = f64([0.5, -1.5, 2], [3]);
    expect(() => gradcheck((a) => T.mul(a.detach(), 3), [x])).toThrow(/analytic 0/);
  });

  test("skips integer inputs and honours wrt", () => {
    const x = f64([1, 2, 3], [3]);
    const i = T.tensor([2, 0], [2], { dtype: "i32" });
    expect(gradcheck((a, b) => T.indexSelect(a, 0, b), [x, i]).checked).toBe(3);
    expect(gradcheck((a, b) => T.mul(a, b), [x, f64([1, 1, 1], [3])], { wrt: [1] }).checked).toBe(
      3,
    );
  });
});

describe("traceOps", () => {
  test("records ops applied inside, including backward-only ones", () => {
    const [, ops] = traceOps(() => {
      const x = T.tensor([1, 2, 3, 4], [1, 1, 2, 2]).requireGrad();
      T.sum(T.interpolate(x, { size: [3, 3], mode: "bilinear" })).backward();
    });
    expect([...ops]).toEqual(
      expect.arrayContaining(["resize_bilinear", "sum", "resize_bilinear_backward"]),
    );
    const [, none] = traceOps(() => 1);
    expect(none.size).toBe(0);
  });
});

describe("references", () => {
  test("erf matches published values", () => {
    assertClose([0.1, 0.5, 1, 2, -1.5].map(erfRef), [
      0.1124629160182849,
      0.5204998778130465,
      0.8427007929497149,
      0.9953222650189527,
      -0.9661051464753108,
    ], { rtol: 1e-12, atol: 0 });
  });

  test("python slice semantics", () => {
    expect(sliceIndices(5, undefined, undefined, -1)).toEqual([4, 3, 2, 1, 0]);
    expect(sliceIndices(5, -2)).toEqual([3, 4]);
    expect(sliceIndices(5, 3, 0, -2)).toEqual([3, 1]);
    expect(sliceIndices(5, -10, 10, 2)).toEqual([0, 2, 4]);
    expect(sliceIndices(5, 4, 1)).toEqual([]);
  });

  test("round half to even, stable sort, matmul, bilinear", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4].map(roundHalfEven)).toEqual([
      0,
      2,
      2,
      0,
      -2,
      -2,
      2,
    ]);
    expect(sort1d([2, NaN, 1, 2], false)).toEqual([[1, 2, 2, NaN], [2, 0, 3, 1]]);
    expect(matmulRef(ref([2, 2], [1, 2, 3, 4]), ref([2], [1, 1])).data).toEqual([3, 7]);
    expect(bilinearRef(ref([1, 2, 2], [1, 2, 3, 4]), 4, 4, false).data.slice(0, 4)).toEqual([
      1,
      1.25,
      1.75,
      2,
    ]);
  });

  test("PCG hash and the seeded PRNG are deterministic", () => {
    expect(pcgHashRef(0)).toBe(pcgHashRef(0));
    expect(pcgHashRef(1)).not.toBe(pcgHashRef(2));
    const a = rng(3);
    const b = rng(3);
    expect([a(), a()]).toEqual([b(), b()]);
  });

  test("assertClose: NaN equals NaN, infinities exact, tolerance applies", () => {
    expect(() => assertClose([NaN, Infinity, 1.000001], [NaN, Infinity, 1])).not.toThrow();
    expect(() => assertClose([1], [NaN])).toThrow();
    expect(() => assertClose([-Infinity], [Infinity])).toThrow();
    expect(() => assertClose([1.1], [1])).toThrow(/worst at 0/);
  });
});

describe("catalog coverage check", () => {
  // this file runs in its own process, so the ops defined here never reach other suites
  test("is clean now, and fails for a new op without a case", () => {
    expect(coverageProblems()).toEqual([]);
    defineOp({ name: "zz_untested", arity: 1, shape: ([s]) => [s], dtype: ([d]) => [d] });
    defineOp({
      name: "zz_untested_backward",
      arity: 1,
      internal: true,
      shape: ([s]) => [s],
      dtype: ([d]) => [d],
    });
    expect(coverageProblems()).toEqual([
      "zz_untested: no test case in test/helpers/cases_*.ts",
      "zz_untested_backward: internal op reached by no gradient case",
    ]);
  });
});
