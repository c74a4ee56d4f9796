import { findFrameFile, readJson } from "./frame_io.ts";
import type { SubjectLabeler } from "./subject_labels.ts";
import type { MetaExpressions, VideoExpression } from "./types.ts";
import { VideoClipDataset } from "./video_clips.ts";

/**
 * Ref-YouTube-VOS layout (section 14.2):
 *   <root>/<split>/JPEGImages/<video>/<frame>.jpg     (.png accepted)
 *   <root>/<split>/Annotations/<video>/<frame>.png    palette PNG, pixel value = object id
 *   <root>/train/meta.json                            videos -> objects -> id -> {category, frames}
 *   <root>/meta_expressions/<split>/meta_expressions.json
 *       videos -> <video> -> {frames: [names], expressions: {exp_id: {exp, obj_id}}}
 */
export type YtvosSplit = "train" | "valid" | "test";

const WHAT = "Ref-YouTube-VOS";

export function ytvosMetaPath(root: string, split: YtvosSplit): string {
  return `${root}/meta_expressions/${split}/meta_expressions.json`;
}

/** Validates a parsed meta_expressions.json; `where` names the file in errors. */
export function parseMetaExpressions(json: unknown, where: string): MetaExpressions {
  const videos = (json as { videos?: unknown })?.videos;
  if (!videos || typeof videos !== "object") throw new Error(`${where}: missing "videos" object`);
  for (const [video, entry] of Object.entries(videos as Record<string, unknown>)) {
    const v = entry as { frames?: unknown; expressions?: unknown };
    if (!Array.isArray(v?.frames) || v.frames.some((f) => typeof f !== "string")) {
      throw new Error(`${where}: videos.${video}.frames must be a list of frame names`);
    }
    if (!v.expressions || typeof v.expressions !== "object") {
      throw new Error(`${where}: videos.${video}.expressions missing`);
    }
    for (const [expId, e] of Object.entries(v.expressions as Record<string, unknown>)) {
      const exp = e as { exp?: unknown; obj_id?: unknown };
      if (typeof exp?.exp !== "string") {
        throw new Error(`${where}: videos.${video}.expressions.${expId}.exp must be a string`);
      }
      if (
        exp.obj_id !== undefined && !Number.isInteger(Number(exp.obj_id))
      ) throw new Error(`${where}: videos.${video}.expressions.${expId}.obj_id is not an integer`);
    }
  }
  return json as MetaExpressions;
}

/** Flattens a meta_expressions file to expressions (video order, then expression order). */
export function expressionsFromMeta(
  meta: MetaExpressions,
  categories?: Record<string, Record<string, string>>,
): VideoExpression[] {
  const out: VideoExpression[] = [];
  for (const [video, v] of Object.entries(meta.videos)) {
    for (const [expId, e] of Object.entries(v.expressions)) {
      const objId = e.obj_id === undefined ? undefined : Number(e.obj_id);
      const category = objId === undefined ? undefined : categories?.[video]?.[String(e.obj_id)];
      out.push({ video, expId, caption: e.exp, objId, frames: v.frames, category });
    }
  }
  return out;
}

export async function readYtvosMeta(root: string, split: YtvosSplit): Promise<MetaExpressions> {
  const path = ytvosMetaPath(root, split);
  return parseMetaExpressions(await readJson(path, WHAT), `${WHAT} ${path}`);
}

/** videos -> object id -> category, from <root>/<split>/meta.json. */
export async function readYtvosCategories(
  root: string,
  split: YtvosSplit,
): Promise<Record<string, Record<string, string>>> {
  const path = `${root}/${split}/meta.json`;
  const json = await readJson(path, WHAT) as { videos?: Record<string, { objects?: unknown }> };
  if (!json?.videos || typeof json.videos !== "object") {
    throw new Error(`${WHAT} ${path}: missing "videos" object`);
  }
  const out: Record<string, Record<string, string>> = {};
  for (const [video, v] of Object.entries(json.videos)) {
    const objects = v?.objects as Record<string, { category?: unknown }> | undefined;
    if (!objects || typeof objects !== "object") {
      throw new Error(`${WHAT} ${path}: videos.${video}.objects missing`);
    }
    out[video] = {};
    for (const [id, o] of Object.entries(objects)) {
      if (typeof o?.category !== "string") {
        throw new Error(`${WHAT} ${path}: videos.${video}.objects.${id}.category missing`);
      }
      out[video][id] = o.category;
    }
  }
  return out;
}

export interface RefYtvosOptions {
  split?: YtvosSplit;
  numFrames?: number;
  seed?: number;
  labeler?: SubjectLabeler;
}

/** The training dataset of a Ref-YouTube-VOS style tree (needs Annotations and meta.json). */
export async function openRefYtvos(
  root: string,
  options: RefYtvosOptions = {},
): Promise<VideoClipDataset> {
  const split = options.split ?? "train";
  const meta = await readYtvosMeta(root, split);
  const categories = await readYtvosCategories(root, split);
  const expressions = expressionsFromMeta(meta, categories);
  for (const e of expressions) {
    if (e.objId !== undefined && categories[e.video]?.[String(e.objId)] === undefined) {
      throw new Error(
        `${WHAT} ${root}/${split}/meta.json: videos.${e.video}.objects.${e.objId} missing ` +
          `(referenced by expression ${e.expId})`,
      );
    }
  }
  const base = `${root}/${split}`;
  return new VideoClipDataset(`${WHAT} ${split}`, expressions, {
    framePath: (video, frame) => findFrameFile(`${base}/JPEGImages/${video}`, frame),
    annotationPath: (video, frame) => `${base}/Annotations/${video}/${frame}.png`,
  }, options);
}

/**
 * Inference expressions (section 13): the videos of the valid split minus those listed for the
 * test split (when that file exists), every expression of each.
 */
export async function ytvosInferenceExpressions(root: string): Promise<VideoExpression[]> {
  const valid = await readYtvosMeta(root, "valid");
  let testVideos = new Set<string>();
  try {
    await Deno.stat(ytvosMetaPath(root, "test"));
    testVideos = new Set(Object.keys((await readYtvosMeta(root, "test")).videos));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return expressionsFromMeta(valid).filter((e) => !testVideos.has(e.video));
}
