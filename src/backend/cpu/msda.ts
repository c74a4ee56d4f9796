import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";

/**
 * Multi-scale deformable attention (op `msda`): value [N, S, M, D], locations
 * [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P] -> [N, Lq, M*D]. Each point reads the
 * four bilinear neighbours of pixel (x*W - 0.5, y*H - 0.5); a neighbour outside the
 * level contributes zero (grid_sample, zero padding, align_corners=false).
 */

interface Layout {
  N: number;
  S: number;
  M: number;
  D: number;
  Lq: number;
  L: number;
  P: number;
  heights: Int32Array;
  widths: Int32Array;
  starts: Int32Array;
}

function layout(value: KernelInput, loc: KernelInput, attrs: Attrs): Layout {
  const [N, S, M, D] = value.shape;
  const [, Lq, , L, P] = loc.shape;
  const shapes = attrs.spatialShapes as [number, number][];
  const heights = Int32Array.from(shapes, ([h]) => h);
  const widths = Int32Array.from(shapes, ([, w]) => w);
  const starts = new Int32Array(L);
  for (let l = 1; l < L; l++) starts[l] = starts[l - 1] + heights[l - 1] * widths[l - 1];
  return { N, S, M, D, Lq, L, P, heights, widths, starts };
}

/**
 * The four bilinear neighbours of one sampling point, written into reusable scratch
 * arrays: value-row offsets (-1 when outside the level), weights, and the weights'
 * derivatives with respect to the pixel coordinates u (x) and v (y).
 */
class Corners {
  readonly row = new Int32Array(4);
  readonly w = new Float64Array(4);
  readonly dwdu = new Float64Array(4);
  readonly dwdv = new Float64Array(4);

  /** Returns false when no neighbour lies inside the level. */
  locate(u: number, v: number, H: number, W: number, levelRow: number): boolean {
    const x0 = Math.floor(u);
    const y0 = Math.floor(v);
    const fx = u - x0;
    const fy = v - y0;
    let any = false;
    for (let c = 0; c < 4; c++) {
      const dy = c >> 1;
      const dx = c & 1;
      const yy = y0 + dy;
      const xx = x0 + dx;
      const inside = yy >= 0 && yy < H && xx >= 0 && xx < W;
      this.row[c] = inside ? levelRow + yy * W + xx : -1;
      any ||= inside;
      const wx = dx ? fx : 1 - fx;
      const wy = dy ? fy : 1 - fy;
      this.w[c] = wx * wy;
      this.dwdu[c] = (dx ? 1 : -1) * wy;
      this.dwdv[c] = (dy ? 1 : -1) * wx;
    }
    return any;
  }
}

const msdaForward: Kernel = ([value, loc, attn], [out], attrs) => {
  const { N, S, M, D, Lq, L, P, heights, widths, starts } = layout(value, loc, attrs);
  const val = value.buf as TypedArray;
  const xy = loc.buf as TypedArray;
  const aw = attn.buf as TypedArray;
  const o = out.buf as TypedArray;
  const acc = new Float64Array(D);
  const corners = new Corners();
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Lq; q++) {
      for (let m = 0; m < M; m++) {
        acc.fill(0);
        const head = (n * Lq + q) * M + m;
        for (let l = 0; l < L; l++) {
          const H = heights[l];
          const W = widths[l];
          for (let p = 0; p < P; p++) {
            const i = (head * L + l) * P + p;
            const u = xy[2 * i] * W - 0.5;
            const v = xy[2 * i + 1] * H - 0.5;
            if (!corners.locate(u, v, H, W, n * S + starts[l])) continue;
            const a = aw[i];
            for (let c = 0; c < 4; c++) {
              const row = corners.row[c];
              if (row < 0) continue;
              const wgt = a * corners.w[c];
              const base = (row * M + m) * D;
              for (let d = 0; d < D; d++) acc[d] += wgt * val[base + d];
            }
          }
        }
        o.set(acc, head * D);
      }
    }
  }
};

/** Gradients for value, sampling locations and attention weights from dL/dout. */
const msdaBackward: Kernel = ([value, loc, attn, gOut], [gValue, gLoc, gAttn], attrs) => {
  const { N, S, M, D, Lq, L, P, heights, widths, starts } = layout(value, loc, attrs);
  const val = value.buf as TypedArray;
  const xy = loc.buf as TypedArray;
  const aw = attn.buf as TypedArray;
  const go = gOut.buf as TypedArray;
  const dVal = gValue.buf as TypedArray;
  const dXy = gLoc.buf as TypedArray;
  const dAw = gAttn.buf as TypedArray;
  dVal.fill(0);
  dXy.fill(0);
  dAw.fill(0);
  const corners = new Corners();
  for (let n = 0; n < N; n++) {
    for (let q = 0; q < Lq; q++) {
      for (let m = 0; m < M; m++) {
        const head = (n * Lq + q) * M + m;
        const gBase = head * D;
        for (let l = 0; l < L; l++) {
          const H = heights[l];
          const W = widths[l];
          for (let p = 0; p < P; p++) {
            const i = (head * L + l) * P + p;
            const u = xy[2 * i] * W - 0.5;
            const v = xy[2 * i + 1] * H - 0.5;
            if (!corners.locate(u, v, H, W, n * S + starts[l])) continue;
            const a = aw[i];
            let sample = 0;
            let du = 0;
            let dv = 0;
            for (let c = 0; c < 4; c++) {
              const row = corners.row[c];
              if (row < 0) continue;
              const base = (row * M + m) * D;
              const wgt = a * corners.w[c];
              let dot = 0;
              for (let d = 0; d < D; d++) {
                const g = go[gBase + d];
                dot += g * val[base + d];
                dVal[base + d] += wgt * g;
              }
              sample += corners.w[c] * dot;
              du += corners.dwdu[c] * dot;
              dv += corners.dwdv[c] * dot;
            }
            dAw[i] = sample;
            dXy[2 * i] = a * du * W;
            dXy[2 * i + 1] = a * dv * H;
          }
        }
      }
    }
  }
};

export const msdaKernels: Record<string, Kernel> = {
  msda: msdaForward,
  msda_backward: msdaBackward,
};
