import type { RgbImage } from "../media/frame.ts";
import type { Rng } from "./rng.ts";

/**
 * The reference's PhotometricDistort for one frame (section 14.3, gotcha 31): float32 working
 * copy; brightness +-32 (p 0.5); then contrast first or last (p 0.5 each way) around an HSV
 * round trip with saturation x U(0.5, 1.5) and hue +-18 degrees (each p 0.5); then a random
 * channel permutation (p 0.5). OpenCV's float formulas are used with the RGB array treated as
 * BGR, and the result is cast to uint8 with wrap-around, not clipping.
 */

const FLT_EPSILON = 1.1920928955078125e-7;
const PERMUTATIONS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/** cv2.cvtColor(BGR2HSV) on float32 pixels (channel 0 = "B"), in place. */
export function bgrToHsvInPlace(img: Float32Array): void {
  for (let p = 0; p < img.length; p += 3) {
    const b = img[p], g = img[p + 1], r = img[p + 2];
    const v = Math.max(r, g, b);
    const vmin = Math.min(r, g, b);
    const diff = v - vmin;
    const s = diff / (Math.abs(v) + FLT_EPSILON);
    const k = 60 / (diff + FLT_EPSILON);
    let h = v === r ? (g - b) * k : v === g ? (b - r) * k + 120 : (r - g) * k + 240;
    if (h < 0) h += 360;
    img[p] = h;
    img[p + 1] = s;
    img[p + 2] = v;
  }
}

const SECTORS = [[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]];

/** cv2.cvtColor(HSV2BGR) on float32 pixels, in place. */
export function hsvToBgrInPlace(img: Float32Array): void {
  const tab = [0, 0, 0, 0];
  for (let p = 0; p < img.length; p += 3) {
    let h = img[p];
    const s = img[p + 1], v = img[p + 2];
    let b: number, g: number, r: number;
    if (s === 0) {
      b = g = r = v;
    } else {
      h *= 6 / 360;
      while (h < 0) h += 6;
      while (h >= 6) h -= 6;
      let sector = Math.floor(h);
      h -= sector;
      if (sector < 0 || sector >= 6) {
        sector = 0;
        h = 0;
      }
      tab[0] = v;
      tab[1] = v * (1 - s);
      tab[2] = v * (1 - s * h);
      tab[3] = v * (1 - s * (1 - h));
      b = tab[SECTORS[sector][0]];
      g = tab[SECTORS[sector][1]];
      r = tab[SECTORS[sector][2]];
    }
    img[p] = b;
    img[p + 1] = g;
    img[p + 2] = r;
  }
}

function scaleChannels(img: Float32Array, factor: number, channel?: number): void {
  const f = Math.fround(factor);
  if (channel === undefined) { for (let i = 0; i < img.length; i++) img[i] *= f; }
  else for (let i = channel; i < img.length; i += 3) img[i] *= f;
}

function randomContrast(img: Float32Array, rng: Rng): void {
  if (rng.randint(0, 1)) scaleChannels(img, rng.uniform(0.5, 1.5));
}

/** numpy float32 -> uint8 cast on x86: truncate toward zero, keep the low 8 bits. */
export function wrapToUint8(v: number): number {
  return Math.trunc(v) & 255;
}

export function photometricDistort(image: RgbImage, rng: Rng): RgbImage {
  const img = Float32Array.from(image.data);
  if (rng.randint(0, 1)) {
    const delta = Math.fround(rng.uniform(-32, 32));
    for (let i = 0; i < img.length; i++) img[i] += delta;
  }
  const contrastFirst = rng.randint(0, 1) === 1;
  if (contrastFirst) randomContrast(img, rng);
  bgrToHsvInPlace(img);
  if (rng.randint(0, 1)) scaleChannels(img, rng.uniform(0.5, 1.5), 1);
  if (rng.randint(0, 1)) {
    const delta = Math.fround(rng.uniform(-18, 18));
    for (let i = 0; i < img.length; i += 3) {
      img[i] += delta;
      if (img[i] > 360) img[i] -= 360;
      if (img[i] < 0) img[i] += 360;
    }
  }
  hsvToBgrInPlace(img);
  if (!contrastFirst) randomContrast(img, rng);
  let order = PERMUTATIONS[0];
  if (rng.randint(0, 1)) order = PERMUTATIONS[rng.randint(0, 5)];
  const data = new Uint8Array(img.length);
  for (let p = 0; p < img.length; p += 3) {
    data[p] = wrapToUint8(img[p + order[0]]);
    data[p + 1] = wrapToUint8(img[p + order[1]]);
    data[p + 2] = wrapToUint8(img[p + order[2]]);
  }
  return { width: image.width, height: image.height, data };
}
