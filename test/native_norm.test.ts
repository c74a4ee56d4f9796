/**
 * The C layer_norm / group_norm kernels (native/norm.c) against the CPU reference in f32:
 * outputs y, mean, rstd and the gradients of x, weight and bias, on odd row lengths, size-1
 * axes, rows longer than 1024 and inputs large enough to run on several threads. Both sides sum
 * in f64 and round each output once, so they agree to a few f32 ulps; the thread count must
 * not change a single bit. Skipped when no C compiler exists.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend, Tensor } from "../mod.ts";
import { findCompiler } from "../src/backend/native/build.ts";
import type { NativeLibrary } from "../src/backend/native/mod.ts";
import "../src/backend/native/mod.ts";
import { assertClose, uniform } from "./helpers/numeric.ts";

let noCompiler = "";
try {
  await findCompiler();
} catch (e) {
  noCompiler = e instanceof Error ? e.message : String(e);
}

const TOL = { rtol: 1e-6, atol: 2e-6 };

interface NormCase {
  name: string;
  shape: number[];
  /** LayerNorm over this many trailing axes, or GroupNorm with `groups`. */
  dims?: number;
  groups?: number;
  affine: "wb" | "w" | "b" | "";
}

const CASES: NormCase[] = [
  { name: "layer_norm rows of 33", shape: [7, 33], dims: 1, affine: "wb" },
  { name: "layer_norm rows of 1500", shape: [5, 3, 1500], dims: 1, affine: "w" },
  { name: "layer_norm two axes, no affine", shape: [4, 2, 3], dims: 2, affine: "" },
  { name: "layer_norm rows of 1, bias only", shape: [6, 1], dims: 1, affine: "b" },
  { name: "layer_norm threaded [700, 96]", shape: [700, 96], dims: 1, affine: "wb" },
  { name: "group_norm [2, 6, 5, 7] / 3", shape: [2, 6, 5, 7], groups: 3, affine: "wb" },
  { name: "group_norm no spatial axes", shape: [3, 4], groups: 2, affine: "w" },
  { name: "group_norm size-1 axes, no affine", shape: [2, 4, 1, 1], groups: 4, affine: "" },
  {
    name: "group_norm threaded [4, 32, 16, 16] / 8",
    shape: [4, 32, 16, 16],
    groups: 8,
    affine: "wb",
  },
];

/** y, mean, rstd and the gradients of every input for a fixed cotangent. */
async function run(b: Backend, c: NormCase): Promise<Float32Array[]> {
  const size = c.shape.reduce((p, q) => p * q, 1);
  const channels = c.dims
    ? c.shape.slice(c.shape.length - c.dims).reduce((p, q) => p * q, 1)
    : c.shape[1];
  const pShape = c.dims ? c.shape.slice(c.shape.length - c.dims) : [channels];
  const x = T.tensor(uniform(size, 1, 3, 5), c.shape, { backend: b }).requireGrad();
  const w = c.affine.includes("w")
    ? T.tensor(uniform(channels, 2, 0.5, 1.5), pShape, { backend: b }).requireGrad()
    : null;
  const bias = c.affine.includes("b")
    ? T.tensor(uniform(channels, 3), pShape, { backend: b }).requireGrad()
    : null;
  const attrs = c.dims
    ? { dims: c.dims, eps: 1e-5, hasWeight: !!w, hasBias: !!bias }
    : { groups: c.groups, eps: 1e-5, hasWeight: !!w, hasBias: !!bias };
  const params = [w, bias].filter((p): p is Tensor => !!p);
  const outs = T.apply(c.dims ? "layer_norm" : "group_norm", [x, ...params], attrs);
  outs[0].backward(T.tensor(uniform(size, 4), c.shape, { backend: b }));
  const all = [...outs, x.grad!, ...params.map((p) => p.grad!)];
  const data = await Promise.all(all.map((t) => t.data() as Promise<Float32Array>));
  for (const t of [...all, x, ...params]) t.dispose();
  return data;
}

if (noCompiler) {
  describe.skip(`native norm kernels (skipped: ${noCompiler})`, () => {
    test("needs a C compiler", () => {});
  });
} else {
  describe("native layer_norm / group_norm vs cpu", () => {
    let nat!: Backend & { lib: NativeLibrary };
    let cpu!: Backend;
    beforeAll(async () => {
      nat = (await T.initBackend("native")) as Backend & { lib: NativeLibrary };
      cpu = T.getBackend("cpu");
    });

    test("the norm kernels run in C", () => {
      for (const k of ["layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward"]) {
        expect(nat.kernels[k], k).not.toBe(cpu.kernels[k]);
      }
    });

    for (const c of CASES) {
      test(`${c.name}: y, mean, rstd and gradients`, async () => {
        const got = await run(nat, c);
        const want = await run(cpu, c);
        const names = ["y", "mean", "rstd", "dx", "dparam0", "dparam1"];
        want.forEach((w, i) => assertClose(got[i], w, TOL, `${c.name}: ${names[i]}`));
      });
    }

    test("results do not depend on the thread count", async () => {
      const before = nat.lib.threads();
      try {
        for (const c of CASES.filter((k) => k.name.includes("threaded"))) {
          nat.lib.setThreads(1);
          const one = await run(nat, c);
          nat.lib.setThreads(4);
          const four = await run(nat, c);
          one.forEach((v, i) => expect(four[i], `${c.name} output ${i}`).toEqual(v));
        }
      } finally {
        nat.lib.setThreads(before);
      }
    });
  });
}
