import type { DType, TypedArray } from "./dtype.ts";
import { fmtShape, type Shape } from "./shape.ts";

const MAX_ITEMS = 6;

function fmtValue(v: number, dtype: DType): string {
  if (dtype === "bool") return v ? "true" : "false";
  if (dtype === "i32" || dtype === "u8") return String(v);
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-4 || a >= 1e5) ? v.toExponential(4) : v.toFixed(4);
}

function fmtLevel(
  data: TypedArray,
  shape: Shape,
  offset: number,
  dtype: DType,
  indent: string,
): string {
  if (shape.length === 0) return fmtValue(data[offset], dtype);
  const [n, ...rest] = shape;
  const inner = rest.reduce((a, b) => a * b, 1);
  const idx = n > MAX_ITEMS ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : [...Array(n).keys()];
  const parts: string[] = idx.map((i): string =>
    i < 0 ? "..." : fmtLevel(data, rest, offset + i * inner, dtype, indent + " ")
  );
  const sep = rest.length ? `,\n${indent} ` : ", ";
  return `[${parts.join(sep)}]`;
}

/** A readable, abbreviated rendering like `tensor([[1.0000, 2.0000], ...], shape [2, 2], f32)`. */
export function formatTensor(data: TypedArray, shape: Shape, dtype: DType): string {
  return `tensor(${fmtLevel(data, shape, 0, dtype, "       ")}, shape ${
    fmtShape(shape)
  }, ${dtype})`;
}
