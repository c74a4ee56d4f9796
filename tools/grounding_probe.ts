/**
 * Grounding probe: trains a model on the expressions of the first few videos of a dataset, on
 * fixed clips (four fixed augmentations per video), and reports how often the query the model
 * would pick (highest mean score) covers the object the sentence names. A model that reads the
 * sentence learns this quickly; one that ignores it stays at chance (about 1 / objects per clip).
 *
 *   deno run -A tools/grounding_probe.ts --config configs/ref_shapes_tiny_stage2.json \
 *     --init demo/weights.safetensors --videos 3 --steps 400 [--every 100] [--batch 1] \
 *     [--lr-mult 1] [--backend native] [--grounding-aux-weight 10]
 *
 * Nothing is written; the printed lines are the result.
 */
import { parseArgs } from "node:util";
import { selectBackendByName } from "../src/backend/select_name.ts";
import { nonNegativeNumber } from "../src/cli/common.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { makeCriterion, openDataset, parameterGroups, trainStep } from "../src/pipeline/train.ts";
import { describeReport, loadWeightsInto } from "../src/pipeline/checkpoint.ts";
import { prepareBatch } from "../src/pipeline/batch.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { GROUNDING_AUX_LOSS } from "../src/models/dmformer/criterion.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { sigmoid } from "../src/ops/mod.ts";
import { noGrad } from "../src/tensor/autograd.ts";
import { tidyAsync } from "../src/tensor/memory.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { augmentClip, scaleAugment, YTVOS_TRAIN_AUGMENT } from "../src/data/transforms.ts";
import { Rng } from "../src/data/rng.ts";
import type { VideoClipDataset } from "../src/data/video_clips.ts";
import { queryMaskIoU } from "./probe_iou.ts";

const HELP = `grounding_probe: can the model learn which object a sentence names, on a few clips?

  --config <json>    training config (model, dataset, lr, augmentation scale)
  --init <weights>   start from these weights (default: from scratch)
  --videos <n>       videos whose expressions are used (default 3)
  --steps <n>        training steps (default 400)
  --every <n>        report every n steps (default 100)
  --batch <n>        clips per step (consecutive expressions, usually of one video; default 1)
  --lr-mult <x>      multiply every learning rate (default 1)
  --backend <name>   cpu | native | webgpu (default native)
  --only <prefixes>  train only parameters whose names start with one of these (comma-separated,
                     e.g. class_embed: a linear probe of what the decoder output already holds)
  --grounding-aux-weight <w>
                     weight of the auxiliary grounding loss (docs/demo.md); w > 0 adds the
                     grounding head (initialised fresh when --init has none), 0 removes it
                     (default: the config's groundingAuxWeight and model.groundingAuxHead)
`;

function positive(name: string, text: string): number {
  const v = Number(text);
  if (!(v > 0)) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return v;
}

if (import.meta.main) {
  const { values: a } = parseArgs({
    options: {
      config: { type: "string" },
      init: { type: "string" },
      videos: { type: "string", default: "3" },
      steps: { type: "string", default: "400" },
      every: { type: "string", default: "100" },
      batch: { type: "string", default: "1" },
      "lr-mult": { type: "string", default: "1" },
      backend: { type: "string", default: "native" },
      only: { type: "string" },
      "grounding-aux-weight": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (a.help || !a.config) {
    console.log(HELP);
    Deno.exit(a.help ? 0 : 2);
  }
  const [videos, steps, every, batchSize, lrMult] = [
    ["videos", a.videos!],
    ["steps", a.steps!],
    ["every", a.every!],
    ["batch", a.batch!],
    ["lr-mult", a["lr-mult"]!],
  ].map(([n, v]) => positive(n, v));
  manualSeed(7);
  const backend = await selectBackendByName(a.backend!);
  const config = await loadTrainConfig(a.config);
  for (const k of ["backbone", "textEncoder", "rest"] as const) config.schedule.lr[k] *= lrMult;
  if (a["grounding-aux-weight"] !== undefined) {
    const w = nonNegativeNumber(a["grounding-aux-weight"], "grounding-aux-weight")!;
    config.groundingAuxWeight = w;
    config.model.groundingAuxHead = w > 0;
  }
  const model = new DMFormer(config.model);
  await model.to(backend);
  if (a.init) {
    // weights trained without the optional heads load into a model with them (fresh heads)
    const report = await loadWeightsInto(model, a.init, { strict: false });
    const fresh = report.missing.filter((k) =>
      k.startsWith("grounding_aux_head.") || k.startsWith("class_align.")
    );
    report.missing = report.missing.filter((k) => !fresh.includes(k));
    if (report.missing.length + report.unexpected.length + report.mismatched.length) {
      throw new Error(`${a.init} does not fit the model config: ${describeReport(report)}`);
    }
    if (fresh.length) console.log(`init: ${a.init} lacks ${fresh.join(", ")}; they start fresh`);
  }
  if (a.only) {
    const prefixes = a.only.split(",");
    let trained = 0;
    for (const [name, p] of model.namedParameters()) {
      p.requiresGrad = prefixes.some((x) => name.startsWith(x));
      if (p.requiresGrad) trained++;
    }
    if (trained === 0) throw new Error(`--only ${a.only}: no parameter name starts with that`);
  }
  const base = await openDataset(
    config.datasets[0],
    config.model.numFrames,
    config.seed,
  ) as VideoClipDataset;
  const augment = {
    ...scaleAugment(YTVOS_TRAIN_AUGMENT, config.augment.scale),
    photometric: false,
  };
  const perVideo = new Map<string, number[]>();
  for (let i = 0; i < base.length; i++) {
    const m = base.meta(i);
    if (m.start !== 0) continue;
    if (!perVideo.has(m.video)) {
      if (perVideo.size >= videos) continue;
      perVideo.set(m.video, []);
    }
    perVideo.get(m.video)!.push(i);
  }
  const items = [...perVideo.values()].flat();
  const auxNote = config.groundingAuxWeight > 0
    ? `, ${GROUNDING_AUX_LOSS} weight ${config.groundingAuxWeight}`
    : "";
  console.log(
    `probe: ${perVideo.size} videos, ${items.length} expressions, ${backend.name}${auxNote}`,
  );
  const tokenizer = await BertTokenizer.load();
  const clipOf = async (index: number, variant: number) => {
    const video = base.meta(index).video;
    const sample = await base.get(index, new Rng(1, "probe-load", video, variant));
    return augmentClip(sample, new Rng(1, "probe-augment", video, variant), augment);
  };
  const prepare = async (indices: number[], variant: (k: number) => number) =>
    prepareBatch(
      await Promise.all(indices.map((i, k) => clipOf(i, variant(k)))),
      tokenizer,
      backend,
      { maxLength: config.maxTextLength },
    );

  /**
   * Mask IoU with the target (at the mask head's resolution) of the query the model picks
   * (highest mean score), and whether any query covers the target: the second minus the first
   * is what the class head gets wrong.
   */
  const evaluate = async () => {
    model.eval();
    let iouSum = 0, hits = 0, covered = 0;
    for (const index of items) {
      const batch = await prepare([index], () => 0);
      const [probs, masks, shape] = await tidyAsync(async () => {
        const out = await noGrad(() => model.forward(batch.video, batch.captions, batch.sizes));
        return [
          await sigmoid(out.pred_logits).data(),
          await out.pred_masks.data(),
          out.pred_masks.shape,
        ] as const;
      });
      const [, t, q] = shape;
      const score = (k: number) => {
        let s = 0;
        for (let f = 0; f < t; f++) s += probs[f * q + k];
        return s;
      };
      let picked = 0;
      for (let k = 1; k < q; k++) if (score(k) > score(picked)) picked = k;
      const target = batch.targets[0];
      const ious = Array.from(
        { length: q },
        (_, k) => queryMaskIoU(masks, shape.slice(1), k, target, config.model.maskOutStride),
      );
      iouSum += ious[picked];
      if (ious[picked] > 0.5) hits++;
      if (Math.max(...ious) > 0.5) covered++;
    }
    const n = items.length;
    return `picked query: mean IoU ${(iouSum / n).toFixed(3)}, ${hits}/${n} above 0.5; ` +
      `some query above 0.5: ${covered}/${n}`;
  };

  console.log(`step 0: ${await evaluate()}`);
  const criterion = makeCriterion(config);
  const optimizer = new AdamW(parameterGroups(model, config), {
    weightDecay: config.schedule.weightDecay,
  });
  let ce = 0, dice = 0, aux = 0, n = 0;
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) {
    const ks = Array.from({ length: batchSize }, (_, j) => s * batchSize + j);
    const batch = await prepare(
      ks.map((k) => items[k % items.length]),
      (j) => Math.floor(ks[j] / items.length) % 4,
    );
    const r = await trainStep(model, criterion, optimizer, batch, config.schedule.clipMaxNorm);
    ce += r.losses.loss_ce;
    dice += r.losses.loss_dice;
    aux += r.losses[GROUNDING_AUX_LOSS] ?? 0;
    n++;
    if ((s + 1) % every === 0 || s + 1 === steps) {
      const secs = ((performance.now() - t0) / 1000).toFixed(0);
      console.log(
        `step ${s + 1} (${secs} s): loss_ce ${(ce / n).toFixed(3)}, loss_dice ` +
          `${(dice / n).toFixed(3)}` +
          (model.grounding_aux_head ? `, ${GROUNDING_AUX_LOSS} ${(aux / n).toFixed(3)}` : "") +
          ` | ${await evaluate()}`,
      );
      ce =
        dice =
        aux =
        n =
          0;
    }
  }
}
