/**
 * Pretrains the Swin backbone of a model config on freshly generated Ref-Shapes frames: every
 * stage predicts, per cell of its grid, the colour and the kind of the shape covering the cell's
 * centre (or background). The reference starts from an ImageNet-pretrained backbone, whose features
 * already name colours and object kinds; this is the same head start for the synthetic world
 * (docs/demo.md). Writes the backbone's weights under the model's key names (backbone.0.body.*),
 * for a training config's `init` with `"strict": false`.
 *
 *   deno run -A tools/pretrain_shapes_backbone.ts --config configs/ref_shapes_tiny.json \
 *     --out runs/shapes_backbone.safetensors --steps 1500
 */
import { parseArgs } from "node:util";
import { selectBackendByName } from "../src/backend/select_name.ts";
import { loadTrainConfig } from "../src/pipeline/train_config.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { Linear } from "../src/nn/layers.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { crossEntropy } from "../src/ops/loss.ts";
import { add } from "../src/ops/elementwise.ts";
import { argmax } from "../src/ops/reduce.ts";
import { narrow, permute, reshape } from "../src/ops/shape_ops.ts";
import { tensor } from "../src/ops/creation.ts";
import { tidyAsync } from "../src/tensor/memory.ts";
import { manualSeed } from "../src/tensor/random.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { generateRefShapesClip } from "../src/data/ref_shapes.ts";
import { SHAPE_COLOURS, SHAPE_KINDS } from "../src/data/ref_shapes_render.ts";
import { resizeBilinear, resizeMaskNearest } from "../src/data/resize.ts";
import { normalizeFrames } from "../src/data/transforms.ts";
import { hashKey, Rng } from "../src/data/rng.ts";
import { describeReport, loadWeightsInto, saveModelWeights } from "../src/pipeline/checkpoint.ts";
import type { Backend } from "../src/backend/backend.ts";

const HELP = `pretrain_shapes_backbone: per-cell colour and kind classification on generated shapes

  --config <json>   training config whose model.swin is pretrained (required)
  --out <file>      safetensors file for the backbone weights (required)
  --steps <n>       optimisation steps (default 1500)
  --clips <n>       generated clips per step, 2 frames each (default 4)
  --lr <x>          AdamW learning rate (default 1e-3)
  --backend <name>  cpu | native | webgpu (default native)
  --seed <n>        generator seed; the clips never repeat the dataset's (default 7)
  --init <file>     start from these backbone weights (an earlier --out) instead of from scratch;
                    the heads start fresh
  --background-weight <x>
                    weight of background cells in both cross-entropies, shape cells 1 (default
                    0.1: at 1 the background, most of every frame, drowns the kind signal)
`;

const COLOURS = Object.keys(SHAPE_COLOURS) as (keyof typeof SHAPE_COLOURS)[];

export interface AttributeSample {
  frames: Float32Array;
  /** per stage: colour and kind label per cell (0 = background) */
  labels: { colour: Int32Array; kind: Int32Array }[];
}

/** Short side drawn from the demo's training sizes (58-102 px), 4:3 like the dataset. */
function drawSize(rng: Rng): [number, number] {
  const h = 8 * Math.round(rng.uniform(58, 102) / 8);
  return [h, 8 * Math.round((h * 4) / 3 / 8)];
}

/**
 * One generated 2-frame clip resized to h x w: normalised frames and, per stride, the colour and
 * kind label (index + 1; 0 = background) of the shape under each cell's centre.
 */
export function attributeSample(
  seed: number,
  h: number,
  w: number,
  strides: number[],
): AttributeSample {
  const clip = generateRefShapesClip(seed, { numFrames: 2 });
  const attrs = new Map(clip.objects.map((o) => [o.id, o]));
  const frames = clip.frames.map((f) => resizeBilinear(f, w, h));
  const maps = clip.instanceMaps.map((m) => resizeMaskNearest(m, clip.width, clip.height, w, h));
  const labels = strides.map((s) => {
    const gh = Math.ceil(h / s), gw = Math.ceil(w / s);
    const colour = new Int32Array(maps.length * gh * gw), kind = new Int32Array(colour.length);
    maps.forEach((m, f) => {
      for (let y = 0; y < gh; y++) {
        for (let x = 0; x < gw; x++) {
          const py = Math.min(h - 1, Math.floor((y + 0.5) * s));
          const px = Math.min(w - 1, Math.floor((x + 0.5) * s));
          const o = attrs.get(m[py * w + px]);
          if (!o) continue;
          const i = (f * gh + y) * gw + x;
          colour[i] = COLOURS.indexOf(o.colour) + 1;
          kind[i] = SHAPE_KINDS.indexOf(o.kind) + 1;
        }
      }
    });
    return { colour, kind };
  });
  return { frames: normalizeFrames(frames), labels };
}

/** Clips after one another: frames and each stage's labels concatenated in clip order. */
export function joinSamples(samples: AttributeSample[]): AttributeSample {
  const join = <T extends Float32Array | Int32Array>(parts: T[], out: T) => {
    parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
    return out;
  };
  const size = (parts: ArrayLike<number>[]) => parts.reduce((n, p) => n + p.length, 0);
  const frames = samples.map((x) => x.frames);
  return {
    frames: join(frames, new Float32Array(size(frames))),
    labels: samples[0].labels.map((_, s) => {
      const colour = samples.map((x) => x.labels[s].colour);
      const kind = samples.map((x) => x.labels[s].kind);
      return {
        colour: join(colour, new Int32Array(size(colour))),
        kind: join(kind, new Int32Array(size(kind))),
      };
    }),
  };
}

/** [n, c, h, w] -> [n h w, c] */
function cells(x: Tensor): Tensor {
  return reshape(permute(x, [0, 2, 3, 1]), [-1, x.shape[1]]);
}

/** The command line; returns the written file's tensor count. */
export async function main(args: string[]): Promise<number> {
  const { values: a } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      out: { type: "string" },
      steps: { type: "string", default: "1500" },
      clips: { type: "string", default: "4" },
      lr: { type: "string", default: "1e-3" },
      backend: { type: "string", default: "native" },
      seed: { type: "string", default: "7" },
      "background-weight": { type: "string", default: "0.1" },
      init: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.config || !a.out) throw new Error("--config and --out are required (see --help)");
  const [steps, clips, lr, seed] = [a.steps!, a.clips!, a.lr!, a.seed!].map(Number);
  for (const [name, v] of [["steps", steps], ["clips", clips], ["lr", lr]] as const) {
    if (!(v > 0)) throw new Error(`--${name} must be a positive number`);
  }
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${a.seed}"`);
  const backgroundWeight = Number(a["background-weight"]);
  if (!(backgroundWeight > 0 && backgroundWeight <= 1)) {
    throw new Error(`--background-weight must lie in (0, 1], got "${a["background-weight"]}"`);
  }
  manualSeed(seed);
  const backend: Backend = await selectBackendByName(a.backend!);
  const config = await loadTrainConfig(a.config);
  const model = new DMFormer({ ...config.model, freezeBackbone: false });
  if (a.init) {
    const report = await loadWeightsInto(model, a.init, { strict: false });
    const missingBackbone = report.missing.filter((k) => k.startsWith("backbone."));
    if (report.mismatched.length + report.unexpected.length + missingBackbone.length > 0) {
      throw new Error(`--init ${a.init} does not fit the config: ${describeReport(report)}`);
    }
    console.log(`init: backbone weights from ${a.init}`);
  }
  const body = model.backbone[0].body;
  const swin = config.model.swin;
  const channels = [0, 1, 2, 3].map((s) => swin.embedDim * 2 ** s);
  const strides = channels.map((_, s) => swin.patchSize * 2 ** s);
  const colourHeads = channels.map((c) => new Linear(c, COLOURS.length + 1));
  const kindHeads = channels.map((c) => new Linear(c, SHAPE_KINDS.length + 1));
  await body.to(backend);
  for (const h of [...colourHeads, ...kindHeads]) await h.to(backend);
  const heads = [...colourHeads, ...kindHeads].flatMap((h) => h.parameters());
  const optimizer = new AdamW([
    { params: body.parameters(), lr, name: "backbone" },
    { params: heads, lr, name: "heads" },
  ], { weightDecay: 1e-4 });
  body.train();
  console.log(
    `pretraining the ${swin.embedDim}-wide Swin on ${backend.name}: ${steps} steps of ` +
      `${clips} generated clips (2 frames each)`,
  );
  const rng = new Rng(seed, "pretrain-shapes");
  const t0 = performance.now();
  let window: number[][] = [];
  // object cells (label > 0) right per stage: [colour hits, kind hits, cells], every 10th step
  let hits = channels.map(() => [0, 0, 0]);
  for (let step = 0; step < steps; step++) {
    const [h, w] = drawSize(rng.fork("size", step));
    const batch = joinSamples(Array.from(
      { length: clips },
      (_, k) => attributeSample(hashKey(seed, "pretrain", step, k), h, w, strides),
    ));
    const stats = await tidyAsync(async () => {
      const input = tensor(batch.frames, [clips * 2, 3, h, w], { backend });
      const feats = body.forward(input);
      let loss: Tensor | null = null;
      const parts: Tensor[] = [];
      const scored: Promise<void>[] = [];
      const score = (logits: Tensor, truth: Int32Array, s: number, slot: 0 | 1) =>
        scored.push((async () => {
          // which colour or kind, given that the cell is on a shape: background is not a choice
          const guess = await argmax(narrow(logits, 1, 1, logits.shape[1] - 1), 1).data();
          for (let i = 0; i < truth.length; i++) {
            if (truth[i] === 0) continue;
            if (guess[i] + 1 === truth[i]) hits[s][slot]++;
            if (slot === 0) hits[s][2]++;
          }
        })());
      feats.forEach((f, s) => {
        const x = cells(f);
        const { colour, kind } = batch.labels[s];
        if (colour.length !== x.shape[0]) {
          throw new Error(`stage ${s}: ${x.shape[0]} cells but ${colour.length} labels`);
        }
        const labelTensor = (l: Int32Array) => tensor(l, [l.length], { dtype: "i32", backend });
        const [colourLogits, kindLogits] = [colourHeads[s].forward(x), kindHeads[s].forward(x)];
        // colour and kind labels share the background cells, so one weight vector serves both
        const weights = tensor(
          Float32Array.from(colour, (l) => (l === 0 ? backgroundWeight : 1)),
          [colour.length],
          { backend },
        );
        const lc = crossEntropy(colourLogits, labelTensor(colour), weights);
        const lk = crossEntropy(kindLogits, labelTensor(kind), weights);
        if (step % 10 === 0) {
          score(colourLogits, colour, s, 0);
          score(kindLogits, kind, s, 1);
        }
        parts.push(lc, lk);
        loss = loss ? add(add(loss, lc), lk) : add(lc, lk);
      });
      loss!.backward();
      optimizer.step();
      optimizer.zeroGrad();
      await Promise.all(scored);
      return await Promise.all(parts.map((p) => p.item()));
    });
    window.push(stats);
    if ((step + 1) % 100 === 0 || step + 1 === steps) {
      const mean = (i: number) => window.reduce((s, r) => s + r[i], 0) / window.length;
      const per = channels.map((_, s) => `${mean(2 * s).toFixed(3)}/${mean(2 * s + 1).toFixed(3)}`);
      const secs = ((performance.now() - t0) / 1000).toFixed(0);
      const acc = hits.map(([c, k, n]) =>
        n === 0 ? "-/-" : `${(c / n).toFixed(2)}/${(k / n).toFixed(2)}`
      );
      console.log(
        `step ${step + 1} (${secs} s): colour/kind loss per stage ${per.join("  ")}; ` +
          `right on shape cells ${acc.join("  ")}`,
      );
      window = [];
      hits = channels.map(() => [0, 0, 0]);
    }
  }
  const count = await saveModelWeights(
    model,
    a.out,
    { pretrained: "ref-shapes colour/kind per cell" },
    { keep: (key) => key.startsWith("backbone.") },
  );
  console.log(`wrote ${a.out} (${count} tensors)`);
  return count;
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(`pretrain_shapes_backbone: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
