import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { type Backend, getBackend } from "../src/backend/backend.ts";
import { cast, noGrad, type Tensor, tensor, tidy } from "../mod.ts";
import { Generator } from "../src/tensor/random.ts";
import { layerNorm } from "../src/ops/norm.ts";
import { cat, pad, reshape, slice } from "../src/ops/shape_ops.ts";
import { param } from "../src/nn/module.ts";
import type { Module } from "../src/nn/module.ts";
import { linear } from "../src/nn/layers.ts";
import { runParity } from "../src/parity/run.ts";
import { Fixture } from "../src/parity/fixture.ts";
import { compareTensor } from "../src/parity/compare.ts";
import { parityAdapter } from "../src/parity/registry.ts";
import {
  dropPathRates,
  SWIN_T_GLIP,
  type SwinConfig,
  SwinTransformer,
} from "../src/models/dmformer/swin.ts";
import { PatchMerging, SwinTransformerBlock } from "../src/models/dmformer/swin_block.ts";
import { WindowAttention } from "../src/models/dmformer/swin_attention.ts";
import {
  relativePositionIndex,
  shiftMask,
  windowPartition,
  windowReverse,
} from "../src/models/dmformer/swin_window.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { traceOps } from "./helpers/trace.ts";
import { optionalBackend } from "./helpers/backends.ts";
import { gradcheck } from "./helpers/gradcheck.ts";
import { assertClose, uniform } from "./helpers/numeric.ts";

const cpu = getBackend("cpu");

async function expectParity(name: string, backend: Backend) {
  const report = await runParity(fixturePath(name), backend);
  expect(report.implemented).toBe(true);
  const failed = report.rows.filter((r) => r.status !== "pass");
  expect(failed.map((r) => `${r.name}: ${r.status} ${r.detail ?? ""}`)).toEqual([]);
  expect(report.ok).toBe(true);
  return report;
}

/** The adapter's dbg.* checkpoints (not compared by the harness) against the fixture. */
async function expectDebugTensors(name: string, names: string[]) {
  const fx = await Fixture.load(fixturePath(name), cpu);
  const { values } = await parityAdapter(fx.name)!.run(fx);
  for (const n of names) {
    const got = values.get(n)!;
    const row = compareTensor(n, await got.data(), got.shape, fx.raw(n), fx.tolerance(n));
    expect(`${n}: ${row.status} ${row.detail ?? ""}`).toBe(`${n}: pass `);
  }
  for (const t of values.values()) t.dispose();
}

describe("Swin backbone parity (cpu)", () => {
  test("swin_tiny: all four stage outputs", async () => {
    const report = await expectParity("swin_tiny", cpu);
    expect(report.rows.map((r) => r.name)).toEqual([
      "out.stage1",
      "out.stage2",
      "out.stage3",
      "out.stage4",
    ]);
    await expectDebugTensors("swin_tiny", ["dbg.patch_embed"]);
  });

  test("swin_t_stage1: Swin-T width, padded windows", async () => {
    const report = await expectParity("swin_t_stage1", cpu);
    expect(report.rows.length).toBe(1);
    await expectDebugTensors("swin_t_stage1", ["dbg.patch_embed", "dbg.block0"]);
  });
});

const nat = await optionalBackend("native");

describe.skipIf(!nat)("Swin backbone parity (native)", () => {
  test("swin_tiny and swin_t_stage1 (fused window attention in C)", async () => {
    await expectParity("swin_tiny", nat!);
    await expectParity("swin_t_stage1", nat!);
  });
});

const gpu = await optionalBackend("webgpu");

describe.skipIf(!gpu)("Swin backbone parity (webgpu)", () => {
  test("swin_tiny and swin_t_stage1", async () => {
    await expectParity("swin_tiny", gpu!);
    await expectParity("swin_t_stage1", gpu!);
  });
});

describe("Swin window bookkeeping", () => {
  test("relative position index: (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1)", () => {
    const ws = 7;
    const idx = relativePositionIndex(ws);
    expect(idx.length).toBe(49 * 49);
    for (let i = 0; i < 49; i++) expect(idx[i * 49 + i]).toBe(6 * 13 + 6);
    expect(idx[0 * 49 + 48]).toBe(0); // query (0,0), key (6,6): dy = dx = -6
    expect(idx[48 * 49 + 0]).toBe(168); // dy = dx = +6
    expect(idx[1 * 49 + 7]).toBe(5 * 13 + 7); // query (0,1), key (1,0): dy -1, dx +1
    expect(Math.max(...idx)).toBe(168);
  });

  /** Labels every position by slices [0:-ws], [-ws:-s], [-s:] like the reference does. */
  function referenceLabels(hp: number, wp: number, ws: number, s: number): number[][] {
    const bands = (n: number) => [[0, n - ws], [n - ws, n - s], [n - s, n]];
    const img = Array.from({ length: hp }, () => new Array<number>(wp).fill(0));
    let cnt = 0;
    for (const [y0, y1] of bands(hp)) {
      for (const [x0, x1] of bands(wp)) {
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) img[y][x] = cnt;
        cnt++;
      }
    }
    return img;
  }

  test("shift mask of a 9 x 9 map padded to 12 x 12 (window 4, shift 2)", () => {
    const [hp, wp, ws, s] = [12, 12, 4, 2];
    const mask = shiftMask(hp, wp, ws, s);
    const labels = referenceLabels(hp, wp, ws, s);
    const nw = (hp / ws) * (wp / ws);
    const n = ws * ws;
    expect(mask.length).toBe(nw * n * n);
    for (let w = 0; w < nw; w++) {
      const [wy, wx] = [Math.floor(w / (wp / ws)), w % (wp / ws)];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          const li = labels[wy * ws + Math.floor(i / ws)][wx * ws + (i % ws)];
          const lj = labels[wy * ws + Math.floor(j / ws)][wx * ws + (j % ws)];
          expect(mask[(w * n + i) * n + j]).toBe(li === lj ? 0 : -100);
        }
      }
    }
    // only the last window row / column straddles regions; window 0 is one region
    expect(mask.slice(0, n * n).every((v) => v === 0)).toBe(true);
    expect(mask.slice((nw - 1) * n * n).some((v) => v === -100)).toBe(true);
  });

  test("window partition places token (y, x) at window (y/ws, x/ws), slot (y%ws, x%ws)", () => {
    const [hp, wp, ws, c] = [6, 9, 3, 2];
    const values = Array.from({ length: 2 * hp * wp * c }, (_, i) => i);
    const x = tensor(values, [2, hp, wp, c]);
    const win = windowPartition(x, ws);
    expect(win.shape).toEqual([2 * 2 * 3, 9, 2]);
    const w = win.dataSync();
    const b = 1, y = 4, xx = 7, ch = 1;
    const widx = b * 6 + Math.floor(y / ws) * 3 + Math.floor(xx / ws);
    const slot = (y % ws) * ws + (xx % ws);
    expect(w[(widx * 9 + slot) * 2 + ch]).toBe(values[((b * hp + y) * wp + xx) * c + ch]);
    expect(Array.from(windowReverse(win, ws, hp, wp).dataSync())).toEqual(values);
  });

  test("drop path rates rise linearly from 0 to the rate over all blocks", () => {
    const r = dropPathRates(0.2, 12);
    expect(r[0]).toBe(0);
    expect(r[11]).toBeCloseTo(0.2, 12);
    expect(r[5]).toBeCloseTo(0.2 * 5 / 11, 12);
    expect(dropPathRates(0.2, 1)).toEqual([0]);
  });
});

describe("Swin modules", () => {
  test("patch merging with odd sizes pads and orders (ee, oe, eo, oo)", () => {
    const [h, w, c] = [3, 5, 4];
    const merging = new PatchMerging(c);
    const x = tensor(uniform(h * w * c, 7), [1, h * w, c]);
    const got = merging.forward({ x, h, w });
    expect([got.h, got.w]).toEqual([2, 3]);
    const grid = pad(reshape(x, [1, h, w, c]), [0, 0, 0, 1, 0, 1]);
    const sub = (r: number, q: number) => slice(grid, [undefined, [r, 4, 2], [q, 6, 2]]);
    const manual = reshape(cat([sub(0, 0), sub(1, 0), sub(0, 1), sub(1, 1)], -1), [1, 6, 4 * c]);
    const normed = layerNorm(manual, [4 * c], merging.norm.weight, merging.norm.bias);
    const want = linear(normed, merging.reduction.weight).dataSync();
    const have = got.x.dataSync();
    expect(got.x.shape).toEqual([1, 6, 2 * c]);
    for (let i = 0; i < want.length; i++) expect(have[i]).toBeCloseTo(want[i], 6);
  });

  test("Swin-T state dict: reference key names, no norm0, no rmhca, 27.5 M values", () => {
    const model = new SwinTransformer(SWIN_T_GLIP);
    const keys = [...model.stateDict().keys()];
    const shapes = new Map(model.namedParameters().map(([k, t]) => [k, t.shape]));
    expect(shapes.get("patch_embed.proj.weight")).toEqual([96, 3, 4, 4]);
    expect(shapes.get("layers.2.blocks.5.attn.relative_position_bias_table")).toEqual([169, 12]);
    expect(shapes.get("layers.3.blocks.1.attn.qkv.weight")).toEqual([2304, 768]);
    expect(shapes.get("layers.2.downsample.reduction.weight")).toEqual([768, 1536]);
    expect(shapes.get("layers.0.blocks.1.mlp.fc1.weight")).toEqual([384, 96]);
    expect(shapes.get("norm3.weight")).toEqual([768]);
    expect(keys.filter((k) => /^norm\d/.test(k)).sort()).toEqual([
      "norm1.bias",
      "norm1.weight",
      "norm2.bias",
      "norm2.weight",
      "norm3.bias",
      "norm3.weight",
    ]);
    expect(keys.some((k) => k.includes("layers.3.downsample"))).toBe(false);
    expect(keys.some((k) => k.includes("rmhca") || k.includes("relative_position_index"))).toBe(
      false,
    );
    const total = model.parameters().reduce((s, t) => s + t.size, 0);
    expect(total / 1e6).toBeCloseTo(27.5, 1);
    model.dispose();
  });

  const small: SwinConfig = {
    ...SWIN_T_GLIP,
    embedDim: 8,
    depths: [2, 2],
    numHeads: [1, 2],
    windowSize: 3,
    outIndices: [0, 1],
  };

  test("drop path is active in training, reproducible per generator, off in eval", () => {
    const x = tensor(uniform(2 * 3 * 20 * 24, 3), [2, 3, 20, 24]);
    const run = (seed: number | null) =>
      noGrad(() => {
        const model = new SwinTransformer({
          ...small,
          dropPathRate: 0.5,
          generator: new Generator(seed ?? 0),
        });
        model.loadStateDict(reference.stateDict());
        if (seed === null) model.eval();
        const out = Array.from(model.forward(x)[1].dataSync());
        return out;
      });
    const reference = new SwinTransformer(small);
    const evalOut = run(null);
    const a = run(1);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    expect(a).not.toEqual(evalOut);
    const plain = noGrad(() => Array.from(reference.eval().forward(x)[1].dataSync()));
    expect(evalOut).toEqual(plain);
  });

  test("backward reaches every parameter (bias table included)", () => {
    // no drop path: with batch 1 a dropped sample would zero whole branches
    const model = new SwinTransformer({ ...small, dropPathRate: 0 });
    const x = tensor(uniform(3 * 17 * 22, 5), [1, 3, 17, 22]);
    tidy(() => {
      const outs = model.forward(x);
      outs.map((o) => o.mul(o).sum()).reduce((a, b) => a.add(b)).backward();
    });
    for (const [name, p] of model.namedParameters()) {
      expect(p.grad, name).not.toBeNull();
      const g = p.grad!.dataSync();
      expect(g.every(Number.isFinite), name).toBe(true);
      expect(g.some((v) => v !== 0), name).toBe(true);
    }
    model.dispose();
  });

  test("window attention: the fused op and the composed path agree (output, gradients)", () => {
    const attn = new WindowAttention(12, 3, 3);
    const n = 9;
    const x = tensor(uniform(8 * n * 12, 21), [8, n, 12]);
    const mask = tensor(uniform(4 * n * n, 22).map((v) => (v > 0.4 ? -100 : 0)), [4, 1, n, n]);
    const run = (fused: boolean) =>
      tidy(() => {
        const xi = x.detach().requireGrad();
        const y = attn.forward(xi, mask, { fused });
        y.mul(y).sum().backward();
        const grads = [xi.grad!, ...attn.parameters().map((p) => p.grad!)].map((g) =>
          Array.from(g.dataSync())
        );
        for (const p of attn.parameters()) p.grad = null;
        return [Array.from(y.dataSync()), ...grads];
      });
    const fused = run(true);
    const composed = run(false);
    fused.forEach((v, i) => assertClose(v, composed[i], { rtol: 1e-5, atol: 1e-6 }, `tensor ${i}`));
  });

  test("window attention follows the backend's measured preference unless told", () => {
    const attn = new WindowAttention(12, 3, 3);
    const x = tensor(uniform(4 * 9 * 12, 23), [4, 9, 12]);
    const ops = (opts?: { fused: boolean }) =>
      traceOps(() => tidy(() => attn.forward(x, null, opts)))[1];
    const backend = cpu as { fusedPreference?: Record<string, boolean> };
    expect(ops().has("window_attention")).toBe(true);
    backend.fusedPreference = { window_attention: false };
    try {
      expect(ops().has("window_attention")).toBe(false);
      expect(ops().has("softmax")).toBe(true);
      expect(ops({ fused: true }).has("window_attention")).toBe(true);
    } finally {
      delete backend.fusedPreference;
    }
  });

  /** Replaces every parameter by a float64 copy (for finite differences). */
  function toF64(m: Module): void {
    noGrad(() => {
      for (const s of m.namedSlots()) s.owner[s.key] = param(cast(s.tensor, "f64"));
    });
  }

  test("shifted window block: gradients match finite differences (f64)", () => {
    const block = new SwinTransformerBlock({
      dim: 4,
      numHeads: 2,
      windowSize: 3,
      shiftSize: 1,
      mlpRatio: 2,
      qkvBias: true,
      dropPath: 0,
    });
    toF64(block);
    const [h, w] = [4, 5]; // padded to 6 x 6, rolled, four windows
    const x = tensor(uniform(h * w * 4, 11), [1, h * w, 4], { dtype: "f64" });
    const table = tensor(uniform(25 * 2, 12), [25, 2], { dtype: "f64" });
    const qkv = cast(block.attn.qkv.weight, "f64");
    const report = gradcheck(
      (xi: Tensor, ti: Tensor, wi: Tensor) => {
        block.attn.relative_position_bias_table = ti;
        block.attn.qkv.weight = wi;
        return block.forward(xi, h, w);
      },
      [x, table, qkv],
      { rtol: 1e-5, atol: 1e-8 },
    );
    expect(report.checked).toBe(80 + 50 + 48);
  });
});

describe("RMHCA (optional, default off)", () => {
  const base: SwinConfig = {
    ...SWIN_T_GLIP,
    embedDim: 4,
    depths: [2, 2, 2, 2],
    numHeads: [1, 1, 2, 2],
    windowSize: 2,
    dropPathRate: 0,
  };

  test("off: no rmhca keys; on: rmhca.{0,1} at stage widths, output of stages 3-4 changes", () => {
    const off = new SwinTransformer(base);
    expect([...off.stateDict().keys()].some((k) => k.includes("rmhca"))).toBe(false);
    const on = new SwinTransformer({ ...base, rmhca: { interSize: 16, nhead: 8 } });
    const shapes = new Map(on.namedParameters().map(([k, t]) => [k, t.shape]));
    expect(shapes.get("rmhca.0.linear_in.weight")).toEqual([16, 16]);
    expect(shapes.get("rmhca.1.linear_out.weight")).toEqual([32, 16]);
    expect(shapes.get("rmhca.1.mhca.multihead_attn.in_proj_weight")).toEqual([48, 16]);
    expect(shapes.get("rmhca.0.mhca.multihead_attn.out_proj.weight")).toEqual([16, 16]);
    // same Swin weights in both models
    const swinOnly = new Map([...on.stateDict()].filter(([k]) => !k.startsWith("rmhca")));
    off.loadStateDict(swinOnly, { strict: true });
    off.eval();
    on.eval();
    const b = 1, t = 2, len = 3;
    const images = tensor(uniform(b * t * 3 * 32 * 32, 9), [b * t, 3, 32, 32]);
    const lang = {
      feats: tensor(uniform(len * b * 16, 10), [len, b, 16]),
      masks: tensor([[1, 1, 0]], { dtype: "i32" }),
      pos: tensor(uniform(len * b * 16, 11), [len, b, 16]),
    };
    noGrad(() => {
      const a = off.forward(images);
      const c = on.forward(images, lang);
      expect(Array.from(c[1].dataSync())).toEqual(Array.from(a[1].dataSync()));
      expect(Array.from(c[2].dataSync())).not.toEqual(Array.from(a[2].dataSync()));
      expect(c[3].shape).toEqual(a[3].shape);
      expect(() => on.forward(images)).toThrow(/language/);
    });
  });
});
