import type { Attrs, Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";

/** Sizes of a conv2d call, shared by the backends' conv kernels. */
export interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  groups: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/**
 * A conv as one GEMM per (image, group): Og output channels per group, Kc = C / groups * KH *
 * KW reduction length, P = OH * OW output positions.
 */
export function gemmShape(g: Geometry): { Og: number; Kc: number; P: number } {
  return { Og: g.O / g.groups, Kc: (g.C / g.groups) * g.KH * g.KW, P: g.OH * g.OW };
}

export function geometry(
  xShape: readonly number[],
  wShape: readonly number[],
  attrs: Attrs,
): Geometry {
  return {
    N: xShape[0],
    C: xShape[1],
    H: xShape[2],
    W: xShape[3],
    O: wShape[0],
    KH: wShape[2],
    KW: wShape[3],
    OH: attrs.outSize[0],
    OW: attrs.outSize[1],
    groups: attrs.groups,
    stride: attrs.stride,
    padding: attrs.padding,
    dilation: attrs.dilation,
  };
}

/** Column matrix [Cg*KH*KW, OH*OW] of image n, group g. */
function im2col(x: TypedArray, g: Geometry, n: number, grp: number, col: Float64Array): void {
  const Cg = g.C / g.groups;
  const P = g.OH * g.OW;
  let row = 0;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * g.C + grp * Cg + c) * g.H * g.W;
    for (let kh = 0; kh < g.KH; kh++) {
      for (let kw = 0; kw < g.KW; kw++, row++) {
        const base = row * P;
        for (let oh = 0; oh < g.OH; oh++) {
          const ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
          for (let ow = 0; ow < g.OW; ow++) {
            const iw = ow * g.stride[1] - g.padding[1] + kw * g.dilation[1];
            col[base + oh * g.OW + ow] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W
              ? x[plane + ih * g.W + iw]
              : 0;
          }
        }
      }
    }
  }
}

function col2imAdd(col: Float64Array, g: Geometry, n: number, grp: number, dx: TypedArray) {
  const Cg = g.C / g.groups;
  const P = g.OH * g.OW;
  let row = 0;
  for (let c = 0; c < Cg; c++) {
    const plane = (n * g.C + grp * Cg + c) * g.H * g.W;
    for (let kh = 0; kh < g.KH; kh++) {
      for (let kw = 0; kw < g.KW; kw++, row++) {
        const base = row * P;
        for (let oh = 0; oh < g.OH; oh++) {
          const ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
          if (ih < 0 || ih >= g.H) continue;
          for (let ow = 0; ow < g.OW; ow++) {
            const iw = ow * g.stride[1] - g.padding[1] + kw * g.dilation[1];
            if (iw >= 0 && iw < g.W) dx[plane + ih * g.W + iw] += col[base + oh * g.OW + ow];
          }
        }
      }
    }
  }
}

const conv2d: Kernel = ([x, w], [out], attrs) => {
  const g = geometry(x.shape, w.shape, attrs);
  const a = x.buf as TypedArray;
  const wt = w.buf as TypedArray;
  const o = out.buf as TypedArray;
  const Cg = g.C / g.groups;
  const Og = g.O / g.groups;
  const Kc = Cg * g.KH * g.KW;
  const P = g.OH * g.OW;
  const col = new Float64Array(Kc * P);
  const acc = new Float64Array(P);
  for (let n = 0; n < g.N; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(a, g, n, grp, col);
      for (let oc = 0; oc < Og; oc++) {
        acc.fill(0);
        const wrow = (grp * Og + oc) * Kc;
        for (let k = 0; k < Kc; k++) {
          const wv = wt[wrow + k];
          const cb = k * P;
          for (let p = 0; p < P; p++) acc[p] += wv * col[cb + p];
        }
        o.set(acc, (n * g.O + grp * Og + oc) * P);
      }
    }
  }
};

/** dL/dx from dL/dy [N, O, OH, OW] and w; attrs.inputShape gives x's shape. */
const conv2dInputGrad: Kernel = ([gy, w], [out], attrs) => {
  const g = geometry(out.shape, w.shape, attrs);
  const dy = gy.buf as TypedArray;
  const wt = w.buf as TypedArray;
  const dx = out.buf as TypedArray;
  const Cg = g.C / g.groups;
  const Og = g.O / g.groups;
  const Kc = Cg * g.KH * g.KW;
  const P = g.OH * g.OW;
  const col = new Float64Array(Kc * P);
  for (let n = 0; n < g.N; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      col.fill(0);
      for (let oc = 0; oc < Og; oc++) {
        const wrow = (grp * Og + oc) * Kc;
        const dyb = (n * g.O + grp * Og + oc) * P;
        for (let k = 0; k < Kc; k++) {
          const wv = wt[wrow + k];
          const cb = k * P;
          for (let p = 0; p < P; p++) col[cb + p] += wv * dy[dyb + p];
        }
      }
      col2imAdd(col, g, n, grp, dx);
    }
  }
};

/** dL/dw from x and dL/dy; attrs.weightShape gives w's shape. */
const conv2dWeightGrad: Kernel = ([x, gy], [out], attrs) => {
  const g = geometry(x.shape, out.shape, attrs);
  const a = x.buf as TypedArray;
  const dy = gy.buf as TypedArray;
  const dw = out.buf as TypedArray;
  const Cg = g.C / g.groups;
  const Og = g.O / g.groups;
  const Kc = Cg * g.KH * g.KW;
  const P = g.OH * g.OW;
  const col = new Float64Array(Kc * P);
  const acc = new Float64Array(dw.length);
  for (let n = 0; n < g.N; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      im2col(a, g, n, grp, col);
      for (let oc = 0; oc < Og; oc++) {
        const dyb = (n * g.O + grp * Og + oc) * P;
        const wrow = (grp * Og + oc) * Kc;
        for (let k = 0; k < Kc; k++) {
          const cb = k * P;
          let s = 0;
          for (let p = 0; p < P; p++) s += dy[dyb + p] * col[cb + p];
          acc[wrow + k] += s;
        }
      }
    }
  }
  dw.set(acc);
};

function poolWindows(
  shape: readonly number[],
  outShape: readonly number[],
  attrs: Attrs,
  visit: (inPlane: number, outIdx: number, h0: number, w0: number) => void,
) {
  const [N, C] = shape;
  const [OH, OW] = [outShape[2], outShape[3]];
  const { stride, padding } = attrs;
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        visit(
          nc * shape[2] * shape[3],
          (nc * OH + oh) * OW + ow,
          oh * stride[0] - padding[0],
          ow * stride[1] - padding[1],
        );
      }
    }
  }
}

/** Position of the window maximum (first one; NaN wins), or -1 for an empty window. */
function argmaxWindow(
  a: TypedArray,
  plane: number,
  H: number,
  W: number,
  h0: number,
  w0: number,
  k: number[],
) {
  let best = -Infinity;
  let at = -1;
  for (let i = Math.max(h0, 0); i < Math.min(h0 + k[0], H); i++) {
    for (let j = Math.max(w0, 0); j < Math.min(w0 + k[1], W); j++) {
      const v = a[plane + i * W + j];
      if (at < 0 || v > best || Number.isNaN(v) && !Number.isNaN(best)) {
        best = v;
        at = plane + i * W + j;
      }
    }
  }
  return at;
}

const maxPool2d: Kernel = ([x], [out], attrs) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [H, W] = [x.shape[2], x.shape[3]];
  poolWindows(x.shape, out.shape, attrs, (plane, oi, h0, w0) => {
    const at = argmaxWindow(a, plane, H, W, h0, w0, attrs.kernel);
    o[oi] = at < 0 ? -Infinity : a[at];
  });
};

const maxPool2dBackward: Kernel = ([x, gy], [out], attrs) => {
  const a = x.buf as TypedArray;
  const dy = gy.buf as TypedArray;
  const dx = out.buf as TypedArray;
  const [H, W] = [x.shape[2], x.shape[3]];
  poolWindows(x.shape, gy.shape, attrs, (plane, oi, h0, w0) => {
    const at = argmaxWindow(a, plane, H, W, h0, w0, attrs.kernel);
    if (at >= 0) dx[at] += dy[oi];
  });
};

/** Average pooling counting padded positions (PyTorch's count_include_pad=True). */
const avgPool2d: Kernel = ([x], [out], attrs) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [H, W] = [x.shape[2], x.shape[3]];
  const k = attrs.kernel;
  poolWindows(x.shape, out.shape, attrs, (plane, oi, h0, w0) => {
    let s = 0;
    for (let i = Math.max(h0, 0); i < Math.min(h0 + k[0], H); i++) {
      for (let j = Math.max(w0, 0); j < Math.min(w0 + k[1], W); j++) s += a[plane + i * W + j];
    }
    const hEnd = Math.min(h0 + k[0], H + attrs.padding[0]);
    const wEnd = Math.min(w0 + k[1], W + attrs.padding[1]);
    o[oi] = s / ((hEnd - h0) * (wEnd - w0));
  });
};

const avgPool2dBackward: Kernel = ([gy], [out], attrs) => {
  const dy = gy.buf as TypedArray;
  const dx = out.buf as TypedArray;
  const [H, W] = [out.shape[2], out.shape[3]];
  const k = attrs.kernel;
  poolWindows(out.shape, gy.shape, attrs, (plane, oi, h0, w0) => {
    const hEnd = Math.min(h0 + k[0], H + attrs.padding[0]);
    const wEnd = Math.min(w0 + k[1], W + attrs.padding[1]);
    const share = dy[oi] / ((hEnd - h0) * (wEnd - w0));
    for (let i = Math.max(h0, 0); i < Math.min(h0 + k[0], H); i++) {
      for (let j = Math.max(w0, 0); j < Math.min(w0 + k[1], W); j++) dx[plane + i * W + j] += share;
    }
  });
};

export const convKernels: Record<string, Kernel> = {
  conv2d,
  conv2d_input_grad: conv2dInputGrad,
  conv2d_weight_grad: conv2dWeightGrad,
  max_pool2d: maxPool2d,
  max_pool2d_backward: maxPool2dBackward,
  avg_pool2d: avgPool2d,
  avg_pool2d_backward: avgPool2dBackward,
};
