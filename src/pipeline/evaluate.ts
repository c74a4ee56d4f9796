/** Evaluation of a prediction tree (the `deno task eval` logic): finds meta and GT, writes files. */
import { join } from "node:path";
import {
  type EvalLayout,
  type EvalResults,
  evaluateFolders,
  writeGlobalCsv,
  writeResultsCsv,
  writeResultsJson,
} from "../eval/folders.ts";
import { parseMetaExpressions } from "../data/ytvos.ts";
import { readRefDavis } from "../data/davis.ts";
import { exists } from "../data/frame_io.ts";
import type { MetaExpressions } from "../data/types.ts";

export async function readMetaFile(path: string): Promise<MetaExpressions> {
  let json;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`meta file ${path}: ${(e as Error).message}`);
  }
  return parseMetaExpressions(json, path);
}

/** Where the ground truth and the expression list are, given --gt / --meta. */
export async function locateGroundTruth(
  gt: string,
  layout: EvalLayout,
  split: string,
  metaPath?: string,
): Promise<{ gtRoot: string; meta: MetaExpressions }> {
  if (layout === "ytvos") {
    const datasetMeta = `${gt}/meta_expressions/${split}/meta_expressions.json`;
    if (await exists(datasetMeta)) {
      const gtRoot = `${gt}/${split}/Annotations`;
      if (!(await exists(gtRoot))) {
        throw new Error(`${gtRoot} not found (the ${split} split has no ground truth)`);
      }
      return { gtRoot, meta: await readMetaFile(metaPath ?? datasetMeta) };
    }
  } else if (await exists(`${gt}/DAVIS`)) {
    const tree = await readRefDavis(gt, split === "train" ? "train" : "valid");
    return {
      gtRoot: tree.annotationRoot,
      meta: metaPath ? await readMetaFile(metaPath) : tree.meta,
    };
  }
  if (!metaPath) {
    throw new Error(
      `${gt} is not a dataset root (no meta_expressions/${split} or DAVIS/); pass --meta`,
    );
  }
  return { gtRoot: gt, meta: await readMetaFile(metaPath) };
}

export interface EvaluationRun {
  pred: string;
  gt: string;
  layout: EvalLayout;
  split: string;
  meta?: string;
  missing?: "empty" | "error";
  out: string;
}

/** Evaluates and writes results.json, per-expression.csv and global.csv into `out`. */
export async function runEvaluation(run: EvaluationRun) {
  const { gtRoot, meta } = await locateGroundTruth(run.gt, run.layout, run.split, run.meta);
  const results = await evaluateFolders(run.pred, gtRoot, run.layout, meta, {
    missing: run.missing ?? "error",
  });
  await Deno.mkdir(run.out, { recursive: true });
  const written = [
    join(run.out, "results.json"),
    join(run.out, "per-expression.csv"),
    join(run.out, "global.csv"),
  ];
  await writeResultsJson(written[0], results);
  await writeResultsCsv(written[1], results);
  await writeGlobalCsv(written[2], results);
  return { results, written };
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "nan");

/** A plain-text J/F table: the overall row (and one row per video when asked). */
export function formatResultsTable(r: EvalResults, perVideo: boolean): string {
  const o = r.overall;
  const lines = [
    `${r.expressions.length} expressions in ${r.videos.length} videos (${r.layout} layout)` +
    (r.missingPredictions ? `, ${r.missingPredictions} missing predictions scored empty` : ""),
  ];
  const head = ["", "J&F", "J", "F", "J-Recall", "F-Recall", "J-Decay", "F-Decay"];
  const rows: string[][] = [head];
  if (perVideo) {
    for (const v of r.videos) rows.push([v.video, f3(v.JF), f3(v.J), f3(v.F), "", "", "", ""]);
  }
  rows.push([
    "overall",
    f3(o["J&F"]),
    f3(o.J),
    f3(o.F),
    f3(o["J-Recall"]),
    f3(o["F-Recall"]),
    f3(o["J-Decay"]),
    f3(o["F-Decay"]),
  ]);
  const widths = head.map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) {
    lines.push(
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join("  "),
    );
  }
  return lines.join("\n");
}
