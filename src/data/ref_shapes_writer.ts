import { writeFileAtomic } from "../media/atomic_write.ts";
import { writeJpeg } from "../media/jpeg.ts";
import { writePaletteMask, writePng } from "../media/png.ts";
import { generateRefShapesClip, type RefShapesClip } from "./ref_shapes.ts";
import { hashKey, Rng } from "./rng.ts";
import type { SubjectLabelEntry } from "./subject_labels.ts";
import type { MetaExpressions } from "./types.ts";

/**
 * Writes Ref-Shapes in the Ref-YouTube-VOS layout (both splits carry Annotations so the valid
 * split can be evaluated), plus the exact subject spans:
 *   <out>/{train,valid}/JPEGImages/<video>/<frame>.jpg (or .png)
 *   <out>/{train,valid}/Annotations/<video>/<frame>.png   palette PNG, value = object id
 *   <out>/{train,valid}/meta.json                          objects -> {category, frames}
 *   <out>/meta_expressions/{train,valid}/meta_expressions.json
 *   <out>/meta_expressions/{train,valid}/subject_spans.json  {"generator": "ref-shapes", entries}
 *   <out>/ref_shapes.json                                  the generation settings
 */
export interface WriteRefShapesOptions {
  out: string;
  trainVideos: number;
  validVideos: number;
  /** Frames per video: a count, or [min, max] drawn per video. */
  frames: number | [number, number];
  height: number;
  width: number;
  seed: number;
  format?: "jpg" | "png";
  jpegQuality?: number;
}

export interface WriteRefShapesSummary {
  videos: { train: number; valid: number };
  expressions: { train: number; valid: number };
}

const encoder = new TextEncoder();

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, encoder.encode(JSON.stringify(value) + "\n"));
}

async function writeClip(
  dir: string,
  video: string,
  clip: RefShapesClip,
  o: WriteRefShapesOptions,
) {
  const images = `${dir}/JPEGImages/${video}`, annotations = `${dir}/Annotations/${video}`;
  await Deno.mkdir(images, { recursive: true });
  await Deno.mkdir(annotations, { recursive: true });
  for (let f = 0; f < clip.frames.length; f++) {
    const name = clip.frameNames[f];
    if ((o.format ?? "jpg") === "jpg") {
      await writeJpeg(`${images}/${name}.jpg`, clip.frames[f], o.jpegQuality ?? 90);
    } else {
      await writePng(`${images}/${name}.png`, clip.frames[f]);
    }
    await writePaletteMask(
      `${annotations}/${name}.png`,
      clip.width,
      clip.height,
      clip.instanceMaps[f],
    );
  }
}

function framesOf(o: WriteRefShapesOptions, split: string, index: number): number {
  if (typeof o.frames === "number") return o.frames;
  return new Rng(o.seed, "ref-shapes-frames", split, index).randint(o.frames[0], o.frames[1]);
}

export async function writeRefShapesDataset(
  o: WriteRefShapesOptions,
): Promise<WriteRefShapesSummary> {
  const summary: WriteRefShapesSummary = {
    videos: { train: 0, valid: 0 },
    expressions: { train: 0, valid: 0 },
  };
  for (const split of ["train", "valid"] as const) {
    const count = split === "train" ? o.trainVideos : o.validVideos;
    const dir = `${o.out}/${split}`;
    const metaDir = `${o.out}/meta_expressions/${split}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.mkdir(metaDir, { recursive: true });
    const expressions: MetaExpressions = { videos: {} };
    const objects: Record<
      string,
      { objects: Record<string, { category: string; frames: string[] }> }
    > = {};
    const spans: SubjectLabelEntry[] = [];
    for (let i = 0; i < count; i++) {
      const video = `${split}_${String(i).padStart(4, "0")}`;
      const clip = generateRefShapesClip(hashKey(o.seed, split, i), {
        height: o.height,
        width: o.width,
        numFrames: framesOf(o, split, i),
      });
      await writeClip(dir, video, clip, o);
      expressions.videos[video] = {
        frames: clip.frameNames,
        expressions: Object.fromEntries(
          clip.expressions.map((e) => [e.expId, { exp: e.text, obj_id: String(e.objId) }]),
        ),
      };
      objects[video] = { objects: {} };
      for (const obj of [...clip.objects].sort((a, b) => a.id - b.id)) {
        objects[video].objects[String(obj.id)] = {
          category: obj.kind,
          frames: clip.frameNames.filter((_, f) => clip.instanceMaps[f].includes(obj.id)),
        };
      }
      for (const e of clip.expressions) {
        const subject = e.text.split(" ").slice(e.subjectSpan[0], e.subjectSpan[1]).join(" ");
        spans.push({ video, exp_id: e.expId, token_span: e.subjectSpan, subject });
      }
      summary.videos[split]++;
      summary.expressions[split] += clip.expressions.length;
    }
    await writeJson(`${dir}/meta.json`, { videos: objects });
    await writeJson(`${metaDir}/meta_expressions.json`, expressions);
    await writeJson(`${metaDir}/subject_spans.json`, { generator: "ref-shapes", entries: spans });
  }
  const settings = { ...o, out: undefined, generator: "ref-shapes", version: 1 };
  await writeJson(`${o.out}/ref_shapes.json`, settings);
  return summary;
}
