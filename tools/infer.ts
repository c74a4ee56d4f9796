/**
 * deno task infer --checkpoint <weights> --config <config.json> (--video f | --frames dir)
 *   --sentence "..." [--sentence "..."] --out <dir>
 * deno task infer --checkpoint <weights> --config <config.json> --ytvos <root> --split valid --out <dir>
 * deno task infer --checkpoint <weights> --config <config.json> --davis <root> --out <dir>
 */
import {
  checkBackendName,
  CliError,
  inferenceFlags,
  mustExist,
  openBackend,
  parseCli,
  positiveInt,
  runCli,
} from "../src/cli/common.ts";
import {
  davisJobs,
  loadModelForInference,
  readFolderFrames,
  readVideoFrames,
  runBenchmark,
  slug,
  writeSegmentation,
  ytvosJobs,
} from "../src/pipeline/infer.ts";
import { segmentClip } from "../src/pipeline/segment.ts";
import { formatProfile, startProfile, stopProfile } from "../src/ops/profile.ts";

export const HELP = `Segment the object a sentence refers to in every frame of a video.

Usage:
  deno task infer --checkpoint <weights> --config <config.json> (--video <file> | --frames <dir>)
                  --sentence "<text>" [--sentence "<text>" ...] --out <dir>
  deno task infer --checkpoint <weights> --config <config.json> --ytvos <root> [--split valid] --out <dir>
  deno task infer --checkpoint <weights> --config <config.json> --davis <root> --out <dir>

Options:
  --checkpoint <path>   model.safetensors, a run or ckpt-* folder, or an official .pth
  --config <file>       training config (uses its "model" and "inference") or a model config
  --video <file>        mp4/webm/gif/... input video
  --frames <dir>        folder of JPEG/PNG frames (natural order)
  --sentence <text>     referring expression; repeat for several objects
  --out <dir>           output folder (one sub-folder per sentence: masks/, overlay.mp4, result.json)
  --ytvos <root>        Ref-YouTube-VOS tree: writes <out>/Annotations/<video>/<exp>/<frame>.png
                        and <out>/submission.zip
  --davis <root>        Ref-DAVIS17 tree: the same layout for its valid split
  --split <name>        split for --ytvos/--davis (default valid)
  --limit <n>           only the first n expressions (--ytvos/--davis)
  --short-side <px>     resize frames to this short side (default: config inference.shortSide)
  --window <n>          frames per forward pass for long videos (default: config, 36)
  --tta <list>          test-time views fused with the plain one: hflip (mirrored, left and right
                        swapped in the sentence), reverse (played backwards, "moving left" read as
                        "moving right"), hflip,reverse (all four views), or none (default: config
                        inference.testTimeAugment, none); each view is one more forward pass
  --clip-frames <n>     run clips of n frames, slots anchored by one whole-window pass; 0 = off
                        (default: config inference.clipFrames, 0)
  --mask-crf <on|off>   refine the masks along the frame's colour edges (a small conditional random
                        field; default: config inference.maskCrf, off)
  --relink-slots <on|off>  before the choice, let each query slot follow its object's masks from
                        frame to frame (default: config inference.relinkSlots, off)
  --format <list>       overlay formats: mp4, gif or mp4,gif (default mp4)
  --fps <n>             overlay frame rate (default: the video's, 10 for frame folders)
  --max-frames <n>      read at most n frames
  --backend <name>      cpu (default), native, webgpu, auto
  --profile             print time per kernel at the end (kernel run time on cpu/native,
                        launch time only on webgpu/cuda)
  -h, --help            this text

Examples:
  deno task infer --checkpoint demo/weights.safetensors --config demo/config.json \\
    --video demo/clips/valid_0015.mp4 --sentence "the big square" --sentence "the star moving down" \\
    --out out/infer
  deno task infer --checkpoint runs/ref_shapes_tiny --config configs/ref_shapes_tiny.json \\
    --ytvos data/ref-shapes --split valid --out out/ref-shapes-valid
`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseCli(args, {
    checkpoint: { type: "string" },
    config: { type: "string" },
    video: { type: "string" },
    frames: { type: "string" },
    sentence: { type: "string", multiple: true },
    out: { type: "string" },
    ytvos: { type: "string" },
    davis: { type: "string" },
    split: { type: "string", default: "valid" },
    limit: { type: "string" },
    "short-side": { type: "string" },
    window: { type: "string" },
    tta: { type: "string" },
    "clip-frames": { type: "string" },
    "mask-crf": { type: "string" },
    "relink-slots": { type: "string" },
    format: { type: "string", default: "mp4" },
    fps: { type: "string" },
    "max-frames": { type: "string" },
    backend: { type: "string", default: "cpu" },
    quiet: { type: "boolean" },
    profile: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  checkBackendName(values.backend!);
  if (!values.checkpoint) throw new CliError("--checkpoint is required (see --help)");
  if (!values.out) throw new CliError("--out is required (see --help)");
  const sources = ["video", "frames", "ytvos", "davis"].filter((k) =>
    values[k as keyof typeof values] !== undefined
  );
  if (sources.length !== 1) {
    throw new CliError("give exactly one of --video, --frames, --ytvos, --davis (see --help)");
  }
  const single = values.video !== undefined || values.frames !== undefined;
  const sentences = values.sentence ?? [];
  if (single && sentences.length === 0) {
    throw new CliError("--sentence is required with --video/--frames");
  }
  if (!single && sentences.length > 0) {
    throw new CliError("--sentence is not used with --ytvos/--davis (their expressions are)");
  }
  for (const s of sentences) if (s.trim() === "") throw new CliError("--sentence is empty");
  const formats = values.format!.split(",").map((f) => f.trim());
  for (const f of formats) {
    if (f !== "mp4" && f !== "gif") {
      throw new CliError(`--format must be mp4, gif or mp4,gif, got "${f}"`);
    }
  }
  await mustExist(values.checkpoint, "checkpoint");
  if (values.config) await mustExist(values.config, "config file", "file");
  if (values.video) await mustExist(values.video, "video", "file");
  if (values.frames) await mustExist(values.frames, "frame folder", "dir");
  if (values.ytvos) await mustExist(values.ytvos, "Ref-YouTube-VOS root", "dir");
  if (values.davis) await mustExist(values.davis, "Ref-DAVIS17 root", "dir");
  const flags = inferenceFlags(values);
  const limit = positiveInt(values.limit, "limit");
  const maxFrames = positiveInt(values["max-frames"], "max-frames");
  const fpsArg = values.fps === undefined ? undefined : Number(values.fps);
  if (fpsArg !== undefined && !(fpsArg > 0)) throw new CliError(`--fps must be positive`);
  const backend = await openBackend(values.backend!);
  const loaded = await loadModelForInference(values.checkpoint, values.config, backend);
  if (values.profile) startProfile();
  try {
    const inference = { ...loaded.setup.inference, ...flags };
    const log = (s: string) => {
      if (!values.quiet) console.log(s);
    };
    if (single) {
      const input = values.video
        ? await readVideoFrames(values.video, maxFrames)
        : await readFolderFrames(values.frames!, maxFrames);
      log(`${input.frames.length} frames of ${input.frames[0].width}x${input.frames[0].height}`);
      for (let i = 0; i < sentences.length; i++) {
        const started = performance.now();
        const seg = await segmentClip(loaded.model, input.frames, sentences[i], {
          tokenizer: loaded.tokenizer,
          ...inference,
          maxLength: loaded.setup.maxTextLength,
        });
        if (seg.nounChunkFallback) {
          console.error(
            `infer: note: "${sentences[i]}" has no noun chunk; the whole sentence is the subject ` +
              `candidate (the reference's fallback)`,
          );
        }
        const dir = `${values.out}/${slug(sentences[i], i)}`;
        await writeSegmentation(dir, seg, input, {
          fps: fpsArg ?? input.fps,
          formats: formats as ("mp4" | "gif")[],
          colorIndex: i + 1,
        });
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        log(
          `"${seg.sentence}": query ${seg.query}, mean score ${seg.meanScore.toFixed(3)}, ` +
            `subject "${seg.subjectTokens.join(" ")}" -> ${dir} (${secs} s)`,
        );
      }
      return;
    }
    const jobs = values.ytvos
      ? await ytvosJobs(values.ytvos, values.split!)
      : await davisJobs(values.davis!, values.split!);
    const started = performance.now();
    const result = await runBenchmark(loaded, jobs.expressions, jobs.imageDir, {
      out: values.out,
      ...inference,
      maxLength: loaded.setup.maxTextLength,
      limit,
      onProgress: (done, total, e) => {
        if (!values.quiet && (done % 20 === 0 || done === total)) {
          log(`${done}/${total} expressions (${e.video}/${e.expId})`);
        }
      },
    });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    log(
      `wrote ${result.expressions} expressions to ${values.out}/Annotations and ${result.zip} (${secs} s)`,
    );
  } finally {
    if (values.profile) {
      console.log(`\nkernel profile (${backend.name}):\n${formatProfile(stopProfile())}`);
    }
  }
}

if (import.meta.main) await runCli("infer", () => main(Deno.args));
