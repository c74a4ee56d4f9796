import { xyxyToCxcywhNormalised } from "./boxes.ts";
import { cleanCaption } from "./caption.ts";
import { decodeSegmentation, type Segmentation } from "./coco_rle.ts";
import { readFrame, readJson } from "./frame_io.ts";
import type { Rng } from "./rng.ts";
import type { SubjectLabeler } from "./subject_labels.ts";
import type { ClipSample, Dataset } from "./types.ts";

/**
 * RefCOCO / RefCOCO+ / RefCOCOg as pseudo-videos for pretraining (section 14.4). Two inputs:
 *
 *  (a) raw: COCO `instances.json` ({images, annotations}) plus a refs JSON file, the JSON form of
 *      refs(unc).p / refs(umd).p: an array of
 *        {"ref_id": 0, "ann_id": 1, "image_id": 2, "split": "train", "sentences": [{"sent": "..."}]}
 *      (extra fields such as sent_id, category_id are ignored). One sample per sentence.
 *  (b) converted: the reference's `instances_<name>_<split>.json`, where every image entry is one
 *      expression ({id, file_name, height, width, caption}) with its annotation(s).
 *
 * The reference trains with one frame per sample (t = 1); `numFrames` > 1 repeats the image.
 * Boxes are the COCO bbox (x, y, w, h) -> (x0, y0, x0 + w, y0 + h), clamped; crowd annotations
 * are dropped; a sample is valid when its box has positive width and height.
 */
export interface RefCocoOptions {
  /** COCO instances JSON (raw images/annotations, or the converted per-expression file). */
  instances: string;
  /** refs JSON (raw form only). */
  refs?: string;
  /** Folder with the images' file_name (train2014). */
  imageDir: string;
  /** Split of the refs to use (raw form), default "train". */
  split?: string;
  /** Dataset name used in sample ids, e.g. "refcoco". */
  name?: string;
  numFrames?: number;
  labeler?: SubjectLabeler;
}

interface CocoImage {
  id: number;
  file_name: string;
  height: number;
  width: number;
  caption?: string;
}

interface CocoAnnotation {
  id: number;
  image_id: number;
  bbox: [number, number, number, number];
  segmentation: Segmentation;
  iscrowd?: number;
}

interface RefSample {
  image: CocoImage;
  annotations: CocoAnnotation[];
  caption: string;
  expId: string;
}

function fail(where: string, what: string): never {
  throw new Error(`RefCOCO ${where}: ${what}`);
}

function parseInstances(json: unknown, where: string) {
  const root = json as { images?: unknown; annotations?: unknown };
  if (!Array.isArray(root?.images)) fail(where, `missing "images" list`);
  if (!Array.isArray(root.annotations)) fail(where, `missing "annotations" list`);
  const images = new Map<number, CocoImage>();
  (root.images as CocoImage[]).forEach((im, i) => {
    if (typeof im?.id !== "number" || typeof im.file_name !== "string") {
      fail(where, `images[${i}] needs id and file_name`);
    }
    if (!(im.height > 0 && im.width > 0)) fail(where, `images[${i}] needs height and width`);
    images.set(im.id, im);
  });
  const annotations = new Map<number, CocoAnnotation>();
  const byImage = new Map<number, CocoAnnotation[]>();
  (root.annotations as CocoAnnotation[]).forEach((a, i) => {
    if (typeof a?.image_id !== "number" || !Array.isArray(a.bbox) || a.bbox.length !== 4) {
      fail(where, `annotations[${i}] needs image_id and bbox [x, y, w, h]`);
    }
    if (a.segmentation === undefined) fail(where, `annotations[${i}].segmentation missing`);
    annotations.set(a.id, a);
    if (!byImage.has(a.image_id)) byImage.set(a.image_id, []);
    byImage.get(a.image_id)!.push(a);
  });
  return { images, annotations, byImage };
}

function rawSamples(
  coco: ReturnType<typeof parseInstances>,
  refs: unknown,
  where: string,
  split: string,
): RefSample[] {
  if (!Array.isArray(refs)) fail(where, "expected an array of refs");
  const out: RefSample[] = [];
  refs.forEach((ref, i) => {
    const r = ref as {
      ref_id?: unknown;
      ann_id?: unknown;
      image_id?: unknown;
      split?: unknown;
      sentences?: { sent?: unknown }[];
    };
    if (r?.split !== split) return;
    const annotation = coco.annotations.get(r.ann_id as number);
    if (!annotation) fail(where, `refs[${i}].ann_id ${r.ann_id} is not in the instances file`);
    const image = coco.images.get((r.image_id ?? annotation.image_id) as number);
    if (!image) fail(where, `refs[${i}].image_id ${r.image_id} is not in the instances file`);
    if (!Array.isArray(r.sentences)) fail(where, `refs[${i}].sentences must be a list`);
    r.sentences.forEach((s, k) => {
      if (typeof s?.sent !== "string") fail(where, `refs[${i}].sentences[${k}].sent missing`);
      out.push({ image, annotations: [annotation], caption: s.sent, expId: `${r.ref_id}_${k}` });
    });
  });
  return out;
}

function convertedSamples(coco: ReturnType<typeof parseInstances>, where: string): RefSample[] {
  return [...coco.images.values()].map((image) => {
    if (typeof image.caption !== "string") {
      fail(where, `image ${image.id} has no caption (pass refs for the raw COCO form)`);
    }
    return {
      image,
      annotations: coco.byImage.get(image.id) ?? [],
      caption: image.caption,
      expId: String(image.id),
    };
  });
}

export class RefCocoDataset implements Dataset {
  readonly numFrames: number;

  constructor(
    private readonly samples: RefSample[],
    private readonly options: RefCocoOptions,
  ) {
    this.numFrames = options.numFrames ?? 1;
  }

  get length(): number {
    return this.samples.length;
  }

  get(index: number, _rng?: Rng): Promise<ClipSample> {
    const s = this.samples[index];
    if (!s) throw new Error(`RefCOCO: sample ${index} out of range [0, ${this.length})`);
    return this.load(s);
  }

  private async load(s: RefSample): Promise<ClipSample> {
    const { image } = s;
    const path = `${this.options.imageDir}/${image.file_name}`;
    const frame = await readFrame(path);
    if (frame.width !== image.width || frame.height !== image.height) {
      throw new Error(
        `RefCOCO: ${path} is ${frame.width}x${frame.height}, the annotation says ` +
          `${image.width}x${image.height}`,
      );
    }
    const { width: w, height: h } = frame;
    const mask = new Uint8Array(w * h);
    let box: number[] | null = null;
    for (const a of s.annotations) {
      if (a.iscrowd) continue;
      const [x, y, bw, bh] = a.bbox;
      const b = [
        Math.min(Math.max(x, 0), w),
        Math.min(Math.max(y, 0), h),
        Math.min(Math.max(x + bw, 0), w),
        Math.min(Math.max(y + bh, 0), h),
      ];
      if (!(b[2] > b[0] && b[3] > b[1])) continue;
      box ??= b;
      const m = decodeSegmentation(a.segmentation, h, w, `annotation ${a.id}`);
      for (let p = 0; p < mask.length; p++) mask[p] |= m[p];
    }
    const t = this.numFrames;
    const boxesXyxy = new Float32Array(t * 4);
    const valid = new Uint8Array(t);
    for (let f = 0; f < t; f++) {
      if (box) boxesXyxy.set(box, f * 4);
      valid[f] = box ? 1 : 0;
    }
    const name = this.options.name ?? "refcoco";
    const video = `${name}/${image.id}`;
    return {
      frames: Array.from({ length: t }, () => frame),
      caption: cleanCaption(s.caption),
      targets: {
        masks: Array.from({ length: t }, () => mask),
        boxesXyxy,
        boxes: xyxyToCxcywhNormalised(boxesXyxy, w, h),
        valid,
        labels: new Int32Array(t),
        size: [h, w],
        origSize: [h, w],
      },
      video,
      expId: s.expId,
      frameIds: Array.from({ length: t }, () => String(image.id)),
      frameIndices: new Array(t).fill(0),
      objId: 1,
      subject: this.options.labeler?.label(video, s.expId),
    };
  }
}

export async function openRefCoco(options: RefCocoOptions): Promise<RefCocoDataset> {
  const coco = parseInstances(await readJson(options.instances, "RefCOCO"), options.instances);
  const samples = options.refs
    ? rawSamples(
      coco,
      await readJson(options.refs, "RefCOCO"),
      options.refs,
      options.split ?? "train",
    )
    : convertedSamples(coco, options.instances);
  return new RefCocoDataset(samples, options);
}
