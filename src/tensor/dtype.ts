/** Element types. `f64` exists on the CPU backend only (precise gradient checks). */
export type DType = "f32" | "f64" | "i32" | "u8" | "bool";

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export const DTYPES: readonly DType[] = ["f32", "f64", "i32", "u8", "bool"];

export function typedArrayFor(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "f32":
      return new Float32Array(size);
    case "f64":
      return new Float64Array(size);
    case "i32":
      return new Int32Array(size);
    case "u8":
    case "bool":
      return new Uint8Array(size);
  }
}

/**
 * Gives a host buffer's memory back now instead of at the next garbage collection (it is
 * detached: length 0 afterwards). Only for buffers nothing else refers to; small ones are
 * left to the collector.
 */
export function releaseHostBuffer(buf: TypedArray): void {
  if (buf.byteLength < RELEASE_MIN_BYTES) return;
  (buf.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer }).transfer?.(0);
}

const RELEASE_MIN_BYTES = 1 << 20;

export function bytesPerElement(dtype: DType): number {
  return dtype === "f64" ? 8 : dtype === "f32" || dtype === "i32" ? 4 : 1;
}

export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f64";
}

const RANK: Record<DType, number> = { bool: 0, u8: 1, i32: 2, f32: 3, f64: 4 };

/** Result type of mixing two dtypes in arithmetic (bool < u8 < i32 < f32 < f64). */
export function promote(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

export function dtypeOfArray(a: ArrayLike<unknown>): DType {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Float64Array) return "f64";
  if (a instanceof Int32Array) return "i32";
  if (a instanceof Uint8Array) return "u8";
  return "f32";
}

/** Converts a JS number to what storing it in `dtype` gives (PyTorch cast semantics). */
export function castScalar(v: number, dtype: DType): number {
  switch (dtype) {
    case "f32":
      return Math.fround(v);
    case "f64":
      return v;
    case "i32":
      return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
    case "u8":
      return Number.isFinite(v) ? Math.trunc(v) & 255 : 0;
    case "bool":
      return v !== 0 ? 1 : 0;
  }
}
