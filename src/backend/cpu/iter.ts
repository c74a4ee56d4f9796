import type { Shape } from "../../tensor/shape.ts";

/**
 * Walks `shape` in row-major order, calling `inner(offsets, count, innerStrides)` once per
 * run of the last axis with the flat offsets of each operand (given by its strides).
 */
export function walk(
  shape: Shape,
  strides: number[][],
  inner: (offsets: number[], count: number, innerStrides: number[]) => void,
): void {
  const rank = shape.length;
  const nOps = strides.length;
  if (rank === 0) {
    inner(new Array(nOps).fill(0), 1, new Array(nOps).fill(0));
    return;
  }
  if (shape.some((d) => d === 0)) return;
  const last = shape[rank - 1];
  const innerStrides = strides.map((s) => s[rank - 1]);
  const idx = new Array<number>(rank - 1).fill(0);
  const offsets = new Array<number>(nOps).fill(0);
  let outer = 1;
  for (let i = 0; i < rank - 1; i++) outer *= shape[i];
  for (let o = 0; o < outer; o++) {
    inner(offsets, last, innerStrides);
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]++;
      for (let k = 0; k < nOps; k++) offsets[k] += strides[k][ax];
      if (idx[ax] < shape[ax]) break;
      for (let k = 0; k < nOps; k++) offsets[k] -= strides[k][ax] * shape[ax];
      idx[ax] = 0;
    }
  }
}
