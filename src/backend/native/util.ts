/**
 * Helpers shared by the native kernel overrides of kernels_*.ts: int64 metadata buffers and
 * a per-kernel count of the calls that ran in C (tests check it to know the C path ran).
 */
import type { KernelInput, KernelOutput } from "../backend.ts";
import { bytesPerElement } from "../../tensor/dtype.ts";

/** Calls of each overriding kernel that ran in C (not in the fallback), by kernel name. */
export const NATIVE_CALLS: Record<string, number> = {};

export function countCall(kernel: string): void {
  NATIVE_CALLS[kernel] = (NATIVE_CALLS[kernel] ?? 0) + 1;
}

const SCRATCH = new BigInt64Array(128);

/** The values as int64 metadata; a shared scratch buffer (C reads it before returning). */
export function meta(values: readonly number[]): BigInt64Array {
  if (values.length > SCRATCH.length) return BigInt64Array.from(values, (v) => BigInt(v));
  for (let i = 0; i < values.length; i++) SCRATCH[i] = BigInt(values[i]);
  return SCRATCH;
}

export const isF32 = (t: KernelInput | KernelOutput): boolean => t.dtype === "f32";

export const byteSize = (t: KernelInput | KernelOutput): number => bytesPerElement(t.dtype);

export const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
