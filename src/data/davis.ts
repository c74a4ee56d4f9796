import { exists, findFrameFile, readJson } from "./frame_io.ts";
import type { SubjectLabeler } from "./subject_labels.ts";
import type { MetaExpressions, VideoExpression } from "./types.ts";
import { VideoClipDataset } from "./video_clips.ts";

/**
 * Ref-DAVIS17, read in place (the layout the reference's converter starts from):
 *   <root>/DAVIS/JPEGImages/480p/<video>/<frame>.jpg
 *   <root>/DAVIS/Annotations_unsupervised/480p/<video>/<frame>.png   (else Annotations/480p)
 *   <root>/DAVIS/ImageSets/2017/{train,val}.txt
 *   <root>/DAVIS/davis_semantics.json                                 optional categories
 *   <root>/davis_text_annotations/Davis17_annot{1,2}{,_full_video}.txt
 * Text lines are `video obj_id "expression"`; annotator 2's files are Latin-1.
 * Expression ids follow the reference converter: per video, objects in the order of their id
 * strings, and for each object 4 ids in the order annot1 first-frame, annot1 full-video,
 * annot2 first-frame, annot2 full-video.
 */
export type DavisSplit = "train" | "valid";

export interface DavisExpression extends VideoExpression {
  annotator: 1 | 2;
  variant: "first-frame" | "full-video";
}

const WHAT = "Ref-DAVIS17";
const NAME_FIXES: Record<string, string> = {
  "clasic-car": "classic-car",
  "dog-scale": "dogs-scale",
  "motor-bike": "motorbike",
};
const TEXT_FILES = [
  { file: "Davis17_annot1.txt", annotator: 1, variant: "first-frame", latin1: false },
  { file: "Davis17_annot1_full_video.txt", annotator: 1, variant: "full-video", latin1: false },
  { file: "Davis17_annot2.txt", annotator: 2, variant: "first-frame", latin1: true },
  { file: "Davis17_annot2_full_video.txt", annotator: 2, variant: "full-video", latin1: true },
] as const;

async function readText(path: string, latin1: boolean): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`${WHAT}: cannot read ${path}: ${(error as Error).message}`);
  }
  if (!latin1) return new TextDecoder("utf-8").decode(bytes);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
}

/** video -> [{objId, exp}] sorted by the id string, from one Davis17_annot*.txt. */
export function parseDavisTextAnnotations(
  text: string,
  where: string,
): Map<string, { objId: string; exp: string }[]> {
  const videos = new Map<string, { objId: string; exp: string }[]>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const words = line.split(/\s+/);
    if (words.length < 3 || !/^\d+$/.test(words[1])) {
      throw new Error(`${WHAT} ${where}:${i + 1}: expected 'video obj_id "expression"'`);
    }
    const video = NAME_FIXES[words[0]] ?? words[0];
    const exp = words.slice(2).join(" ").slice(1, -1);
    if (!videos.has(video)) videos.set(video, []);
    videos.get(video)!.push({ objId: words[1], exp });
  });
  for (const list of videos.values()) {
    list.sort((a, b) => (a.objId < b.objId ? -1 : a.objId > b.objId ? 1 : 0));
  }
  return videos;
}

async function listFrames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name.split(".")[0]);
  } catch (error) {
    throw new Error(`${WHAT}: cannot list ${dir}: ${(error as Error).message}`);
  }
  return names.sort();
}

export interface RefDavisTree {
  expressions: DavisExpression[];
  /** The same expressions in meta_expressions.json shape (for evaluation). */
  meta: MetaExpressions;
  imageRoot: string;
  annotationRoot: string;
}

export async function readRefDavis(
  root: string,
  split: DavisSplit,
  annotationsDir?: string,
): Promise<RefDavisTree> {
  const davis = `${root}/DAVIS`;
  const listPath = `${davis}/ImageSets/2017/${split === "train" ? "train" : "val"}.txt`;
  const videos = (await readText(listPath, false)).split(/\r?\n/).map((s) => s.trim())
    .filter((s) => s !== "");
  const texts = await Promise.all(TEXT_FILES.map(async (t) => {
    const path = `${root}/davis_text_annotations/${t.file}`;
    return { ...t, path, videos: parseDavisTextAnnotations(await readText(path, t.latin1), path) };
  }));
  const semanticsPath = `${davis}/davis_semantics.json`;
  const semantics = await exists(semanticsPath)
    ? await readJson(semanticsPath, WHAT) as Record<string, Record<string, string>>
    : {};
  const imageRoot = `${davis}/JPEGImages/480p`;
  const annotationRoot = annotationsDir ? `${davis}/${annotationsDir}` : (
    await exists(`${davis}/Annotations_unsupervised/480p`)
      ? `${davis}/Annotations_unsupervised/480p`
      : `${davis}/Annotations/480p`
  );
  const expressions: DavisExpression[] = [];
  const meta: MetaExpressions = { videos: {} };
  for (const video of videos) {
    const frames = await listFrames(`${imageRoot}/${video}`);
    const lists = texts.map((t) => {
      const list = t.videos.get(video);
      if (!list) throw new Error(`${WHAT} ${t.path}: no expressions for video ${video}`);
      return list;
    });
    const count = Math.min(...lists.map((l) => l.length));
    const entry: MetaExpressions["videos"][string] = { frames, expressions: {} };
    let expId = 0;
    for (let o = 0; o < count; o++) {
      texts.forEach((t, k) => {
        const { objId, exp } = lists[k][o];
        const id = String(expId++);
        entry.expressions[id] = { exp, obj_id: objId };
        expressions.push({
          video,
          expId: id,
          caption: exp,
          objId: Number(objId),
          frames,
          category: semantics[video]?.[objId],
          annotator: t.annotator,
          variant: t.variant,
        });
      });
    }
    meta.videos[video] = entry;
  }
  return { expressions, meta, imageRoot, annotationRoot };
}

export interface RefDavisOptions {
  split?: DavisSplit;
  numFrames?: number;
  seed?: number;
  labeler?: SubjectLabeler;
  /** Annotation folder under DAVIS/ (default Annotations_unsupervised/480p when present). */
  annotationsDir?: string;
}

/** Ref-DAVIS17 clips with the same sampling and targets as Ref-YouTube-VOS. */
export async function openRefDavis(
  root: string,
  options: RefDavisOptions = {},
): Promise<VideoClipDataset> {
  const split = options.split ?? "valid";
  const tree = await readRefDavis(root, split, options.annotationsDir);
  return new VideoClipDataset(`${WHAT} ${split}`, tree.expressions, {
    framePath: (video, frame) => findFrameFile(`${tree.imageRoot}/${video}`, frame),
    annotationPath: (video, frame) => `${tree.annotationRoot}/${video}/${frame}.png`,
  }, options);
}
