import type { RgbImage } from "../media/frame.ts";

/**
 * Resizing as the reference's transforms do it: frames with PIL's bilinear filter (antialiased
 * when shrinking, 8-bit fixed point, horizontal pass first), masks with PyTorch's "nearest".
 */

const PRECISION_BITS = 22;

interface Coeffs {
  /** Per output pixel: first input index and tap count. */
  bounds: Int32Array;
  /** outSize * ksize fixed-point weights. */
  weights: Int32Array;
  ksize: number;
}

function bilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1.0
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const d = Math.abs((x + xmin - center + 0.5) / filterScale);
      k[x] = d < 1 ? 1 - d : 0;
      total += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[xx * ksize + x] = Math.trunc(
        w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS),
      );
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

function resizeAxis(
  src: Uint8Array,
  width: number,
  height: number,
  outSize: number,
  horizontal: boolean,
): Uint8Array {
  const inSize = horizontal ? width : height;
  const { bounds, weights, ksize } = bilinearCoeffs(inSize, outSize);
  const outW = horizontal ? outSize : width, outH = horizontal ? height : outSize;
  const out = new Uint8Array(outW * outH * 3);
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < outH; yy++) {
    for (let xx = 0; xx < outW; xx++) {
      const o = horizontal ? xx : yy;
      const min = bounds[o * 2], taps = bounds[o * 2 + 1];
      let s0 = half, s1 = half, s2 = half;
      for (let i = 0; i < taps; i++) {
        const w = weights[o * ksize + i];
        const p = horizontal ? (yy * width + min + i) * 3 : ((min + i) * width + xx) * 3;
        s0 += src[p] * w;
        s1 += src[p + 1] * w;
        s2 += src[p + 2] * w;
      }
      const q = (yy * outW + xx) * 3;
      out[q] = clip8(s0);
      out[q + 1] = clip8(s1);
      out[q + 2] = clip8(s2);
    }
  }
  return out;
}

/** PIL `Image.resize((width, height), BILINEAR)` on an RGB image. */
export function resizeBilinear(image: RgbImage, width: number, height: number): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`resize: invalid target size ${width}x${height}`);
  }
  let data = image.data;
  if (width !== image.width) data = resizeAxis(data, image.width, image.height, width, true);
  if (height !== image.height) data = resizeAxis(data, width, image.height, height, false);
  return { width, height, data: data === image.data ? data.slice() : data };
}

/** PyTorch `interpolate(mode="nearest")` source index along one axis. */
function nearestIndex(out: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return out;
  if (outSize === 2 * inSize) return out >> 1;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(out * scale)), inSize - 1);
}

/** Nearest-neighbour resize of a 0/1 (or index) mask. */
export function resizeMaskNearest(
  mask: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const out = new Uint8Array(outWidth * outHeight);
  const cols = Int32Array.from({ length: outWidth }, (_, x) => nearestIndex(x, width, outWidth));
  for (let y = 0; y < outHeight; y++) {
    const row = nearestIndex(y, height, outHeight) * width;
    for (let x = 0; x < outWidth; x++) out[y * outWidth + x] = mask[row + cols[x]];
  }
  return out;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The reference's output size for "short side = size, long side capped at maxSize":
 * returns [height, width].
 */
export function shortSideSize(
  width: number,
  height: number,
  size: number,
  maxSize?: number,
): [number, number] {
  if (maxSize !== undefined) {
    const lo = Math.min(width, height), hi = Math.max(width, height);
    if ((hi / lo) * size > maxSize) size = roundHalfEven((maxSize * lo) / hi);
  }
  if ((width <= height && width === size) || (height <= width && height === size)) {
    return [height, width];
  }
  return width < height
    ? [Math.trunc((size * height) / width), size]
    : [size, Math.trunc((size * width) / height)];
}
