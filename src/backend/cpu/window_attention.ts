import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import {
  type WindowAttentionGeometry,
  windowAttentionGeometry,
} from "../window_attention_geometry.ts";

/**
 * window_attention and its backward op (src/ops/window_attention.ts) in float64 arithmetic,
 * one (window, head) at a time: logits s = scale q k^T + bias + mask, a max-shifted softmax,
 * p v. The backward recomputes p = exp(s - lse) from the saved log-sum-exp and, with
 * dp = dout v^T and ds = p (dp - rowsum(p dp)), returns dq = scale ds k, dk = scale ds^T q,
 * dv = p^T dout and dbias = the sum of ds over the windows.
 */

/** Offsets of one (window, head): rows of q / k / v (stride 3C) and of out (stride C). */
function slots(g: WindowAttentionGeometry, b: number, h: number) {
  const ld = 3 * g.c;
  const q = b * g.n * ld + h * g.headDim;
  return { ld, q, k: q + g.c, v: q + 2 * g.c, o: b * g.n * g.c + h * g.headDim };
}

/** Row i of the logits of window b, head h into s (float64). */
function logitRow(
  g: WindowAttentionGeometry,
  qkv: TypedArray,
  bias: TypedArray,
  mask: TypedArray | null,
  b: number,
  h: number,
  i: number,
  scale: number,
  s: Float64Array,
): void {
  const { n, headDim } = g;
  const { ld, q, k } = slots(g, b, h);
  const qi = q + i * ld;
  const bRow = (h * n + i) * n;
  const mRow = ((b % g.nW) * n + i) * n;
  for (let j = 0; j < n; j++) {
    const kj = k + j * ld;
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += qkv[qi + d] * qkv[kj + d];
    s[j] = scale * dot + bias[bRow + j] + (mask ? mask[mRow + j] : 0);
  }
}

const forward: Kernel = (ins, [out, lse], attrs) => {
  const [qkvIn, biasIn, maskIn] = ins;
  const g = windowAttentionGeometry(qkvIn.shape, attrs, maskIn?.shape ?? null);
  const { windows, n, heads, headDim, c } = g;
  const qkv = qkvIn.buf as TypedArray;
  const bias = biasIn.buf as TypedArray;
  const mask = maskIn ? (maskIn.buf as TypedArray) : null;
  const o = out.buf as TypedArray;
  const l = lse.buf as TypedArray;
  const s = new Float64Array(n);
  const acc = new Float64Array(headDim);
  for (let b = 0; b < windows; b++) {
    for (let h = 0; h < heads; h++) {
      const { ld, v, o: o0 } = slots(g, b, h);
      for (let i = 0; i < n; i++) {
        logitRow(g, qkv, bias, mask, b, h, i, attrs.scale, s);
        let m = -Infinity;
        for (let j = 0; j < n; j++) m = Math.max(m, s[j]);
        if (m === -Infinity) m = 0; // an all -inf row: the reference softmax's shift
        let sum = 0;
        for (let j = 0; j < n; j++) sum += s[j] = Math.exp(s[j] - m);
        acc.fill(0);
        for (let j = 0; j < n; j++) {
          const p = s[j] / sum;
          const vj = v + j * ld;
          for (let d = 0; d < headDim; d++) acc[d] += p * qkv[vj + d];
        }
        o.set(acc, o0 + i * c);
        l[(b * heads + h) * n + i] = m + Math.log(sum);
      }
    }
  }
};

const backward: Kernel = (ins, [dqkvOut, dbiasOut], attrs) => {
  const [gIn, qkvIn, biasIn, , lseIn, maskIn] = ins;
  const g = windowAttentionGeometry(qkvIn.shape, attrs, maskIn?.shape ?? null);
  const { windows, n, heads, headDim, c } = g;
  const scale = attrs.scale as number;
  const gout = gIn.buf as TypedArray;
  const qkv = qkvIn.buf as TypedArray;
  const bias = biasIn.buf as TypedArray;
  const lse = lseIn.buf as TypedArray;
  const mask = maskIn ? (maskIn.buf as TypedArray) : null;
  const dqkv = dqkvOut.buf as TypedArray;
  const dbias = new Float64Array(heads * n * n);
  const p = new Float64Array(n);
  const dp = new Float64Array(n);
  const dq = new Float64Array(headDim);
  const dk = new Float64Array(n * headDim);
  const dv = new Float64Array(n * headDim);
  for (let b = 0; b < windows; b++) {
    for (let h = 0; h < heads; h++) {
      const { ld, q, k, v, o: o0 } = slots(g, b, h);
      dk.fill(0);
      dv.fill(0);
      for (let i = 0; i < n; i++) {
        logitRow(g, qkv, bias, mask, b, h, i, scale, p);
        const li = lse[(b * heads + h) * n + i];
        const gi = o0 + i * c;
        let rowDot = 0;
        for (let j = 0; j < n; j++) {
          p[j] = Math.exp(p[j] - li);
          const vj = v + j * ld;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += gout[gi + d] * qkv[vj + d];
          dp[j] = dot;
          rowDot += p[j] * dot;
        }
        dq.fill(0);
        const qi = q + i * ld;
        for (let j = 0; j < n; j++) {
          const ds = p[j] * (dp[j] - rowDot);
          dbias[(h * n + i) * n + j] += ds;
          const kj = k + j * ld;
          for (let d = 0; d < headDim; d++) {
            dq[d] += ds * qkv[kj + d];
            dk[j * headDim + d] += ds * qkv[qi + d];
            dv[j * headDim + d] += p[j] * gout[gi + d];
          }
        }
        for (let d = 0; d < headDim; d++) dqkv[qi + d] = scale * dq[d];
      }
      for (let j = 0; j < n; j++) {
        for (let d = 0; d < headDim; d++) {
          dqkv[k + j * ld + d] = scale * dk[j * headDim + d];
          dqkv[v + j * ld + d] = dv[j * headDim + d];
        }
      }
    }
  }
  (dbiasOut.buf as TypedArray).set(dbias);
};

export const windowAttentionKernels: Record<string, Kernel> = {
  window_attention: forward,
  window_attention_backward: backward,
};
