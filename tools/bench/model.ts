/**
 * Whole model: DMFormer (Swin-T config, random weights) inference on one 5 x 360 x 640 clip
 * with one 12-token sentence, and one training step (forward, criterion, backward, AdamW)
 * of the tiny configuration. Modules are imported dynamically; rows are skipped with the
 * reason while they are missing.
 *
 * The model's forward is async (it reads back the subject probabilities), so these rows run
 * outside `tidy`: outputs are disposed after each iteration, intermediates are left to the
 * garbage collector (fine on host-memory backends).
 */
import type { Backend } from "../../src/backend/backend.ts";
import { randn } from "../../src/ops/mod.ts";
import { noGrad } from "../../src/tensor/autograd.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import type { BenchCase, Prepared, Suite } from "./types.ts";
import { disposeTensors, tryImport } from "./util.ts";
import { FPN, fpnFlops } from "./blocks.ts";
import { ENCODER, encoderLayerFlops, swinFlops } from "./shapes.ts";

// deno-lint-ignore no-explicit-any
type AnyModule = any;

export interface ClipSpec {
  b: number;
  t: number;
  h: number;
  w: number;
  /** Real tokens including [CLS] and [SEP]. */
  tokens: number;
  pad: number;
}

/** Inference clip (Swin-T config) and training clip (tiny config); tools/bench_torch.py too. */
export const INFER: ClipSpec = { b: 1, t: 5, h: 360, w: 640, tokens: 12, pad: 20 };
export const INFER_QUICK: ClipSpec = { b: 1, t: 1, h: 64, w: 64, tokens: 6, pad: 8 };
export const TRAIN: ClipSpec = { b: 1, t: 2, h: 128, w: 224, tokens: 10, pad: 16 };
export const TRAIN_QUICK: ClipSpec = { b: 1, t: 2, h: 64, w: 64, tokens: 6, pad: 8 };

/** Tokenised captions: [CLS] ids... [SEP] then padding; the subject is token 1. */
export function captions(s: ClipSpec, vocab: number) {
  const inputIds = new Int32Array(s.b * s.pad);
  const attentionMask = new Int32Array(s.b * s.pad);
  for (let i = 0; i < s.b; i++) {
    for (let k = 0; k < s.tokens; k++) {
      const id = k === 0 ? 101 : k === s.tokens - 1 ? 102 : 1000 + 37 * k;
      inputIds[i * s.pad + k] = id % vocab;
      attentionMask[i * s.pad + k] = 1;
    }
  }
  const positiveMaps = Array.from(
    { length: s.b },
    () => new Map<number, [number, number]>([[1, [1, 2]], [2, [4, 5]]]),
  );
  return { inputIds, attentionMask, padLength: s.pad, positiveMaps };
}

export function video(s: ClipSpec, backend: Backend) {
  return {
    frames: randn([s.b, s.t, 3, s.h, s.w], { backend }),
    mask: new Uint8Array(s.b * s.t * s.h * s.w),
  };
}

/** A centred box and its mask in every frame of every clip. */
export function targets(s: ClipSpec) {
  return Array.from({ length: s.b }, () => {
    const masks = new Uint8Array(s.t * s.h * s.w);
    for (let f = 0; f < s.t; f++) {
      for (let y = s.h >> 2; y < (3 * s.h) >> 2; y++) {
        masks.fill(1, (f * s.h + y) * s.w + (s.w >> 2), (f * s.h + y) * s.w + ((3 * s.w) >> 2));
      }
    }
    return {
      boxes: Float32Array.from({ length: s.t * 4 }, (_, k) => (k % 4 < 2 ? 0.5 : 0.5)),
      masks,
      size: [s.h, s.w] as [number, number],
      valid: new Array(s.t).fill(1),
      labels: new Array(s.t).fill(0),
    };
  });
}

/** Subject token labels per clip: token 1 is the subject. */
export function subjectLabels(s: ClipSpec): Float32Array[] {
  return Array.from(
    { length: s.b },
    () => Float32Array.from({ length: s.tokens }, (_, k) => +(k === 1)),
  );
}

function outputTensors(out: Record<string, unknown>): Tensor[] {
  const ts: Tensor[] = [];
  for (const k of ["pred_logits", "pred_boxes", "pred_masks", "subject", "reference_points"]) {
    if (out[k]) ts.push(out[k] as Tensor);
  }
  for (const a of (out.aux_outputs as Record<string, Tensor>[] | undefined) ?? []) {
    ts.push(...Object.values(a));
  }
  return ts;
}

/**
 * Rough multiply-add count of Swin-T DMFormer per 5-frame 360x640 clip, for the run-time
 * estimate only: backbone, 4 DMMI deformable encoder layers (2 rounds x 2 branches), FPN.
 */
const SWIN_T_CLIP_FLOPS = swinFlops(5, 360, 640) + 4 * encoderLayerFlops(ENCODER) +
  fpnFlops(FPN);

export const model: Suite = {
  name: "model",
  title: "Whole model",
  async cases({ backend, quick }) {
    const imp = await tryImport("../../src/models/dmformer/model.ts");
    const cfgImp = await tryImport("../../src/models/dmformer/config.ts");
    const critImp = await tryImport("../../src/models/dmformer/criterion.ts");
    const optImp = await tryImport("../../src/optim/adamw.ts");
    const DMFormer = imp.module?.DMFormer;
    const resolveConfig = cfgImp.module?.resolveConfig;
    const missing = imp.error ?? cfgImp.error ??
      (DMFormer && resolveConfig ? undefined : "model.ts lacks DMFormer / resolveConfig");
    const trainMissing = missing ?? critImp.error ?? optImp.error ??
      (critImp.module?.SetCriterion && optImp.module?.AdamW
        ? undefined
        : "SetCriterion or AdamW missing");

    const infer = quick ? INFER_QUICK : INFER;
    const train = quick ? TRAIN_QUICK : TRAIN;

    const cases: BenchCase[] = [
      {
        name: "dmformer swin-t inference",
        shape: quick
          ? `tiny config, [${infer.t}, 3, ${infer.h}, ${infer.w}] clip`
          : `[${infer.t}, 3, ${infer.h}, ${infer.w}] clip, ${infer.tokens}-token sentence`,
        costFlops: quick ? 1e8 : SWIN_T_CLIP_FLOPS,
        efficiency: { cpu: 0.3 },
        note: "per clip, random weights, eval mode: Swin-T, BERT, DMMI, decoder, FPN, mask head",
        skip: missing,
        async setup(): Promise<Prepared> {
          const cfg = resolveConfig(quick ? "tiny" : "swin-t");
          const net: AnyModule = new DMFormer(cfg);
          net.eval();
          net.requiresGrad(false);
          await net.to(backend);
          const v = video(infer, backend);
          const caps = captions(infer, cfg.text.vocabSize);
          const sizes = [[infer.h, infer.w]];
          return {
            runAsync: async () =>
              outputTensors(await noGrad(() => net.forward(v, caps, sizes)) as AnyModule),
            dispose: () => {
              v.frames.dispose();
              net.dispose?.();
            },
          };
        },
      },
      {
        name: "dmformer tiny train step",
        shape: `tiny config, [${train.t}, 3, ${train.h}, ${train.w}] clip`,
        costFlops: 2e9,
        efficiency: { cpu: 0.2 },
        note: "forward, SetCriterion, backward, AdamW step (dropout 0)",
        skip: trainMissing,
        async setup(): Promise<Prepared> {
          const cfg = resolveConfig({ base: "tiny", dropout: 0 });
          const net: AnyModule = new DMFormer(cfg);
          await net.to(backend);
          net.train();
          const params: Tensor[] = net.parameters();
          const opt = new optImp.module.AdamW([{ params, lr: 1e-4, weightDecay: 1e-4 }]);
          const crit = new critImp.module.SetCriterion({ numClasses: cfg.numClasses });
          const v = video(train, backend);
          const caps = captions(train, cfg.text.vocabSize);
          const sizes = [[train.h, train.w]];
          const tg = targets(train);
          const labels = subjectLabels(train);
          return {
            reset: () => opt.zeroGrad(),
            runAsync: async () => {
              const out = await net.forward(v, caps, sizes);
              const losses = await crit.forward(out, tg, labels);
              losses.total.backward();
              opt.step();
              const ts = [...outputTensors(out), losses.total, ...losses.losses.values()];
              return ts;
            },
            dispose: () => {
              opt.zeroGrad();
              disposeTensors([v.frames]);
              net.dispose?.();
            },
          };
        },
      },
    ];
    return cases;
  },
};
