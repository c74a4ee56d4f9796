import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import { normGeometry, type NormKind } from "../norm_geometry.ts";

/**
 * layer_norm / group_norm and their backward ops over the rows of norm_geometry.ts, in float64
 * arithmetic (two passes: the mean, then the biased variance around it).
 */

function affine(ins: KernelInput[], attrs: Attrs, first: number) {
  const w = attrs.hasWeight ? (ins[first].buf as TypedArray) : null;
  const b = attrs.hasBias ? (ins[first + (w ? 1 : 0)].buf as TypedArray) : null;
  return { w, b };
}

function forward(kind: NormKind): Kernel {
  return (ins, [y, mean, rstd], attrs) => {
    const { rows, rowLen, groups, cg, hw } = normGeometry(kind, ins[0].shape, attrs);
    const x = ins[0].buf as TypedArray;
    const { w, b } = affine(ins, attrs, 1);
    const out = y.buf as TypedArray;
    const mu = mean.buf as TypedArray;
    const rs = rstd.buf as TypedArray;
    for (let r = 0; r < rows; r++) {
      const s = r * rowLen;
      let sum = 0;
      for (let j = 0; j < rowLen; j++) sum += x[s + j];
      const m = sum / rowLen;
      let sq = 0;
      for (let j = 0; j < rowLen; j++) sq += (x[s + j] - m) ** 2;
      const inv = 1 / Math.sqrt(sq / rowLen + attrs.eps);
      mu[r] = m;
      rs[r] = inv;
      const c0 = (r % groups) * cg;
      for (let k = 0; k < cg; k++) {
        const scale = w ? w[c0 + k] * inv : inv;
        const shift = b ? b[c0 + k] : 0;
        for (let i = s + k * hw, e = i + hw; i < e; i++) out[i] = (x[i] - m) * scale + shift;
      }
    }
  };
}

/**
 * With xhat = (x - mean) * rstd and g = gy * weight:
 * dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat)), dweight = sum gy * xhat,
 * dbias = sum gy (sums over every row element of that channel).
 */
function backward(kind: NormKind): Kernel {
  return (ins, [dxOut, dwOut, dbOut], attrs) => {
    const [gyIn, xIn, meanIn, rstdIn] = ins;
    const { rows, rowLen, groups, cg, hw, channels } = normGeometry(kind, xIn.shape, attrs);
    const gy = gyIn.buf as TypedArray;
    const x = xIn.buf as TypedArray;
    const mu = meanIn.buf as TypedArray;
    const rs = rstdIn.buf as TypedArray;
    const w = attrs.hasWeight ? (ins[4].buf as TypedArray) : null;
    const dx = dxOut.buf as TypedArray;
    const accW = new Float64Array(dwOut ? channels : 0);
    const accB = new Float64Array(dbOut ? channels : 0);
    for (let r = 0; r < rows; r++) {
      const s = r * rowLen;
      const m = mu[r];
      const inv = rs[r];
      const c0 = (r % groups) * cg;
      let sumG = 0;
      let sumGx = 0;
      for (let k = 0; k < cg; k++) {
        let s1 = 0;
        let s2 = 0;
        for (let i = s + k * hw, e = i + hw; i < e; i++) {
          s1 += gy[i];
          s2 += gy[i] * (x[i] - m) * inv;
        }
        const wc = w ? w[c0 + k] : 1;
        sumG += wc * s1;
        sumGx += wc * s2;
        if (dwOut) {
          accW[c0 + k] += s2;
          accB[c0 + k] += s1;
        }
      }
      const a = sumG / rowLen;
      const bx = sumGx / rowLen;
      for (let k = 0; k < cg; k++) {
        const wc = w ? w[c0 + k] : 1;
        for (let i = s + k * hw, e = i + hw; i < e; i++) {
          dx[i] = inv * (gy[i] * wc - a - (x[i] - m) * inv * bx);
        }
      }
    }
    if (dwOut) {
      (dwOut.buf as TypedArray).set(accW);
      (dbOut.buf as TypedArray).set(accB);
    }
  };
}

export const normKernels: Record<string, Kernel> = {
  layer_norm: forward("layer_norm"),
  layer_norm_backward: backward("layer_norm"),
  group_norm: forward("group_norm"),
  group_norm_backward: backward("group_norm"),
};
