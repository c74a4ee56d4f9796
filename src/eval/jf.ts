/**
 * DAVIS region similarity J and contour accuracy F, with the davis2017-evaluation rules:
 * J = |pred & gt| / |pred | gt| (1 when the union is empty); F = boundary F-measure where a
 * boundary pixel matches when the other boundary has a pixel within a disk of radius
 * ceil(bound_th * image diagonal); both boundaries empty gives F = 1, exactly one empty F = 0.
 * Void pixels (optional) are left out of both.
 */

export interface JFOptions {
  /** Tolerance as a fraction of the diagonal (< 1) or in pixels (>= 1). Default 0.008. */
  boundTh?: number;
  /** h*w, non-zero = void (ignored). */
  void?: Uint8Array;
}

function withoutVoid(mask: Uint8Array, voidMask?: Uint8Array): Uint8Array {
  if (!voidMask) return mask;
  return mask.map((v, i) => (v && !voidMask[i] ? 1 : 0));
}

/** Region similarity of two h*w masks (non-zero = foreground). */
export function regionJ(pred: Uint8Array, gt: Uint8Array, voidMask?: Uint8Array): number {
  if (pred.length !== gt.length) {
    throw new Error(`J: prediction has ${pred.length} pixels, ground truth ${gt.length}`);
  }
  let inter = 0, union = 0;
  for (let i = 0; i < pred.length; i++) {
    if (voidMask?.[i]) continue;
    const p = pred[i] !== 0, g = gt[i] !== 0;
    if (p && g) inter++;
    if (p || g) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/**
 * DAVIS seg2bmap: a pixel is boundary when it differs from its right, lower or lower-right
 * neighbour (outside the image counts as background; the last row compares only to the right,
 * the last column only downwards, the corner is never boundary).
 */
export function seg2bmap(mask: Uint8Array, width: number, height: number): Uint8Array {
  const b = new Uint8Array(width * height);
  const at = (x: number, y: number) => (x < width && y < height && mask[y * width + x] ? 1 : 0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = at(x, y);
      let edge: number;
      if (y === height - 1 && x === width - 1) edge = 0;
      else if (y === height - 1) edge = s ^ at(x + 1, y);
      else if (x === width - 1) edge = s ^ at(x, y + 1);
      else edge = (s ^ at(x + 1, y)) | (s ^ at(x, y + 1)) | (s ^ at(x + 1, y + 1));
      b[y * width + x] = edge;
    }
  }
  return b;
}

/** Radius of the matching disk: ceil(boundTh * sqrt(h^2 + w^2)) for boundTh < 1. */
export function boundPixels(width: number, height: number, boundTh = 0.008): number {
  return boundTh >= 1 ? boundTh : Math.ceil(boundTh * Math.hypot(height, width));
}

/** How many pixels of `from` have a pixel of `to` inside the disk of radius r around them. */
function countMatched(
  from: Uint8Array,
  to: Uint8Array,
  width: number,
  height: number,
  r: number,
): number {
  const prefix = new Int32Array(height * (width + 1));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      prefix[y * (width + 1) + x + 1] = prefix[y * (width + 1) + x] + to[y * width + x];
    }
  }
  const reach = Math.floor(r);
  const halfWidths = Array.from(
    { length: 2 * reach + 1 },
    (_, i) => Math.floor(Math.sqrt(r * r - (i - reach) * (i - reach))),
  );
  let matched = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!from[y * width + x]) continue;
      for (let dy = -reach; dy <= reach; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        const hw = halfWidths[dy + reach];
        const row = yy * (width + 1);
        const lo = Math.max(0, x - hw), hi = Math.min(width, x + hw + 1);
        if (prefix[row + hi] - prefix[row + lo] > 0) {
          matched++;
          break;
        }
      }
    }
  }
  return matched;
}

/** Contour accuracy (boundary F-measure) of two h*w masks. */
export function boundaryF(
  pred: Uint8Array,
  gt: Uint8Array,
  width: number,
  height: number,
  options: JFOptions = {},
): number {
  if (pred.length !== width * height || gt.length !== width * height) {
    throw new Error(`F: masks must have ${width}x${height} pixels`);
  }
  const r = boundPixels(width, height, options.boundTh);
  const fgB = seg2bmap(withoutVoid(pred, options.void), width, height);
  const gtB = seg2bmap(withoutVoid(gt, options.void), width, height);
  let nFg = 0, nGt = 0;
  for (let i = 0; i < fgB.length; i++) {
    nFg += fgB[i];
    nGt += gtB[i];
  }
  let precision: number, recall: number;
  if (nFg === 0 && nGt > 0) [precision, recall] = [1, 0];
  else if (nFg > 0 && nGt === 0) [precision, recall] = [0, 1];
  else if (nFg === 0 && nGt === 0) [precision, recall] = [1, 1];
  else {
    precision = countMatched(fgB, gtB, width, height, r) / nFg;
    recall = countMatched(gtB, fgB, width, height, r) / nGt;
  }
  return precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
}

export interface SeriesStats {
  /** Mean over frames. */
  mean: number;
  /** Fraction of frames above 0.5. */
  recall: number;
  /** Mean of the first quarter minus mean of the last quarter (DAVIS bins). */
  decay: number;
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** numpy.round (halves to even). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** DAVIS db_statistics of per-frame values. */
export function seriesStats(values: number[]): SeriesStats {
  const n = values.length;
  const ids = Array.from({ length: 5 }, (_, i) => roundHalfEven(1 + ((n - 1) * i) / 4 + 1e-10) - 1);
  const bin = (i: number) => values.slice(ids[i], ids[i + 1] + 1);
  return {
    mean: mean(values),
    recall: mean(values.map((v) => (v > 0.5 ? 1 : 0))),
    decay: mean(bin(0)) - mean(bin(3)),
  };
}

export interface SequenceScores {
  j: number[];
  f: number[];
  J: SeriesStats;
  F: SeriesStats;
  /** (J mean + F mean) / 2 */
  JF: number;
}

/** J and F per frame for one object over a sequence, with their statistics. */
export function evaluateSequence(
  preds: Uint8Array[],
  gts: Uint8Array[],
  width: number,
  height: number,
  options: { boundTh?: number; voids?: (Uint8Array | undefined)[] } = {},
): SequenceScores {
  if (preds.length !== gts.length) {
    throw new Error(`J&F: ${preds.length} predicted frames for ${gts.length} ground-truth frames`);
  }
  const j = preds.map((p, i) => regionJ(p, gts[i], options.voids?.[i]));
  const f = preds.map((p, i) =>
    boundaryF(p, gts[i], width, height, { boundTh: options.boundTh, void: options.voids?.[i] })
  );
  const J = seriesStats(j), F = seriesStats(f);
  return { j, f, J, F, JF: (J.mean + F.mean) / 2 };
}
