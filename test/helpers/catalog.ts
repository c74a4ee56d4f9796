/**
 * The catalog-driven engine suite. `runCatalogSuite("cpu")` (or "webgpu", "cuda"...) registers
 * one vitest block per op of `opCatalog()` plus the composed public functions:
 *
 * - forward checks compare against float64 references computed in plain JS (reference.ts);
 * - gradient cases run a float64 finite-difference check (gradcheck.ts) on backends with
 *   f64 and host memory, and elsewhere compare the backend's analytic gradients with the
 *   CPU reference's (which the CPU suite checks by finite differences);
 * - a coverage test fails when an op has no case, when a differentiable op has no gradient
 *   case, or when an internal (backward-only) op is reached by no gradient case.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../../mod.ts";
import type { Backend, DType, Tensor } from "../../mod.ts";
import { isFloat } from "../../src/tensor/dtype.ts";
import {
  type Case,
  type Check,
  type Expect,
  type GradCase,
  type InputSpec,
  makeCtx,
} from "./case_types.ts";
import { elementwiseCases } from "./cases_elementwise.ts";
import { shapeCases } from "./cases_shape.ts";
import { nnCases } from "./cases_nn.ts";
import { normCases } from "./cases_norm.ts";
import { windowAttentionCases } from "./cases_window_attention.ts";
import { functionCases } from "./cases_functions.ts";
import { gradcheck } from "./gradcheck.ts";
import { assertClose, prod, rng, type Tolerance, uniform } from "./numeric.ts";
import { traceOps } from "./trace.ts";

/** One case per catalog op (keyed by op name). */
export const OP_CASES: Record<string, Case> = {
  ...elementwiseCases(),
  ...shapeCases(),
  ...nnCases(),
  ...normCases(),
  ...windowAttentionCases(),
};

/** Cases for public functions composed from catalog ops (keyed by function name). */
export const FUNCTION_CASES: Record<string, Case> = functionCases();

/** Problems with the table's coverage of the catalog; empty when complete. */
export function coverageProblems(): string[] {
  const problems: string[] = [];
  const specs = T.opCatalog();
  const names = new Set(specs.map((s) => s.name));
  const reached = new Set(
    Object.values(OP_CASES).concat(Object.values(FUNCTION_CASES))
      .flatMap((c) => c.grad ?? []).flatMap((g) => g.reaches ?? []),
  );
  for (const s of specs) {
    const c = OP_CASES[s.name];
    if (s.internal) {
      if (c) problems.push(`${s.name}: internal op has its own case (test it through gradients)`);
      if (!reached.has(s.name)) problems.push(`${s.name}: internal op reached by no gradient case`);
      continue;
    }
    if (!c) {
      problems.push(`${s.name}: no test case in test/helpers/cases_*.ts`);
      continue;
    }
    if (!c.forward.length) problems.push(`${s.name}: no forward check`);
    const differentiable = !!s.backward && !s.domain?.noGradCheck;
    if (differentiable && !c.grad?.length) problems.push(`${s.name}: no gradient case`);
    if (!s.backward && c.grad?.length) {
      problems.push(`${s.name}: gradient case for an op without backward`);
    }
  }
  for (const name of Object.keys(OP_CASES)) {
    if (!names.has(name)) problems.push(`${name}: case for an op that is not in the catalog`);
  }
  return problems;
}

function defaultTolerance(dtype: DType): Required<Tolerance> {
  if (dtype === "f64") return { rtol: 1e-10, atol: 1e-12 };
  if (dtype === "f32") return { rtol: 1e-5, atol: 1e-5 };
  return { rtol: 0, atol: 0 };
}

function compareOutput(out: Tensor, want: Expect, values: ArrayLike<number>, what: string) {
  expect(out.shape, `${what} shape`).toEqual([...want.shape]);
  if (want.dtype) expect(out.dtype, `${what} dtype`).toBe(want.dtype);
  const tol = { ...defaultTolerance(out.dtype), ...stripUndefined(want) };
  assertClose(values, want.values, tol, what);
}

function stripUndefined(t: Tolerance): Tolerance {
  const o: Tolerance = {};
  if (t.rtol !== undefined) o.rtol = t.rtol;
  if (t.atol !== undefined) o.atol = t.atol;
  return o;
}

async function runCheck(backend: Backend, check: Check): Promise<void> {
  const c = makeCtx(backend);
  if ("check" in check) {
    await check.check(c);
    return;
  }
  const result = T.tidy(() => check.run(c));
  const outs = Array.isArray(result) ? result : [result];
  const wants = Array.isArray(check.expect) ? check.expect : [check.expect];
  expect(outs.length, "number of outputs").toBe(wants.length);
  try {
    for (let i = 0; i < outs.length; i++) {
      compareOutput(outs[i], wants[i], await outs[i].data(), `output ${i}`);
    }
  } finally {
    for (const o of outs) o.dispose();
  }
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Concrete input values of a gradient case (deterministic per case). */
function inputValues(opName: string, g: GradCase): number[][] {
  const dom = T.opCatalog().find((s) => s.name === opName)?.domain;
  return g.inputs.map((inp: InputSpec, i) => {
    if (inp.values) return inp.values;
    if (inp.dtype) throw new Error(`${opName} / ${g.name}: input ${i} (${inp.dtype}) needs values`);
    const lo = inp.lo ?? dom?.lo ?? -1;
    const hi = inp.hi ?? dom?.hi ?? 1;
    return uniform(prod(inp.shape), hashSeed(`${opName}/${g.name}/${i}`), lo, hi);
  });
}

function makeInputs(backend: Backend, g: GradCase, values: number[][], float: DType): Tensor[] {
  return g.inputs.map((inp, i) =>
    T.tensor(values[i], inp.shape, { dtype: inp.dtype ?? float, backend })
  );
}

function checkReached(g: GradCase, ops: Set<string>): void {
  const missing = (g.reaches ?? []).filter((n) => !ops.has(n));
  expect(missing, "internal ops the gradient should have run").toEqual([]);
}

/** Analytic input gradients of sum(v * fn(x)) on any backend (async read-back). */
async function analyticGrads(
  backend: Backend,
  g: GradCase,
  values: number[][],
  float: DType,
): Promise<[(number[] | null)[], Set<string>]> {
  let grads: (Tensor | null)[] = [];
  const [, ops] = traceOps(() =>
    T.tidy(() => {
      const xs = makeInputs(backend, g, values, float).map((
        x,
      ) => (isFloat(x.dtype) ? x.requireGrad() : x));
      const y = g.fn(...xs);
      const r = rng(1);
      const v = T.tensor(Array.from({ length: y.size }, () => 2 * r() - 1), y.shape, {
        dtype: y.dtype,
        backend,
      });
      if (y.size > 0) y.backward(v);
      grads = xs.map((x) => x.grad);
    })
  );
  const out: (number[] | null)[] = [];
  for (const t of grads) {
    out.push(t ? Array.from(await t.data()) : null);
    t?.dispose();
  }
  return [out, ops];
}

async function runGrad(backend: Backend, opName: string, g: GradCase): Promise<void> {
  const values = inputValues(opName, g);
  const host = !!backend.downloadSync && backend.dtypes.includes("f64");
  if (host) {
    const inputs = makeInputs(backend, g, values, "f64");
    const report = gradcheck(g.fn, inputs, { eps: g.eps, rtol: g.rtol, atol: g.atol });
    checkReached(g, report.ops);
    expect(report.checked).toBeGreaterThan(0);
    return;
  }
  // no f64 here: compare with the CPU reference's analytic gradients (checked by gradcheck)
  const cpu = T.getBackend("cpu");
  const [mine, ops] = await analyticGrads(backend, g, values, "f32");
  const [want] = await analyticGrads(cpu, g, values, "f64");
  checkReached(g, ops);
  mine.forEach((m, i) => {
    const w = want[i];
    if (!w) return;
    assertClose(m ?? w.map(() => 0), w, { rtol: 1e-3, atol: 1e-4 }, `gradient of input ${i}`);
  });
}

/**
 * Registers the whole engine suite for `backendName`: the coverage test, then for every
 * case its forward checks and gradient cases. Checks needing dtypes the backend lacks
 * are skipped.
 */
export function runCatalogSuite(backendName: string): void {
  describe(`engine catalog on ${backendName}`, () => {
    let backend!: Backend;
    beforeAll(async () => {
      backend = await T.initBackend(backendName);
    });

    test("every catalog op has a test case (forward, gradient, internal ops reached)", () => {
      expect(coverageProblems()).toEqual([]);
    });

    const tables: [string, Record<string, Case>][] = [["op", OP_CASES], ["fn", FUNCTION_CASES]];
    for (const [kind, table] of tables) {
      for (const [name, c] of Object.entries(table)) {
        describe(`${kind} ${name}`, () => {
          for (const check of c.forward) {
            test(check.name, async (ctx) => {
              if (check.needs?.some((d) => !backend.dtypes.includes(d))) ctx.skip();
              await runCheck(backend, check);
            });
          }
          for (const g of c.grad ?? []) {
            test(`gradient: ${g.name}`, async () => {
              await runGrad(backend, name, g);
            });
          }
        });
      }
    }
  });
}
