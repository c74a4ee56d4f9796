/**
 * How much of a referring-segmentation score is lost to the choice of the query slot and how
 * much to the masks themselves: given every slot's masks for one expression, the J&F of the
 * chosen slot, of the best single slot (an oracle choice of the slot) and of the best slot per
 * frame (an oracle that may change slots between frames, i.e. the object passed from one slot to
 * another as it moved).
 */
import { evaluateSequence } from "./jf.ts";

export interface QuerySlotReport {
  /** The slot the model chose and its J&F. */
  chosen: number;
  chosenJF: number;
  /** The slot with the highest J&F over the whole video, and that J&F. */
  bestSlot: number;
  bestSlotJF: number;
  /** J&F when each frame takes the slot with the highest (J + F) / 2 in that frame. */
  perFrameBestJF: number;
  /** Frames where that per-frame best slot differs from the previous frame's. */
  slotChanges: number;
}

/**
 * `slotMasks[slot][frame]` and `gts[frame]` are 0/1 masks of `width` x `height`; ties go to the
 * lowest slot (and, per frame, to the previous frame's slot so that equal Js are no change).
 */
export function querySlotReport(
  slotMasks: Uint8Array[][],
  chosen: number,
  gts: Uint8Array[],
  width: number,
  height: number,
): QuerySlotReport {
  if (slotMasks.length === 0) throw new Error("query slots: no slots");
  if (!(chosen >= 0 && chosen < slotMasks.length) || !Number.isInteger(chosen)) {
    throw new Error(`query slots: chosen slot ${chosen} outside 0..${slotMasks.length - 1}`);
  }
  const scores = slotMasks.map((masks, slot) => {
    if (masks.length !== gts.length) {
      throw new Error(
        `query slots: slot ${slot} has ${masks.length} frames, ground truth ${gts.length}`,
      );
    }
    return evaluateSequence(masks, gts, width, height);
  });
  let bestSlot = 0;
  for (let s = 1; s < scores.length; s++) if (scores[s].JF > scores[bestSlot].JF) bestSlot = s;
  const perFrame: Uint8Array[] = [];
  let slotChanges = 0, previous = -1;
  for (let f = 0; f < gts.length; f++) {
    let best = previous >= 0 ? previous : 0;
    const frameScore = (s: number) => scores[s].j[f] + scores[s].f[f];
    for (let s = 0; s < scores.length; s++) if (frameScore(s) > frameScore(best)) best = s;
    if (previous >= 0 && best !== previous) slotChanges++;
    previous = best;
    perFrame.push(slotMasks[best][f]);
  }
  return {
    chosen,
    chosenJF: scores[chosen].JF,
    bestSlot,
    bestSlotJF: scores[bestSlot].JF,
    perFrameBestJF: evaluateSequence(perFrame, gts, width, height).JF,
    slotChanges,
  };
}
