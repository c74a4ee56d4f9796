/**
 * Helpers shared by the native kernel overrides of kernels_*.ts: int64 metadata buffers and
 * a per-kernel count of the calls that ran in C (tests check it to know the C path ran).
 */
import type { Attrs, Kernel, KernelInput, KernelOutput } from "../backend.ts";
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

/** The Float32Array of an f32 kernel tensor. */
export const f32Buf = (t: KernelInput | KernelOutput): Float32Array => t.buf as Float32Array;

/**
 * A C override of the CPU kernel `name` for all-f32 tensors: `run` calls the C function and
 * returns nonzero when it ran (zero: it declined, e.g. a shape beyond its workspace). Other
 * dtypes, and declined calls, run the CPU kernel.
 */
export function f32Override(
  name: string,
  cpu: Readonly<Record<string, Kernel>>,
  run: (ins: KernelInput[], outs: KernelOutput[], attrs: Attrs) => number | boolean,
): Kernel {
  return (ins, outs, attrs) => {
    if (![...ins, ...outs].every(isF32) || !run(ins, outs, attrs)) {
      return cpu[name](ins, outs, attrs);
    }
    countCall(name);
  };
}
