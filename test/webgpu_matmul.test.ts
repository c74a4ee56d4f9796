/**
 * WebGPU matmul kernels against the CPU reference, with the image kernel of CPU adapters
 * (src/backend/webgpu/kernels/matmul_image.ts) forced on: the M, N, K grid with transposes,
 * broadcast batches, linear layers (a right operand without batch axes, folded into one
 * GEMM on every kernel), products that need several texture layers per matrix, shapes past
 * the texture limits (fallback), and non-finite values. On adapters without the image
 * kernel the forced choice falls back to the others, which the same checks then cover.
 * Skipped when no WebGPU adapter exists.
 */
import { beforeAll, describe, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend } from "../mod.ts";
import { hasAdapter, NO_ADAPTER_MESSAGE } from "../src/backend/webgpu/mod.ts";
import { assertClose, prod, uniform } from "./helpers/numeric.ts";

type Runtime = { options: { matmul: string } };

const available = await hasAdapter();

interface Case {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
}

if (!available) {
  describe.skip(`webgpu matmul (skipped: ${NO_ADAPTER_MESSAGE})`, () => {});
} else {
  describe("webgpu matmul", () => {
    let gpu!: Backend;
    let cpu!: Backend;
    let rt!: Runtime;
    beforeAll(async () => {
      gpu = await T.initBackend("webgpu");
      cpu = T.getBackend("cpu");
      rt = (gpu as unknown as { runtime: Runtime }).runtime;
    });

    /** Runs every case with `kernel` forced and compares with the CPU backend. */
    async function check(kernel: string, cases: Case[], seed = 1, values?: number[]) {
      rt.options.matmul = kernel;
      try {
        const outs = cases.map((c, i) => {
          const av = values ?? uniform(prod(c.a), seed + 2 * i, -1, 1);
          const bv = uniform(prod(c.b), seed + 2 * i + 1, -1, 1);
          const opts = { transA: c.transA ?? false, transB: c.transB ?? false };
          const want = T.matmul(
            T.tensor(av, c.a, { backend: cpu }),
            T.tensor(bv, c.b, { backend: cpu }),
            opts,
          ).dataSync() as Float32Array;
          const ga = T.tensor(av, c.a, { backend: gpu });
          const gb = T.tensor(bv, c.b, { backend: gpu });
          const got = T.matmul(ga, gb, opts);
          ga.dispose();
          gb.dispose();
          return { want, got };
        });
        const data = await Promise.all(outs.map((o) => o.got.data()));
        cases.forEach((c, i) => {
          const k = c.transA ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
          assertClose(
            data[i],
            outs[i].want,
            { rtol: 1e-5, atol: 1e-6 * k },
            `${kernel}: matmul ${c.a} @ ${c.b} tA=${c.transA ?? false} tB=${c.transB ?? false}`,
          );
          outs[i].got.dispose();
        });
      } finally {
        rt.options.matmul = "auto";
      }
    }

    test("image kernel: M, N, K in {1, 3, 17, 64, 257} with transposes", async () => {
      const sizes = [1, 3, 17, 64, 257];
      const cases: Case[] = [];
      for (const m of sizes) {
        for (const n of sizes) {
          for (const k of sizes) {
            for (const transA of [false, true]) {
              for (const transB of [false, true]) {
                cases.push({
                  a: transA ? [k, m] : [m, k],
                  b: transB ? [n, k] : [k, n],
                  transA,
                  transB,
                });
              }
            }
          }
        }
      }
      for (let i = 0; i < cases.length; i += 100) await check("image", cases.slice(i, i + 100), i);
    });

    test("batches with broadcast, linear layers (folded batch), copy and pack paths", async () => {
      const cases: Case[] = [
        { a: [2, 1, 35, 128], b: [3, 128, 512] },
        { a: [2, 3, 1, 50, 70], b: [3, 1, 70, 90] },
        { a: [2, 1, 4, 50, 70], b: [3, 1, 70, 90], transB: false },
        { a: [5, 1, 9, 13], b: [1, 4, 13, 6] },
        { a: [2, 3, 35, 128], b: [128, 512] }, // folded, both operands copied
        { a: [4, 5, 33, 20], b: [20, 7] }, // folded, thin: runs transposed
        { a: [4, 5, 33, 20], b: [7, 20], transB: true },
        { a: [4, 5, 20, 33], b: [20, 7], transA: true }, // transA: not folded
        { a: [3, 9, 13], b: [1, 13, 6] },
        { a: [67, 256], b: [256, 260] },
        { a: [20, 2048], b: [2048, 64] },
        { a: [18, 4096], b: [4096, 16] },
        { a: [300, 64], b: [64, 5] },
      ];
      for (const kernel of ["image", "rows", "ubo"]) await check(kernel, cases, 7);
    });

    test("image kernel: several texture layers per matrix, limits fall back", async () => {
      await check("image", [
        { a: [20000, 64], b: [64, 64] }, // A rows over two layers (copied)
        { a: [3, 7000, 40], b: [40, 33] }, // folded to 21000 rows (packed)
        { a: [3, 7000, 40], b: [33, 40], transB: true },
        { a: [40, 17000], b: [40, 5], transA: true },
        { a: [3000, 8, 8], b: [3000, 8, 8] }, // more matrices than texture layers
        { a: [4, 20000], b: [20000, 4] }, // K past the texture height
      ], 11);
    });

    test("image kernel: infinities and NaN propagate as on the CPU", async () => {
      const a = uniform(17 * 64, 3, -1, 1);
      a[5] = Infinity;
      a[64 * 3 + 7] = -Infinity;
      a[64 * 9] = NaN;
      await check("image", [{ a: [17, 64], b: [64, 70] }, { a: [17, 64], b: [64, 64] }], 5, a);
    });
  });
}
