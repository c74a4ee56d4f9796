/** Small helpers shared by the kernel modules. */
import type { KernelInput, KernelOutput } from "../../backend.ts";
import type { DType } from "../../../tensor/dtype.ts";
import type { GpuBuffer } from "../runtime.ts";
import { storageOf } from "../layout.ts";

/** WGSL `const` declarations from a record (numbers become u32, booleans bool). */
export function consts(c: Record<string, number | boolean>): string {
  return Object.entries(c)
    .map(([k, v]) =>
      typeof v === "boolean" ? `const ${k}: bool = ${v};` : `const ${k}: u32 = ${v >>> 0}u;`
    )
    .join("\n");
}

export function gbuf(t: KernelInput | KernelOutput): GpuBuffer {
  return t.buf as GpuBuffer;
}

const f32v = new Float32Array(1);
const u32v = new Uint32Array(f32v.buffer);

/** The 32-bit storage word a typed array of `dtype` holds after `a[i] = value`. */
export function storageWord(value: number, dtype: DType): number {
  switch (storageOf(dtype)) {
    case "f32":
      f32v[0] = value;
      return u32v[0];
    case "i32":
      return new Int32Array([value])[0] >>> 0;
    default:
      return new Uint8Array([value])[0];
  }
}

export function requireF32(op: string, ...ts: (KernelInput | KernelOutput)[]): void {
  for (const t of ts) {
    if (t.dtype !== "f32") throw new Error(`webgpu: ${op} supports f32 only (got ${t.dtype})`);
  }
}
