import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import type { Shape } from "../../tensor/shape.ts";
import { stridesOf } from "../../tensor/shape.ts";
import { walk } from "./iter.ts";

/** Output strides laid over the input shape: 0 on reduced axes. */
function reducedStrides(shape: Shape, axes: number[]): number[] {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const st = stridesOf(kept);
  return shape.map((_, i) => (axes.includes(i) ? 0 : st[i]));
}

type ReduceKind = "sum" | "max" | "min" | "prod";

/**
 * Fast path for reduced axes that form one contiguous block: the input is [outer, red, inner]
 * and each kind gets its own monomorphic loop. Returns false when the axes are not contiguous.
 */
function reduceBlock(
  kind: ReduceKind,
  a: TypedArray,
  shape: Shape,
  axes: number[],
  acc: Float64Array,
) {
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return false;
  let outer = 1;
  let red = 1;
  let inner = 1;
  shape.forEach((d, i) => {
    if (i < axes[0]) outer *= d;
    else if (i <= axes[axes.length - 1]) red *= d;
    else inner *= d;
  });
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    for (let r = 0; r < red; r++) {
      const src = (o * red + r) * inner;
      if (kind === "sum") { for (let k = 0; k < inner; k++) acc[base + k] += a[src + k]; }
      else if (kind === "prod") { for (let k = 0; k < inner; k++) acc[base + k] *= a[src + k]; }
      else if (kind === "max") {
        for (let k = 0; k < inner; k++) acc[base + k] = maxStep(acc[base + k], a[src + k]);
      } else for (let k = 0; k < inner; k++) acc[base + k] = minStep(acc[base + k], a[src + k]);
    }
  }
  return true;
}

function accumulate(
  kind: ReduceKind,
  init: number,
  step: (acc: number, v: number) => number,
  finish?: (acc: number, n: number) => number,
): Kernel {
  return ([x], [out], { axes }) => {
    const a = x.buf as TypedArray;
    const o = out.buf as TypedArray;
    const acc = new Float64Array(o.length).fill(init);
    const count = axes.reduce((m: number, ax: number) => m * x.shape[ax], 1);
    if (axes.length > 0 && reduceBlock(kind, a, x.shape, axes, acc)) {
      for (let i = 0; i < o.length; i++) o[i] = finish ? finish(acc[i], count) : acc[i];
      return;
    }
    let p = 0;
    walk(x.shape, [reducedStrides(x.shape, axes)], ([oo], n, [io]) => {
      if (io === 0) {
        let s = acc[oo];
        for (let j = 0; j < n; j++) s = step(s, a[p++]);
        acc[oo] = s;
      } else {
        for (let j = 0; j < n; j++) acc[oo + j * io] = step(acc[oo + j * io], a[p++]);
      }
    });
    for (let i = 0; i < o.length; i++) o[i] = finish ? finish(acc[i], count) : acc[i];
  };
}

// NaN wins, as in PyTorch.
const maxStep = (m: number, v: number) => (Number.isNaN(m) || v <= m ? m : v > m ? v : NaN);
const minStep = (m: number, v: number) => (Number.isNaN(m) || v >= m ? m : v < m ? v : NaN);

/** Splits `shape` around `axis` into (outer, size, inner) for axis-wise kernels. */
export function around(shape: Shape, axis: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return [outer, shape[axis] ?? 1, inner];
}

function argReduce(better: (v: number, best: number) => boolean): Kernel {
  return ([x], [out], { axis }) => {
    const a = x.buf as TypedArray;
    const o = out.buf as TypedArray;
    const [outer, n, inner] = around(x.shape, axis);
    for (let i = 0; i < outer; i++) {
      for (let k = 0; k < inner; k++) {
        const base = i * n * inner + k;
        let best = a[base];
        let bi = 0;
        for (let j = 1; j < n; j++) {
          const v = a[base + j * inner];
          if (!Number.isNaN(best) && (Number.isNaN(v) || better(v, best))) {
            best = v;
            bi = j;
          }
        }
        o[i * inner + k] = bi;
      }
    }
  };
}

const cumsum: Kernel = ([x], [out], { axis }) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [outer, n, inner] = around(x.shape, axis);
  for (let i = 0; i < outer; i++) {
    for (let k = 0; k < inner; k++) {
      let s = 0;
      for (let j = 0; j < n; j++) {
        const idx = (i * n + j) * inner + k;
        s += a[idx];
        o[idx] = s;
      }
    }
  }
};

function softmaxKernel(log: boolean): Kernel {
  return ([x], [out], { axis }) => {
    const a = x.buf as TypedArray;
    const o = out.buf as TypedArray;
    const [outer, n, inner] = around(x.shape, axis);
    for (let i = 0; i < outer; i++) {
      for (let k = 0; k < inner; k++) {
        const base = i * n * inner + k;
        let m = -Infinity;
        for (let j = 0; j < n; j++) m = Math.max(m, a[base + j * inner]);
        if (m === -Infinity) m = 0;
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.exp(a[base + j * inner] - m);
        const ls = Math.log(s);
        for (let j = 0; j < n; j++) {
          const v = a[base + j * inner] - m;
          o[base + j * inner] = log ? v - ls : Math.exp(v) / s;
        }
      }
    }
  };
}

export const reduceKernels: Record<string, Kernel> = {
  sum: accumulate("sum", 0, (s, v) => s + v),
  mean: accumulate("sum", 0, (s, v) => s + v, (s, n) => s / n),
  prod: accumulate("prod", 1, (s, v) => s * v),
  max: accumulate("max", -Infinity, maxStep),
  min: accumulate("min", Infinity, minStep),
  argmax: argReduce((v, b) => v > b),
  argmin: argReduce((v, b) => v < b),
  cumsum,
  softmax: softmaxKernel(false),
  log_softmax: softmaxKernel(true),
};
