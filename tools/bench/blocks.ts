/**
 * Model blocks (forward, inference mode): Swin-T stage 1 and the whole Swin-T backbone on a
 * 5 x 3 x 360 x 640 clip, one deformable encoder layer at the encoder shapes, the cross-modal
 * FPN decoder. Each block is imported dynamically and skipped with the reason when its module
 * is missing.
 */
import { full, randn, zeros } from "../../src/ops/mod.ts";
import { noGrad } from "../../src/tensor/autograd.ts";
import type { Backend } from "../../src/backend/backend.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import {
  ENCODER,
  ENCODER_QUICK,
  encoderLayerFlops,
  SWIN_BACKBONE,
  SWIN_BACKBONE_QUICK,
  SWIN_STAGE1,
  SWIN_STAGE1_QUICK,
  swinFlops,
  swinStage1Flops,
  tokens,
} from "./shapes.ts";
import { type BenchCase, type Prepared, shapeStr, type Suite } from "./types.ts";
import { disposeTensors, tryImport } from "./util.ts";

const COUNTED = "matmul and conv multiply-adds (2 each); norms, softmax, elementwise not counted";

// deno-lint-ignore no-explicit-any
type AnyModule = any;

async function prepareModule(mod: AnyModule, backend: Backend): Promise<Tensor[]> {
  mod.eval();
  mod.requiresGrad(false);
  await mod.to(backend);
  return mod.parameters() as Tensor[];
}

async function swinStage1(backend: Backend, quick: boolean): Promise<BenchCase> {
  const s = quick ? SWIN_STAGE1_QUICK : SWIN_STAGE1;
  const imp = await tryImport("../../src/models/dmformer/swin.ts");
  const SwinTransformer = imp.module?.SwinTransformer;
  const base = imp.module?.SWIN_T_GLIP;
  return {
    name: "swin-t stage 1",
    shape: `${shapeStr(s.frames, 3, s.height, s.width)} -> ${s.dim} ch, 2 blocks`,
    flops: swinStage1Flops(s),
    efficiency: { cpu: 0.45 },
    note: `patch embed + 2 blocks (window 7, shift 3); ${COUNTED}`,
    skip: imp.error ??
      (SwinTransformer && base ? undefined : "swin.ts does not export SwinTransformer"),
    async setup(): Promise<Prepared> {
      const model = new SwinTransformer({
        ...base,
        embedDim: s.dim,
        depths: [2],
        numHeads: [s.heads],
        windowSize: s.window,
        mlpRatio: s.mlpRatio,
        outIndices: [0],
        dropPathRate: 0,
      });
      const params = await prepareModule(model, backend);
      const images = randn([s.frames, 3, s.height, s.width], { backend });
      return {
        run: () => noGrad(() => model.forward(images)),
        dispose: () => disposeTensors([images, ...params]),
      };
    },
  };
}

async function swinBackbone(backend: Backend, quick: boolean): Promise<BenchCase> {
  const s = quick ? SWIN_BACKBONE_QUICK : SWIN_BACKBONE;
  const imp = await tryImport("../../src/models/dmformer/swin.ts");
  const SwinTransformer = imp.module?.SwinTransformer;
  const base = imp.module?.SWIN_T_GLIP;
  return {
    name: "swin-t backbone",
    shape: `${shapeStr(s.frames, 3, s.height, s.width)} -> 4 stages, ${s.depths.join("/")} blocks`,
    flops: swinFlops(s.frames, s.height, s.width, s.embedDim, s.depths),
    efficiency: { cpu: 0.45 },
    scaleOf: {
      row: "swin-t stage 1",
      factor: swinFlops(s.frames, s.height, s.width, s.embedDim, s.depths) /
        swinStage1Flops(quick ? SWIN_STAGE1_QUICK : SWIN_STAGE1),
    },
    note: `GLIP Swin-T: patch embed, 4 stages (window 7), patch merging, stage norms 2-4; ` +
      COUNTED,
    skip: imp.error ??
      (SwinTransformer && base ? undefined : "swin.ts does not export SwinTransformer"),
    async setup(): Promise<Prepared> {
      const model = new SwinTransformer({
        ...base,
        embedDim: s.embedDim,
        depths: s.depths,
        numHeads: s.heads,
      });
      const params = await prepareModule(model, backend);
      const images = randn([s.frames, 3, s.height, s.width], { backend });
      return {
        run: () => noGrad(() => model.forward(images)),
        dispose: () => disposeTensors([images, ...params]),
      };
    },
  };
}

async function encoderLayer(backend: Backend, quick: boolean): Promise<BenchCase> {
  const e = quick ? ENCODER_QUICK : ENCODER;
  const S = tokens(e);
  const imp = await tryImport("../../src/models/dmformer/deformable.ts");
  const Layer = imp.module?.DeformableTransformerEncoderLayer;
  const getReferencePoints = imp.module?.getReferencePoints;
  return {
    name: "deformable encoder layer",
    shape: `${shapeStr(e.n, S, e.dModel)} ${e.levels.map(([h, w]) => `${h}x${w}`).join("/")}` +
      ` d_ffn ${e.dFfn}`,
    flops: encoderLayerFlops(e),
    efficiency: { cpu: 0.35 },
    note:
      `value/offset/weight/output projections, MSDA core (8 per point-channel), FFN; ${COUNTED}`,
    skip: imp.error ??
      (Layer && getReferencePoints ? undefined : "deformable.ts lacks the encoder layer"),
    async setup(): Promise<Prepared> {
      const layer = new Layer({
        dModel: e.dModel,
        dFfn: e.dFfn,
        dropout: 0,
        nLevels: e.levels.length,
        nHeads: e.heads,
        nPoints: e.points,
      });
      const params = await prepareModule(layer, backend);
      const src = randn([e.n, S, e.dModel], { backend });
      const pos = randn([e.n, S, e.dModel], { backend });
      const ratios = full([e.n, e.levels.length, 2], 1, { backend });
      const ref: Tensor = noGrad(() => getReferencePoints(e.levels, ratios));
      return {
        run: () => noGrad(() => layer.forward(src, pos, ref, e.levels, null)),
        dispose: () => disposeTensors([src, pos, ratios, ref, ...params]),
      };
    },
  };
}

interface FpnShapes {
  t: number;
  /** Stride-4, 8, 16, 32 map sizes. */
  sizes: [number, number][];
  stage1: number;
  d: number;
  maskDim: number;
  dff: number;
  heads: number;
  groups: number;
  sr: number[];
  words: number;
}

export const FPN: FpnShapes = {
  t: 5,
  sizes: [[90, 160], [45, 80], [23, 40], [12, 20]],
  stage1: 96,
  d: 256,
  maskDim: 256,
  dff: 2048,
  heads: 8,
  groups: 8,
  sr: [8, 4, 2, 1],
  words: 12,
};

const FPN_QUICK: FpnShapes = {
  t: 1,
  sizes: [[8, 12], [4, 6], [2, 3], [1, 2]],
  stage1: 16,
  d: 32,
  maskDim: 32,
  dff: 64,
  heads: 4,
  groups: 8,
  sr: [2, 2, 1, 1],
  words: 4,
};

/** Multiply-add flops of the FPN decoder as built (one clip of t frames). */
export function fpnFlops(f: FpnShapes): number {
  const { d, t, words: lw } = f;
  let total = 0;
  f.sizes.forEach(([h, w], i) => {
    const tok = t * h * w;
    const cin = i === 0 ? f.stage1 : d;
    const s = f.sr[i];
    const tokS = s > 1 ? t * Math.trunc(h / s) * Math.trunc(w / s) : tok;
    total += 2 * tok * cin * d; // adapter 1x1
    total += 4 * 2 * tokS * d * d + 2 * 2 * tokS * tokS * d; // self-attn
    total += 2 * 2 * tok * d * d + 2 * 2 * lw * d * d + 2 * 2 * tok * lw * d; // cross-attn
    total += 2 * 2 * tok * d * f.dff; // FFN
    total += 2 * tok * d * d * 9; // 3x3 output conv
  });
  const [h0, w0] = f.sizes[0];
  return total + 2 * t * h0 * w0 * d * f.maskDim * 9;
}

async function fpn(backend: Backend, quick: boolean): Promise<BenchCase> {
  const f = quick ? FPN_QUICK : FPN;
  const imp = await tryImport("../../src/models/dmformer/fpn.ts");
  const Decoder = imp.module?.CrossModalFPNDecoder;
  const [h0, w0] = f.sizes[0];
  return {
    name: "cross-modal fpn",
    shape: `${shapeStr(f.t, f.stage1, h0, w0)} + 3 memory maps of ${f.d} ch, ${f.words} words`,
    flops: fpnFlops(f),
    efficiency: { cpu: 0.35 },
    note: `adapters, vision-language blocks (sr ${f.sr.join("/")}), 3x3 convs; ${COUNTED}`,
    skip: imp.error ?? (Decoder ? undefined : "fpn.ts does not export CrossModalFPNDecoder"),
    async setup(): Promise<Prepared> {
      const model = new Decoder({
        featureChannels: [f.stage1, f.d, f.d, f.d],
        convDim: f.d,
        maskDim: f.maskDim,
        dimFeedforward: f.dff,
        nhead: f.heads,
        groups: f.groups,
        srRatios: f.sr,
        dropout: 0,
      });
      const params = await prepareModule(model, backend);
      const stage1 = randn([f.t, f.stage1, h0, w0], { backend });
      const memory = f.sizes.slice(1).map(([h, w]) => randn([f.t, f.d, h, w], { backend }));
      const masks = f.sizes.map(([h, w]) => zeros([f.t, h, w], { dtype: "bool", backend }));
      const poses = f.sizes.map(([h, w]) => randn([f.t, f.d, h, w], { backend }));
      const text = randn([1, f.words, f.d], { backend });
      const textMask = zeros([1, f.words], { dtype: "bool", backend });
      const inputs = { stage1, memory, masks, poses, text, textMask, t: f.t };
      return {
        run: () => noGrad(() => model.forward(inputs)),
        dispose: () =>
          disposeTensors([stage1, ...memory, ...masks, ...poses, text, textMask, ...params]),
      };
    },
  };
}

export const blocks: Suite = {
  name: "blocks",
  title: "Model blocks (forward, inference)",
  async cases({ backend, quick }) {
    return [
      await swinStage1(backend, quick),
      await swinBackbone(backend, quick),
      await encoderLayer(backend, quick),
      await fpn(backend, quick),
    ];
  },
};
