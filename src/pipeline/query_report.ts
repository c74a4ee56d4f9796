/**
 * The query-slot report over a split with ground truth (tools/query_report.ts): per expression,
 * the J&F of the slot the model chose, of the best single slot and of the best slot per frame.
 */
import { join } from "node:path";
import type { RgbImage } from "../media/frame.ts";
import { readPaletteMask } from "../media/png.ts";
import type { VideoExpression } from "../data/types.ts";
import { csvField } from "../eval/folders.ts";
import { type QuerySlotReport, querySlotReport } from "../eval/query_slots.ts";
import { type LoadedModel, readExpressionFrames } from "./infer.ts";
import { segmentClip } from "./segment.ts";

export interface QueryReportRow extends QuerySlotReport {
  video: string;
  expId: string;
  caption: string;
}

export interface QueryReportOptions {
  shortSide: number | null;
  windowFrames: number;
  maxLength: number;
  limit?: number;
  onProgress?: (done: number, total: number, e: VideoExpression) => void;
}

/** `gtDir` holds <video>/<frame>.png palette masks whose values are object ids. */
export async function runQueryReport(
  loaded: LoadedModel,
  expressions: VideoExpression[],
  imageDir: string,
  gtDir: string,
  options: QueryReportOptions,
): Promise<QueryReportRow[]> {
  const list = expressions.slice(0, options.limit ?? expressions.length);
  const rows: QueryReportRow[] = [];
  let cache = null as
    | { video: string; frames: RgbImage[]; ids: Uint8Array[]; width: number; height: number }
    | null;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (e.objId === undefined) {
      throw new Error(`query report: ${e.video}/${e.expId} has no obj_id (no ground truth)`);
    }
    if (cache?.video !== e.video) {
      const frames = await readExpressionFrames(imageDir, e);
      const ids: Uint8Array[] = [];
      for (const f of e.frames) {
        const gt = await readPaletteMask(join(gtDir, e.video, `${f}.png`));
        if (gt.width !== frames[0].width || gt.height !== frames[0].height) {
          throw new Error(
            `query report: ${e.video}/${f}.png is ${gt.width}x${gt.height}, ` +
              `the frame ${frames[0].width}x${frames[0].height}`,
          );
        }
        ids.push(gt.indices);
      }
      cache = { video: e.video, frames, ids, width: frames[0].width, height: frames[0].height };
    }
    const seg = await segmentClip(loaded.model, cache.frames, e.caption, {
      tokenizer: loaded.tokenizer,
      shortSide: options.shortSide,
      windowFrames: options.windowFrames,
      maxLength: options.maxLength,
      allQueries: true,
    });
    const objId = e.objId;
    const gts = cache.ids.map((m) => m.map((id) => (id === objId ? 1 : 0)));
    rows.push({
      video: e.video,
      expId: e.expId,
      caption: e.caption,
      ...querySlotReport(seg.queryMasks!, seg.query, gts, cache.width, cache.height),
    });
    options.onProgress?.(i + 1, list.length, e);
  }
  return rows;
}

export function queryReportCsv(rows: QueryReportRow[]): string {
  const head = "video,exp_id,sentence,chosen,chosen_jf,best_slot,best_slot_jf," +
    "per_frame_best_jf,slot_changes";
  const lines = rows.map((r) =>
    [
      csvField(r.video),
      csvField(r.expId),
      csvField(r.caption),
      r.chosen,
      r.chosenJF.toFixed(4),
      r.bestSlot,
      r.bestSlotJF.toFixed(4),
      r.perFrameBestJF.toFixed(4),
      r.slotChanges,
    ].join(",")
  );
  return [head, ...lines].join("\n") + "\n";
}

/** Means over the rows and how often the chosen slot was not the best one. */
export function summarizeQueryReport(rows: QueryReportRow[]) {
  const mean = (f: (r: QueryReportRow) => number) =>
    rows.length ? rows.reduce((a, r) => a + f(r), 0) / rows.length : NaN;
  return {
    expressions: rows.length,
    chosenJF: mean((r) => r.chosenJF),
    bestSlotJF: mean((r) => r.bestSlotJF),
    perFrameBestJF: mean((r) => r.perFrameBestJF),
    chosenNotBest: rows.filter((r) => r.chosenJF < r.bestSlotJF).length,
    withSlotChanges: rows.filter((r) => r.slotChanges > 0).length,
  };
}
