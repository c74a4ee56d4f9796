/**
 * Inference on one video and one sentence with the reference's post-processing (design doc
 * §13): frames resized to a short side, ImageNet-normalised, no padding; one query slot k*
 * chosen by the mean sigmoid score over all frames (max over classes); its stride-4 mask
 * logits bilinearly resized (align_corners false) to the original frame size; sigmoid > 0.5.
 *
 * Long videos run in windows of `windowFrames` frames. Each window keeps only host copies
 * of its per-query scores, boxes and stride-4 mask logits, so memory is bounded by one
 * window's activations plus q small logit maps per frame; k* is chosen over the whole video
 * once every window is done (identical to one pass when the video fits in one window).
 * With `testTimeAugment` every window also runs mirrored and/or reversed and the views are
 * fused per window before anything is kept (test_time_views.ts).
 */
import { noGrad } from "../tensor/autograd.ts";
import { tidyAsync } from "../tensor/memory.ts";
import type { Backend } from "../backend/backend.ts";
import { tensor } from "../ops/creation.ts";
import type { RgbImage } from "../media/frame.ts";
import type { DMFormer, DMFormerOutput } from "../models/dmformer/model.ts";
import { relinkChoice, type RelinkSettings, relinkSlots } from "./relink_slots.ts";
import { normalizeFrames } from "../data/transforms.ts";
import { resizeBilinear, shortSideSize } from "../data/resize.ts";
import { cleanCaption } from "../text/caption.ts";
import { BertTokenizer } from "../text/bert_tokenizer.ts";
import { padCaptions, tokenizeCaption } from "./batch.ts";
import { maskCrfChoice, type MaskCrfSettings, refineMaskLogits } from "./mask_crf.ts";
import {
  concatFrames,
  fuseViews,
  matchSlots,
  reorderSlots,
  testTimeViews,
  undoView,
  viewCaption,
  viewFrames,
  type ViewTransform,
  type WindowResult,
} from "./test_time_views.ts";

export interface SegmentOptions {
  /** bert-base-uncased by default (loaded once per call when not given). */
  tokenizer?: BertTokenizer;
  /** Resize frames so the shorter side is this (reference: 360); null keeps the size. */
  shortSide?: number | null;
  /** Frames per forward pass (default 36). */
  windowFrames?: number;
  /** Caption length cap including [CLS]/[SEP]. */
  maxLength?: number;
  /** Mask threshold on the sigmoid (default 0.5). */
  threshold?: number;
  /** Also return every query slot's masks as `queryMasks` (to see which slot was best). */
  allQueries?: boolean;
  /**
   * Test-time augmentation (not in the reference): also segment the video mirrored ("hflip",
   * the sentence's left and right swapped) and/or played backwards ("reverse", "moving left"
   * read as "moving right"), every combination, and average the views slot by slot
   * (src/pipeline/test_time_views.ts). Each view costs one more forward pass per window.
   */
  testTimeAugment?: readonly ViewTransform[];
  /**
   * Not in the reference (0 = off, the default): run the model on consecutive clips of this many
   * frames (the training clip length) instead of whole windows. Query slots mean nothing across
   * forward passes, so each window (and view) still gets one whole pass that only anchors the
   * slots: every clip's slots are matched to the anchor's by mask overlap on the clip's frames.
   * Costs one more forward pass's worth of frames per window and view.
   */
  clipFrames?: number;
  /**
   * Not in the reference (off by default): refine the chosen slot's masks at the original size
   * with an edge-aware conditional random field over the frame's colours (mask_crf.ts); `true`
   * takes the default settings.
   */
  maskCrf?: boolean | Partial<MaskCrfSettings> | null;
  /**
   * Not in the reference (off by default): before the choice, let each slot follow its object's
   * masks from frame to frame instead of its query index (relink_slots.ts); `true` takes the
   * default settings.
   */
  relinkSlots?: boolean | Partial<RelinkSettings> | null;
  /** Also return the chosen slot's mask logits per frame at the original size (`maskLogits`). */
  returnLogits?: boolean;
  /**
   * Called after each window's forward pass of the plain view, before its tensors are freed
   * (read what you need with `data()`); `start` is the window's first frame.
   */
  onWindow?: (out: DMFormerOutput, start: number) => Promise<void> | void;
  /**
   * Called after every forward pass whose scores the choice uses (each clip's with `clipFrames`,
   * every view's), before its tensors are freed; returns one record per frame and query slot of
   * that pass. The records follow the slots through clip matching and view fusion and come back
   * as `slotRecords` (what deno task fit-choice records its samples with).
   */
  recordSlots?: (out: DMFormerOutput) => Promise<unknown[][]> | unknown[][];
}

export interface Segmentation {
  /** One mask per frame at the original size, 1 = the referred object. */
  masks: Uint8Array[];
  width: number;
  height: number;
  /** sigmoid score of the chosen query per frame. */
  scores: number[];
  /** Box of the chosen query per frame, pixel (x0, y0, x1, y1) in the original frame. */
  boxes: [number, number, number, number][];
  /** The chosen query slot and its mean score over frames. */
  query: number;
  meanScore: number;
  /** Every slot's mean score over frames (the chosen slot has the largest). */
  queryMeanScores: number[];
  /**
   * With `returnLogits`: the chosen slot's mask logits per frame at the original size; with
   * `maskCrf`, the refined field's (unary logits less the threshold's, scaled, plus the pairwise
   * messages), which the mask keeps where they are above 0.
   */
  maskLogits?: Float32Array[];
  /**
   * With `recordSlots`: slotRecords[frame][slot] holds one record per view, in the order of
   * `testTimeAugment`'s views (plain first), matched to the fused slot.
   */
  slotRecords?: unknown[][][];
  /** With `allQueries`: queryMasks[slot][frame], like `masks`. */
  queryMasks?: Uint8Array[][];
  /** The cleaned sentence and whether it had a noun chunk (else the reference's fallback). */
  sentence: string;
  nounChunkFallback: boolean;
  /** Token span [first, last] of the subject chunk the model chose (first window). */
  subjectSpan: [number, number];
  subjectTokens: string[];
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Bilinear resize of a single-channel float map (PyTorch F.interpolate, align_corners false,
 * no antialias) to (outH, outW).
 */
export function resizeLogits(
  src: Float32Array,
  h: number,
  w: number,
  outH: number,
  outW: number,
): Float32Array {
  const out = new Float32Array(outH * outW);
  const sy = h / outH, sx = w / outW;
  const x0s = new Int32Array(outW), x1s = new Int32Array(outW), lxs = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const fx = Math.max(0, (x + 0.5) * sx - 0.5);
    const x0 = Math.min(Math.floor(fx), w - 1);
    x0s[x] = x0;
    x1s[x] = Math.min(x0 + 1, w - 1);
    lxs[x] = fx - x0;
  }
  for (let y = 0; y < outH; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(Math.floor(fy), h - 1);
    const y1 = Math.min(y0 + 1, h - 1);
    const ly = fy - y0;
    for (let x = 0; x < outW; x++) {
      const a = src[y0 * w + x0s[x]], b = src[y0 * w + x1s[x]];
      const c = src[y1 * w + x0s[x]], d = src[y1 * w + x1s[x]];
      const top = a + (b - a) * lxs[x], bottom = c + (d - c) * lxs[x];
      out[y * outW + x] = top + (bottom - top) * ly;
    }
  }
  return out;
}

/**
 * One forward pass over `part` (frames already at the model's input size); host copies of the
 * per-frame scores (max sigmoid over classes), boxes and mask logits.
 */
async function forwardWindow(
  model: DMFormer,
  part: RgbImage[],
  captions: ReturnType<typeof padCaptions>,
  backend: Backend,
  onWindow?: (out: DMFormerOutput) => Promise<void> | void,
  recordSlots?: SegmentOptions["recordSlots"],
): Promise<{ result: WindowResult; span: [number, number]; maskHW: number[] }> {
  const t = part.length;
  const { width: w, height: h } = part[0];
  const q = model.config.numQueries;
  const video = {
    frames: tensor(normalizeFrames(part), [1, t, 3, h, w], { backend }),
    mask: new Uint8Array(t * h * w),
  };
  try {
    // no graph, and every tensor of the window is freed once its values are on the host
    const { logits, boxes, masks, span, k, maskHW, records } = await noGrad(() =>
      tidyAsync(async () => {
        const out = await model.forward(video, captions, [[h, w]]);
        await onWindow?.(out);
        const records = recordSlots ? await recordSlots(out) : undefined;
        if (records && (records.length !== t || records.some((r) => r.length !== q))) {
          throw new Error(`segment: recordSlots should return ${t} frames of ${q} slot records`);
        }
        const [logits, boxes, masks] = await Promise.all([
          out.pred_logits.data(),
          out.pred_boxes.data(),
          out.pred_masks.data(),
        ]);
        return {
          logits,
          boxes,
          masks,
          span: out.subjectChoice.spans[0],
          k: out.pred_logits.shape[3],
          maskHW: out.pred_masks.shape.slice(3),
          records,
        };
      })
    );
    const [mh, mw] = maskHW;
    const result: WindowResult = {
      scores: [],
      boxes: [],
      masks: [],
      ...(records ? { records: records.map((perSlot) => perSlot.map((r) => [r])) } : {}),
    };
    for (let f = 0; f < t; f++) {
      const sc = new Float32Array(q);
      for (let j = 0; j < q; j++) {
        let best = -Infinity;
        for (let c = 0; c < k; c++) best = Math.max(best, sigmoid(logits[(f * q + j) * k + c]));
        sc[j] = best;
      }
      result.scores.push(sc);
      result.boxes.push(Float32Array.from(boxes.subarray(f * q * 4, (f + 1) * q * 4)));
      result.masks.push(
        Array.from(
          { length: q },
          (_, j) =>
            Float32Array.from(masks.subarray((f * q + j) * mh * mw, (f * q + j + 1) * mh * mw)),
        ),
      );
    }
    return { result, span, maskHW };
  } finally {
    video.frames.dispose();
  }
}

/** `frames` in clips of `clip` frames, each clip's slots matched to the anchor pass's. */
async function clipWise(
  model: DMFormer,
  frames: RgbImage[],
  captions: ReturnType<typeof padCaptions>,
  backend: Backend,
  clip: number,
  anchor: { result: WindowResult },
  recordSlots?: SegmentOptions["recordSlots"],
): Promise<WindowResult> {
  const parts: WindowResult[] = [];
  for (let s = 0; s < frames.length; s += clip) {
    const { result } = await forwardWindow(
      model,
      frames.slice(s, s + clip),
      captions,
      backend,
      undefined,
      recordSlots,
    );
    const order = matchSlots(anchor.result.masks.slice(s, s + clip), result.masks);
    parts.push(reorderSlots(result, order));
  }
  return concatFrames(parts);
}

/** Segments the object `sentence` refers to in every frame. */
export async function segmentClip(
  model: DMFormer,
  frames: RgbImage[],
  sentence: string,
  options: SegmentOptions = {},
): Promise<Segmentation> {
  if (frames.length === 0) throw new Error("segment: no frames");
  const crf = maskCrfChoice(options.maskCrf);
  const relink = relinkChoice(options.relinkSlots);
  const tokenizer = options.tokenizer ?? await BertTokenizer.load();
  const { width, height } = frames[0];
  const backend: Backend = model.parameters()[0].backend;
  const cfg = model.config;
  const maxLength = options.maxLength ??
    Math.min(cfg.text.maxLength, cfg.text.maxPositionEmbeddings);
  const caption = cleanCaption(sentence);
  if (caption === "") throw new Error("segment: the sentence is empty");
  const tok = await tokenizeCaption(tokenizer, caption, maxLength);
  const fallback = tok.chunks === 0;
  const captions = padCaptions([tok]);
  const [h, w] = options.shortSide ? shortSideSize(width, height, options.shortSide) : [
    height,
    width,
  ];
  const window = Math.max(1, options.windowFrames ?? 36);
  const T = frames.length;
  const q = cfg.numQueries;
  const windows: WindowResult[] = []; // fused views, per window
  let mh = 0, mw = 0;
  let subjectSpan: [number, number] = [0, 0];
  const views = testTimeViews(options.testTimeAugment ?? []);
  const viewCaptions = await Promise.all(
    views.map(async (view) => {
      const text = viewCaption(caption, view);
      return text === caption
        ? captions
        : padCaptions([await tokenizeCaption(tokenizer, text, maxLength)]);
    }),
  );
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < T; s += window) {
      const part = frames.slice(s, s + window).map((f) => {
        if (f.width !== width || f.height !== height) {
          throw new Error(
            `segment: frame sizes differ (${f.width}x${f.height} vs ${width}x${height})`,
          );
        }
        return f.width === w && f.height === h ? f : resizeBilinear(f, w, h);
      });
      const results: WindowResult[] = [];
      const clip = options.clipFrames ?? 0;
      const clipWiseWindow = clip > 0 && clip < part.length;
      for (let v = 0; v < views.length; v++) {
        const seen = viewFrames(part, views[v]);
        const pass = await forwardWindow(
          model,
          seen,
          viewCaptions[v],
          backend,
          v === 0 ? (out) => options.onWindow?.(out, s) : undefined,
          clipWiseWindow ? undefined : options.recordSlots,
        );
        if (v === 0 && s === 0) subjectSpan = pass.span;
        [mh, mw] = pass.maskHW;
        const result = clipWiseWindow
          ? await clipWise(model, seen, viewCaptions[v], backend, clip, pass, options.recordSlots)
          : pass.result;
        results.push(undoView(result, views[v], mw));
      }
      windows.push(fuseViews(results));
    }
  } finally {
    model.train(wasTraining);
  }
  // per frame: q scores, q boxes (cx, cy, w, h), q mask maps of mh * mw, records with recordSlots
  const joined = concatFrames(windows);
  const { scores: frameScores, boxes: frameBoxes, masks: frameMasks, records: frameRecords } =
    relink ? relinkSlots(joined, mw, relink) : joined;
  // k* = argmax over queries of the mean score over frames
  const queryMeanScores = Array.from(
    { length: q },
    (_, j) => frameScores.reduce((acc, sc) => acc + sc[j], 0) / T,
  );
  let query = 0;
  for (let j = 1; j < q; j++) if (queryMeanScores[j] > queryMeanScores[query]) query = j;
  const meanScore = queryMeanScores[query];
  const threshold = options.threshold ?? 0.5;
  const logitThreshold = Math.log(threshold / (1 - threshold));
  // the refinement's field decides by sign, so it starts from logits shifted by the threshold
  const cut = crf ? 0 : logitThreshold;
  const slotLogits = (slot: number) =>
    frameMasks.map((perQuery, f) => {
      const up = resizeLogits(perQuery[slot], mh, mw, height, width);
      if (!crf) return up;
      return refineMaskLogits(up.map((v) => v - logitThreshold), frames[f], crf);
    });
  const binarize = (up: Float32Array) => {
    const m = new Uint8Array(height * width);
    for (let i = 0; i < m.length; i++) m[i] = up[i] > cut ? 1 : 0;
    return m;
  };
  const chosenLogits = slotLogits(query);
  const queryMasks = options.allQueries
    ? Array.from(
      { length: q },
      (_, j) => (j === query ? chosenLogits : slotLogits(j)).map(binarize),
    )
    : undefined;
  const outMasks = queryMasks ? queryMasks[query] : chosenLogits.map(binarize);
  const outBoxes = frameBoxes.map((b): [number, number, number, number] => {
    const [cx, cy, bw, bh] = b.subarray(query * 4, query * 4 + 4);
    return [
      (cx - bw / 2) * width,
      (cy - bh / 2) * height,
      (cx + bw / 2) * width,
      (cy + bh / 2) * height,
    ];
  });
  const ids = Array.from(tok.inputIds.subarray(subjectSpan[0], subjectSpan[1] + 1));
  return {
    masks: outMasks,
    width,
    height,
    scores: frameScores.map((sc) => sc[query]),
    boxes: outBoxes,
    query,
    meanScore,
    queryMeanScores,
    ...(queryMasks ? { queryMasks } : {}),
    ...(options.recordSlots ? { slotRecords: frameRecords ?? [] } : {}),
    ...(options.returnLogits ? { maskLogits: chosenLogits } : {}),
    sentence: caption,
    nounChunkFallback: fallback,
    subjectSpan,
    subjectTokens: ids.map((id) => tokenizer.idToToken(id)),
  };
}
