import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";

const f32 = Math.fround;

/** PyTorch's legacy 'nearest' source index (float32 arithmetic, like its CPU kernel). */
export function nearestIndex(dst: number, inSize: number, outSize: number, scale: number): number {
  if (inSize === outSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  return Math.min(Math.floor(f32(dst * scale)), inSize - 1);
}

/** Source index and weight of bilinear resampling (PyTorch area_pixel_compute_source_index). */
export function linearSource(
  dst: number,
  inSize: number,
  scale: number,
  alignCorners: boolean,
): [number, number, number] {
  let src = alignCorners ? f32(scale * dst) : f32(f32(scale * f32(dst + 0.5)) - 0.5);
  if (src < 0) src = 0;
  const i0 = Math.floor(src);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  const l1 = Math.min(Math.max(f32(src - i0), 0), 1);
  return [i0, i1, l1];
}

function planes(shape: readonly number[]): number {
  return shape.slice(0, -2).reduce((a, b) => a * b, 1);
}

function nearestMaps(
  inShape: readonly number[],
  outShape: readonly number[],
  attrs: Record<string, number>,
) {
  const [H, W] = inShape.slice(-2);
  const [OH, OW] = outShape.slice(-2);
  const rows = Int32Array.from({ length: OH }, (_, i) => nearestIndex(i, H, OH, attrs.scaleH));
  const cols = Int32Array.from({ length: OW }, (_, j) => nearestIndex(j, W, OW, attrs.scaleW));
  return { H, W, OH, OW, rows, cols };
}

const resizeNearest: Kernel = ([x], [out], attrs) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const { H, W, OH, OW, rows, cols } = nearestMaps(x.shape, out.shape, attrs);
  for (let p = 0; p < planes(x.shape); p++) {
    for (let i = 0; i < OH; i++) {
      const src = p * H * W + rows[i] * W;
      const dst = (p * OH + i) * OW;
      for (let j = 0; j < OW; j++) o[dst + j] = a[src + cols[j]];
    }
  }
};

const resizeNearestBackward: Kernel = ([g], [out], attrs) => {
  const dy = g.buf as TypedArray;
  const dx = out.buf as TypedArray;
  const { H, W, OH, OW, rows, cols } = nearestMaps(out.shape, g.shape, attrs);
  for (let p = 0; p < planes(out.shape); p++) {
    for (let i = 0; i < OH; i++) {
      const src = p * H * W + rows[i] * W;
      const dst = (p * OH + i) * OW;
      for (let j = 0; j < OW; j++) dx[src + cols[j]] += dy[dst + j];
    }
  }
};

function bilinearMaps(
  inShape: readonly number[],
  outShape: readonly number[],
  attrs: Record<string, number | boolean>,
) {
  const [H, W] = inShape.slice(-2);
  const [OH, OW] = outShape.slice(-2);
  const ac = attrs.alignCorners as boolean;
  const rows = Array.from({ length: OH }, (_, i) => linearSource(i, H, attrs.scaleH as number, ac));
  const cols = Array.from({ length: OW }, (_, j) => linearSource(j, W, attrs.scaleW as number, ac));
  return { H, W, OH, OW, rows, cols };
}

const resizeBilinear: Kernel = ([x], [out], attrs) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const { H, W, OH, OW, rows, cols } = bilinearMaps(x.shape, out.shape, attrs);
  for (let p = 0; p < planes(x.shape); p++) {
    const base = p * H * W;
    for (let i = 0; i < OH; i++) {
      const [h0, h1, lh] = rows[i];
      const r0 = base + h0 * W;
      const r1 = base + h1 * W;
      for (let j = 0; j < OW; j++) {
        const [w0, w1, lw] = cols[j];
        const top = (1 - lw) * a[r0 + w0] + lw * a[r0 + w1];
        const bottom = (1 - lw) * a[r1 + w0] + lw * a[r1 + w1];
        o[(p * OH + i) * OW + j] = (1 - lh) * top + lh * bottom;
      }
    }
  }
};

const resizeBilinearBackward: Kernel = ([g], [out], attrs) => {
  const dy = g.buf as TypedArray;
  const dx = out.buf as TypedArray;
  const { H, W, OH, OW, rows, cols } = bilinearMaps(out.shape, g.shape, attrs);
  for (let p = 0; p < planes(out.shape); p++) {
    const base = p * H * W;
    for (let i = 0; i < OH; i++) {
      const [h0, h1, lh] = rows[i];
      for (let j = 0; j < OW; j++) {
        const [w0, w1, lw] = cols[j];
        const v = dy[(p * OH + i) * OW + j];
        dx[base + h0 * W + w0] += (1 - lh) * (1 - lw) * v;
        dx[base + h0 * W + w1] += (1 - lh) * lw * v;
        dx[base + h1 * W + w0] += lh * (1 - lw) * v;
        dx[base + h1 * W + w1] += lh * lw * v;
      }
    }
  }
};

/**
 * grid_sample, bilinear, zero padding, align_corners=False. x [N, C, H, W],
 * grid [N, OH, OW, 2] with (x, y) in [-1, 1]; out [N, C, OH, OW].
 */
function gridSampleVisit(
  xShape: readonly number[],
  grid: TypedArray,
  visit: (
    n: number,
    q: number,
    corners: [number, number, number][],
    gx: number,
    gy: number,
    ix: number,
    iy: number,
  ) => void,
) {
  const [N, , H, W] = xShape;
  const Q = grid.length / (2 * N);
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Q; q++) {
      const gx = grid[(n * Q + q) * 2];
      const gy = grid[(n * Q + q) * 2 + 1];
      const ix = ((gx + 1) * W - 1) / 2;
      const iy = ((gy + 1) * H - 1) / 2;
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const tx = ix - x0;
      const ty = iy - y0;
      const corners: [number, number, number][] = [];
      const add = (yy: number, xx: number, w: number) => {
        if (yy >= 0 && yy < H && xx >= 0 && xx < W) corners.push([yy * W + xx, w, 0]);
      };
      add(y0, x0, (1 - tx) * (1 - ty));
      add(y0, x0 + 1, tx * (1 - ty));
      add(y0 + 1, x0, (1 - tx) * ty);
      add(y0 + 1, x0 + 1, tx * ty);
      visit(n, q, corners, gx, gy, ix, iy);
    }
  }
}

const gridSample: Kernel = ([x, grid], [out]) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [, C, H, W] = x.shape;
  const Q = out.shape[2] * out.shape[3];
  gridSampleVisit(x.shape, grid.buf as TypedArray, (n, q, corners) => {
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      let s = 0;
      for (const [off, w] of corners) s += w * a[plane + off];
      o[(n * C + c) * Q + q] = s;
    }
  });
};

/** Gradients of grid_sample for x and the grid, from dL/dout. */
const gridSampleBackward: Kernel = ([x, grid, g], [dxOut, dgOut]) => {
  const a = x.buf as TypedArray;
  const dy = g.buf as TypedArray;
  const dx = dxOut.buf as TypedArray;
  const dg = dgOut.buf as TypedArray;
  const [, C, H, W] = x.shape;
  const Q = g.shape[2] * g.shape[3];
  gridSampleVisit(x.shape, grid.buf as TypedArray, (n, q, _c, _gx, _gy, ix, iy) => {
    const x0 = Math.floor(ix);
    const y0 = Math.floor(iy);
    const tx = ix - x0;
    const ty = iy - y0;
    let dix = 0;
    let diy = 0;
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      const go = dy[(n * C + c) * Q + q];
      const at = (yy: number, xx: number) =>
        yy >= 0 && yy < H && xx >= 0 && xx < W ? plane + yy * W + xx : -1;
      const p00 = at(y0, x0);
      const p01 = at(y0, x0 + 1);
      const p10 = at(y0 + 1, x0);
      const p11 = at(y0 + 1, x0 + 1);
      const v = (p: number) => (p >= 0 ? a[p] : 0);
      if (p00 >= 0) dx[p00] += (1 - tx) * (1 - ty) * go;
      if (p01 >= 0) dx[p01] += tx * (1 - ty) * go;
      if (p10 >= 0) dx[p10] += (1 - tx) * ty * go;
      if (p11 >= 0) dx[p11] += tx * ty * go;
      dix += go * ((v(p01) - v(p00)) * (1 - ty) + (v(p11) - v(p10)) * ty);
      diy += go * ((v(p10) - v(p00)) * (1 - tx) + (v(p11) - v(p01)) * tx);
    }
    dg[(n * Q + q) * 2] = dix * W / 2;
    dg[(n * Q + q) * 2 + 1] = diy * H / 2;
  });
};

export const resampleKernels: Record<string, Kernel> = {
  resize_nearest: resizeNearest,
  resize_nearest_backward: resizeNearestBackward,
  resize_bilinear: resizeBilinear,
  resize_bilinear_backward: resizeBilinearBackward,
  grid_sample: gridSample,
  grid_sample_backward: gridSampleBackward,
};
