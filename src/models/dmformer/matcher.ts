export interface MatcherCosts {
  costClass: number;
  costBbox: number;
  costGiou: number;
  costMask: number;
  costDice: number;
}

export const DEFAULT_COSTS: MatcherCosts = {
  costClass: 2,
  costBbox: 5,
  costGiou: 2,
  costMask: 2,
  costDice: 5,
};

/** Host copies of one clip's predictions (float64 math on the host). */
export interface ClipPrediction {
  t: number;
  q: number;
  k: number;
  /** logits [t, q, k] */
  logits: ArrayLike<number>;
  /** boxes [t, q, 4] cxcywh */
  boxes: ArrayLike<number>;
  /** mask logits [t, q, h*w] */
  masks: ArrayLike<number>;
  hw: number;
}

/** One clip's single referred object. */
export interface ClipTargetHost {
  /** [t, 4] cxcywh, zeros on invalid frames */
  boxes: ArrayLike<number>;
  /** [t, h*w] 0/1 at the prediction resolution */
  masks: ArrayLike<number>;
  /** [t] 1 = object visible */
  valid: ArrayLike<number>;
  /** [t] class labels (ignored when numClasses == 1) */
  labels: ArrayLike<number>;
}

export interface ClipCosts {
  total: Float64Array;
  costClass: Float64Array;
  costBbox: Float64Array;
  costGiou: Float64Array;
  costMask: Float64Array;
  costDice: Float64Array;
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));

function focal(x: number, t: number): number {
  const p = sig(x);
  const ce = Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
  const pt = p * t + (1 - p) * (1 - t);
  return ce * (1 - pt) ** 2 * (0.25 * t + 0.75 * (1 - t));
}

function giou(a: number[], b: number[]): number {
  const [ax1, ay1, ax2, ay2] = [a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2];
  const [bx1, by1, bx2, by2] = [b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2];
  const inter = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0) *
    Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  const iou = (inter + 1e-6) / (union + 1e-6);
  const enc = Math.max(Math.max(ax2, bx2) - Math.min(ax1, bx1), 0) *
    Math.max(Math.max(ay2, by2) - Math.min(ay1, by1), 0);
  return iou - (enc - union + 1e-6) / (enc + 1e-6);
}

/**
 * The reference's per-clip video matching costs for every query slot (design doc §12.1):
 * class cost over valid frames only, the other costs over all frames.
 */
export function clipCosts(
  pred: ClipPrediction,
  tgt: ClipTargetHost,
  numClasses: number,
  w: MatcherCosts = DEFAULT_COSTS,
): ClipCosts {
  const { t, q, k, hw } = pred;
  const out: ClipCosts = {
    total: new Float64Array(q),
    costClass: new Float64Array(q),
    costBbox: new Float64Array(q),
    costGiou: new Float64Array(q),
    costMask: new Float64Array(q),
    costDice: new Float64Array(q),
  };
  const nValid = Array.from(tgt.valid).filter((v) => v).length;
  for (let s = 0; s < q; s++) {
    let cls = 0;
    let l1 = 0;
    let g = 0;
    let fm = 0;
    let py = 0;
    let ps = 0;
    let ys = 0;
    for (let f = 0; f < t; f++) {
      if (tgt.valid[f]) {
        const c = numClasses === 1 ? 0 : tgt.labels[f];
        const p = sig(pred.logits[(f * q + s) * k + c]);
        const pos = 0.25 * (1 - p) ** 2 * -Math.log(p + 1e-8);
        const neg = 0.75 * p ** 2 * -Math.log(1 - p + 1e-8);
        cls += pos - neg;
      }
      const pb = [0, 1, 2, 3].map((i) => pred.boxes[(f * q + s) * 4 + i]);
      const tb = [0, 1, 2, 3].map((i) => tgt.boxes[f * 4 + i]);
      for (let i = 0; i < 4; i++) l1 += Math.abs(pb[i] - tb[i]);
      g += giou(pb, tb);
      const base = (f * q + s) * hw;
      for (let j = 0; j < hw; j++) {
        const x = pred.masks[base + j];
        const y = tgt.masks[f * hw + j];
        fm += focal(x, y);
        const p = sig(x);
        py += p * y;
        ps += p;
        ys += y;
      }
    }
    out.costClass[s] = nValid ? cls / nValid : 0;
    out.costBbox[s] = l1 / t;
    out.costGiou[s] = -g / t;
    out.costMask[s] = fm / (t * hw);
    out.costDice[s] = -(2 * py + 1) / (ps + ys + 1);
    out.total[s] = w.costClass * out.costClass[s] + w.costBbox * out.costBbox[s] +
      w.costGiou * out.costGiou[s] + w.costMask * out.costMask[s] + w.costDice * out.costDice[s];
  }
  return out;
}

/** The reference matcher: the query slot with the lowest total cost (first minimum). */
export function argminSlot(costs: ClipCosts): number {
  let best = 0;
  for (let s = 1; s < costs.total.length; s++) if (costs.total[s] < costs.total[best]) best = s;
  return best;
}
