import { type Backend, getBackend } from "../backend/backend.ts";
import { type DType, isFloat } from "../tensor/dtype.ts";
import { fmtShape, type Shape, ShapeError } from "../tensor/shape.ts";
import { Tensor } from "../tensor/tensor.ts";

export type TensorLike = Tensor | number;

/** Options accepted by creation functions. */
export interface CreateOptions {
  dtype?: DType;
  backend?: Backend | string;
}

export function resolveBackend(b?: Backend | string): Backend {
  return typeof b === "object" ? b : getBackend(b);
}

/** The dtype a JS number takes when combined with a tensor of dtype `other`. */
export function scalarDtype(v: number, other: DType): DType {
  if (isFloat(other)) return other;
  if (!Number.isInteger(v)) return "f32";
  return other === "bool" ? "i32" : other;
}

export function same(op: string, a: Shape, b: Shape): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} must be equal`);
  }
}

export function checkRank(op: string, t: Tensor, rank: number, what = "input"): void {
  if (t.rank !== rank) {
    throw new ShapeError(op, `${what} must have rank ${rank}, got shape ${fmtShape(t.shape)}`);
  }
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}
