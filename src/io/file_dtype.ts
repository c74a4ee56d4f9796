/**
 * Element types as stored in checkpoint files (safetensors names) and their conversion to
 * RawTensor dtypes: half floats widen to f32, small/unsigned ints widen to i32, 64/32-bit
 * unsigned and I64 narrow to i32 with a range check.
 */
import type { RawData, RawDType } from "./raw_tensor.ts";

export type FileDType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

export const FILE_DTYPE_SIZES: Readonly<Record<FileDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

export const RAW_TO_FILE_DTYPE: Readonly<Record<RawDType, FileDType>> = {
  f32: "F32",
  f64: "F64",
  i32: "I32",
  u8: "U8",
  bool: "BOOL",
};

/** The RawTensor dtype each file dtype decodes to. */
export const FILE_TO_RAW_DTYPE: Readonly<Record<FileDType, RawDType>> = {
  F64: "f64",
  F32: "f32",
  F16: "f32",
  BF16: "f32",
  I64: "i32",
  I32: "i32",
  I16: "i32",
  I8: "i32",
  U64: "i32",
  U32: "i32",
  U16: "i32",
  U8: "u8",
  BOOL: "bool",
};

export function isFileDType(name: string): name is FileDType {
  return Object.hasOwn(FILE_DTYPE_SIZES, name);
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("checkpoint io: big-endian hosts are not supported");
}

let halfTable: Float32Array | undefined;

function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * fraction * 2 ** -24;
    else if (exponent === 31) halfTable[h] = fraction ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

const floatScratch = new Float32Array(1);
const floatBits = new Uint32Array(floatScratch.buffer);

/** IEEE half bits of a float32 value, rounded to nearest even (overflow gives infinity). */
export function floatToHalfBits(value: number): number {
  floatScratch[0] = value;
  const bits = floatBits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  // below the normal range: a subnormal half counts units of 2^-24, so drop 14 - e bits
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const full = e > 0 ? mantissa : mantissa | 0x800000;
  const kept = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  const roundUp = rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0;
  // a carry out of the mantissa lands in the exponent, which is the right rounding
  return sign | ((e > 0 ? e << 10 : 0) + kept + roundUp);
}

/** float32 values as little-endian F16 bytes; a finite value beyond the half range is an error. */
export function encodeHalfBytes(values: Float32Array, what: string): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = floatToHalfBits(values[i]);
    if ((out[i] & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) {
      throw new Error(`${what}: value ${values[i]} at index ${i} overflows float16 (max 65504)`);
    }
  }
  return new Uint8Array(out.buffer);
}

/** Copies into a fresh, aligned buffer so typed-array views over it are always legal. */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

function rangeError(what: string, dtype: FileDType, value: bigint | number, index: number): Error {
  return new Error(
    `${what} (${dtype}): value ${value} at index ${index} does not fit in int32`,
  );
}

function narrowI64(bytes: Uint8Array, count: number, what: string): Int32Array {
  const words = new Int32Array(alignedCopy(bytes));
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    if ((hi !== 0 || lo < 0) && (hi !== -1 || lo >= 0)) {
      throw rangeError(what, "I64", new BigInt64Array(words.buffer, 8 * i, 1)[0], i);
    }
    out[i] = lo;
  }
  return out;
}

function narrowU64(bytes: Uint8Array, count: number, what: string): Int32Array {
  const words = new Int32Array(alignedCopy(bytes));
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (words[2 * i + 1] !== 0 || words[2 * i] < 0) {
      throw rangeError(what, "U64", new BigUint64Array(words.buffer, 8 * i, 1)[0], i);
    }
    out[i] = words[2 * i];
  }
  return out;
}

function narrowU32(bytes: Uint8Array, count: number, what: string): Int32Array {
  const words = new Uint32Array(alignedCopy(bytes));
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (words[i] > 0x7fffffff) throw rangeError(what, "U32", words[i], i);
    out[i] = words[i];
  }
  return out;
}

/**
 * Decodes `bytes` (little-endian elements of `dtype`) into RawTensor data.
 * `what` names the tensor in error messages.
 */
export function decodeFileData(
  bytes: Uint8Array,
  dtype: FileDType,
  what: string,
): { dtype: RawDType; data: RawData } {
  const size = FILE_DTYPE_SIZES[dtype];
  if (bytes.length % size !== 0) {
    throw new Error(`${what} (${dtype}): byte length ${bytes.length} is not a multiple of ${size}`);
  }
  const count = bytes.length / size;
  switch (dtype) {
    case "F32":
      return { dtype: "f32", data: new Float32Array(alignedCopy(bytes)) };
    case "F64":
      return { dtype: "f64", data: new Float64Array(alignedCopy(bytes)) };
    case "F16": {
      const halves = new Uint16Array(alignedCopy(bytes));
      const table = halfToFloatTable();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[halves[i]];
      return { dtype: "f32", data: out };
    }
    case "BF16": {
      const halves = new Uint16Array(alignedCopy(bytes));
      const out = new Float32Array(count);
      const outBits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) outBits[i] = halves[i] << 16;
      return { dtype: "f32", data: out };
    }
    case "I64":
      return { dtype: "i32", data: narrowI64(bytes, count, what) };
    case "U64":
      return { dtype: "i32", data: narrowU64(bytes, count, what) };
    case "U32":
      return { dtype: "i32", data: narrowU32(bytes, count, what) };
    case "I32":
      return { dtype: "i32", data: new Int32Array(alignedCopy(bytes)) };
    case "I16":
      return { dtype: "i32", data: Int32Array.from(new Int16Array(alignedCopy(bytes))) };
    case "U16":
      return { dtype: "i32", data: Int32Array.from(new Uint16Array(alignedCopy(bytes))) };
    case "I8":
      return {
        dtype: "i32",
        data: Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count)),
      };
    case "U8":
      return { dtype: "u8", data: bytes.slice() };
    case "BOOL":
      return { dtype: "bool", data: bytes.map((b) => (b !== 0 ? 1 : 0)) };
  }
}
