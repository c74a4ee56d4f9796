import type { Kernel } from "../backend.ts";
import { BINARY, UNARY } from "../../ops/elementwise_table.ts";
import { castScalar, type TypedArray } from "../../tensor/dtype.ts";
import { broadcastStrides, shapesEqual } from "../../tensor/shape.ts";
import { walk } from "./iter.ts";

function unaryKernel(f: (x: number) => number): Kernel {
  return ([x], [out]) => {
    const a = x.buf as TypedArray;
    const o = out.buf as TypedArray;
    for (let i = 0; i < o.length; i++) o[i] = f(a[i]);
  };
}

type Arith = "add" | "sub" | "mul" | "div";

/**
 * Monomorphic loops for the four arithmetic ops (one loop per op, so V8 inlines the
 * operator instead of calling a shared callback): contiguous runs a[ia*j], b[ib*j].
 */
function arithRun(
  kind: Arith,
  a: TypedArray,
  oa: number,
  ia: number,
  b: TypedArray,
  ob: number,
  ib: number,
  o: TypedArray,
  p: number,
  n: number,
): void {
  switch (kind) {
    case "add":
      for (let j = 0; j < n; j++) o[p + j] = a[oa + j * ia] + b[ob + j * ib];
      break;
    case "sub":
      for (let j = 0; j < n; j++) o[p + j] = a[oa + j * ia] - b[ob + j * ib];
      break;
    case "mul":
      for (let j = 0; j < n; j++) o[p + j] = a[oa + j * ia] * b[ob + j * ib];
      break;
    case "div":
      for (let j = 0; j < n; j++) o[p + j] = a[oa + j * ia] / b[ob + j * ib];
      break;
  }
}

function arithKernel(kind: Arith, slow: Kernel): Kernel {
  return (ins, outs, attrs) => {
    const [x, y] = ins;
    const [out] = outs;
    if (out.dtype === "bool" || out.dtype === "i32" || out.dtype === "u8") {
      return slow(ins, outs, attrs);
    }
    const a = x.buf as TypedArray;
    const b = y.buf as TypedArray;
    const o = out.buf as TypedArray;
    if (shapesEqual(x.shape, y.shape)) return arithRun(kind, a, 0, 1, b, 0, 1, o, 0, o.length);
    const sa = broadcastStrides(x.shape, out.shape);
    const sb = broadcastStrides(y.shape, out.shape);
    let p = 0;
    walk(out.shape, [sa, sb], ([oa, ob], n, [ia, ib]) => {
      arithRun(kind, a, oa, ia, b, ob, ib, o, p, n);
      p += n;
    });
  };
}

function binaryKernel(op: (x: number, y: number) => number): Kernel {
  return ([x, y], [out]) => {
    // bool results are 0/1 (True + True is True), not the 2 a Uint8Array would keep
    const f = out.dtype === "bool" ? (p: number, q: number) => (op(p, q) !== 0 ? 1 : 0) : op;
    const a = x.buf as TypedArray;
    const b = y.buf as TypedArray;
    const o = out.buf as TypedArray;
    if (shapesEqual(x.shape, y.shape)) {
      for (let i = 0; i < o.length; i++) o[i] = f(a[i], b[i]);
      return;
    }
    if (b.length === 1) {
      const bv = b[0];
      for (let i = 0; i < o.length; i++) o[i] = f(a[i], bv);
      return;
    }
    const sa = broadcastStrides(x.shape, out.shape);
    const sb = broadcastStrides(y.shape, out.shape);
    let p = 0;
    walk(out.shape, [sa, sb], ([oa, ob], n, [ia, ib]) => {
      for (let j = 0; j < n; j++) o[p++] = f(a[oa + j * ia], b[ob + j * ib]);
    });
  };
}

const where: Kernel = ([c, x, y], [out]) => {
  const cb = c.buf as TypedArray;
  const a = x.buf as TypedArray;
  const b = y.buf as TypedArray;
  const o = out.buf as TypedArray;
  const s = [c, x, y].map((t) => broadcastStrides(t.shape, out.shape));
  let p = 0;
  walk(out.shape, s, ([oc, oa, ob], n, [ic, ia, ib]) => {
    for (let j = 0; j < n; j++) o[p++] = cb[oc + j * ic] ? a[oa + j * ia] : b[ob + j * ib];
  });
};

const cast: Kernel = ([x], [out]) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  if (out.dtype === "i32" || out.dtype === "u8" || out.dtype === "bool") {
    for (let i = 0; i < o.length; i++) o[i] = castScalar(a[i], out.dtype);
  } else {
    o.set(a);
  }
};

/** Copies `x` read with arbitrary strides and offset into a contiguous output. */
const stridedCopy: Kernel = ([x], [out], attrs) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  let p = 0;
  walk(out.shape, [attrs.strides], ([off], n, [is]) => {
    const base = attrs.offset + off;
    for (let j = 0; j < n; j++) o[p++] = a[base + j * is];
  });
};

/** Writes `g` into zeros of the source shape at the positions a strided view read. */
const stridedScatter: Kernel = ([g], [out], attrs) => {
  const a = g.buf as TypedArray;
  const o = out.buf as TypedArray;
  let p = 0;
  walk(g.shape, [attrs.strides], ([off], n, [is]) => {
    const base = attrs.offset + off;
    for (let j = 0; j < n; j++) o[base + j * is] = a[p++];
  });
};

export const elementwiseKernels: Record<string, Kernel> = {
  ...Object.fromEntries(Object.entries(UNARY).map(([k, d]) => [k, unaryKernel(d.js)])),
  ...Object.fromEntries(Object.entries(BINARY).map(([k, d]) => [k, binaryKernel(d.js)])),
  ...Object.fromEntries(
    (["add", "sub", "mul", "div"] as const).map((
      k,
    ) => [k, arithKernel(k, binaryKernel(BINARY[k].js))]),
  ),
  where,
  cast,
  strided_copy: stridedCopy,
  strided_scatter: stridedScatter,
};
