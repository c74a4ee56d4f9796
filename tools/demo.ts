/**
 * deno task demo [--out demo-output] [--clip name] [--backend cpu]
 *
 * Segments a bundled Ref-Shapes clip (demo/clips/<name>.mp4) for two sentences that refer to
 * different objects, writes masks and overlay videos, and prints J&F against the bundled
 * ground truth. `--bundle` (maintainers) rebuilds demo/ from a dataset and a checkpoint.
 */
import { join } from "node:path";
import {
  checkBackendName,
  CliError,
  firstLine,
  inferenceFlags,
  mustExist,
  openBackend,
  parseCli,
  runCli,
} from "../src/cli/common.ts";
import {
  loadModelForInference,
  readFolderFrames,
  readVideoFrames,
  slug,
  writeSegmentation,
} from "../src/pipeline/infer.ts";
import { segmentClip } from "../src/pipeline/segment.ts";
import { saveModelWeights } from "../src/pipeline/checkpoint.ts";
import { evaluateSequence } from "../src/eval/jf.ts";
import { readPaletteMask, writePaletteMask } from "../src/media/png.ts";
import { encodeVideo } from "../src/media/video_encode.ts";
import { readYtvosMeta } from "../src/data/ytvos.ts";

export const HELP = `The DMFormer demo: one bundled video, two sentences, two different objects.

Usage:
  deno task demo [--out <dir>] [--clip <name>] [--backend <name>] [--tta <list>] [--clip-frames <n>]

Options:
  --out <dir>        output folder (default ./demo-output)
  --clip <name>      which bundled clip (default: the first in demo/clips/clips.json)
  --all              run every bundled clip and every sentence, print the mean J&F
  --backend <name>   cpu, native, webgpu, auto (default: native when a C compiler can build it
                     here, else cpu without the test-time views, which would make it ~2 min)
  --tta <list>       test-time views: hflip, reverse, hflip,reverse or none (default: the bundled
                     config's inference.testTimeAugment; with --bundle, written into it)
  --clip-frames <n>  clips of n frames, slots anchored by a whole-video pass; 0 = off (default:
                     the bundled config's inference.clipFrames; with --bundle, written into it)
  --mask-crf <on|off>  refine the masks along colour edges (default: the bundled config's
                     inference.maskCrf; with --bundle, written into it)
  --relink-slots <on|off>  slots follow their objects' masks from frame to frame before the
                     choice (default: the bundled config's inference.relinkSlots; with --bundle,
                     written into it)
  -h, --help         this text

Writes <out>/<clip>/<nn-sentence>/{masks/*.png, overlay.mp4, result.json} and prints the
J&F of each sentence against the bundled ground truth (demo/clips/<clip>/*.png).

Maintainers: rebuild demo/ from a Ref-Shapes tree and a trained run
  deno run -A tools/demo.ts --bundle --half --tta hflip --clip-frames 5 --data data/ref-shapes \\
    --run runs/refine1_fit2/model.safetensors \\
    --config configs/ref_shapes_w32_refine1.json --videos valid_0023,valid_0015,valid_0024
  (--half stores the weights as float16: half the size, read back as float32; docs/demo.md)

Examples:
  deno task demo
  deno task demo --clip valid_0015 --out /tmp/demo
  deno task demo --tta none --clip-frames 0   # the reference's inference only (faster)
`;

interface ClipEntry {
  name: string;
  video: string;
  frames: string[];
  fps: number;
  sentences: { text: string; obj_id: number }[];
}

const DEMO = new URL("../demo/", import.meta.url).pathname;

async function bundle(values: Record<string, unknown>) {
  const data = values.data as string | undefined, run = values.run as string | undefined;
  const config = values.config as string | undefined;
  if (!data || !run || !config) throw new CliError("--bundle needs --data, --run and --config");
  const videos = String(values.videos ?? "").split(",").filter((v) => v);
  if (videos.length === 0) throw new CliError("--bundle needs --videos a,b,c");
  const meta = await readYtvosMeta(data, "valid");
  const unknown = videos.filter((v) => !meta.videos[v]);
  if (unknown.length) throw new CliError(`not in ${data} valid: ${unknown.join(", ")}`);
  const backend = await openBackend("cpu");
  const loaded = await loadModelForInference(run, config, backend);
  const previous = await bundledClipNames();
  await Deno.mkdir(join(DEMO, "clips"), { recursive: true });
  // --half: F16 storage keeps a wider model under the 20 MB the demo may bundle
  await saveModelWeights(
    loaded.model,
    join(DEMO, "weights.safetensors"),
    { source: run },
    { halfFloats: values.half === true },
  );
  // the bundled config: the training config less its init, a local file the bundled weights replace
  const trainConfig = JSON.parse(await Deno.readTextFile(config));
  delete trainConfig.init;
  trainConfig.inference = { ...trainConfig.inference, ...inferenceFlags(values) };
  await Deno.writeTextFile(join(DEMO, "config.json"), JSON.stringify(trainConfig, null, 2) + "\n");
  const entries: ClipEntry[] = [];
  for (const video of videos) {
    const v = meta.videos[video];
    const input = await readFolderFrames(`${data}/valid/JPEGImages/${video}`);
    await encodeVideo(join(DEMO, "clips", `${video}.mp4`), input.frames, { fps: 5, crf: 12 });
    await Deno.mkdir(join(DEMO, "clips", video), { recursive: true });
    for (const f of v.frames) {
      const m = await readPaletteMask(`${data}/valid/Annotations/${video}/${f}.png`);
      await writePaletteMask(join(DEMO, "clips", video, `${f}.png`), m.width, m.height, m.indices);
    }
    entries.push({
      name: video,
      video: `${video}.mp4`,
      frames: v.frames,
      fps: 5,
      sentences: Object.values(v.expressions).map((e) => ({
        text: e.exp,
        obj_id: Number(e.obj_id),
      })),
    });
  }
  await Deno.writeTextFile(
    join(DEMO, "clips", "clips.json"),
    JSON.stringify(entries, null, 2) + "\n",
  );
  // clips of the previous bundle that this one does not keep
  for (const name of previous.filter((p) => !videos.includes(p))) {
    await removeIfPresent(join(DEMO, "clips", `${name}.mp4`));
    await removeIfPresent(join(DEMO, "clips", name));
  }
  console.log(`bundled ${entries.length} clips and the weights into ${DEMO}`);
}

async function removeIfPresent(path: string) {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

async function bundledClipNames(): Promise<string[]> {
  try {
    const clips: ClipEntry[] = JSON.parse(
      await Deno.readTextFile(join(DEMO, "clips", "clips.json")),
    );
    return clips.map((c) => c.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Two sentences about different objects (the first two distinct obj_ids). */
function pickSentences(entry: ClipEntry, all: boolean) {
  if (all) return entry.sentences;
  const out: ClipEntry["sentences"] = [];
  for (const s of entry.sentences) {
    if (!out.some((o) => o.obj_id === s.obj_id)) out.push(s);
    if (out.length === 2) break;
  }
  return out;
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    out: { type: "string", default: "demo-output" },
    clip: { type: "string" },
    all: { type: "boolean" },
    backend: { type: "string" },
    bundle: { type: "boolean" },
    half: { type: "boolean" },
    data: { type: "string" },
    run: { type: "string" },
    config: { type: "string" },
    videos: { type: "string" },
    tta: { type: "string" },
    "clip-frames": { type: "string" },
    "mask-crf": { type: "string" },
    "relink-slots": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.bundle) return await bundle(values);
  if (values.backend) checkBackendName(values.backend);
  const flags = inferenceFlags(values);
  const started = performance.now();
  await mustExist(join(DEMO, "weights.safetensors"), "demo weights", "file");
  await mustExist(join(DEMO, "clips", "clips.json"), "demo clip list", "file");
  const clips: ClipEntry[] = JSON.parse(await Deno.readTextFile(join(DEMO, "clips", "clips.json")));
  const chosen = values.all
    ? clips
    : [values.clip ? clips.find((c) => c.name === values.clip) : clips[0]];
  if (!chosen[0]) {
    throw new CliError(
      `no bundled clip "${values.clip}" (have: ${clips.map((c) => c.name).join(", ")})`,
    );
  }
  let backend;
  if (values.backend) {
    backend = await openBackend(values.backend);
  } else {
    try {
      backend = await openBackend("native");
    } catch (error) {
      backend = await openBackend("cpu");
      flags.testTimeAugment ??= [];
      console.log(
        `note: ${firstLine(error).replace(/\.$/, "")}. Running on cpu without the test-time ` +
          `views (--backend cpu keeps them: about 2 min).`,
      );
    }
  }
  const loaded = await loadModelForInference(
    join(DEMO, "weights.safetensors"),
    join(DEMO, "config.json"),
    backend,
  );
  const scores: number[] = [];
  for (const entry of chosen as ClipEntry[]) {
    const input = await readVideoFrames(join(DEMO, "clips", entry.video));
    if (input.frames.length !== entry.frames.length) {
      throw new Error(
        `${entry.video}: decoded ${input.frames.length} frames, expected ${entry.frames.length}`,
      );
    }
    input.names = entry.frames;
    const gts = [];
    for (const f of entry.frames) {
      gts.push(await readPaletteMask(join(DEMO, "clips", entry.name, `${f}.png`)));
    }
    console.log(
      `${entry.name}: ${input.frames.length} frames of ${input.frames[0].width}x${
        input.frames[0].height
      }`,
    );
    const sentences = pickSentences(entry, values.all ?? false);
    for (let i = 0; i < sentences.length; i++) {
      const s = sentences[i];
      const seg = await segmentClip(loaded.model, input.frames, s.text, {
        tokenizer: loaded.tokenizer,
        ...loaded.setup.inference,
        ...flags,
        maxLength: loaded.setup.maxTextLength,
      });
      const dir = join(values.out!, entry.name, slug(s.text, i));
      await writeSegmentation(dir, seg, input, {
        fps: entry.fps,
        formats: ["mp4"],
        colorIndex: i + 1,
      });
      const gtMasks = gts.map((g) => g.indices.map((v) => (v === s.obj_id ? 1 : 0)));
      const r = evaluateSequence(seg.masks, gtMasks, seg.width, seg.height);
      scores.push(r.JF);
      const area = seg.masks.reduce((a, m) => a + m.reduce((x, y) => x + y, 0), 0) /
        seg.masks.length;
      console.log(
        `  "${s.text}" (object ${s.obj_id}): J&F ${r.JF.toFixed(3)} (J ${r.J.mean.toFixed(3)}, ` +
          `F ${r.F.mean.toFixed(3)}), ${Math.round(area)} px/frame -> ${dir}`,
      );
    }
  }
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`mean J&F over ${scores.length} sentences: ${mean.toFixed(3)} (${secs} s)`);
}

if (import.meta.main) await runCli("demo", () => main(Deno.args));
