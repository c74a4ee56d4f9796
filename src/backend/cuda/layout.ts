/**
 * Host-side layout helpers for the CUDA kernels: dtype codes, axis merging (fewer axes =
 * less index arithmetic on the device, and most tensors fit the kernels' rank-8 limit after
 * merging) and packing of shapes/strides into the int64 arrays the C ABI takes.
 */
import type { DType } from "../../tensor/dtype.ts";

export const DT: Record<DType, number> = { f32: 0, i32: 1, u8: 2, bool: 3, f64: -1 };

export function dtCode(op: string, dtype: DType): number {
  const c = DT[dtype];
  if (c === undefined || c < 0) throw new Error(`cuda: ${op}: dtype ${dtype} is not supported`);
  return c;
}

export function bytesOf(dtype: DType): number {
  return dtype === "f32" || dtype === "i32" ? 4 : 1;
}

export function i64(values: readonly number[]): BigInt64Array {
  const a = new BigInt64Array(Math.max(values.length, 1));
  for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
  return a;
}

export interface Merged {
  shape: number[];
  strides: number[][];
}

/**
 * Drops size-1 axes and merges neighbouring axes whose strides chain
 * (outer stride = inner stride * inner size) in every operand. The row-major iteration
 * order over `shape` is unchanged.
 */
export function mergeAxes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Merged {
  const outShape: number[] = [];
  const out: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (n !== 0 && last >= 0 && strides.every((s, k) => out[k][last] === s[d] * n)) {
      outShape[last] *= n;
      strides.forEach((s, k) => (out[k][last] = s[d]));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => out[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: out };
}

/** [outer, n, inner] around one axis. */
export function around(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis] ?? 1, inner];
}

export function requireF32(op: string, ...ts: { dtype: DType }[]): void {
  for (const t of ts) {
    if (t.dtype !== "f32") throw new Error(`cuda: ${op} supports f32 only (got ${t.dtype})`);
  }
}
