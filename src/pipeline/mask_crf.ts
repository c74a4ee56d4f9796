/**
 * Edge-aware mask refinement (not in the reference; off by default): a binary conditional random
 * field over the frame's pixels, solved by mean-field iterations (Krähenbühl & Koltun 2011, with
 * the fully connected kernel cut to a local window as in Teichmann & Cipolla's ConvCRF). The unary
 * term is the model's mask logit at the original size; the pairwise terms are an appearance kernel
 * (near pixels of similar colour prefer one label) and a smoothness kernel (near pixels prefer one
 * label). Masks whose outline is a pixel or two off snap to the colour edges around them.
 */
import type { RgbImage } from "../media/frame.ts";
import { mergeSettings } from "./settings_object.ts";

export interface MaskCrfSettings {
  /** Mean-field iterations (0 turns the refinement off). */
  iterations: number;
  /** Scale of the model's logits in the unary term (below 1: trust the colours more). */
  unaryWeight: number;
  /** Window radius in pixels: pixels further apart in x or y do not interact. */
  radius: number;
  /** Appearance kernel: weight, spatial and colour standard deviations (pixels, 0-255 units). */
  appearanceWeight: number;
  appearanceSpatial: number;
  appearanceColour: number;
  /** Smoothness kernel: weight and spatial standard deviation (pixels). */
  smoothnessWeight: number;
  smoothnessSpatial: number;
}

/** Picked on 168 Ref-Shapes training expressions (docs/demo.md); a starting point elsewhere. */
export const DEFAULT_MASK_CRF: MaskCrfSettings = {
  iterations: 5,
  unaryWeight: 0.1,
  radius: 6,
  appearanceWeight: 4,
  appearanceSpatial: 5,
  appearanceColour: 20,
  smoothnessWeight: 0,
  smoothnessSpatial: 1,
};

/**
 * Checks user settings (a config's `inference.maskCrf`, the library's option) and fills in the
 * defaults; `where` names the place in errors, which are one line.
 */
export function maskCrfSettings(input: unknown = {}, where = "maskCrf"): MaskCrfSettings {
  const settings = mergeSettings(input, DEFAULT_MASK_CRF, where);
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new Error(`${where}.${key}: expected a number >= 0, got ${JSON.stringify(value)}`);
    }
  }
  for (const key of ["iterations", "radius"] as const) {
    if (!Number.isInteger(settings[key])) {
      throw new Error(`${where}.${key}: expected a whole number, got ${settings[key]}`);
    }
  }
  for (const key of ["appearanceSpatial", "appearanceColour", "smoothnessSpatial"] as const) {
    if (settings[key] === 0) throw new Error(`${where}.${key}: expected a number above 0`);
  }
  return settings;
}

/**
 * The refinement a user asked for: off (undefined, null, false), the defaults (true) or the given
 * settings (an object, checked by `maskCrfSettings`).
 */
export function maskCrfChoice(input: unknown, where = "maskCrf"): MaskCrfSettings | null {
  if (input === undefined || input === null || input === false) return null;
  return maskCrfSettings(input === true ? {} : input, where);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * Refined foreground logits for `unary` (height*width logits of one frame, at the frame's size;
 * the result is on the scale of `unaryWeight` times the unary, and its sign is the label).
 * Each iteration sets every logit to unary + sum over the window of k(i, j) * (2 q_j - 1), where
 * q_j is the current foreground probability: the Potts model's mean-field update for two labels.
 * Only pixels within two window radii of the unary mask's outline are updated (elsewhere every
 * neighbour already agrees with the unary label), which keeps large frames cheap. At most
 * `maxKernelEntries` pairwise weights are held at once (64 MiB by default).
 */
export function refineMaskLogits(
  unary: Float32Array,
  frame: RgbImage,
  settings: MaskCrfSettings = DEFAULT_MASK_CRF,
  maxKernelEntries = 1 << 24,
): Float32Array {
  const { width, height } = frame;
  if (unary.length !== width * height) {
    throw new Error(
      `maskCrf: ${unary.length} logits for a ${width}x${height} frame (${width * height} pixels)`,
    );
  }
  if (settings.iterations === 0 || settings.radius === 0) return unary;
  const r = settings.radius;
  const band = outlineBand(unary, width, height, 2 * r);
  const w = settings.unaryWeight;
  const scaled = w === 1 ? unary : Float32Array.from(unary, (v) => v * w);
  if (band.length === 0) return scaled;
  const offsets: [number, number][] = [];
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) if (dx !== 0 || dy !== 0) offsets.push([dx, dy]);
  }
  const kernel = new PairwiseKernel(frame, offsets, settings);
  const deltas = Int32Array.from(offsets, ([dx, dy]) => dy * width + dx);
  const m = band.length, o = offsets.length;
  // the kernel is kept for all iterations when the band is small enough (the usual case: a band
  // along the outline); otherwise it is rebuilt per chunk and iteration, so memory stays bounded
  const chunk = Math.max(1, Math.min(m, Math.floor(maxKernelEntries / o)));
  const weights = new Float32Array(chunk * o);
  if (chunk === m) kernel.fill(band, 0, m, weights);
  const logits = Float32Array.from(scaled);
  // 2 * sigmoid - 1 of every logit; only the band's change between iterations
  const q = Float32Array.from(logits, (v) => 2 * sigmoid(v) - 1);
  const next = new Float32Array(m);
  for (let it = 0; it < settings.iterations; it++) {
    for (let start = 0; start < m; start += chunk) {
      const end = Math.min(m, start + chunk);
      if (chunk !== m) kernel.fill(band, start, end, weights);
      for (let b = start; b < end; b++) {
        const i = band[b], row = (b - start) * o;
        let message = 0;
        for (let k = 0; k < o; k++) {
          const weight = weights[row + k];
          if (weight !== 0) message += weight * q[i + deltas[k]];
        }
        next[b] = scaled[i] + message;
      }
    }
    for (let b = 0; b < m; b++) {
      logits[band[b]] = next[b];
      q[band[b]] = 2 * sigmoid(next[b]) - 1;
    }
  }
  return logits;
}

/** Pixels within `reach` (in x and y) of a pixel whose label a neighbour does not share. */
function outlineBand(
  unary: Float32Array,
  width: number,
  height: number,
  reach: number,
): Int32Array {
  const near = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x, label = unary[i] > 0;
      if (
        (x + 1 < width && (unary[i + 1] > 0) !== label) ||
        (y + 1 < height && (unary[i + width] > 0) !== label)
      ) {
        near[i] = 1;
        if (x + 1 < width) near[i + 1] = 1;
        if (y + 1 < height) near[i + width] = 1;
      }
    }
  }
  // dilate by `reach`: along every row, then along every column
  const rows = new Uint8Array(width * height), band = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) dilateLine(near, rows, y * width, 1, width, reach);
  for (let x = 0; x < width; x++) dilateLine(rows, band, x, width, height, reach);
  const out: number[] = [];
  for (let i = 0; i < band.length; i++) if (band[i]) out.push(i);
  return Int32Array.from(out);
}

/** Marks in `dst` the `count` cells start + n * stride within `reach` cells of a marked one. */
function dilateLine(
  src: Uint8Array,
  dst: Uint8Array,
  start: number,
  stride: number,
  count: number,
  reach: number,
): void {
  let last = -Infinity;
  for (let n = 0; n < count; n++) {
    if (src[start + n * stride]) last = n;
    if (n - last <= reach) dst[start + n * stride] = 1;
  }
  last = Infinity;
  for (let n = count - 1; n >= 0; n--) {
    if (src[start + n * stride]) last = n;
    if (last - n <= reach) dst[start + n * stride] = 1;
  }
}

/** k(i, i + offset) for band pixels i and the window's offsets (0 where off the frame). */
class PairwiseKernel {
  private appearance: Float64Array;
  private smooth: Float64Array;
  private colourScale: number;

  constructor(
    private frame: RgbImage,
    private offsets: [number, number][],
    s: MaskCrfSettings,
  ) {
    const gauss = (sigma: number) => (d2: number) => Math.exp(-d2 / (2 * sigma * sigma));
    const near = gauss(s.appearanceSpatial), smooth = gauss(s.smoothnessSpatial);
    this.appearance = Float64Array.from(
      offsets,
      ([dx, dy]) => s.appearanceWeight * near(dx * dx + dy * dy),
    );
    this.smooth = Float64Array.from(
      offsets,
      ([dx, dy]) => s.smoothnessWeight * smooth(dx * dx + dy * dy),
    );
    this.colourScale = 1 / (2 * s.appearanceColour * s.appearanceColour);
  }

  /** Writes the rows of band[start..end) into `out` (row b - start, one weight per offset). */
  fill(band: Int32Array, start: number, end: number, out: Float32Array): void {
    const { width, height, data } = this.frame;
    const o = this.offsets.length;
    out.fill(0, 0, (end - start) * o);
    for (let b = start; b < end; b++) {
      const i = band[b], x = i % width, y = (i - x) / width, row = (b - start) * o;
      for (let k = 0; k < o; k++) {
        const [dx, dy] = this.offsets[k];
        const nx = x + dx, ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        const dr = data[3 * i] - data[3 * j];
        const dg = data[3 * i + 1] - data[3 * j + 1];
        const db = data[3 * i + 2] - data[3 * j + 2];
        out[row + k] = this.appearance[k] *
            Math.exp(-(dr * dr + dg * dg + db * db) * this.colourScale) + this.smooth[k];
      }
    }
  }
}
