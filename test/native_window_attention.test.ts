/**
 * The C window attention kernels (native/window_attention.c) against the CPU reference in f32:
 * out, lse and the gradients of qkv and bias, with and without a mask, one and several heads,
 * window sizes that are not multiples of the kernel's blocks, and a Swin-T stage-1 slice large
 * enough to run on several threads; under every instruction-set variant this CPU supports.
 * NATIVE_CALLS proves the C path ran (f64 falls back to the reference). The kernels compute in
 * float (the reference in float64), so they agree to a few 1e-7; the thread count must not
 * change a single bit. Skipped when no C compiler exists.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend } from "../mod.ts";
import { findCompiler } from "../src/backend/native/build.ts";
import { type IsaName, NATIVE_CALLS, type NativeLibrary } from "../src/backend/native/mod.ts";
import { assertClose, uniform } from "./helpers/numeric.ts";

let noCompiler = "";
try {
  await findCompiler();
} catch (e) {
  noCompiler = e instanceof Error ? e.message : String(e);
}

const TOL = { rtol: 1e-5, atol: 2e-6 };

interface WaCase {
  name: string;
  windows: number;
  n: number;
  heads: number;
  headDim: number;
  /** mask windows (0: no mask) */
  nW: number;
}

const CASES: WaCase[] = [
  { name: "4 windows of 5, 2 heads of 3, mask", windows: 4, n: 5, heads: 2, headDim: 3, nW: 2 },
  { name: "one head of 17, N = 6, no mask", windows: 3, n: 6, heads: 1, headDim: 17, nW: 0 },
  { name: "N = 49, 3 heads of 32, mask", windows: 10, n: 49, heads: 3, headDim: 32, nW: 5 },
  { name: "N = 33, head_dim 40 (block edges)", windows: 9, n: 33, heads: 2, headDim: 40, nW: 3 },
  {
    name: "threaded: 60 windows of 49, 3 heads of 32",
    windows: 60,
    n: 49,
    heads: 3,
    headDim: 32,
    nW: 12,
  },
];

/** out, lse and the gradients of qkv and bias for a fixed cotangent. */
async function run(
  b: Backend,
  c: WaCase,
  dtype: "f32" | "f64" = "f32",
): Promise<ArrayLike<number>[]> {
  const { windows, n, heads, headDim, nW } = c;
  const qs = [windows, n, 3 * heads * headDim];
  const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
  const qkv = T.tensor(uniform(size(qs), 1, -2, 2), qs, { backend: b, dtype }).requireGrad();
  const bias = T.tensor(uniform(heads * n * n, 2), [heads, n, n], { backend: b, dtype })
    .requireGrad();
  const maskValues = Array.from({ length: nW * n * n }, (_, k) => (k % 7 === 2 ? -100 : 0));
  const mask = nW ? T.tensor(maskValues, [nW, n, n], { backend: b, dtype }) : null;
  const scale = headDim ** -0.5;
  const [out, lse] = T.apply("window_attention", mask ? [qkv, bias, mask] : [qkv, bias], {
    heads,
    scale,
    hasMask: !!mask,
  });
  out.backward(T.tensor(uniform(out.size, 3), out.shape, { backend: b, dtype }));
  const all = [out, lse, qkv.grad!, bias.grad!];
  const data = await Promise.all(all.map((t) => t.data()));
  for (const t of [...all, qkv, bias, mask]) t?.dispose();
  return data;
}

const NAMES = ["out", "lse", "dqkv", "dbias"];

if (noCompiler) {
  describe.skip(`native window attention (skipped: ${noCompiler})`, () => {
    test("needs a C compiler", () => {});
  });
} else {
  describe("native window_attention vs cpu", () => {
    let nat!: Backend & { lib: NativeLibrary };
    let cpu!: Backend;
    let isas: IsaName[] = [];
    beforeAll(async () => {
      nat = (await T.initBackend("native")) as Backend & { lib: NativeLibrary };
      cpu = T.getBackend("cpu");
      isas = nat.lib.usableIsas();
    });

    test("the forward and backward kernels run in C for f32, the reference for f64", async () => {
      const c = CASES[0];
      const before = { ...NATIVE_CALLS };
      await run(nat, c);
      expect(NATIVE_CALLS.window_attention ?? 0).toBe((before.window_attention ?? 0) + 1);
      expect(NATIVE_CALLS.window_attention_backward ?? 0).toBe(
        (before.window_attention_backward ?? 0) + 1,
      );
      const [got, want] = [await run(nat, c, "f64"), await run(cpu, c, "f64")];
      got.forEach((g, i) => assertClose(g, want[i], { rtol: 0, atol: 0 }, `f64 ${NAMES[i]}`));
      expect(NATIVE_CALLS.window_attention).toBe((before.window_attention ?? 0) + 1);
    });

    for (const c of CASES) {
      test(`${c.name}: out, lse and gradients, every ISA`, async () => {
        const want = await run(cpu, c);
        try {
          for (const isa of isas) {
            expect(nat.lib.setIsa(isa)).toBe(isa);
            const got = await run(nat, c);
            want.forEach((w, i) => assertClose(got[i], w, TOL, `${isa} ${c.name}: ${NAMES[i]}`));
          }
        } finally {
          nat.lib.setIsa("best");
        }
      });
    }

    test("matches the composed path on a Swin-T stage-1 slice (shifted-window mask)", async () => {
      const [bw, n, heads, c] = [2 * 12, 49, 3, 96];
      const qv = uniform(bw * n * 3 * c, 7, -1, 1);
      const bv = uniform(heads * n * n, 8, -0.5, 0.5);
      const mv = Array.from({ length: 12 * n * n }, (_, k) => ((k >> 3) % 5 === 0 ? -100 : 0));
      const outs = (fused: boolean) =>
        T.tidy(() => {
          const f = fused ? T.windowAttentionCore : T.windowAttentionCoreComposed;
          const qkv = T.tensor(qv, [bw, n, 3 * c], { backend: nat });
          const bias = T.tensor(bv, [heads, n, n], { backend: nat });
          const mask = T.tensor(mv, [12, 1, n, n], { backend: nat });
          return f(qkv, bias, mask, heads, (c / heads) ** -0.5);
        });
      const a = outs(true);
      const b = outs(false);
      assertClose(await a.data(), await b.data(), TOL, "fused vs composed");
      a.dispose();
      b.dispose();
    });

    test("results do not depend on the thread count", async () => {
      const before = nat.lib.threads();
      try {
        const c = CASES[CASES.length - 1];
        nat.lib.setThreads(1);
        const one = await run(nat, c);
        nat.lib.setThreads(4);
        const four = await run(nat, c);
        one.forEach((v, i) => expect(four[i], NAMES[i]).toEqual(v));
      } finally {
        nat.lib.setThreads(before);
      }
    });
  });
}
