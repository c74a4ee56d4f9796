import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { abs, add, mul, sub } from "../../ops/elementwise.ts";
import { narrow, reshape } from "../../ops/shape_ops.ts";
import { mean, sum } from "../../ops/reduce.ts";
import { gather } from "../../ops/indexing.ts";
import { bceWithLogits, crossEntropy } from "../../ops/loss.ts";
import { cxcywhToXyxy, pairedGiou } from "./box_ops.ts";
import { diceLoss, sigmoidFocalLoss } from "./losses.ts";
import {
  argminSlot,
  type ClipCosts,
  clipCosts,
  DEFAULT_COSTS,
  type MatcherCosts,
} from "./matcher.ts";

/** Model outputs the criterion reads; shapes [b, t, q, ...]. */
export interface Predictions {
  pred_logits: Tensor;
  pred_boxes: Tensor;
  pred_masks: Tensor;
  aux_outputs?: Predictions[];
  /** [b, L, 2] subject logits. */
  subject?: Tensor;
  /** The optional grounding head's logits: [b, t, h, w] on the stride-`stride` grid. */
  grounding_aux?: { logits: Tensor; stride: number };
}

/** One clip's target, full (unpadded) resolution masks. */
export interface ClipTarget {
  /** [t, 4] cxcywh, zeros where invalid */
  boxes: Float32Array;
  /** t masks of h*w (0/1) at the unpadded input size */
  masks: Uint8Array;
  size: [number, number];
  /** [t] */
  valid: ArrayLike<number>;
  /** [t] */
  labels: ArrayLike<number>;
}

export const DEFAULT_WEIGHTS: Record<string, number> = {
  loss_ce: 2,
  loss_bbox: 5,
  loss_giou: 2,
  loss_mask: 2,
  loss_dice: 5,
  subject: 2,
};

/**
 * The weight key of the auxiliary grounding loss (a recipe option, not the reference's; weight
 * 0 unless set, e.g. by the training config's `groundingAuxWeight`).
 */
export const GROUNDING_AUX_LOSS = "loss_grounding_aux";

/**
 * The weight key of the query-choice loss (a recipe option, not the reference's; computed only
 * when its weight is set, e.g. by the training config's `choiceLossWeight`). See queryChoiceLoss.
 */
export const CHOICE_LOSS = "loss_choice";

export interface CriterionOptions {
  numClasses?: number;
  /** Weights of the final layer's terms; aux layers reuse them with suffix _i. */
  weights?: Record<string, number>;
  costs?: MatcherCosts;
  maskOutStride?: number;
}

export interface CriterionResult {
  losses: Map<string, Tensor>;
  total: Tensor;
  /** Matched query slot per clip, final layer first then aux layers. */
  matches: number[][];
  costs: ClipCosts[][];
}

/**
 * Target masks as the reference builds them: zero-pad the batch to the largest size rounded
 * up to a multiple of 32, then take every stride-th pixel starting at stride div 2
 * (design doc §12.3). Returns [b][t * h * w] floats.
 */
export function subsampleTargetMasks(
  targets: ClipTarget[],
  t: number,
  stride: number,
): { masks: Float32Array[]; h: number; w: number } {
  const H = Math.ceil(Math.max(...targets.map((c) => c.size[0])) / 32) * 32;
  const W = Math.ceil(Math.max(...targets.map((c) => c.size[1])) / 32) * 32;
  const start = Math.floor(stride / 2);
  const h = Math.ceil((H - start) / stride);
  const w = Math.ceil((W - start) / stride);
  const masks = targets.map(({ masks: m, size: [mh, mw] }) => {
    const out = new Float32Array(t * h * w);
    for (let f = 0; f < t; f++) {
      for (let i = 0; i < h; i++) {
        const y = start + i * stride;
        if (y >= mh) continue;
        for (let j = 0; j < w; j++) {
          const x = start + j * stride;
          if (x < mw) out[(f * h + i) * w + j] = m[(f * mh + y) * mw + x] ? 1 : 0;
        }
      }
    }
    return out;
  });
  return { masks, h, w };
}

/** DMFormer's SetCriterion: per-clip argmin matching then focal/L1/GIoU/mask/dice/subject. */
export class SetCriterion {
  readonly numClasses: number;
  readonly weights: Record<string, number>;
  readonly costs: MatcherCosts;
  readonly maskOutStride: number;

  constructor(opts: CriterionOptions = {}) {
    this.numClasses = opts.numClasses ?? 1;
    this.weights = opts.weights ?? DEFAULT_WEIGHTS;
    this.costs = opts.costs ?? DEFAULT_COSTS;
    this.maskOutStride = opts.maskOutStride ?? 4;
  }

  /**
   * Losses of one batch. `subjectLabels[i]` is clip i's 0/1 token label vector (or null
   * to skip the subject loss).
   */
  async forward(
    out: Predictions,
    targets: ClipTarget[],
    subjectLabels?: (ArrayLike<number> | null)[],
  ): Promise<CriterionResult> {
    const [b, t] = out.pred_logits.shape;
    const sub4 = subsampleTargetMasks(targets, t, this.maskOutStride);
    const [ph, pw] = out.pred_masks.shape.slice(-2);
    if (ph !== sub4.h || pw !== sub4.w) {
      throw new Error(
        `criterion: prediction masks are ${ph}x${pw} but targets subsample to ${sub4.h}x${sub4.w}`,
      );
    }
    const nValid = targets.reduce((s, c) => s + Array.from(c.valid).filter((v) => v).length, 0);
    const numBoxes = Math.max(nValid, 1);
    const losses = new Map<string, Tensor>();
    const matches: number[][] = [];
    const costs: ClipCosts[][] = [];
    const layers: [Predictions, string][] = [
      [out, ""],
      ...(out.aux_outputs ?? []).map((a, i) => [a, `_${i}`] as [Predictions, string]),
    ];
    for (const [pred, suffix] of layers) {
      const { slots, clipCost } = await this.match(pred, targets, sub4.masks);
      matches.push(slots);
      costs.push(clipCost);
      const terms = this.layerLosses(pred, targets, sub4.masks, slots, numBoxes, b, t);
      for (const [k, v] of terms) losses.set(k + suffix, v);
    }
    if (out.subject && subjectLabels?.some((l) => l)) {
      losses.set("subject", this.subjectLoss(out.subject, subjectLabels));
    }
    if (out.grounding_aux) {
      losses.set(GROUNDING_AUX_LOSS, groundingAuxLoss(out.grounding_aux, targets));
    } else if (this.weights[GROUNDING_AUX_LOSS]) {
      throw new Error(
        `criterion: ${GROUNDING_AUX_LOSS} has weight ${this.weights[GROUNDING_AUX_LOSS]} but the ` +
          `model has no grounding head (model config "groundingAuxHead": true)`,
      );
    }
    let total: Tensor | null = null;
    for (const [k, v] of losses) {
      const w = this.weights[k.replace(/_\d+$/, "")] ?? 0;
      if (w === 0) continue;
      total = total ? add(total, mul(v, w)) : mul(v, w);
    }
    return { losses, total: total!, matches, costs };
  }

  async match(pred: Predictions, targets: ClipTarget[], masks: Float32Array[]) {
    const [b, t, q, k] = pred.pred_logits.shape;
    const hw = pred.pred_masks.shape[3] * pred.pred_masks.shape[4];
    const [logits, boxes, maskLogits] = await Promise.all([
      pred.pred_logits.data(),
      pred.pred_boxes.data(),
      pred.pred_masks.data(),
    ]);
    const slots: number[] = [];
    const clipCost: ClipCosts[] = [];
    for (let i = 0; i < b; i++) {
      const c = clipCosts(
        {
          t,
          q,
          k,
          hw,
          logits: logits.subarray(i * t * q * k, (i + 1) * t * q * k),
          boxes: boxes.subarray(i * t * q * 4, (i + 1) * t * q * 4),
          masks: maskLogits.subarray(i * t * q * hw, (i + 1) * t * q * hw),
        },
        {
          boxes: targets[i].boxes,
          masks: masks[i],
          valid: targets[i].valid,
          labels: targets[i].labels,
        },
        this.numClasses,
        this.costs,
      );
      clipCost.push(c);
      slots.push(argminSlot(c));
    }
    return { slots, clipCost };
  }

  layerLosses(
    pred: Predictions,
    targets: ClipTarget[],
    masks: Float32Array[],
    slots: number[],
    numBoxes: number,
    b: number,
    t: number,
  ): Map<string, Tensor> {
    const [, , q, k] = pred.pred_logits.shape;
    const backend = pred.pred_logits.backend;
    const onehot = new Float32Array(b * t * q * k);
    targets.forEach((c, i) => {
      for (let f = 0; f < t; f++) {
        if (!c.valid[f]) continue;
        const cls = this.numClasses === 1 ? 0 : c.labels[f];
        onehot[((i * t + f) * q + slots[i]) * k + cls] = 1;
      }
    });
    const srcLogits = reshape(pred.pred_logits, [b, t * q, k]);
    const lossCe = mul(
      sigmoidFocalLoss(srcLogits, tensor(onehot, [b, t * q, k], { backend }), numBoxes),
      t * q,
    );
    const slotIndex = (rest: number[]) => {
      const n = b * t * rest.reduce((a, v) => a * v, 1);
      const per = n / b;
      const idx = new Int32Array(n);
      for (let i = 0; i < b; i++) idx.fill(slots[i], i * per, (i + 1) * per);
      return tensor(idx, [b, t, 1, ...rest], { backend });
    };
    const srcBoxes = reshape(gather(pred.pred_boxes, 2, slotIndex([4])), [b * t, 4]);
    const tgtBoxes = tensor(concat(targets.map((c) => c.boxes)), [b * t, 4], { backend });
    const lossBbox = mul(sum(abs(sub(srcBoxes, tgtBoxes))), 1 / numBoxes);
    const { giou } = pairedGiou(cxcywhToXyxy(srcBoxes), cxcywhToXyxy(tgtBoxes));
    const lossGiou = mul(sum(sub(1, giou)), 1 / numBoxes);
    const [h, w] = pred.pred_masks.shape.slice(-2);
    const srcMasks = reshape(gather(pred.pred_masks, 2, slotIndex([h, w])), [b, t * h * w]);
    const tgtMasks = tensor(concat(masks), [b, t * h * w], { backend });
    const terms = new Map([
      ["loss_ce", lossCe],
      ["loss_bbox", lossBbox],
      ["loss_giou", lossGiou],
      ["loss_mask", sigmoidFocalLoss(srcMasks, tgtMasks, numBoxes)],
      ["loss_dice", diceLoss(srcMasks, tgtMasks, numBoxes)],
    ]);
    if (this.weights[CHOICE_LOSS]) {
      terms.set(CHOICE_LOSS, queryChoiceLoss(pred.pred_logits, targets, slots, this.numClasses));
    }
    return terms;
  }

  /** Σ over clips of the mean 2-class cross-entropy over the first min(len, L) tokens. */
  subjectLoss(subject: Tensor, labels: (ArrayLike<number> | null)[]): Tensor {
    const L = subject.shape[1];
    let total: Tensor | null = null;
    labels.forEach((lab, i) => {
      if (!lab) return;
      const n = Math.min(lab.length, L);
      const logits = reshape(narrow(narrow(subject, 0, i, 1), 1, 0, n), [n, 2]);
      const target = tensor(Int32Array.from(Array.from(lab).slice(0, n)), [n], {
        backend: subject.backend,
      });
      const ce = crossEntropy(logits, target);
      total = total ? add(total, ce) : ce;
    });
    return total!;
  }
}

/**
 * The auxiliary grounding loss: binary cross-entropy with logits, averaged over every token of
 * every frame and clip, against the referred object's masks sampled on the logits' grid (the
 * pixel at the centre of each stride x stride cell, as the mask losses sample theirs). As in the
 * mask losses, padding and frames where the object is absent count, with target 0.
 */
export function groundingAuxLoss(
  aux: { logits: Tensor; stride: number },
  targets: ClipTarget[],
): Tensor {
  const [b, t, h, w] = aux.logits.shape;
  const sub = subsampleTargetMasks(targets, t, aux.stride);
  if (sub.h !== h || sub.w !== w || targets.length !== b) {
    throw new Error(
      `criterion: grounding logits are ${b} clips of ${h}x${w} but the ${targets.length} ` +
        `targets subsample to ${sub.h}x${sub.w} at stride ${aux.stride}`,
    );
  }
  const target = tensor(concat(sub.masks), [b, t, h, w], { backend: aux.logits.backend });
  return mean(bceWithLogits(aux.logits, target));
}

/**
 * The query-choice loss (a recipe option): inference keeps the query whose score, averaged over
 * the clip's frames, is highest, while the focal loss scores every query on its own. This term
 * trains that choice directly: per clip, the logits of the target's class averaged over its valid
 * frames give one score per query, and a softmax cross-entropy over the queries asks for the
 * matched slot. Mean over the clips that have a valid frame (0 when none has).
 */
export function queryChoiceLoss(
  logits: Tensor,
  targets: ClipTarget[],
  slots: number[],
  numClasses = 1,
): Tensor {
  const [b, t, q, k] = logits.shape;
  if (targets.length !== b || slots.length !== b) {
    throw new Error(
      `criterion: choice loss over ${b} clips got ${targets.length} targets and ${slots.length} slots`,
    );
  }
  const backend = logits.backend;
  const classIndex = new Int32Array(b * t * q);
  const frameWeight = new Float32Array(b * t);
  const clipWeight = new Float32Array(b);
  targets.forEach((c, i) => {
    let n = 0;
    for (let f = 0; f < t; f++) if (c.valid[f]) n++;
    clipWeight[i] = n > 0 ? 1 : 0;
    for (let f = 0; f < t; f++) {
      if (!c.valid[f]) continue;
      frameWeight[i * t + f] = 1 / n;
      if (numClasses > 1) classIndex.fill(c.labels[f], (i * t + f) * q, (i * t + f + 1) * q);
    }
  });
  if (!clipWeight.some((w) => w > 0)) return mul(sum(logits), 0);
  const perFrame = reshape(
    k === 1 ? logits : gather(logits, 3, tensor(classIndex, [b, t, q, 1], { backend })),
    [b, t, q],
  );
  const clipScores = sum(mul(perFrame, tensor(frameWeight, [b, t, 1], { backend })), 1);
  const labels = tensor(Int32Array.from(slots), [b], { backend });
  return crossEntropy(clipScores, labels, tensor(clipWeight, [b], { backend }));
}

function concat(parts: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}
