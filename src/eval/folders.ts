import { writeFileAtomic } from "../media/atomic_write.ts";
import { readPaletteMask } from "../media/png.ts";
import { exists } from "../data/frame_io.ts";
import type { MetaExpressions } from "../data/types.ts";
import { evaluateSequence, type SeriesStats } from "./jf.ts";

/**
 * Evaluates a prediction tree <predRoot>/<video>/<exp_id>/<frame>.png (or the same under
 * <predRoot>/Annotations) against instance-id ground truth <gtRoot>/<video>/<frame>.png, one
 * expression at a time: the prediction's non-zero pixels against gt == obj_id.
 *
 * layout "ytvos": gtRoot = <root>/valid/Annotations (e.g. Ref-Shapes); every frame is scored.
 * layout "davis": gtRoot = DAVIS/Annotations(_unsupervised)/480p; pixels labelled 255 are void.
 * `skipFirstLast` drops the first and last frame like the DAVIS semi-supervised protocol.
 */
export type EvalLayout = "ytvos" | "davis";

export interface EvaluateOptions {
  boundTh?: number;
  skipFirstLast?: boolean;
  /** A missing prediction file: "error" (default) or score it as an empty mask. */
  missing?: "error" | "empty";
  /** Keep per-frame J and F in the results. */
  perFrame?: boolean;
}

export interface ExpressionResult {
  video: string;
  expId: string;
  objId: number;
  frames: number;
  J: SeriesStats;
  F: SeriesStats;
  JF: number;
  perFrame?: { frame: string; j: number; f: number }[];
}

export interface VideoResult {
  video: string;
  expressions: number;
  J: number;
  F: number;
  JF: number;
}

export interface EvalSummary {
  expressions: number;
  "J&F": number;
  J: number;
  "J-Recall": number;
  "J-Decay": number;
  F: number;
  "F-Recall": number;
  "F-Decay": number;
}

export interface EvalResults {
  layout: EvalLayout;
  overall: EvalSummary;
  videos: VideoResult[];
  expressions: ExpressionResult[];
  missingPredictions: number;
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function evaluateFolders(
  predRoot: string,
  gtRoot: string,
  layout: EvalLayout,
  meta: MetaExpressions,
  options: EvaluateOptions = {},
): Promise<EvalResults> {
  if (layout !== "ytvos" && layout !== "davis") {
    throw new Error(`evaluate: layout must be "ytvos" or "davis", got "${layout}"`);
  }
  const root = await exists(`${predRoot}/Annotations`) ? `${predRoot}/Annotations` : predRoot;
  const expressions: ExpressionResult[] = [];
  let missingPredictions = 0;
  for (const [video, v] of Object.entries(meta.videos)) {
    let frames = v.frames;
    if (options.skipFirstLast) frames = frames.slice(1, -1);
    const gts = await Promise.all(
      frames.map((f) => readPaletteMask(`${gtRoot}/${video}/${f}.png`)),
    );
    for (const [expId, e] of Object.entries(v.expressions)) {
      const objId = Number(e.obj_id);
      if (e.obj_id === undefined || !Number.isInteger(objId)) {
        throw new Error(`evaluate: meta videos.${video}.expressions.${expId}.obj_id missing`);
      }
      const preds: Uint8Array[] = [], gtMasks: Uint8Array[] = [], voids: Uint8Array[] = [];
      for (let i = 0; i < frames.length; i++) {
        const gt = gts[i];
        const path = `${root}/${video}/${expId}/${frames[i]}.png`;
        let pred: Uint8Array;
        if (options.missing === "empty" && !(await exists(path))) {
          missingPredictions++;
          pred = new Uint8Array(gt.indices.length);
        } else {
          const m = await readPaletteMask(path, { grayscale: "ids" });
          if (m.width !== gt.width || m.height !== gt.height) {
            throw new Error(
              `evaluate: ${path} is ${m.width}x${m.height}, ground truth is ${gt.width}x${gt.height}`,
            );
          }
          pred = m.indices;
        }
        preds.push(pred);
        gtMasks.push(gt.indices.map((id) => (id === objId ? 1 : 0)));
        voids.push(gt.indices.map((id) => (layout === "davis" && id === 255 ? 1 : 0)));
      }
      if (frames.length === 0) continue;
      const s = evaluateSequence(preds, gtMasks, gts[0].width, gts[0].height, {
        boundTh: options.boundTh,
        voids,
      });
      expressions.push({
        video,
        expId,
        objId,
        frames: frames.length,
        J: s.J,
        F: s.F,
        JF: s.JF,
        ...(options.perFrame
          ? { perFrame: frames.map((frame, i) => ({ frame, j: s.j[i], f: s.f[i] })) }
          : {}),
      });
    }
  }
  if (expressions.length === 0) throw new Error("evaluate: no expressions with frames to score");
  const videos = [...new Set(expressions.map((e) => e.video))].map((video) => {
    const mine = expressions.filter((e) => e.video === video);
    const J = avg(mine.map((e) => e.J.mean)), F = avg(mine.map((e) => e.F.mean));
    return { video, expressions: mine.length, J, F, JF: (J + F) / 2 };
  });
  const J = avg(expressions.map((e) => e.J.mean)), F = avg(expressions.map((e) => e.F.mean));
  const overall: EvalSummary = {
    expressions: expressions.length,
    "J&F": (J + F) / 2,
    J,
    "J-Recall": avg(expressions.map((e) => e.J.recall)),
    "J-Decay": avg(expressions.map((e) => e.J.decay)),
    F,
    "F-Recall": avg(expressions.map((e) => e.F.recall)),
    "F-Decay": avg(expressions.map((e) => e.F.decay)),
  };
  return { layout, overall, videos, expressions, missingPredictions };
}

const fixed = (v: number) => (Number.isFinite(v) ? v.toFixed(5) : "nan");

/** A CSV field, quoted when it holds a quote, comma or newline. */
export function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV row per expression, then an "overall" row. */
export function resultsToCsv(results: EvalResults): string {
  const rows = ["video,exp_id,obj_id,frames,J&F,J,F,J-Recall,F-Recall"];
  for (const e of results.expressions) {
    rows.push(
      [
        csvField(e.video),
        csvField(e.expId),
        e.objId,
        e.frames,
        fixed(e.JF),
        fixed(e.J.mean),
        fixed(e.F.mean),
        fixed(e.J.recall),
        fixed(e.F.recall),
      ].join(","),
    );
  }
  const o = results.overall;
  rows.push(
    [
      "overall",
      "",
      "",
      o.expressions,
      fixed(o["J&F"]),
      fixed(o.J),
      fixed(o.F),
      fixed(o["J-Recall"]),
      fixed(o["F-Recall"]),
    ]
      .join(","),
  );
  return rows.join("\n") + "\n";
}

/** The DAVIS global table: J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay. */
export function globalCsv(results: EvalResults): string {
  const o = results.overall;
  return "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n" +
    [o["J&F"], o.J, o["J-Recall"], o["J-Decay"], o.F, o["F-Recall"], o["F-Decay"]].map(fixed)
      .join(",") +
    "\n";
}

const encoder = new TextEncoder();

export async function writeResultsJson(path: string, results: EvalResults): Promise<void> {
  await writeFileAtomic(path, encoder.encode(JSON.stringify(results, null, 2) + "\n"));
}

export async function writeResultsCsv(path: string, results: EvalResults): Promise<void> {
  await writeFileAtomic(path, encoder.encode(resultsToCsv(results)));
}

export async function writeGlobalCsv(path: string, results: EvalResults): Promise<void> {
  await writeFileAtomic(path, encoder.encode(globalCsv(results)));
}
