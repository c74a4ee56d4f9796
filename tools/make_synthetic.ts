/**
 * Writes the synthetic Ref-Shapes dataset in the Ref-YouTube-VOS layout.
 *
 *   deno run -A tools/make_synthetic.ts --out data/ref-shapes --videos 40 --frames 12 \
 *     --size 96x128 --seed 1 [--valid 8] [--format jpg|png] [--quality 90]
 *
 * --frames takes a count or a range "8-16" (drawn per video); --size is HEIGHTxWIDTH.
 */
import { parseArgs } from "node:util";
import { writeRefShapesDataset } from "../src/data/ref_shapes_writer.ts";

function fail(message: string): never {
  console.error(`make_synthetic: ${message}`);
  Deno.exit(2);
}

function integer(name: string, text: string | undefined, min: number, max: number): number {
  const v = Number(text);
  if (text === undefined || !Number.isInteger(v) || v < min || v > max) {
    fail(`--${name} must be an integer in ${min}..${max}, got "${text}"`);
  }
  return v;
}

function parseFrames(text: string): number | [number, number] {
  const range = /^(\d+)-(\d+)$/.exec(text);
  if (!range) return integer("frames", text, 2, 200);
  const lo = integer("frames", range[1], 2, 200), hi = integer("frames", range[2], 2, 200);
  if (lo > hi) fail(`--frames range "${text}" is empty`);
  return [lo, hi];
}

function parseSize(text: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(text);
  if (!m) fail(`--size must look like HEIGHTxWIDTH (e.g. 96x128), got "${text}"`);
  return [integer("size height", m[1], 48, 1080), integer("size width", m[2], 48, 1920)];
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        out: { type: "string" },
        videos: { type: "string", default: "40" },
        valid: { type: "string" },
        frames: { type: "string", default: "12" },
        size: { type: "string", default: "96x128" },
        seed: { type: "string", default: "1" },
        format: { type: "string", default: "jpg" },
        quality: { type: "string", default: "90" },
      },
      strict: true,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (!values.out) fail("--out is required");
  const trainVideos = integer("videos", values.videos, 1, 100000);
  const validVideos = values.valid === undefined
    ? Math.ceil(trainVideos / 5)
    : integer("valid", values.valid, 0, 100000);
  if (values.format !== "jpg" && values.format !== "png") {
    fail(`--format must be jpg or png, got "${values.format}"`);
  }
  const [height, width] = parseSize(values.size);
  const started = performance.now();
  const summary = await writeRefShapesDataset({
    out: values.out,
    trainVideos,
    validVideos,
    frames: parseFrames(values.frames),
    height,
    width,
    seed: integer("seed", values.seed, 0, Number.MAX_SAFE_INTEGER),
    format: values.format,
    jpegQuality: integer("quality", values.quality, 1, 100),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `ref-shapes: ${summary.videos.train} train / ${summary.videos.valid} valid videos, ` +
      `${summary.expressions.train} / ${summary.expressions.valid} expressions in ${values.out} ` +
      `(${seconds} s)`,
  );
}
