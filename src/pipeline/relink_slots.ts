/**
 * Slot relinking (not in the reference; off by default). The reference decodes every frame with
 * the same queries and takes a query's index as the object's identity over the whole video. When
 * shapes touch or cross, the model can hand an object from one query to another between frames,
 * and then no slot covers it in every frame: the object's score is split between two slots and
 * either slot's masks miss part of the video. Relinking follows the masks instead: frame by frame,
 * each track's mask from the frame before, moved on by the track's last step (constant velocity),
 * is compared with every slot's mask, and the slots are reassigned to the tracks when the best
 * assignment's summed IoU beats keeping the current one by a clear margin.
 */
import { hungarian } from "../models/dmformer/hungarian.ts";
import { mergeSettings } from "./settings_object.ts";
import { concatFrames, reorderSlots, type WindowResult } from "./test_time_views.ts";

export interface RelinkSettings {
  /** How much more summed IoU a reassignment needs than keeping the current one. */
  margin: number;
}

/** Picked on Ref-Shapes training expressions (docs/demo.md); a starting point elsewhere. */
export const DEFAULT_RELINK: RelinkSettings = { margin: 0.1 };

/**
 * The relinking a user asked for: off (undefined, null, false), the defaults (true) or the given
 * settings (an object); errors name `where` and are one line.
 */
export function relinkChoice(input: unknown, where = "relinkSlots"): RelinkSettings | null {
  if (input === undefined || input === null || input === false) return null;
  const settings = mergeSettings(input === true ? {} : input, DEFAULT_RELINK, where);
  if (typeof settings.margin !== "number" || !(settings.margin >= 0)) {
    throw new Error(
      `${where}.margin: expected a number >= 0, got ${JSON.stringify(settings.margin)}`,
    );
  }
  return settings;
}

function centroid(inside: Uint8Array, w: number): [number, number] | null {
  let n = 0, sx = 0, sy = 0;
  for (let p = 0; p < inside.length; p++) {
    if (inside[p]) n++, sx += p % w, sy += Math.floor(p / w);
  }
  return n === 0 ? null : [sx / n, sy / n];
}

/** `inside` (rows of `w`) moved by (dx, dy) whole pixels; what leaves the frame is dropped. */
function shifted(inside: Uint8Array, w: number, dx: number, dy: number): Uint8Array {
  if (dx === 0 && dy === 0) return inside;
  const h = inside.length / w, out = new Uint8Array(inside.length);
  for (let y = Math.max(0, -dy); y < Math.min(h, h - dy); y++) {
    for (let x = Math.max(0, -dx); x < Math.min(w, w - dx); x++) {
      out[(y + dy) * w + x + dx] = inside[y * w + x];
    }
  }
  return out;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let p = 0; p < a.length; p++) {
    inter += a[p] & b[p];
    union += a[p] | b[p];
  }
  return union === 0 ? 0 : inter / union;
}

/**
 * order[f][i] = the slot of frame f that track i follows, for per-frame slot mask logits
 * masks[f][slot] (> 0 is inside) in rows of `w`. Frame 0 keeps the query order.
 */
export function relinkOrder(
  masks: Float32Array[][],
  w: number,
  settings: RelinkSettings = DEFAULT_RELINK,
): number[][] {
  if (masks.length === 0) return [];
  const q = masks[0].length;
  const inside = masks.map((perSlot) =>
    perSlot.map((m) => {
      if (m.length % w !== 0) {
        throw new Error(`relinkSlots: a mask of ${m.length} values is not whole rows of ${w}`);
      }
      return Uint8Array.from(m, (v) => (v > 0 ? 1 : 0));
    })
  );
  const centres = inside.map((perSlot) => perSlot.map((b) => centroid(b, w)));
  const order: number[][] = [Array.from({ length: q }, (_, i) => i)];
  for (let f = 1; f < masks.length; f++) {
    const expected = order[f - 1].map((slot, i) => {
      const last = inside[f - 1][slot];
      if (f < 2) return last;
      const now = centres[f - 1][slot], before = centres[f - 2][order[f - 2][i]];
      if (!now || !before) return last;
      return shifted(last, w, Math.round(now[0] - before[0]), Math.round(now[1] - before[1]));
    });
    const overlap = expected.map((e) => inside[f].map((m) => iou(e, m)));
    const keep = order[f - 1];
    const best = new Array<number>(q).fill(0);
    for (const [i, j] of hungarian(overlap.map((row) => row.map((v) => -v)))) best[i] = j;
    const total = (o: number[]) => o.reduce((acc, j, i) => acc + overlap[i][j], 0);
    order.push(total(best) > total(keep) + settings.margin ? best : keep);
  }
  return order;
}

/**
 * `result` with slot i of every frame taken from the slot that track i follows there (its
 * records too, when it has any); masks are rows of `w`.
 */
export function relinkSlots(
  result: WindowResult,
  w: number,
  settings: RelinkSettings = DEFAULT_RELINK,
): WindowResult {
  const order = relinkOrder(result.masks, w, settings);
  return concatFrames(order.map((o, f) =>
    reorderSlots({
      scores: [result.scores[f]],
      boxes: [result.boxes[f]],
      masks: [result.masks[f]],
      ...(result.records ? { records: [result.records[f]] } : {}),
    }, o)
  ));
}
