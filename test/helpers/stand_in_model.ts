import { getBackend } from "../../src/backend/backend.ts";
import type { DMFormer } from "../../src/models/dmformer/model.ts";

/** What segmentClip hands a model's forward pass: the frames tensor and the padded captions. */
export interface StandInInput {
  frames: { data(): Promise<Float32Array>; shape: number[] };
}
export interface StandInCaptions {
  inputIds: Int32Array;
  padLength: number;
}

/**
 * A stand-in for DMFormer in segmentClip's tests: `q` query slots on the cpu backend, and a
 * forward pass that returns the outputs segmentClip reads (pred_logits, pred_boxes, pred_masks,
 * subjectChoice).
 */
export function standInModel(
  q: number,
  forward: (video: StandInInput, captions: StandInCaptions) => Promise<unknown>,
): DMFormer {
  const backend = getBackend("cpu");
  return {
    config: { numQueries: q, text: { maxLength: 32, maxPositionEmbeddings: 32 } },
    training: false,
    parameters: () => [{ backend }],
    eval() {},
    train() {},
    forward,
  } as unknown as DMFormer;
}
