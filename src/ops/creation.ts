import { type DType, dtypeOfArray, type TypedArray, typedArrayFor } from "../tensor/dtype.ts";
import { fmtShape, type Shape, sizeOf } from "../tensor/shape.ts";
import { defaultGenerator, type Generator } from "../tensor/random.ts";
import { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { type CreateOptions, resolveBackend } from "./helpers.ts";

const shapeFromAttrs = (_: Shape[], a: Record<string, unknown>) => [a.shape as Shape];
const dtypeFromAttrs = (_: DType[], a: Record<string, unknown>) => [a.dtype as DType];

defineOp({ name: "fill", arity: 0, shape: shapeFromAttrs, dtype: dtypeFromAttrs });
defineOp({ name: "arange", arity: 0, shape: shapeFromAttrs, dtype: dtypeFromAttrs });
defineOp({ name: "rand_uniform", arity: 0, shape: shapeFromAttrs, dtype: dtypeFromAttrs });

type Nested = number | boolean | Nested[];

function flatten(data: Nested, shape: number[], out: number[], depth = 0): void {
  if (Array.isArray(data)) {
    if (shape.length === depth) shape.push(data.length);
    else if (shape[depth] !== data.length) {
      throw new Error(
        `tensor(): ragged nested array (${data.length} vs ${shape[depth]} at depth ${depth})`,
      );
    }
    for (const d of data) flatten(d, shape, out, depth + 1);
  } else {
    if (shape.length !== depth) throw new Error("tensor(): ragged nested array");
    out.push(typeof data === "boolean" ? Number(data) : data);
  }
}

function firstLeaf(d: Nested): string {
  while (Array.isArray(d)) {
    if (d.length === 0) return "number";
    d = d[0];
  }
  return typeof d;
}

/** Creates a tensor from nested arrays, a flat typed array (with `shape`), or a number. */
export function tensor(
  data: Nested | TypedArray,
  shapeOrOpts?: Shape | CreateOptions,
  opts: CreateOptions = {},
): Tensor {
  let shape: number[] | undefined;
  if (Array.isArray(shapeOrOpts)) shape = [...shapeOrOpts];
  else if (shapeOrOpts) opts = shapeOrOpts as CreateOptions;
  let flat: ArrayLike<number>;
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    flat = data as TypedArray;
    dtype = opts.dtype ?? dtypeOfArray(data as TypedArray);
    shape ??= [flat.length];
  } else {
    const inferred: number[] = [];
    const values: number[] = [];
    flatten(data as Nested, inferred, values);
    flat = values;
    dtype = opts.dtype ?? (firstLeaf(data as Nested) === "boolean" ? "bool" : "f32");
    shape ??= inferred;
  }
  if (sizeOf(shape) !== flat.length) {
    throw new Error(`tensor(): ${flat.length} values do not fill shape ${fmtShape(shape)}`);
  }
  const backend = resolveBackend(opts.backend);
  const arr = typedArrayFor(dtype, flat.length);
  arr.set(flat as ArrayLike<number>);
  return new Tensor(backend, backend.upload(arr, dtype), shape, dtype);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  const backend = resolveBackend(opts.backend);
  return apply1("fill", [], { shape, dtype: opts.dtype ?? "f32", value, backend });
}

export const zeros = (shape: Shape, opts: CreateOptions = {}) => full(shape, 0, opts);
export const ones = (shape: Shape, opts: CreateOptions = {}) => full(shape, 1, opts);

function likeOpts(t: Tensor, opts: CreateOptions): CreateOptions {
  return { dtype: opts.dtype ?? t.dtype, backend: opts.backend ?? t.backend };
}

export const zerosLike = (t: Tensor, opts: CreateOptions = {}) =>
  full(t.shape, 0, likeOpts(t, opts));
export const onesLike = (t: Tensor, opts: CreateOptions = {}) =>
  full(t.shape, 1, likeOpts(t, opts));
export const fullLike = (t: Tensor, v: number, opts: CreateOptions = {}) =>
  full(t.shape, v, likeOpts(t, opts));

/** Values start, start+step, ... below end (like torch.arange). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error("arange(): step must be non-zero");
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = opts.dtype ??
    ([start, end, step].every(Number.isInteger) ? "i32" : "f32");
  return apply1("arange", [], {
    shape: [n],
    dtype,
    start,
    step,
    backend: resolveBackend(opts.backend),
  });
}

export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}) {
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  return apply1("arange", [], {
    shape: [steps],
    dtype: opts.dtype ?? "f32",
    start,
    step,
    backend: resolveBackend(opts.backend),
  });
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Uniform [0, 1) from a counter-based generator: identical on every backend. */
export function rand(shape: Shape, opts: RandomOptions = {}): Tensor {
  const { seed, offset } = (opts.generator ?? defaultGenerator).take(sizeOf(shape));
  return apply1("rand_uniform", [], {
    shape,
    dtype: opts.dtype ?? "f32",
    seed,
    offset,
    backend: resolveBackend(opts.backend),
  });
}
