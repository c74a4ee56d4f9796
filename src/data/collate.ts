import type { TransformedClip } from "./transforms.ts";

/** A padded batch as plain typed arrays; the model code turns them into tensors. */
export interface ClipBatch {
  b: number;
  t: number;
  /** Padded height and width (multiples of `sizeDivisibility`). */
  height: number;
  width: number;
  /** [b, t, 3, H, W], zeros on padding. */
  frames: Float32Array;
  /** [b, t, H, W], 1 = padding. */
  padMask: Uint8Array;
  /** [b, t, H, W] target masks, zero-padded. */
  masks: Uint8Array;
  /** [b, t, 4] normalised (cx, cy, w, h) (by each clip's unpadded size). */
  boxes: Float32Array;
  /** [b, t] */
  valid: Uint8Array;
  /** [b, t] */
  labels: Int32Array;
  captions: string[];
  /** Unpadded [h, w] per clip. */
  sizes: [number, number][];
  origSizes: [number, number][];
  clips: Pick<TransformedClip, "video" | "expId" | "frameIds" | "objId" | "subject" | "flipped">[];
  booster?: {
    frames: Float32Array;
    padMask: Uint8Array;
    height: number;
    width: number;
    captions: string[];
  };
}

function roundUp(v: number, multiple: number): number {
  return Math.ceil(v / multiple) * multiple;
}

function padFrames(
  items: { frames: Float32Array; height: number; width: number }[],
  t: number,
  sizeDivisibility: number,
) {
  const H = roundUp(Math.max(...items.map((c) => c.height)), sizeDivisibility);
  const W = roundUp(Math.max(...items.map((c) => c.width)), sizeDivisibility);
  const frames = new Float32Array(items.length * t * 3 * H * W);
  const padMask = new Uint8Array(items.length * t * H * W).fill(1);
  items.forEach((c, i) => {
    for (let f = 0; f < t; f++) {
      for (let ch = 0; ch < 3; ch++) {
        const src = ((f * 3 + ch) * c.height) * c.width;
        const dst = (((i * t + f) * 3 + ch) * H) * W;
        for (let y = 0; y < c.height; y++) {
          frames.set(
            c.frames.subarray(src + y * c.width, src + (y + 1) * c.width),
            dst + y * W,
          );
        }
      }
      const m = (i * t + f) * H * W;
      for (let y = 0; y < c.height; y++) padMask.fill(0, m + y * W, m + y * W + c.width);
    }
  });
  return { frames, padMask, height: H, width: W };
}

/**
 * Pads clips to the batch maximum rounded up to `sizeDivisibility` (32 in training, 1 at
 * inference), bottom/right, as the reference's nested-tensor collation does.
 */
export function collateClips(
  clips: TransformedClip[],
  options: { sizeDivisibility?: number } = {},
): ClipBatch {
  if (clips.length === 0) throw new Error("collate: no clips");
  const t = clips[0].t;
  const bad = clips.findIndex((c) => c.t !== t);
  if (bad >= 0) throw new Error(`collate: clip ${bad} has ${clips[bad].t} frames, clip 0 has ${t}`);
  const div = options.sizeDivisibility ?? 32;
  const padded = padFrames(clips, t, div);
  const { height: H, width: W } = padded;
  const b = clips.length;
  const masks = new Uint8Array(b * t * H * W);
  const boxes = new Float32Array(b * t * 4);
  const valid = new Uint8Array(b * t);
  const labels = new Int32Array(b * t);
  clips.forEach((c, i) => {
    c.targets.masks.forEach((m, f) => {
      for (let y = 0; y < c.height; y++) {
        masks.set(m.subarray(y * c.width, (y + 1) * c.width), ((i * t + f) * H + y) * W);
      }
    });
    boxes.set(c.targets.boxes, i * t * 4);
    valid.set(c.targets.valid, i * t);
    labels.set(c.targets.labels, i * t);
  });
  const batch: ClipBatch = {
    b,
    t,
    height: H,
    width: W,
    frames: padded.frames,
    padMask: padded.padMask,
    masks,
    boxes,
    valid,
    labels,
    captions: clips.map((c) => c.caption),
    sizes: clips.map((c) => [c.height, c.width]),
    origSizes: clips.map((c) => c.targets.origSize),
    clips: clips.map(({ video, expId, frameIds, objId, subject, flipped }) => ({
      video,
      expId,
      frameIds,
      objId,
      subject,
      flipped,
    })),
  };
  if (clips.every((c) => c.booster)) {
    const boosted = padFrames(clips.map((c) => c.booster!), t, div);
    batch.booster = { ...boosted, captions: clips.map((c) => c.booster!.caption) };
  }
  return batch;
}
