/**
 * Test-time augmentation for segmentClip (not in the reference; off by default): the video is
 * also segmented mirrored left-right and/or played backwards, with the sentence rewritten to
 * match, and the views are fused. Query slots are not comparable between forward passes, so each
 * view's slots are first matched to the plain view's by mask overlap (Hungarian on the summed
 * IoU over the window's frames); then per slot the per-frame scores and the mask logits are
 * averaged over the views, and the query choice and the masks read the averages.
 */
import type { RgbImage } from "../media/frame.ts";
import { swapLeftRight } from "../data/caption.ts";
import { mirrorRows } from "../data/transforms.ts";
import { hungarian } from "../models/dmformer/hungarian.ts";

/** A change of the input that a sentence can follow: mirror left-right, play backwards. */
export type ViewTransform = "hflip" | "reverse";
export const VIEW_TRANSFORMS: readonly ViewTransform[] = ["hflip", "reverse"];

export interface TestTimeView {
  hflip: boolean;
  reverse: boolean;
}

/** The plain view first, then every combination of `transforms` (2^n views in all). */
export function testTimeViews(transforms: readonly ViewTransform[]): TestTimeView[] {
  const set = new Set(transforms);
  const views: TestTimeView[] = [];
  for (const hflip of set.has("hflip") ? [false, true] : [false]) {
    for (const reverse of set.has("reverse") ? [false, true] : [false]) {
      views.push({ hflip, reverse });
    }
  }
  return views;
}

/**
 * Reads a list of transforms ("hflip", "reverse"; "none" or an empty list for none), from a
 * comma-separated string or an array; errors name `where`.
 */
export function parseViewTransforms(value: unknown, where: string): ViewTransform[] {
  const items = typeof value === "string"
    ? value.split(",").map((s) => s.trim()).filter((s) => s !== "")
    : value;
  if (!Array.isArray(items)) {
    throw new Error(`${where}: expected a list of ${VIEW_TRANSFORMS.join(", ")} (or "none")`);
  }
  if (items.length === 1 && items[0] === "none") return [];
  const out: ViewTransform[] = [];
  for (const item of items) {
    if (!VIEW_TRANSFORMS.includes(item as ViewTransform)) {
      throw new Error(
        `${where}: unknown view "${item}" (expected ${VIEW_TRANSFORMS.join(", ")} or "none")`,
      );
    }
    if (out.includes(item as ViewTransform)) throw new Error(`${where}: "${item}" given twice`);
    out.push(item as ViewTransform);
  }
  return out;
}

const REVERSED_DIRECTION: Record<string, string> = {
  left: "right",
  right: "left",
  up: "down",
  down: "up",
};

/**
 * The sentence for the video played backwards: a direction after "moving" turns around ("moving
 * left" -> "moving right", "moving up" -> "moving down"). Only that wording is rewritten, so the
 * reverse view suits sentences whose time-dependent words are directions of motion (Ref-Shapes);
 * "sits down" or "walks towards the camera" would need more than this.
 */
export function reverseMotionWords(caption: string): string {
  return caption.replace(
    /\bmoving (left|right|up|down)\b/g,
    (_, direction: string) => `moving ${REVERSED_DIRECTION[direction]}`,
  );
}

/** The sentence as it reads in `view` (the horizontal flip swaps left and right as in training). */
export function viewCaption(caption: string, view: TestTimeView): string {
  let out = view.hflip ? swapLeftRight(caption) : caption;
  if (view.reverse) out = reverseMotionWords(out);
  return out;
}

/** The frames as `view` shows them. */
export function viewFrames(frames: RgbImage[], view: TestTimeView): RgbImage[] {
  const out = view.hflip
    ? frames.map((img) => ({ ...img, data: mirrorRows(img.data, img.width, 3) }))
    : [...frames];
  return view.reverse ? out.reverse() : out;
}

/** One forward pass's host copies, per frame: q scores, q boxes (cx, cy, w, h), q logit maps. */
export interface WindowResult {
  scores: Float32Array[];
  boxes: Float32Array[];
  masks: Float32Array[][];
  /**
   * Optional per-frame, per-slot records of the forward passes behind the scores (one entry per
   * pass; fusing views concatenates them): what SegmentOptions.recordSlots returned.
   */
  records?: unknown[][][];
}

/** Brings a view's result back to the plain view's frame order and orientation (maps `mw` wide). */
export function undoView(result: WindowResult, view: TestTimeView, mw: number): WindowResult {
  let { scores, boxes, masks, records } = result;
  if (view.hflip) {
    boxes = boxes.map((b) => {
      const out = Float32Array.from(b);
      for (let i = 0; i < out.length; i += 4) out[i] = 1 - out[i];
      return out;
    });
    masks = masks.map((perSlot) => perSlot.map((m) => mirrorRows(m, mw)));
  }
  if (view.reverse) {
    scores = [...scores].reverse();
    boxes = [...boxes].reverse();
    masks = [...masks].reverse();
    records = records && [...records].reverse();
  }
  return { scores, boxes, masks, ...(records ? { records } : {}) };
}

/**
 * match[i] = the slot of `other` that segments what slot i of `reference` does: the assignment
 * with the largest IoU (mask logits > 0) summed over frames.
 */
export function matchSlots(reference: Float32Array[][], other: Float32Array[][]): number[] {
  if (reference.length !== other.length) {
    throw new Error(`test-time views: ${reference.length} frames against ${other.length}`);
  }
  const q = reference[0]?.length ?? 0;
  const cost = Array.from({ length: q }, () => new Array<number>(q).fill(0));
  for (let f = 0; f < reference.length; f++) {
    for (let i = 0; i < q; i++) {
      for (let j = 0; j < q; j++) {
        const a = reference[f][i], b = other[f][j];
        let inter = 0, union = 0;
        for (let p = 0; p < a.length; p++) {
          const x = a[p] > 0, y = b[p] > 0;
          if (x && y) inter++;
          if (x || y) union++;
        }
        cost[i][j] -= union === 0 ? 1 : inter / union;
      }
    }
  }
  const match = new Array<number>(q).fill(0);
  for (const [i, j] of hungarian(cost)) match[i] = j;
  return match;
}

/** `result` with slot i taken from its slot `order[i]` (e.g. the order matchSlots returns). */
export function reorderSlots(result: WindowResult, order: number[]): WindowResult {
  return {
    scores: result.scores.map((s) => Float32Array.from(order, (j) => s[j])),
    boxes: result.boxes.map((b) => {
      const out = new Float32Array(order.length * 4);
      order.forEach((j, i) => out.set(b.subarray(j * 4, j * 4 + 4), i * 4));
      return out;
    }),
    masks: result.masks.map((perSlot) => order.map((j) => perSlot[j])),
    ...(result.records
      ? { records: result.records.map((perSlot) => order.map((j) => perSlot[j])) }
      : {}),
  };
}

/** Consecutive frames' results, one after the other. */
export function concatFrames(parts: WindowResult[]): WindowResult {
  return {
    scores: parts.flatMap((p) => p.scores),
    boxes: parts.flatMap((p) => p.boxes),
    masks: parts.flatMap((p) => p.masks),
    ...(parts.every((p) => p.records) ? { records: parts.flatMap((p) => p.records!) } : {}),
  };
}

/** Averages the views' (already undone) results slot by slot, matched to the first view's slots. */
export function fuseViews(results: WindowResult[]): WindowResult {
  if (results.length === 1) return results[0];
  const [plain] = results;
  const matches = results.map((r, v) => v === 0 ? null : matchSlots(plain.masks, r.masks));
  const n = results.length;
  const slotOf = (v: number, i: number) => matches[v] ? matches[v]![i] : i;
  const q = plain.scores[0].length;
  return {
    scores: plain.scores.map((_, f) =>
      Float32Array.from({ length: q }, (_, i) => {
        let s = 0;
        for (let v = 0; v < n; v++) s += results[v].scores[f][slotOf(v, i)];
        return s / n;
      })
    ),
    boxes: plain.boxes.map((_, f) => {
      const out = new Float32Array(q * 4);
      for (let i = 0; i < q; i++) {
        for (let v = 0; v < n; v++) {
          const j = slotOf(v, i);
          for (let c = 0; c < 4; c++) out[i * 4 + c] += results[v].boxes[f][j * 4 + c] / n;
        }
      }
      return out;
    }),
    masks: plain.masks.map((perSlot, f) =>
      perSlot.map((m, i) => {
        const out = new Float32Array(m.length);
        for (let v = 0; v < n; v++) {
          const src = results[v].masks[f][slotOf(v, i)];
          for (let p = 0; p < out.length; p++) out[p] += src[p] / n;
        }
        return out;
      })
    ),
    ...(results.every((r) => r.records)
      ? {
        records: plain.records!.map((perSlot, f) =>
          perSlot.map((_, i) => results.flatMap((r, v) => r.records![f][slotOf(v, i)]))
        ),
      }
      : {}),
  };
}
