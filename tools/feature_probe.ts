/**
 * Feature probe: how well do the model's features name the referred object's colour and kind?
 * For the first expression clip of each video (eval transform, frame 0), the features at the
 * referred object's centroid cell are read at three places: the projected stride-8 backbone level
 * (before any text), the fused memory (after the DMMI branches) and the decoder output of the
 * query whose mask covers the object best. A ridge classifier per place and attribute is fitted on
 * training videos and scored on valid videos (docs/demo.md).
 *
 *   deno run -A tools/feature_probe.ts --config configs/ref_shapes_tiny_stage2.json \
 *     --weights demo/weights.safetensors [--videos 300] [--backend native]
 */
import { parseArgs } from "node:util";
import { selectBackendByName } from "../src/backend/select_name.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { openDataset } from "../src/pipeline/train.ts";
import { describeReport, loadWeightsInto } from "../src/pipeline/checkpoint.ts";
import { prepareBatch } from "../src/pipeline/batch.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { BertTokenizer } from "../src/text/bert_tokenizer.ts";
import { noGrad } from "../src/tensor/autograd.ts";
import { tidyAsync } from "../src/tensor/memory.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { evalTransform, IMAGENET_MEAN, IMAGENET_STD } from "../src/data/transforms.ts";
import { SHAPE_COLOURS, SHAPE_KINDS } from "../src/data/ref_shapes_render.ts";
import { Rng } from "../src/data/rng.ts";
import type { VideoClipDataset } from "../src/data/video_clips.ts";
import { ridgeAccuracy } from "./feature_probe_ridge.ts";
import { queryMaskIoU } from "./probe_iou.ts";

const HELP =
  `feature_probe: is the referred object's colour and kind linearly readable from the features?

  --config <json>    training config (model, Ref-Shapes dataset root)
  --weights <file>   model weights (safetensors)
  --videos <n>       videos per split (default 300: every training video of the demo data)
  --backend <name>   cpu | native | webgpu (default native)
`;

const PLACES = ["projected backbone", "fused memory", "decoder output"] as const;
const PALETTE = Object.entries(SHAPE_COLOURS);

interface Row {
  split: string;
  colour: string;
  kind: string;
  features: number[][];
  /** The decoder's text query (the same for every query) and the words the caption names. */
  sentence: number[];
  namedColour: string;
  namedKind: string;
}

/** The palette colour nearest to the mean (un-normalised) colour under a mask. */
function nearestColour(frames: Float32Array, plane: number, mask: Uint8Array): string | null {
  const rgb = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < plane; i++) {
    if (!mask[i]) continue;
    n++;
    for (let c = 0; c < 3; c++) rgb[c] += frames[c * plane + i];
  }
  if (n === 0) return null;
  const mean = rgb.map((v, c) => (v / n) * IMAGENET_STD[c] + IMAGENET_MEAN[c]);
  let best = PALETTE[0][0], distance = Infinity;
  for (const [name, p] of PALETTE) {
    const d = p.reduce((s, v, c) => s + (v / 255 - mean[c]) ** 2, 0);
    if (d < distance) [best, distance] = [name, d];
  }
  return best;
}

if (import.meta.main) {
  const { values: a } = parseArgs({
    options: {
      config: { type: "string" },
      weights: { type: "string" },
      videos: { type: "string", default: "300" },
      backend: { type: "string", default: "native" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (a.help || !a.config || !a.weights) {
    console.log(HELP);
    Deno.exit(a.help ? 0 : 2);
  }
  const maxVideos = Number(a.videos);
  if (!(maxVideos > 0)) throw new Error(`--videos must be a positive number, got "${a.videos}"`);
  const backend = await selectBackendByName(a.backend!);
  const config = await loadTrainConfig(a.config);
  const model = new DMFormer(config.model);
  await model.to(backend);
  const report = await loadWeightsInto(model, a.weights, { strict: false });
  if (report.missing.length + report.unexpected.length + report.mismatched.length) {
    throw new Error(`${a.weights} does not fit the config: ${describeReport(report)}`);
  }
  model.eval();
  const tokenizer = await BertTokenizer.load();
  const rows: Row[] = [];
  // deno-lint-ignore no-explicit-any
  const inner = model as any;
  const spec = config.datasets[0];
  if (spec.type !== "ref-shapes") {
    throw new Error(
      `the probe reads Ref-Shapes object metadata; the config's dataset is ${spec.type}`,
    );
  }
  // read the projected level 0 and the decoder's text query, input memory and last output on
  // the way through forward
  let seenAt: Record<string, Tensor> = {};
  const project = inner.project, decode = inner.transformer.forward;
  inner.project = (l: number, x: Tensor) => {
    const y = project.call(inner, l, x);
    if (l === 0 && !seenAt.src) seenAt.src = y;
    return y;
  };
  inner.transformer.forward = (...args: unknown[]) => {
    seenAt.tgt = args[0] as Tensor;
    seenAt.memory = args[2] as Tensor;
    const r = decode.apply(inner.transformer, args);
    seenAt.hs = r.hs[r.hs.length - 1];
    return r;
  };
  try {
    for (const split of ["train", "valid"]) {
      const meta = JSON.parse(await Deno.readTextFile(`${spec.root}/${split}/meta.json`)).videos;
      const base = await openDataset({ ...spec, split }, 2, 1) as VideoClipDataset;
      const seen = new Set<string>();
      for (let i = 0; i < base.length; i++) {
        const m = base.meta(i);
        if (m.start !== 0 || (!seen.has(m.video) && seen.size >= maxVideos)) continue;
        seen.add(m.video);
        const sample = await base.get(i, new Rng(1, "feature-probe", m.video));
        const clip = evalTransform(sample, config.inference.shortSide);
        const batch = await prepareBatch([clip], tokenizer, backend, {
          maxLength: config.maxTextLength,
        });
        const target = batch.targets[0];
        const colour = nearestColour(clip.frames, clip.height * clip.width, target.masks);
        if (!colour) continue;
        seenAt = {};
        const got = await tidyAsync(async () => {
          const out = await noGrad(() => model.forward(batch.video, batch.captions, batch.sizes));
          const [src, memory, hs, tgt, masks] = await Promise.all(
            [seenAt.src, seenAt.memory, seenAt.hs, seenAt.tgt, out.pred_masks].map((x) => x.data()),
          );
          return {
            src,
            srcShape: seenAt.src.shape,
            memory,
            hs,
            tgt,
            masks,
            maskShape: out.pred_masks.shape,
          };
        });
        const [H, W] = target.size;
        let sy = 0, sx = 0, n = 0;
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) if (target.masks[y * W + x]) sy += y, sx += x, n++;
        }
        const [, d, h, w] = got.srcShape;
        const cell = Math.min(h - 1, Math.floor(sy / n / 8)) * w +
          Math.min(w - 1, Math.floor(sx / n / 8));
        const maskShape = got.maskShape.slice(1);
        const stride = config.model.maskOutStride;
        const ious = Array.from(
          { length: maskShape[1] },
          (_, k) => queryMaskIoU(got.masks, maskShape, k, target, stride, 1),
        );
        const best = ious.indexOf(Math.max(...ious));
        const words = clip.caption.split(" ");
        rows.push({
          split,
          sentence: Array.from(got.tgt.subarray(0, d)),
          namedColour: words.find((x) => x in SHAPE_COLOURS) ?? "(none)",
          namedKind: words.find((x) => (SHAPE_KINDS as readonly string[]).includes(x)) ?? "(none)",
          colour,
          kind: meta[m.video].objects[String(clip.objId)].category,
          features: [
            Array.from({ length: d }, (_, c) => got.src[c * h * w + cell]),
            Array.from(got.memory.subarray(cell * d, (cell + 1) * d)),
            Array.from(got.hs.subarray(best * d, (best + 1) * d)),
          ],
        });
      }
    }
  } finally {
    inner.project = project;
    inner.transformer.forward = decode;
  }
  const train = rows.filter((r) => r.split === "train"),
    valid = rows.filter((r) => r.split !== "train");
  console.log(`${train.length} training and ${valid.length} valid expressions (frame 0)`);
  console.log("| features | colour (train / valid) | kind (train / valid) |");
  console.log("| --- | --- | --- |");
  /** "train / valid (majority)" accuracy of a ridge probe reading `label` from `features`. */
  const probe = (features: (r: Row) => number[], label: (r: Row) => string) => {
    const r = ridgeAccuracy(
      train.map(features),
      train.map(label),
      valid.map(features),
      valid.map(label),
    );
    return `${r.train.toFixed(2)} / ${r.valid.toFixed(2)} (majority ${r.majority.toFixed(2)})`;
  };
  PLACES.forEach((place, p) => {
    const cells = [
      probe((r) => r.features[p], (r) => r.colour),
      probe((r) => r.features[p], (r) => r.kind),
    ];
    console.log(`| ${place} | ${cells.join(" | ")} |`);
  });
  const named = [
    probe((r) => r.sentence, (r) => r.namedColour),
    probe((r) => r.sentence, (r) => r.namedKind),
  ];
  console.log(`| text query: the word the caption names | ${named.join(" | ")} |`);
}
