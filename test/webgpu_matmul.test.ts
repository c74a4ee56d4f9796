/**
 * WebGPU matmul kernels against the CPU reference, with the image kernel of CPU adapters
 * (src/backend/webgpu/kernels/matmul_image.ts) forced on: the M, N, K grid with transposes,
 * broadcast batches, linear layers (a right operand without batch axes, folded into one
 * GEMM on every kernel), products that need several texture layers per matrix, shapes past
 * the texture limits (fallback), and non-finite values. Also conv2d's GEMMs on the image
 * kernel (forward, input and weight gradients), the runtime's texture pool (no growth over
 * repeated products) and timestamp profiling of the image passes. On adapters without the
 * image kernel the forced choice falls back to the others, which the same checks then
 * cover. Skipped when no WebGPU adapter exists.
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import type { Backend } from "../mod.ts";
import { hasAdapter, NO_ADAPTER_MESSAGE } from "../src/backend/webgpu/mod.ts";
import { imageKernelAvailable } from "../src/backend/webgpu/kernels/matmul_image.ts";
import type { Conv2dOptions } from "../src/ops/conv.ts";
import { assertClose, prod, uniform } from "./helpers/numeric.ts";

interface Runtime {
  options: { matmul: string };
  hasTimestamps: boolean;
  gpuTime(fn: () => void): Promise<number | null>;
  stats(): { textureBytes: number; texturesCreated: number; texturesReused: number };
}

const available = await hasAdapter();

interface ConvCase {
  x: number[];
  w: number[];
  opts: Conv2dOptions;
  /** Skip the gradients (the CPU reference of a large case is slow). */
  forwardOnly?: boolean;
}

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

    /** Textures the image kernel has taken from the pool so far. */
    function textureUses(): number {
      const s = rt.stats();
      return s.texturesCreated + s.texturesReused;
    }

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

    /** conv2d forward and (unless forwardOnly) input / weight gradients on `backend`. */
    function convOutputs(backend: Backend, c: ConvCase, xv: number[], wv: number[]) {
      const x = T.tensor(xv, c.x, { backend });
      const w = T.tensor(wv, c.w, { backend });
      if (c.forwardOnly) return [T.conv2d(x, w, null, c.opts)];
      x.requireGrad();
      w.requireGrad();
      const y = T.conv2d(x, w, null, c.opts);
      const dy = T.tensor(uniform(prod(y.shape), 99, -1, 1), y.shape, { backend });
      T.sum(T.mul(y, dy)).backward();
      return [y, x.grad!, w.grad!];
    }

    test("conv2d on the image kernel and on the buffer kernels (fallback)", async () => {
      const cases: ConvCase[] = [
        { x: [2, 6, 11, 13], w: [4, 3, 3, 3], opts: { stride: 2, padding: 1, groups: 2 } },
        { x: [2, 6, 11, 13], w: [5, 6, 2, 1], opts: { dilation: [2, 1], padding: [1, 0] } },
        { x: [3, 8, 9, 7], w: [12, 4, 3, 3], opts: { padding: 1, groups: 2, stride: [2, 1] } },
        { x: [2, 32, 16, 20], w: [64, 32, 3, 3], opts: { padding: 1 } },
        { x: [1, 5, 7, 9], w: [17, 5, 1, 1], opts: {} },
        // weight gradient over two chunks of images (K = N * 64 * 64 past a texture)
        { x: [5, 8, 64, 64], w: [8, 8, 3, 3], opts: { padding: 1 } },
        // column matrices over two chunks of images (forward)
        { x: [2, 64, 128, 128], w: [8, 64, 3, 3], opts: { padding: 1 }, forwardOnly: true },
      ];
      const names = ["y", "dx", "dw"];
      try {
        for (const [i, c] of cases.entries()) {
          const xv = uniform(prod(c.x), 40 + 2 * i, -1, 1);
          const wv = uniform(prod(c.w), 41 + 2 * i, -1, 1);
          const want = convOutputs(cpu, c, xv, wv).map((t) => t.dataSync() as Float32Array);
          for (const kernel of ["image", "ubo"]) {
            rt.options.matmul = kernel;
            const before = textureUses();
            const outs = convOutputs(gpu, c, xv, wv);
            const got = await Promise.all(outs.map((t) => t.data()));
            if (kernel === "image" && imageKernelAvailable(rt as never)) {
              expect(textureUses() - before, `${c.x} * ${c.w}: textures`).toBe(2 * outs.length);
            }
            want.forEach((w, k) => {
              // f32 sums of Cg KH KW (y), Og KH KW (dx) or N OH OW (dw) products
              const [n, o, cg, kh, kw] = [c.x[0], c.w[0], c.w[1], c.w[2], c.w[3]];
              const groups = c.opts.groups ?? 1;
              const terms =
                [cg * kh * kw, (o / groups) * kh * kw, n * prod(outs[0].shape.slice(2))][k];
              const what = `${kernel}: conv2d ${c.x} * ${c.w} ${JSON.stringify(c.opts)}`;
              assertClose(got[k], w, { rtol: 1e-4, atol: 2e-6 * terms }, `${what}: ${names[k]}`);
            });
          }
        }
      } finally {
        rt.options.matmul = "auto";
      }
    });

    test("image kernel: the texture pool does not grow over 200 repeated products", async (ctx) => {
      if (!imageKernelAvailable(rt as never)) ctx.skip("the adapter has no image kernel");
      rt.options.matmul = "image";
      try {
        const x = T.keep(T.tensor(uniform(96 * 128, 1), [96, 128], { backend: gpu }));
        const y = T.keep(T.tensor(uniform(128 * 80, 2), [128, 80], { backend: gpu }));
        const z = T.keep(T.tensor(uniform(3 * 80 * 33, 3), [3, 80, 33], { backend: gpu }));
        const bytes: number[] = [];
        const created: number[] = [];
        const first = rt.stats();
        for (let i = 0; i < 200; i++) {
          T.tidy(() => T.matmul(T.matmul(x, y), z));
          if (i % 10 === 9) await gpu.sync();
          const s = rt.stats();
          bytes.push(s.textureBytes);
          created.push(s.texturesCreated);
        }
        await gpu.sync();
        const last = rt.stats();
        expect(last.texturesReused - first.texturesReused).toBeGreaterThan(300);
        expect(new Set(bytes.slice(5)).size, `texture bytes: ${[...new Set(bytes)]}`).toBe(1);
        expect(new Set(created.slice(5)).size, `textures created: ${[...new Set(created)]}`)
          .toBe(1);
        for (const t of [x, y, z]) t.dispose();
      } finally {
        rt.options.matmul = "auto";
      }
    });

    test("image kernel: timestamp profiling sees its passes", async (ctx) => {
      if (!rt.hasTimestamps) ctx.skip("the device has no timestamp queries");
      if (!imageKernelAvailable(rt as never)) ctx.skip("the adapter has no image kernel");
      rt.options.matmul = "image";
      try {
        const x = T.keep(T.tensor(uniform(256 * 256, 4), [256, 256], { backend: gpu }));
        const y = T.keep(T.tensor(uniform(256 * 256, 5), [256, 256], { backend: gpu }));
        const before = textureUses();
        let out: T.Tensor | null = null;
        const ms = await rt.gpuTime(() => {
          out = T.matmul(x, y);
        });
        expect(textureUses() - before, "textures the product used").toBe(2);
        await out!.data();
        expect(ms).toBeGreaterThan(0);
        for (const t of [out!, x, y]) t.dispose();
      } finally {
        rt.options.matmul = "auto";
      }
    });
  });
}
