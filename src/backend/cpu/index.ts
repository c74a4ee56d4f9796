import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import { around } from "./reduce.ts";

function checkIndex(op: string, i: number, n: number): number {
  const j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) throw new RangeError(`${op}: index ${i} out of range for size ${n}`);
  return j;
}

const cat: Kernel = (ins, [out], { axis }) => {
  const o = out.buf as TypedArray;
  const [outer, total, inner] = around(out.shape, axis);
  let start = 0;
  for (const x of ins) {
    const a = x.buf as TypedArray;
    const n = x.shape[axis];
    const block = n * inner;
    for (let i = 0; i < outer; i++) {
      o.set(a.subarray(i * block, (i + 1) * block), (i * total + start) * inner);
    }
    start += n;
  }
};

/** Pads with `value` (constant) or edge values (replicate); pads = [before, after] per axis. */
const pad: Kernel = ([x], [out], { pads, mode, value }) => {
  const a = x.buf as TypedArray;
  const o = out.buf as TypedArray;
  const rank = x.shape.length;
  const inSt = new Array<number>(rank);
  let acc = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inSt[i] = acc;
    acc *= x.shape[i];
  }
  const idx = new Array<number>(rank).fill(0);
  for (let p = 0; p < o.length; p++) {
    let off = 0;
    let inside = true;
    for (let d = 0; d < rank; d++) {
      let s = idx[d] - pads[d][0];
      if (s < 0 || s >= x.shape[d]) {
        if (mode === "constant" || x.shape[d] === 0) {
          inside = false;
          break;
        }
        s = s < 0 ? 0 : x.shape[d] - 1;
      }
      off += s * inSt[d];
    }
    o[p] = inside ? a[off] : value;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < out.shape[d]) break;
      idx[d] = 0;
    }
  }
};

/** torch.gather: out[.., i, ..] = x[.., index[.., i, ..], ..] along `axis`. */
const gather: Kernel = ([x, index], [out], { axis }) => {
  const a = x.buf as TypedArray;
  const ix = index.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [outer, n, inner] = around(index.shape, axis);
  const [, srcN, srcInner] = around(x.shape, axis);
  const rank = x.shape.length;
  const innerShape = index.shape.slice(axis + 1);
  const outerShape = index.shape.slice(0, axis);
  for (let i = 0; i < outer; i++) {
    const srcOuter = flatInto(i, outerShape, x.shape.slice(0, axis));
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < inner; k++) {
        const p = (i * n + j) * inner + k;
        const t = checkIndex("gather", ix[p], srcN);
        const srcK = rank > axis + 1 ? flatInto(k, innerShape, x.shape.slice(axis + 1)) : 0;
        o[p] = a[(srcOuter * srcN + t) * srcInner + srcK];
      }
    }
  }
};

/** out = x, then out[.., index[..], ..] += src along `axis` (index has src's shape). */
const scatterAdd: Kernel = ([x, index, src], [out], { axis }) => {
  const o = out.buf as TypedArray;
  o.set(x.buf as TypedArray);
  const ix = index.buf as TypedArray;
  const s = src.buf as TypedArray;
  const [outer, n, inner] = around(index.shape, axis);
  const [, dstN, dstInner] = around(out.shape, axis);
  const innerShape = index.shape.slice(axis + 1);
  const outerShape = index.shape.slice(0, axis);
  const srcSt = around(src.shape, axis);
  for (let i = 0; i < outer; i++) {
    const dstOuter = flatInto(i, outerShape, out.shape.slice(0, axis));
    const srcOuter = flatInto(i, outerShape, src.shape.slice(0, axis));
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < inner; k++) {
        const p = (i * n + j) * inner + k;
        const t = checkIndex("scatter_add", ix[p], dstN);
        const dk = flatInto(k, innerShape, out.shape.slice(axis + 1));
        const sk = flatInto(k, innerShape, src.shape.slice(axis + 1));
        o[(dstOuter * dstN + t) * dstInner + dk] += s[(srcOuter * srcSt[1] + j) * srcSt[2] + sk];
      }
    }
  }
};

/** Re-addresses flat index `i` of a block with shape `from` inside a block with shape `to`. */
function flatInto(i: number, from: readonly number[], to: readonly number[]): number {
  let off = 0;
  let mul = 1;
  for (let d = from.length - 1; d >= 0; d--) {
    const c = i % from[d];
    i = (i - c) / from[d];
    off += c * mul;
    mul *= to[d];
  }
  return off;
}

const indexSelect: Kernel = ([x, index], [out], { axis }) => {
  const a = x.buf as TypedArray;
  const ix = index.buf as TypedArray;
  const o = out.buf as TypedArray;
  const [outer, n, inner] = around(x.shape, axis);
  const m = ix.length;
  for (let i = 0; i < outer; i++) {
    for (let j = 0; j < m; j++) {
      const t = checkIndex("index_select", ix[j], n);
      o.set(a.subarray((i * n + t) * inner, (i * n + t + 1) * inner), (i * m + j) * inner);
    }
  }
};

/** out = x; out[.., index[j], ..] += src[.., j, ..] along `axis`. */
const indexAdd: Kernel = ([x, index, src], [out], { axis }) => {
  const o = out.buf as TypedArray;
  o.set(x.buf as TypedArray);
  const ix = index.buf as TypedArray;
  const s = src.buf as TypedArray;
  const [outer, n, inner] = around(out.shape, axis);
  const m = ix.length;
  for (let i = 0; i < outer; i++) {
    for (let j = 0; j < m; j++) {
      const t = checkIndex("index_add", ix[j], n);
      const d = (i * n + t) * inner;
      const sp = (i * m + j) * inner;
      for (let k = 0; k < inner; k++) o[d + k] += s[sp + k];
    }
  }
};

/** Stable sort along `axis`; outputs values and i32 indices. NaN sorts as largest. */
const sort: Kernel = ([x], [vals, idxs], { axis, descending }) => {
  const a = x.buf as TypedArray;
  const ov = vals.buf as TypedArray;
  const oi = idxs.buf as TypedArray;
  const [outer, n, inner] = around(x.shape, axis);
  const order = new Array<number>(n);
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let i = 0; i < outer; i++) {
    for (let k = 0; k < inner; k++) {
      const base = i * n * inner + k;
      for (let j = 0; j < n; j++) order[j] = j;
      order.sort((p, q) => {
        const vp = a[base + p * inner];
        const vq = a[base + q * inner];
        const np = Number.isNaN(vp);
        const nq = Number.isNaN(vq);
        let c = np || nq ? (np === nq ? 0 : np ? 1 : -1) : key(vp) - key(vq);
        if (descending) c = -c;
        return c !== 0 ? c : p - q;
      });
      for (let j = 0; j < n; j++) {
        ov[base + j * inner] = a[base + order[j] * inner];
        oi[base + j * inner] = order[j];
      }
    }
  }
};

export const indexKernels: Record<string, Kernel> = {
  cat,
  pad,
  gather,
  scatter_add: scatterAdd,
  index_select: indexSelect,
  index_add: indexAdd,
  sort,
};
