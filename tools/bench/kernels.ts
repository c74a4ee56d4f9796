/**
 * Model kernels: the MSDA sampling core at the deformable encoder's shapes, Swin-T stage-1
 * window attention (shifted windows, with the mask), and the attention core between the qkv and
 * output projections, fused (the window_attention op) against the composed path.
 */
import {
  msda,
  mul,
  rand,
  randn,
  reshape,
  softmax,
  tensor,
  windowAttentionCore,
  windowAttentionCoreComposed,
} from "../../src/ops/mod.ts";
import { noGrad } from "../../src/tensor/autograd.ts";
import type { Backend } from "../../src/backend/backend.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import {
  ENCODER,
  ENCODER_QUICK,
  msdaBackwardFlops,
  msdaForwardFlops,
  SWIN_STAGE1,
  SWIN_STAGE1_QUICK,
  swinGrid,
  tokens,
  windowAttentionFlops,
} from "./shapes.ts";
import { type BenchCase, type Prepared, shapeStr, type Suite } from "./types.ts";
import { clearGrads, disposeTensors, tryImport } from "./util.ts";

function msdaCases(backend: Backend, quick: boolean): BenchCase[] {
  const e = quick ? ENCODER_QUICK : ENCODER;
  const S = tokens(e);
  const M = e.heads;
  const D = e.dModel / M;
  const L = e.levels.length;
  const P = e.points;
  const shape = `N=${e.n} Lq=S=${S} M=${M} D=${D} L=${L} P=${P}`;
  const make = (grad: boolean) => {
    const value = randn([e.n, S, M, D], { backend });
    const loc = rand([e.n, S, M, L, P, 2], { backend });
    const logits = randn([e.n, S, M, L * P], { backend });
    const weights = reshape(softmax(logits, -1), [e.n, S, M, L, P]);
    logits.dispose();
    const leaves = [value, loc, weights];
    if (grad) leaves.forEach((t) => t.requireGrad());
    return leaves;
  };
  return [
    {
      name: "msda forward",
      shape,
      flops: msdaForwardFlops(e),
      efficiency: { cpu: 0.3 },
      note: "8 per (query, head, level, point, channel): 4 corners x multiply-add",
      setup(): Prepared {
        const [v, l, w] = make(false);
        return {
          run: () => noGrad(() => msda(v, l, w, e.levels)),
          dispose: () => disposeTensors([v, l, w]),
        };
      },
    },
    {
      name: "msda forward+backward",
      shape,
      flops: msdaForwardFlops(e) + msdaBackwardFlops(e),
      efficiency: { cpu: 0.3 },
      scaleOf: { row: "msda forward", factor: 3.5 },
      note: "forward 8 + backward 16 per (query, head, level, point, channel)",
      setup(): Prepared {
        const leaves = make(true);
        const g = randn([e.n, S, M * D], { backend });
        return {
          reset: () => clearGrads(leaves),
          run: () => msda(leaves[0], leaves[1], leaves[2], e.levels).backward(g),
          dispose: () => {
            clearGrads(leaves);
            disposeTensors([...leaves, g]);
          },
        };
      },
    },
  ];
}

async function windowAttentionCases(backend: Backend, quick: boolean): Promise<BenchCase[]> {
  const s = quick ? SWIN_STAGE1_QUICK : SWIN_STAGE1;
  const g = swinGrid(s);
  const n = s.window * s.window;
  const shift = Math.floor(s.window / 2);
  const shape = `${shapeStr(g.windows, n, s.dim)} ${s.heads} heads, shifted`;
  const flops = windowAttentionFlops(g.windows, n, s.dim);
  const note = "qkv, q k^T, attn v, proj as 2*m*k*n each; softmax not counted";
  const attnMod = await tryImport("../../src/models/dmformer/swin_attention.ts");
  const winMod = await tryImport("../../src/models/dmformer/swin_window.ts");
  const missing = attnMod.error ?? winMod.error;
  const WindowAttention = attnMod.module?.WindowAttention;
  const shiftMask = winMod.module?.shiftMask;
  const skip = missing ??
    (WindowAttention && shiftMask ? undefined : "WindowAttention or shiftMask not exported");
  const make = async (grad: boolean) => {
    const mod = new WindowAttention(s.dim, s.window, s.heads);
    await mod.to(backend);
    const windows = randn([g.windows, n, s.dim], { backend });
    const mask = tensor(shiftMask(g.hp, g.wp, s.window, shift), [g.windowsPerImage, 1, n, n], {
      backend,
    });
    if (grad) windows.requireGrad();
    else mod.requiresGrad(false);
    const params: Tensor[] = mod.parameters();
    return { mod, windows, mask, params };
  };
  return [
    {
      name: "window attention forward",
      shape,
      flops,
      efficiency: { cpu: 0.6 },
      note,
      skip,
      async setup(): Promise<Prepared> {
        const { mod, windows, mask, params } = await make(false);
        return {
          run: () => noGrad(() => mod.forward(windows, mask)),
          dispose: () => disposeTensors([windows, mask, ...params]),
        };
      },
    },
    {
      name: "window attention forward+backward",
      shape,
      flops: 3 * flops,
      efficiency: { cpu: 0.5 },
      scaleOf: { row: "window attention forward", factor: 4 },
      note: "3x the forward count (each matmul's two gradient products)",
      skip,
      async setup(): Promise<Prepared> {
        const { mod, windows, mask, params } = await make(true);
        const grad = randn([g.windows, n, s.dim], { backend });
        const leaves = [windows, ...params];
        return {
          reset: () => clearGrads(leaves),
          run: () => (mod.forward(windows, mask) as Tensor).backward(grad),
          dispose: () => {
            clearGrads(leaves);
            disposeTensors([...leaves, mask, grad]);
          },
        };
      },
    },
  ];
}

/**
 * The window attention core (scaled q k^T + bias + mask, softmax, times v) at Swin-T stage-1
 * shapes: the fused window_attention op and the same computation composed from ops.
 */
async function swinCoreCases(backend: Backend, quick: boolean): Promise<BenchCase[]> {
  const s = quick ? SWIN_STAGE1_QUICK : SWIN_STAGE1;
  const g = swinGrid(s);
  const n = s.window * s.window;
  const shape = `${shapeStr(g.windows, n, 3 * s.dim)} ${s.heads} heads, shifted`;
  // q k^T and p v: 2 * n * n * c each per window
  const flops = g.windows * 4 * n * n * s.dim;
  const winMod = await tryImport("../../src/models/dmformer/swin_window.ts");
  const shiftMask = winMod.module?.shiftMask;
  const skip = winMod.error ?? (shiftMask ? undefined : "shiftMask not exported");
  const scale = (s.dim / s.heads) ** -0.5;
  const make = (grad: boolean) => {
    const qkv = randn([g.windows, n, 3 * s.dim], { backend });
    const b0 = randn([s.heads, n, n], { backend });
    const bias = mul(b0, 0.02);
    b0.dispose();
    const shift = Math.floor(s.window / 2);
    const mask = tensor(shiftMask(g.hp, g.wp, s.window, shift), [g.windowsPerImage, 1, n, n], {
      backend,
    });
    if (grad) [qkv, bias].forEach((t) => t.requireGrad());
    return { qkv, bias, mask };
  };
  const rows: BenchCase[] = [];
  for (const fused of [true, false]) {
    const core = fused ? windowAttentionCore : windowAttentionCoreComposed;
    const tag = fused ? "" : " (composed)";
    const note = fused
      ? "fused window_attention op; q k^T and p v as 2*n*n*c per window, softmax not counted"
      : "reshape / permute, q * scale, matmul, + bias + mask, softmax, matmul (the reference)";
    rows.push({
      name: `swin window attention${tag}`,
      shape,
      flops,
      efficiency: { cpu: 0.1 },
      note,
      skip,
      setup(): Prepared {
        const { qkv, bias, mask } = make(false);
        return {
          run: () => noGrad(() => core(qkv, bias, mask, s.heads, scale)),
          dispose: () => disposeTensors([qkv, bias, mask]),
        };
      },
    });
    rows.push({
      name: `swin window attention forward+backward${tag}`,
      shape,
      flops: 3 * flops,
      efficiency: { cpu: 0.1 },
      scaleOf: { row: `swin window attention${tag}`, factor: 4 },
      note: `${fused ? "fused" : "composed"}; 3x the forward count (the backward's products)`,
      skip,
      setup(): Prepared {
        const { qkv, bias, mask } = make(true);
        const grad = randn([g.windows, n, s.dim], { backend });
        const leaves = [qkv, bias];
        return {
          reset: () => clearGrads(leaves),
          run: () => core(qkv, bias, mask, s.heads, scale).backward(grad),
          dispose: () => {
            clearGrads(leaves);
            disposeTensors([...leaves, mask, grad]);
          },
        };
      },
    });
  }
  return rows;
}

export const kernels: Suite = {
  name: "kernels",
  title: "Model kernels",
  async cases({ backend, quick }) {
    return [
      ...msdaCases(backend, quick),
      ...await windowAttentionCases(backend, quick),
      ...await swinCoreCases(backend, quick),
    ];
  },
};
