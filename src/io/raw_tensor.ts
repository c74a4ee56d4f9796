/** Framework-agnostic tensor as read from / written to checkpoint files. */
export type RawDType = "f32" | "f64" | "i32" | "u8" | "bool";

export type RawData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface RawTensor {
  dtype: RawDType;
  shape: number[];
  /** Row-major (C-contiguous) values; "bool" is stored as 0/1 bytes. */
  data: RawData;
}

export const RAW_DTYPES: readonly RawDType[] = ["f32", "f64", "i32", "u8", "bool"];

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isRawTensor(value: unknown): value is RawTensor {
  if (typeof value !== "object" || value === null) return false;
  const t = value as Partial<RawTensor>;
  return typeof t.dtype === "string" && RAW_DTYPES.includes(t.dtype as RawDType) &&
    Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

function dataMatchesDType(dtype: RawDType, data: RawData): boolean {
  switch (dtype) {
    case "f32":
      return data instanceof Float32Array;
    case "f64":
      return data instanceof Float64Array;
    case "i32":
      return data instanceof Int32Array;
    case "u8":
    case "bool":
      return data instanceof Uint8Array;
  }
}

/** Throws an Error naming `name` when the tensor's shape, dtype and data disagree. */
export function assertValidRawTensor(tensor: RawTensor, name: string): void {
  if (!RAW_DTYPES.includes(tensor.dtype)) {
    throw new Error(`tensor "${name}": unknown dtype ${String(tensor.dtype)}`);
  }
  for (const d of tensor.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`tensor "${name}": invalid shape [${tensor.shape.join(", ")}]`);
    }
  }
  if (!dataMatchesDType(tensor.dtype, tensor.data)) {
    throw new Error(
      `tensor "${name}": dtype ${tensor.dtype} does not match data ${tensor.data.constructor.name}`,
    );
  }
  const numel = numelOf(tensor.shape);
  if (tensor.data.length !== numel) {
    throw new Error(
      `tensor "${name}": shape [${
        tensor.shape.join(", ")
      }] needs ${numel} values but data has ${tensor.data.length}`,
    );
  }
}
