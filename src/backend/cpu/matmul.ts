import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import { broadcastStrides } from "../../tensor/shape.ts";
import { walk } from "./iter.ts";

/**
 * Batched matmul with broadcast batch axes. `transA`/`transB` read a as [.., K, M] and
 * b as [.., N, K], so backward formulas need no transposed copies.
 */
export const matmul: Kernel = ([x, y], [out], { transA = false, transB = false }) => {
  const a = x.buf as TypedArray;
  const b = y.buf as TypedArray;
  const o = out.buf as TypedArray;
  const r = out.shape.length;
  const M = out.shape[r - 2];
  const N = out.shape[r - 1];
  const K = transA ? x.shape[x.shape.length - 2] : x.shape[x.shape.length - 1];
  const batch = out.shape.slice(0, r - 2);
  const sa = broadcastStrides(x.shape.slice(0, -2), batch).map((s) => s * M * K);
  const sb = broadcastStrides(y.shape.slice(0, -2), batch).map((s) => s * K * N);
  const acc = new Float64Array(N);
  let ob = 0;
  const one = (oa: number, obb: number) => {
    for (let i = 0; i < M; i++) {
      if (transB) {
        const aStep = transA ? M : 1;
        const pa0 = oa + (transA ? i : i * K);
        let j = 0;
        // four output columns at once: independent accumulators share each load of a
        for (; j + 4 <= N; j += 4) {
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          const b0 = obb + j * K;
          for (let k = 0, pa = pa0; k < K; k++, pa += aStep) {
            const av = a[pa];
            s0 += av * b[b0 + k];
            s1 += av * b[b0 + K + k];
            s2 += av * b[b0 + 2 * K + k];
            s3 += av * b[b0 + 3 * K + k];
          }
          const po = ob + i * N + j;
          o[po] = s0;
          o[po + 1] = s1;
          o[po + 2] = s2;
          o[po + 3] = s3;
        }
        for (; j < N; j++) {
          let s = 0;
          const pb = obb + j * K;
          for (let k = 0, pa = pa0; k < K; k++, pa += aStep) s += a[pa] * b[pb + k];
          o[ob + i * N + j] = s;
        }
      } else {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const av = a[oa + (transA ? k * M + i : i * K + k)];
          const pb = obb + k * N;
          for (let j = 0; j < N; j++) acc[j] += av * b[pb + j];
        }
        for (let j = 0; j < N; j++) o[ob + i * N + j] = acc[j];
      }
    }
    ob += M * N;
  };
  if (batch.length === 0) {
    one(0, 0);
    return;
  }
  walk(batch, [sa, sb], ([oa, obb], n, [ia, ib]) => {
    for (let j = 0; j < n; j++) one(oa + j * ia, obb + j * ib);
  });
};
