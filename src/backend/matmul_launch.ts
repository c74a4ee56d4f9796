import { broadcastStrides, type Shape, sizeOf } from "../tensor/shape.ts";

/** The GEMM a batched matmul launch runs, shared by the accelerated backends. */
export interface MatmulLaunch {
  M: number;
  N: number;
  K: number;
  /** Batch axes of the output, with each operand's element stride per step of each axis. */
  batch: number[];
  sa: number[];
  sb: number[];
}

/**
 * M, N, K and the batch of `x @ y -> out` (shapes as given to the kernel). A right operand shared
 * by every batch entry (a linear layer) folds x's batch into M: one GEMM instead of many thin
 * ones ([72000, 1, 256] x W^T is otherwise 72000 products of one row).
 */
export function matmulLaunch(x: Shape, y: Shape, out: Shape, transA: boolean): MatmulLaunch {
  const r = out.length;
  const M = out[r - 2];
  const N = out[r - 1];
  const K = transA ? x[x.length - 2] : x[x.length - 1];
  const batch = out.slice(0, r - 2);
  const sa = broadcastStrides(x.slice(0, -2), batch).map((s) => s * M * K);
  const sb = broadcastStrides(y.slice(0, -2), batch).map((s) => s * K * N);
  // size-1 axes step nowhere; every other axis must step through x and not through y
  const shared = batch.every((d, i) => d === 1 || (sb[i] === 0 && sa[i] !== 0));
  if (!transA && batch.length > 0 && shared) {
    return { M: M * sizeOf(batch), N, K, batch: [], sa: [], sb: [] };
  }
  return { M, N, K, batch, sa, sb };
}
