/**
 * Checks that the PyTorch mirror (tools/torch_dmformer.py, used by tools/bench_torch.py)
 * computes what our DMFormer computes:
 *
 *   deno run -A tools/check_torch_mirror.ts [--backend cpu|native] [--seed N] [--padded]
 *     [--keep DIR] [--python /usr/bin/python3]
 *
 * Builds the tiny model with a fixed seed and every dropout at 0, takes the bench's training
 * clip (tools/bench/model.ts: random frames, the synthetic caption, centred targets), and
 * writes to a temporary folder: our weights (safetensors, our state-dict names), the inputs,
 * our eval-mode outputs (also on a 180x320 clip, whose odd map sizes take the padded-merging
 * and non-integer resampling paths), and one training step (the SetCriterion losses, every
 * parameter's gradient, the losses again after an AdamW step). tools/check_torch_mirror.py
 * then loads the weights into the mirror, repeats all of it and prints the max differences.
 * `--padded` also pads the right quarter of the second frame (exercises masks, valid ratios,
 * position codes). Needs python3-torch; the tests never run it.
 */
import "../src/ops/mod.ts";
import { selectBackendByName } from "../src/backend/select_name.ts";
import { useBackend } from "../src/backend/backend.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { noGrad } from "../src/tensor/autograd.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { tensor } from "../src/ops/creation.ts";
import { add, mul } from "../src/ops/elementwise.ts";
import { saveSafetensors } from "../src/io/safetensors.ts";
import type { RawTensor } from "../src/io/raw_tensor.ts";
import { DMFormer, type DMFormerOutput } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { SetCriterion } from "../src/models/dmformer/criterion.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { captions, subjectLabels, targets, TRAIN } from "./bench/model.ts";
import { randn } from "../src/ops/random.ts";

interface Args {
  backend: string;
  seed: number;
  padded: boolean;
  keep?: string;
  python: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { backend: "cpu", seed: 0, padded: false, python: "/usr/bin/python3" };
  for (let i = 0; i < argv.length; i++) {
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case "--backend":
        a.backend = v();
        break;
      case "--seed":
        a.seed = Number(v());
        break;
      case "--padded":
        a.padded = true;
        break;
      case "--keep":
        a.keep = v();
        break;
      case "--python":
        a.python = v();
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

async function raw(t: Tensor): Promise<RawTensor> {
  const data = await t.data();
  const dtype = t.dtype === "f32" || t.dtype === "i32" || t.dtype === "u8" || t.dtype === "bool"
    ? t.dtype
    : "f32";
  return { dtype, shape: [...t.shape], data: data as RawTensor["data"] };
}

async function addOutputs(into: Map<string, RawTensor>, prefix: string, out: DMFormerOutput) {
  for (const k of ["pred_logits", "pred_boxes", "pred_masks", "subject"] as const) {
    into.set(`${prefix}.${k}`, await raw(out[k]));
  }
  for (const [i, aux] of out.aux_outputs.entries()) {
    for (const k of ["pred_logits", "pred_boxes", "pred_masks"] as const) {
      into.set(`${prefix}.aux${i}.${k}`, await raw(aux[k]));
    }
  }
}

async function main() {
  const a = parseArgs(Deno.args);
  const backend = await selectBackendByName(a.backend);
  useBackend(backend);
  manualSeed(a.seed);
  const cfg = resolveConfig({
    base: "tiny",
    dropout: 0,
    text: { hiddenDropout: 0, attentionDropout: 0 },
  });
  const net = new DMFormer(cfg);
  await net.to(backend);
  // The initial offset biases are integers, so every encoder sampling location sits exactly
  // on a pixel centre, where bilinear sampling has no derivative (each implementation takes
  // its own one-sided one). Jitter them so the gradients are comparable.
  noGrad(() => {
    for (const [name, p] of net.namedParameters()) {
      if (name.endsWith("sampling_offsets.bias")) p.assign(add(p, mul(randn(p.shape), 0.05)));
    }
  });
  const s = TRAIN;
  let frames = randn([s.b, s.t, 3, s.h, s.w], { backend });
  const mask = new Uint8Array(s.b * s.t * s.h * s.w);
  if (a.padded) {
    // the right quarter of frame 1 is padding (zero pixels), as a collate would leave it
    const fr = Float32Array.from(await frames.data());
    const w0 = (3 * s.w) >> 2;
    for (let y = 0; y < s.h; y++) {
      mask.fill(1, (s.h + y) * s.w + w0, (s.h + y + 1) * s.w);
      for (let ch = 0; ch < 3; ch++) {
        const row = ((3 + ch) * s.h + y) * s.w;
        fr.fill(0, row + w0, row + s.w);
      }
    }
    frames.dispose();
    frames = tensor(fr, [s.b, s.t, 3, s.h, s.w], { backend });
  }
  const video = { frames, mask };
  const caps = captions(s, cfg.text.vocabSize);
  const sizes: [number, number][] = [[s.h, s.w]];
  const tg = targets(s);
  const labels = subjectLabels(s);

  const dir = a.keep ?? await Deno.makeTempDir({ prefix: "torch_mirror_" });
  await Deno.mkdir(dir, { recursive: true });
  const weights = new Map<string, RawTensor>();
  for (const [k, t] of net.stateDict()) weights.set(k, await raw(t));
  await saveSafetensors(`${dir}/weights.safetensors`, weights);

  const ours = new Map<string, RawTensor>();
  net.eval();
  const evalOut = await noGrad(() => net.forward(video, caps, sizes));
  await addOutputs(ours, "eval", evalOut);
  // and a clip whose maps have odd sizes (45x80 -> 23x40 -> 12x20 -> 6x10, extra 3x5):
  // padded patch merging and non-integer FPN reductions, which TRAIN's 128x224 never hits
  const odd = { ...s, h: 180, w: 320 };
  const oddFrames = randn([odd.b, odd.t, 3, odd.h, odd.w], { backend });
  const oddVideo = { frames: oddFrames, mask: new Uint8Array(odd.b * odd.t * odd.h * odd.w) };
  const oddOut = await noGrad(() => net.forward(oddVideo, caps, [[odd.h, odd.w]]));
  await addOutputs(ours, "odd", oddOut);

  // one training step: forward, criterion, backward, AdamW, then the losses again
  net.train();
  const params = net.namedParameters();
  const opt = new AdamW([{ params: params.map(([, p]) => p), lr: 1e-4, weightDecay: 1e-4 }]);
  const crit = new SetCriterion({ numClasses: cfg.numClasses });
  const out = await net.forward(video, caps, sizes);
  const losses = await crit.forward(out, tg, labels);
  await addOutputs(ours, "train", out);
  losses.total.backward();
  for (const [name, p] of params) if (p.grad) ours.set(`grad.${name}`, await raw(p.grad));
  opt.step();
  opt.zeroGrad();
  const after = await crit.forward(await net.forward(video, caps, sizes), tg, labels);
  const scalars: Record<string, number> = {};
  const put = async (prefix: string, r: typeof losses) => {
    scalars[`${prefix}.total`] = (await r.total.data())[0];
    for (const [k, v] of r.losses) scalars[`${prefix}.${k}`] = (await v.data())[0];
  };
  await put("loss", losses);
  await put("loss_after_step", after);
  await saveSafetensors(`${dir}/ours.safetensors`, ours);

  const inputs = new Map<string, RawTensor>([
    ["frames", await raw(frames)],
    ["odd.frames", await raw(oddFrames)],
    ["mask", { dtype: "u8", shape: [s.b, s.t, s.h, s.w], data: mask }],
    ["input_ids", { dtype: "i32", shape: [s.b, s.pad], data: caps.inputIds }],
    ["attention_mask", { dtype: "i32", shape: [s.b, s.pad], data: caps.attentionMask }],
  ]);
  tg.forEach((c, i) => {
    inputs.set(`target${i}.boxes`, { dtype: "f32", shape: [s.t, 4], data: c.boxes });
    inputs.set(`target${i}.masks`, { dtype: "u8", shape: [s.t, s.h, s.w], data: c.masks });
  });
  await saveSafetensors(`${dir}/inputs.safetensors`, inputs);
  const meta = {
    config: cfg,
    backend: backend.name,
    seed: a.seed,
    padded: a.padded,
    imageSizes: sizes,
    positiveMaps: caps.positiveMaps.map((m) => [...m.entries()]),
    targets: tg.map((c) => ({ size: c.size, valid: c.valid, labels: c.labels })),
    subjectLabels: labels.map((l) => [...l]),
    spans: {
      eval: evalOut.subjectChoice.spans,
      odd: oddOut.subjectChoice.spans,
      train: out.subjectChoice.spans,
    },
    matches: losses.matches,
    matchesAfterStep: after.matches,
    losses: scalars,
    optimizer: { lr: 1e-4, weightDecay: 1e-4 },
  };
  await Deno.writeTextFile(`${dir}/meta.json`, JSON.stringify(meta, null, 1));
  net.dispose();

  const script = new URL("./check_torch_mirror.py", import.meta.url).pathname;
  console.log(`ours: ${backend.name} backend, seed ${a.seed}; files in ${dir}`);
  const { code } = await new Deno.Command(a.python, { args: [script, dir] }).spawn().status;
  if (!a.keep) await Deno.remove(dir, { recursive: true });
  Deno.exit(code);
}

await main();
