/**
 * Fits the `class_geometry` term (a recipe option, not in the reference) to the query choice
 * on whole videos (tools/fit_choice.ts). Training sees clips of a few frames and learns the term
 * jointly with everything else through the per-frame class loss; inference chooses the query by
 * its class score averaged over every frame of the video. This stage runs the trained model as
 * inference does over a split with ground truth, keeps for each expression and query slot the
 * class logits without the term, the geometry features and the summed sentence words, and the
 * slot's J&F, then refits only the term's weight and bias (and, on request, the last decoder
 * layer's class head weight): a softmax over the slots of the clip-mean logits, cross-entropy
 * towards softmax(J&F / tau), with an L2 pull towards the trained weights. Everything else in the
 * model is unchanged.
 */
import type { VideoExpression } from "../data/types.ts";
import { evaluateSequence } from "../eval/jf.ts";
import { tensor } from "../ops/creation.ts";
import { add, mul, sub } from "../ops/elementwise.ts";
import { matmul } from "../ops/matmul.ts";
import { logSoftmax, sum } from "../ops/reduce.ts";
import { reshape } from "../ops/shape_ops.ts";
import { AdamW } from "../optim/adamw.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/memory.ts";
import { MASK_GEOMETRY_FEATURES } from "../models/dmformer/class_geometry.ts";
import type { DMFormer, DMFormerOutput } from "../models/dmformer/model.ts";
import type { ViewTransform } from "./test_time_views.ts";
import type { LoadedModel } from "./infer.ts";
import { expressionsWithTruth } from "./truth_clips.ts";
import { segmentClip } from "./segment.ts";
import type { RelinkSettings } from "./relink_slots.ts";
import { writeFileAtomic } from "../media/atomic_write.ts";

const F = MASK_GEOMETRY_FEATURES;

/**
 * One expression as the fit sees it (t rows: one per frame and test-time view, q slots, d word
 * features, F geometry features).
 */
export interface ChoiceSample {
  video: string;
  expId: string;
  caption: string;
  t: number;
  q: number;
  d: number;
  /** Width of the query features. */
  h: number;
  /** [t, q] class logits (max over classes) less the geometry term and less `head`. */
  base: Float64Array;
  /** [t, q] the last class head's logit (one class) or 0 (several classes). */
  head: Float64Array;
  /** [t, q, h] the last decoder layer's query features (the class head's input). */
  features: Float64Array;
  /** [t, q, F] geometry features. */
  geometry: Float64Array;
  /** [t, d] the summed sentence words of each row's forward pass. */
  sentence: Float64Array;
  /** [q] J&F of every slot against the ground truth. */
  jf: Float64Array;
}

/** The geometry term's value per frame and slot, [t, q], for weight [F, d] and bias [F]. */
export function geometryTerm(s: ChoiceSample, weight: ArrayLike<number>, bias: ArrayLike<number>) {
  const out = new Float64Array(s.t * s.q);
  for (let f = 0; f < s.t; f++) {
    const v = new Float64Array(F);
    for (let i = 0; i < F; i++) {
      let acc = bias[i];
      for (let k = 0; k < s.d; k++) acc += weight[i * s.d + k] * s.sentence[f * s.d + k];
      v[i] = acc;
    }
    for (let j = 0; j < s.q; j++) {
      let acc = 0;
      for (let i = 0; i < F; i++) acc += v[i] * s.geometry[(f * s.q + j) * F + i];
      out[f * s.q + j] = acc;
    }
  }
  return out;
}

/**
 * The weights the choice depends on: the geometry term's, and optionally the last class head's
 * (one class; without them the recorded head logits are used).
 */
export interface ChoiceWeights {
  weight: ArrayLike<number>;
  bias: ArrayLike<number>;
  classWeight?: ArrayLike<number>;
  classBias?: number;
}

/** The class head's logit w . features + b at frame-and-slot index `n` of `s`. */
function headLogit(s: ChoiceSample, n: number, weight: ArrayLike<number>, bias: number): number {
  let v = bias;
  for (let k = 0; k < s.h; k++) v += weight[k] * s.features[n * s.h + k];
  return v;
}

/** [t, q] class logits of every frame and slot under `w`. */
export function slotLogits(s: ChoiceSample, w: ChoiceWeights): Float64Array {
  const out = geometryTerm(s, w.weight, w.bias);
  for (let n = 0; n < out.length; n++) {
    const head = w.classWeight ? headLogit(s, n, w.classWeight, w.classBias ?? 0) : s.head[n];
    out[n] += s.base[n] + head;
  }
  return out;
}

/** The slot inference picks: the highest mean sigmoid over frames (ties to the lowest slot). */
export function chosenSlot(s: ChoiceSample, w: ChoiceWeights): number {
  const logits = slotLogits(s, w);
  let best = 0, bestScore = -Infinity;
  for (let j = 0; j < s.q; j++) {
    let score = 0;
    for (let f = 0; f < s.t; f++) score += 1 / (1 + Math.exp(-logits[f * s.q + j]));
    if (score > bestScore) best = j, bestScore = score;
  }
  return best;
}

/** Mean J&F of the chosen slots. */
export function choiceJF(samples: ChoiceSample[], w: ChoiceWeights): number {
  if (samples.length === 0) return NaN;
  return samples.reduce((acc, s) => acc + s.jf[chosenSlot(s, w)], 0) / samples.length;
}

export interface CollectOptions {
  shortSide: number | null;
  windowFrames: number;
  maxLength: number;
  /** Test-time views, as inference runs them (segmentClip's `testTimeAugment`). */
  testTimeAugment?: readonly ViewTransform[];
  /** Clip-wise inference, as inference runs it (segmentClip's `clipFrames`). */
  clipFrames?: number;
  /** Slot relinking, as inference runs it (segmentClip's `relinkSlots`). */
  relinkSlots?: RelinkSettings | null;
  limit?: number;
  onProgress?: (done: number, total: number, e: VideoExpression) => void;
}

/** What one forward pass gives the choice for one frame and slot. */
interface SlotRecord {
  logit: number;
  geometry: Float32Array;
  sentence: Float32Array;
  features: Float32Array;
}

/**
 * Runs the model over `expressions` as inference does (`gtDir` holds <video>/<frame>.png palette
 * masks of object ids) and returns one sample per expression. With test-time views or clip-wise
 * inference a sample has one row per frame and view, from the passes whose scores the choice
 * averages, in the fused slots' order; the mean sigmoid over rows is then inference's score.
 * The slots' J&F are those of their masks without the mask refinement.
 */
export async function collectChoiceSamples(
  loaded: LoadedModel,
  expressions: VideoExpression[],
  imageDir: string,
  gtDir: string,
  options: CollectOptions,
): Promise<ChoiceSample[]> {
  const term = loaded.model.class_geometry;
  if (!term) {
    throw new Error('fit choice: the model has no class_geometry term ("classGeometry": true)');
  }
  const list = expressions.slice(0, options.limit ?? expressions.length);
  const samples: ChoiceSample[] = [];
  const classHead = await lastClassHead(loaded.model);
  const trainedWeight = await term.weight.data(), trainedBias = await term.bias.data();
  let last: { sentence: Tensor; geometry: Tensor } | null = null;
  term.observer = (sentence, geometry) => last = { sentence, geometry };
  const recordSlots = async (out: DMFormerOutput): Promise<SlotRecord[][]> => {
    if (!last) throw new Error("fit choice: the geometry term did not run");
    const [, t, q, k] = out.pred_logits.shape;
    const d = last.sentence.shape[1], h = out.query_features.shape[3];
    const [l, g, sentence, hs] = await Promise.all(
      [out.pred_logits, last.geometry, last.sentence, out.query_features].map((x) => x.data()),
    );
    last = null;
    // one sentence per pass, shared by its records
    const words = Float32Array.from(sentence.subarray(0, d));
    return Array.from({ length: t }, (_, f) =>
      Array.from({ length: q }, (_, j) => {
        let logit = -Infinity;
        for (let c = 0; c < k; c++) logit = Math.max(logit, l[(f * q + j) * k + c]);
        const at = f * q + j;
        return {
          logit,
          geometry: Float32Array.from(g.subarray(at * F, (at + 1) * F)),
          sentence: words,
          features: Float32Array.from(hs.subarray(at * h, (at + 1) * h)),
        };
      }));
  };
  try {
    let done = 0;
    for await (const c of expressionsWithTruth(list, imageDir, gtDir, "fit choice")) {
      const e = c.expression;
      const seg = await segmentClip(loaded.model, c.frames, e.caption, {
        tokenizer: loaded.tokenizer,
        shortSide: options.shortSide,
        windowFrames: options.windowFrames,
        maxLength: options.maxLength,
        testTimeAugment: options.testTimeAugment,
        clipFrames: options.clipFrames,
        relinkSlots: options.relinkSlots,
        allQueries: true,
        recordSlots,
      });
      const sample = sampleFromRecords(seg.slotRecords as SlotRecord[][][], e);
      sample.jf = Float64Array.from(
        seg.queryMasks!,
        (masks) => evaluateSequence(masks, c.gts, c.width, c.height).JF,
      );
      // the logits include the term with the trained weights (and, with one class, the head): take
      // them out
      const withTerm = geometryTerm(sample, trainedWeight, trainedBias);
      for (let n = 0; n < withTerm.length; n++) sample.base[n] -= withTerm[n];
      if (classHead) {
        for (let n = 0; n < sample.head.length; n++) {
          sample.head[n] = headLogit(sample, n, classHead.weight, classHead.bias);
          sample.base[n] -= sample.head[n];
        }
      }
      samples.push(sample);
      options.onProgress?.(++done, list.length, e);
    }
  } finally {
    term.observer = undefined;
  }
  return samples;
}

/** One row per frame and view (records[frame][slot][view]); `jf` left for the caller. */
function sampleFromRecords(records: SlotRecord[][][], e: VideoExpression): ChoiceSample {
  const q = records[0].length, views = records[0][0].length;
  const { sentence: s0, features: h0 } = records[0][0][0];
  const d = s0.length, h = h0.length, t = records.length * views;
  const sample: ChoiceSample = {
    video: e.video,
    expId: e.expId,
    caption: e.caption,
    t,
    q,
    d,
    h,
    base: new Float64Array(t * q),
    head: new Float64Array(t * q),
    features: new Float64Array(t * q * h),
    geometry: new Float64Array(t * q * F),
    sentence: new Float64Array(t * d),
    jf: new Float64Array(q),
  };
  let row = 0;
  for (const perSlot of records) {
    for (let v = 0; v < views; v++, row++) {
      // every slot of a row comes from one pass: one sentence
      sample.sentence.set(perSlot[0][v].sentence, row * d);
      for (let j = 0; j < q; j++) {
        const r = perSlot[j][v], at = row * q + j;
        sample.base[at] = r.logit;
        sample.geometry.set(r.geometry, at * F);
        sample.features.set(r.features, at * h);
      }
    }
  }
  return sample;
}

/** The last decoder layer's class head on the host, or null when it has several classes. */
export async function lastClassHead(
  model: DMFormer,
): Promise<{ weight: Float64Array; bias: number } | null> {
  const head = model.class_embed[model.class_embed.length - 1];
  if (head.outFeatures !== 1) return null;
  return {
    weight: Float64Array.from(await head.weight.data()),
    bias: head.bias ? (await head.bias.data())[0] : 0,
  };
}

/**
 * Throws when the samples' recorded class-head logits are not what `head` gives on their query
 * features: the samples came from other weights (checked on up to `limit` samples).
 */
export function checkSamplesMatchHead(
  samples: ChoiceSample[],
  head: { weight: ArrayLike<number>; bias: number },
  what: string,
  limit = 20,
): void {
  for (const s of samples.slice(0, limit)) {
    if (s.h !== head.weight.length) {
      throw new Error(
        `${what}: query features of width ${s.h}, the model's are ${head.weight.length}`,
      );
    }
    for (let n = 0; n < s.head.length; n++) {
      const v = headLogit(s, n, head.weight, head.bias);
      if (Math.abs(v - s.head[n]) > 1e-3 * Math.max(1, Math.abs(v))) {
        throw new Error(`${what} were recorded with other weights than the checkpoint's`);
      }
    }
  }
}

export interface ChoiceFitOptions {
  /** L2 weight of the pull towards the starting weights (default 1e-3). */
  lambda?: number;
  /** Temperature of the soft target over slots, in J&F (default 0.05). */
  tau?: number;
  /** Full-batch AdamW steps (default 500) at this lr (default 0.01). */
  steps?: number;
  lr?: number;
  /** Also refit the last class head's weight (`start.classWeight` must be given). */
  classHead?: boolean;
}

export interface ChoiceFit {
  weight: Float32Array;
  bias: Float32Array;
  /** With `classHead`. */
  classWeight?: Float32Array;
  lossBefore: number;
  lossAfter: number;
}

/**
 * The fit itself. For every sample the clip-mean logit of slot j is
 * mean_t (base + head)[t, j] + sum_i mean_t (geometry[t, j, i] (W sentence[t] + b)_i), linear in
 * W and b (with `classHead`, head = w_c . features + b_c is linear in w_c too); the loss is the
 * cross-entropy of the softmax over slots towards softmax(jf / tau), averaged over samples, plus
 * lambda times the squared distance of the fitted weights to `start`.
 */
export async function fitChoiceTerm(
  samples: ChoiceSample[],
  start: ChoiceWeights,
  options: ChoiceFitOptions = {},
): Promise<ChoiceFit> {
  if (samples.length === 0) throw new Error("fit choice: no expressions to fit");
  const { q, d, h } = samples[0];
  const odd = samples.find((s) => s.q !== q || s.d !== d || s.h !== h);
  if (odd) {
    throw new Error(
      `fit choice: ${odd.video}/${odd.expId} has ${odd.q} slots of ${odd.d} + ${odd.h} ` +
        `features, ${q} of ${d} + ${h} expected`,
    );
  }
  if (start.weight.length !== F * d || start.bias.length !== F) {
    throw new Error(
      `fit choice: weights of ${start.weight.length} + ${start.bias.length} values, ` +
        `${F * d} + ${F} expected`,
    );
  }
  const classHead = options.classHead ?? false;
  if (classHead && start.classWeight?.length !== h) {
    throw new Error(`fit choice: refitting the class head needs its ${h} starting weights`);
  }
  const lambda = options.lambda ?? 1e-3, tau = options.tau ?? 0.05;
  const n = samples.length;
  // per sample and slot, means over frames: base (+ head unless refitted), geometry (for b),
  // geometry x sentence (for W) and query features (for w_c)
  const baseMean = new Float32Array(n * q), geoMean = new Float32Array(n * q * F);
  const outer = new Float32Array(n * q * F * d), featMean = new Float32Array(n * q * h);
  const target = new Float32Array(n * q);
  samples.forEach((s, m) => {
    for (let j = 0; j < q; j++) {
      const row = m * q + j;
      for (let f = 0; f < s.t; f++) {
        const at = f * q + j;
        baseMean[row] += (s.base[at] + (classHead ? start.classBias ?? 0 : s.head[at])) / s.t;
        for (let k = 0; k < h; k++) featMean[row * h + k] += s.features[at * h + k] / s.t;
        for (let i = 0; i < F; i++) {
          const g = s.geometry[at * F + i] / s.t;
          geoMean[row * F + i] += g;
          for (let k = 0; k < d; k++) outer[(row * F + i) * d + k] += g * s.sentence[f * d + k];
        }
      }
    }
    const top = Math.max(...s.jf);
    const e = Array.from(s.jf, (v) => Math.exp((v - top) / tau));
    const z = e.reduce((a, b) => a + b, 0);
    e.forEach((v, j) => target[m * q + j] = v / z);
  });
  const column = (x: ArrayLike<number>) => tensor(Float32Array.from(x), [x.length, 1]);
  const base = tensor(baseMean, [n, q]), geo = tensor(geoMean, [n * q, F]);
  const cross = tensor(outer, [n * q, F * d]), y = tensor(target, [n, q]);
  const feats = tensor(featMean, [n * q, h]);
  const starts = [start.weight, start.bias, ...(classHead ? [start.classWeight!] : [])];
  const fixed = starts.map(column);
  const params = starts.map((x) => column(x).requireGrad());
  const [w, b, wc] = params;
  const lossOf = () => {
    let slots = add(matmul(cross, w), matmul(geo, b));
    if (wc) slots = add(slots, matmul(feats, wc));
    const z = add(base, reshape(slots, [n, q]));
    const ce = mul(sum(mul(y, logSoftmax(z, -1))), -1 / n);
    const pull = params.map((p, i) => sum(mul(sub(p, fixed[i]), sub(p, fixed[i]))));
    return add(ce, mul(pull.reduce((a, c) => add(a, c)), lambda));
  };
  const lossValue = async () => {
    const loss = tidy(lossOf);
    const value = (await loss.data())[0];
    loss.dispose();
    return value;
  };
  const lossBefore = await lossValue();
  const opt = new AdamW([{ params, lr: options.lr ?? 0.01, weightDecay: 0 }]);
  for (let step = 0; step < (options.steps ?? 500); step++) {
    opt.zeroGrad();
    tidy(() => lossOf().backward());
    opt.step();
  }
  const lossAfter = await lossValue();
  const fit: ChoiceFit = {
    weight: Float32Array.from(await w.data()),
    bias: Float32Array.from(await b.data()),
    ...(wc ? { classWeight: Float32Array.from(await wc.data()) } : {}),
    lossBefore,
    lossAfter,
  };
  opt.zeroGrad();
  for (const m of opt.state.values()) m.expAvg.dispose(), m.expAvgSq.dispose();
  [base, geo, cross, y, feats, ...fixed, ...params].forEach((x) => x.dispose());
  return fit;
}

const SAMPLE_ARRAYS = ["base", "head", "features", "geometry", "sentence", "jf"] as const;

/** Writes samples as JSON lines (7 significant digits), atomically. */
export async function saveChoiceSamples(path: string, samples: ChoiceSample[]): Promise<void> {
  const round = (x: Float64Array) => Array.from(x, (v) => Number(v.toPrecision(7)));
  const lines = samples.map((s) => {
    const arrays = Object.fromEntries(SAMPLE_ARRAYS.map((k) => [k, round(s[k])]));
    const { video, expId, caption, t, q, d, h } = s;
    return JSON.stringify({ video, expId, caption, t, q, d, h, ...arrays });
  });
  await writeFileAtomic(path, new TextEncoder().encode(lines.join("\n") + "\n"));
}

/** Reads what saveChoiceSamples wrote; a line with missing or mis-sized fields is an error. */
export async function loadChoiceSamples(path: string): Promise<ChoiceSample[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new Error(`fit choice: samples file not found: ${path}`);
  }
  return text.trim().split("\n").map((line, i) => {
    const where = `${path}:${i + 1}`;
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`fit choice: ${where} is not JSON`);
    }
    const { t, q, d, h } = r;
    if (![t, q, d, h].every((v) => Number.isInteger(v) && v > 0)) {
      throw new Error(`fit choice: ${where}: t, q, d and h should be positive integers`);
    }
    const sizes = {
      base: t * q,
      head: t * q,
      features: t * q * h,
      geometry: t * q * F,
      sentence: t * d,
      jf: q,
    };
    for (const k of SAMPLE_ARRAYS) {
      if (!Array.isArray(r[k]) || r[k].length !== sizes[k]) {
        throw new Error(`fit choice: ${where}: "${k}" should hold ${sizes[k]} numbers`);
      }
    }
    return {
      video: String(r.video),
      expId: String(r.expId),
      caption: String(r.caption),
      t,
      q,
      d,
      h,
      ...Object.fromEntries(SAMPLE_ARRAYS.map((k) => [k, Float64Array.from(r[k])])),
    } as ChoiceSample;
  });
}
