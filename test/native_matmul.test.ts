/**
 * Batches of small matrix products on the native backend (the unpacked path of native/kernels.c
 * for N, K <= 64, threaded over ranges of the batch in native/dispatch.c) against the cpu
 * backend, on odd shapes, every instruction set the CPU supports, with one and two threads.
 *
 * Tolerance: float32 rounding. Both sides sum over k in order, but the C side fuses
 * multiply-adds. Skipped (with the reason) when no C compiler exists.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend } from "../mod.ts";
import { findCompiler } from "../src/backend/native/build.ts";
import "../src/backend/native/mod.ts"; // registers the native backend
import type { IsaName, NativeLibrary } from "../src/backend/native/mod.ts";
import { assertClose, prod, uniform } from "./helpers/numeric.ts";

let noCompiler = "";
try {
  await findCompiler();
} catch (e) {
  noCompiler = e instanceof Error ? e.message : String(e);
}

interface Case {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
}

/** Operand shapes (batch..., rows, cols) as stored, before transA / transB. */
const CASES: Case[] = [
  // window attention: q k^T and attn v
  { a: [37, 49, 32], b: [37, 49, 32], transB: true },
  { a: [37, 49, 49], b: [37, 49, 32] },
  { a: [3, 13, 49, 32], b: [3, 13, 49, 32], transB: true },
  // M = 1, K = 1, N = 63, N = 1
  { a: [5, 7, 1, 1], b: [5, 7, 1, 63] },
  { a: [41, 1, 20], b: [41, 63, 20], transB: true },
  { a: [33, 17, 1], b: [33, 63, 1], transB: true },
  { a: [40, 63, 64], b: [40, 64, 1] },
  { a: [40, 63, 64], b: [40, 1, 64], transB: true },
  // transposed A, both transposed, the largest fast-path shape
  { a: [3, 5, 13], b: [3, 5, 9], transA: true },
  { a: [50, 64, 64], b: [50, 64, 64], transA: true, transB: true },
  { a: [34, 64, 64], b: [34, 64, 64] },
  // broadcast batch axes
  { a: [1, 49, 32], b: [37, 49, 32], transB: true },
  { a: [6, 1, 17, 31], b: [1, 9, 31, 47] },
];

if (noCompiler) {
  console.warn(`skipping test/native_matmul.test.ts: ${noCompiler}`);
  describe.skip(`native small matmuls (skipped: ${noCompiler})`, () => {
    test("needs a C compiler", () => {});
  });
} else {
  describe("native batched small matmuls vs the cpu backend", () => {
    let nat!: Backend & { lib: NativeLibrary };
    let cpu!: Backend;
    let isas: IsaName[] = [];
    beforeAll(async () => {
      nat = (await T.initBackend("native")) as Backend & { lib: NativeLibrary };
      cpu = T.getBackend("cpu");
      isas = nat.lib.usableIsas();
    });

    for (const c of CASES) {
      const name = `${c.a.join("x")} @ ${c.b.join("x")}${c.transA ? " transA" : ""}${
        c.transB ? " transB" : ""
      }`;
      test(name, () => {
        const av = uniform(prod(c.a), 11, -1, 1);
        const bv = uniform(prod(c.b), 12, -1, 1);
        const run = (be: Backend) =>
          T.tidy(() =>
            T.matmul(T.tensor(av, c.a, { backend: be }), T.tensor(bv, c.b, { backend: be }), {
              transA: c.transA,
              transB: c.transB,
            }).dataSync()
          );
        const want = run(cpu);
        const threads = nat.lib.threads();
        try {
          for (const isa of isas) {
            expect(nat.lib.setIsa(isa)).toBe(isa);
            for (const n of [1, 2]) {
              nat.lib.setThreads(n);
              assertClose(run(nat), want, { rtol: 1e-5, atol: 1e-5 }, `${isa}, ${n} threads`);
            }
          }
        } finally {
          nat.lib.setIsa("best");
          nat.lib.setThreads(threads);
        }
      });
    }
  });
}
