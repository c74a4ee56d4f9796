/**
 * The expressions of a split with ground truth, one at a time, each with its video's frames (read
 * once per video) and its object's 0/1 masks: what the query report and the choice fit score.
 */
import { join } from "node:path";
import type { RgbImage } from "../media/frame.ts";
import { readPaletteMask } from "../media/png.ts";
import type { VideoExpression } from "../data/types.ts";
import { readExpressionFrames } from "./infer.ts";

export interface ExpressionWithTruth {
  expression: VideoExpression;
  frames: RgbImage[];
  /** Per frame, 1 where the expression's object is. */
  gts: Uint8Array[];
  width: number;
  height: number;
}

/**
 * `gtDir` holds <video>/<frame>.png palette masks whose values are object ids; errors start with
 * `what`.
 */
export async function* expressionsWithTruth(
  expressions: VideoExpression[],
  imageDir: string,
  gtDir: string,
  what: string,
): AsyncGenerator<ExpressionWithTruth> {
  let cache = null as { video: string; frames: RgbImage[]; ids: Uint8Array[] } | null;
  for (const e of expressions) {
    const objId = e.objId;
    if (objId === undefined) {
      throw new Error(`${what}: ${e.video}/${e.expId} has no obj_id (no ground truth)`);
    }
    if (cache?.video !== e.video) {
      const frames = await readExpressionFrames(imageDir, e);
      const ids: Uint8Array[] = [];
      for (const f of e.frames) {
        const gt = await readPaletteMask(join(gtDir, e.video, `${f}.png`));
        if (gt.width !== frames[0].width || gt.height !== frames[0].height) {
          throw new Error(
            `${what}: ${e.video}/${f}.png is ${gt.width}x${gt.height}, ` +
              `the frame ${frames[0].width}x${frames[0].height}`,
          );
        }
        ids.push(gt.indices);
      }
      cache = { video: e.video, frames, ids };
    }
    yield {
      expression: e,
      frames: cache.frames,
      gts: cache.ids.map((m) => m.map((id) => (id === objId ? 1 : 0))),
      width: cache.frames[0].width,
      height: cache.frames[0].height,
    };
  }
}
