/**
 * The query-slot report over a split with ground truth (tools/query_report.ts): per expression,
 * the J&F of the slot the model chose, of the best single slot and of the best slot per frame.
 */
import type { VideoExpression } from "../data/types.ts";
import { csvField } from "../eval/folders.ts";
import { type QuerySlotReport, querySlotReport } from "../eval/query_slots.ts";
import type { LoadedModel } from "./infer.ts";
import { expressionsWithTruth } from "./truth_clips.ts";
import { segmentClip } from "./segment.ts";
import type { ViewTransform } from "./test_time_views.ts";
import type { MaskCrfSettings } from "./mask_crf.ts";
import type { RelinkSettings } from "./relink_slots.ts";

export interface QueryReportRow extends QuerySlotReport {
  video: string;
  expId: string;
  caption: string;
}

export interface QueryReportOptions {
  shortSide: number | null;
  windowFrames: number;
  testTimeAugment?: readonly ViewTransform[];
  clipFrames?: number;
  maskCrf?: MaskCrfSettings | null;
  relinkSlots?: RelinkSettings | null;
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
  let done = 0;
  for await (const c of expressionsWithTruth(list, imageDir, gtDir, "query report")) {
    const e = c.expression;
    const seg = await segmentClip(loaded.model, c.frames, e.caption, {
      tokenizer: loaded.tokenizer,
      shortSide: options.shortSide,
      windowFrames: options.windowFrames,
      testTimeAugment: options.testTimeAugment,
      clipFrames: options.clipFrames,
      maskCrf: options.maskCrf,
      relinkSlots: options.relinkSlots,
      maxLength: options.maxLength,
      allQueries: true,
    });
    rows.push({
      video: e.video,
      expId: e.expId,
      caption: e.caption,
      ...querySlotReport(seg.queryMasks!, seg.query, c.gts, c.width, c.height),
    });
    options.onProgress?.(++done, list.length, e);
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
