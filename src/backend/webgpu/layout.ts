/**
 * Data layout on the GPU: f32 as f32, i32 as i32, u8 and bool as one u32 word per element
 * (WGSL has no 8-bit storage type; only the low 8 bits are meaningful, like a Uint8Array
 * that wraps modulo 256). Plus helpers for index arithmetic shared by kernels.
 */
import type { DType } from "../../tensor/dtype.ts";
import { stridesOf } from "../../tensor/shape.ts";

export type Storage = "f32" | "i32" | "u32";
/** The type a kernel computes in. */
export type Compute = "f32" | "i32";

export const GPU_DTYPES: readonly DType[] = ["f32", "i32", "u8", "bool"];

export function storageOf(dtype: DType): Storage {
  switch (dtype) {
    case "f32":
      return "f32";
    case "i32":
      return "i32";
    case "u8":
    case "bool":
      return "u32";
    default:
      throw new Error(`webgpu: dtype ${dtype} is not supported (f32, i32, u8, bool)`);
  }
}

export function isIntDtype(d: DType): boolean {
  return d === "i32" || d === "u8" || d === "bool";
}

/** WGSL expression converting storage value `v` of `dtype` into compute type `ct`. */
export function loadExpr(dtype: DType, ct: Compute, v: string): string {
  const s = storageOf(dtype);
  if (s === "f32") return ct === "f32" ? v : `f32_to_i32_wrap(${v})`;
  if (s === "i32") return ct === "i32" ? v : `f32(${v})`;
  return ct === "i32" ? `i32(${v} & 255u)` : `f32(${v} & 255u)`;
}

/**
 * WGSL expression converting compute value `v` into the storage of `dtype` with the CPU
 * reference's semantics when a JS number is stored into a typed array (Int32Array wraps
 * after truncation, Uint8Array keeps the low 8 bits).
 */
export function storeExpr(dtype: DType, ct: Compute, v: string): string {
  const s = storageOf(dtype);
  if (s === "f32") return ct === "f32" ? v : `f32(${v})`;
  const asInt = ct === "i32" ? v : `f32_to_i32_wrap(${v})`;
  if (s === "i32") return asInt;
  return `(bitcast<u32>(${asInt}) & 255u)`;
}

/**
 * Merges adjacent axes that every operand walks contiguously (and drops size-1 axes), so
 * kernels index with the smallest rank. `strides[k]` are operand k's strides over `shape`.
 */
export function coalesce(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => (d !== 1 ? i : -1)).filter((i) => i >= 0);
  let sh = keep.map((i) => shape[i]);
  let st = strides.map((s) => keep.map((i) => s[i]));
  if (sh.length === 0) return { shape: [], strides: strides.map(() => []) };
  const outShape = [sh[sh.length - 1]];
  const outSt = st.map((s) => [s[s.length - 1]]);
  for (let d = sh.length - 2; d >= 0; d--) {
    const inner = outShape[0];
    const ok = st.every((s, k) => s[d] === outSt[k][0] * inner);
    if (ok) {
      outShape[0] *= sh[d];
    } else {
      outShape.unshift(sh[d]);
      st.forEach((s, k) => outSt[k].unshift(s[d]));
    }
  }
  sh = outShape;
  st = outSt;
  return { shape: sh, strides: st };
}

export function contiguous(shape: readonly number[]): number[] {
  return stridesOf(shape);
}

export function product(xs: readonly number[]): number {
  let n = 1;
  for (const x of xs) n *= x;
  return n;
}

/** (outer, size, inner) around `axis`. */
export function around(shape: readonly number[], axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis] ?? 1, inner];
}

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
