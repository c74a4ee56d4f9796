import {
  fmtShape,
  normAxes,
  normAxis,
  type Shape,
  ShapeError,
  sizeOf,
  stridesOf,
} from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { sum, sumTo } from "./reduce.ts";

// ---- reshape (free) -------------------------------------------------------------------

defineOp({
  name: "reshape",
  arity: 1,
  alias: true,
  shape: (_, a) => [a.shape],
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x] }) => [g && reshape(g, x.shape)],
});

/** Same values, new shape; one dimension may be -1. Shares storage. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (out.some((d, i) => !Number.isInteger(d) || d < -1 || (d === -1 && i !== free))) {
    throw new ShapeError(
      "reshape",
      `invalid target shape ${fmtShape(shape)} for ${fmtShape(x.shape)}`,
    );
  }
  if (free >= 0) {
    const rest = sizeOf(out.filter((_, i) => i !== free));
    if (rest === 0 || x.size % rest !== 0) {
      throw new ShapeError("reshape", `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    }
    out[free] = x.size / rest;
  }
  if (sizeOf(out) !== x.size) {
    throw new ShapeError("reshape", `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  if (out.length === x.rank && out.every((d, i) => d === x.shape[i])) return x;
  return apply1("reshape", [x], { shape: out });
}

export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const s = normAxis("flatten", start, x.rank);
  const e = normAxis("flatten", end, x.rank);
  return reshape(x, [
    ...x.shape.slice(0, s),
    sizeOf(x.shape.slice(s, e + 1)),
    ...x.shape.slice(e + 1),
  ]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis("unsqueeze", axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axes?: number | number[]): Tensor {
  const ax = axes === undefined
    ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
    : normAxes("squeeze", axes, x.rank);
  return reshape(x, x.shape.filter((d, i) => !(ax.includes(i) && d === 1)));
}

// ---- strided views (copies through one kernel) ----------------------------------------

const viewShape = (_: Shape[], a: Record<string, unknown>) => [a.shape as Shape];
const sameDtype = ([d]: string[]) => [d] as ["f32"];

defineOp({
  name: "permute",
  arity: 1,
  kernel: "strided_copy",
  shape: viewShape,
  dtype: sameDtype,
  backward: ([g], { attrs }) => {
    const inv = new Array<number>(attrs.dims.length);
    attrs.dims.forEach((d: number, i: number) => (inv[d] = i));
    return [g && permute(g, inv)];
  },
});

export function permute(x: Tensor, dims: number[]): Tensor {
  if (dims.length !== x.rank) {
    throw new ShapeError("permute", `${dims.length} dims given for shape ${fmtShape(x.shape)}`);
  }
  const d = dims.map((a) => normAxis("permute", a, x.rank));
  if (new Set(d).size !== d.length) throw new ShapeError("permute", `repeated dim in [${dims}]`);
  if (d.every((a, i) => a === i)) return x;
  const st = stridesOf(x.shape);
  return apply1("permute", [x], {
    dims: d,
    shape: d.map((a) => x.shape[a]),
    strides: d.map((a) => st[a]),
    offset: 0,
  });
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = [...Array(x.rank).keys()];
  const i = normAxis("transpose", a, x.rank);
  const j = normAxis("transpose", b, x.rank);
  [dims[i], dims[j]] = [dims[j], dims[i]];
  return permute(x, dims);
}

defineOp({
  name: "expand",
  arity: 1,
  kernel: "strided_copy",
  shape: viewShape,
  dtype: sameDtype,
  backward: ([g], { inputs: [x] }) => [g && sumTo(g, x.shape)],
});

/** Broadcasts to `shape` (-1 keeps a dimension), materialising the copy. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const out = [...shape];
  const lead = out.length - x.rank;
  if (lead < 0) {
    throw new ShapeError("expand", `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  const st = stridesOf(x.shape);
  const strides = out.map((d, i) => {
    const j = i - lead;
    if (j < 0) return 0;
    if (d === -1) out[i] = x.shape[j];
    if (x.shape[j] === out[i]) return st[j];
    if (x.shape[j] === 1) return 0;
    throw new ShapeError("expand", `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  });
  if (lead === 0 && out.every((d, i) => d === x.shape[i])) return x;
  return apply1("expand", [x], { shape: out, strides, offset: 0 });
}

defineOp({
  name: "slice",
  arity: 1,
  kernel: "strided_copy",
  shape: viewShape,
  dtype: sameDtype,
  backward: ([g], { inputs: [x], attrs }) => [
    g && apply1("slice_backward", [g], { ...attrs, inputShape: x.shape }),
  ],
});

defineOp({
  name: "slice_backward",
  arity: 1,
  kernel: "strided_scatter",
  internal: true,
  shape: (_, a) => [a.inputShape],
  dtype: sameDtype,
  backward: ([g], { attrs }) => [g && apply1("slice", [g], attrs)],
});

/** One axis range: [start, end, step] with Python semantics (negatives count from the end). */
export type Range = [number?, number?, number?];

/**
 * Slices several axes at once: `ranges[i]` applies to axis i (missing = whole axis).
 * Steps may be negative (reverse order), like Python slices.
 */
export function slice(x: Tensor, ranges: (Range | undefined)[]): Tensor {
  const st = stridesOf(x.shape);
  let offset = 0;
  const shape: number[] = [];
  const strides: number[] = [];
  let identity = true;
  x.shape.forEach((n, i) => {
    const [s0, e0, step = 1] = ranges[i] ?? [];
    if (step === 0) throw new ShapeError("slice", "step must be non-zero");
    let start: number;
    let len: number;
    if (step > 0) {
      start = s0 === undefined ? 0 : clampIndex(s0, n, 0, n);
      const end = e0 === undefined ? n : clampIndex(e0, n, 0, n);
      len = Math.max(0, Math.ceil((end - start) / step));
    } else {
      start = s0 === undefined ? n - 1 : clampIndex(s0, n, -1, n - 1);
      const end = e0 === undefined ? -1 : clampIndex(e0, n, -1, n - 1);
      len = Math.max(0, Math.ceil((end - start) / step));
    }
    if (len !== n || step !== 1) identity = false;
    offset += len > 0 ? start * st[i] : 0;
    shape.push(len);
    strides.push(st[i] * step);
  });
  if (identity) return x;
  return apply1("slice", [x], { shape, strides, offset });
}

function clampIndex(i: number, n: number, lo: number, hi: number): number {
  const j = i < 0 ? i + n : i;
  return Math.min(Math.max(j, lo), hi);
}

/** Elements [start, end) of one axis. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis("narrow", axis, x.rank);
  const n = x.shape[a];
  const s = start < 0 ? start + n : start; // like torch.narrow; slice would clamp silently
  if (s < 0 || length < 0 || s + length > n) {
    throw new ShapeError(
      "narrow",
      `start ${start} and length ${length} do not fit axis ${axis} of ${fmtShape(x.shape)}`,
    );
  }
  const r: (Range | undefined)[] = [];
  r[a] = [s, s + length, 1];
  return slice(x, r);
}

/** Reverses the order along `axes`. */
export function flip(x: Tensor, axes: number[]): Tensor {
  const r: (Range | undefined)[] = [];
  for (const a of normAxes("flip", axes, x.rank)) r[a] = [undefined, undefined, -1];
  return slice(x, r);
}

// ---- cat / stack / split / pad / roll -------------------------------------------------

defineOp({
  name: "cat",
  arity: -1,
  shape: (shapes, a) => {
    const ref = shapes[0];
    let total = 0;
    for (const s of shapes) {
      if (s.length !== ref.length || s.some((d, i) => i !== a.axis && d !== ref[i])) {
        throw new ShapeError(
          "cat",
          `shapes ${shapes.map(fmtShape).join(", ")} differ off axis ${a.axis}`,
        );
      }
      total += s[a.axis];
    }
    return [ref.map((d, i) => (i === a.axis ? total : d))];
  },
  dtype: (ds) => {
    if (ds.some((d) => d !== ds[0])) throw new Error(`cat: mixed dtypes ${ds.join(", ")}`);
    return [ds[0]];
  },
  backward: ([g], { inputs, attrs }) => {
    if (!g) return inputs.map(() => null);
    let start = 0;
    return inputs.map((x) => {
      const part = narrow(g, attrs.axis, start, x.shape[attrs.axis]);
      start += x.shape[attrs.axis];
      return part;
    });
  },
});

export function cat(xs: Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error("cat: no tensors given");
  const a = normAxis("cat", axis, xs[0].rank);
  if (xs.length === 1) return xs[0];
  return apply1("cat", xs, { axis: a });
}

export function stack(xs: Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error("stack: no tensors given");
  const a = normAxis("stack", axis, xs[0].rank + 1);
  return cat(xs.map((x) => unsqueeze(x, a)), a);
}

/** Splits into pieces of `sizes` (array) or of equal size `sizes` (number) along `axis`. */
export function split(x: Tensor, sizes: number | number[], axis = 0): Tensor[] {
  const a = normAxis("split", axis, x.rank);
  const n = x.shape[a];
  const list = typeof sizes === "number"
    ? Array.from({ length: Math.ceil(n / sizes) }, (_, i) => Math.min(sizes, n - i * sizes))
    : sizes;
  if (list.reduce((s, v) => s + v, 0) !== n) {
    throw new ShapeError("split", `sizes [${list}] do not add up to ${n} on axis ${axis}`);
  }
  let start = 0;
  return list.map((len) => {
    const part = narrow(x, a, start, len);
    start += len;
    return part;
  });
}

export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  const n = x.shape[normAxis("chunk", axis, x.rank)];
  return split(x, Math.ceil(n / chunks), axis);
}

defineOp({
  name: "pad",
  arity: 1,
  shape: ([s], a) => [s.map((d, i) => d + a.pads[i][0] + a.pads[i][1])],
  dtype: sameDtype,
  backward: ([g], { inputs: [x], attrs }) => [g && padBackward(g, x.shape, attrs.pads, attrs.mode)],
});

/**
 * Pads like torch.nn.functional.pad: `pads` lists (before, after) pairs starting from the
 * LAST axis. Modes: constant (with `value`) and replicate.
 */
export function pad(
  x: Tensor,
  pads: number[],
  mode: "constant" | "replicate" = "constant",
  value = 0,
): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.rank) {
    throw new ShapeError("pad", `pads [${pads}] do not fit shape ${fmtShape(x.shape)}`);
  }
  const perAxis = x.shape.map(() => [0, 0]);
  for (let i = 0; i < pads.length / 2; i++) {
    perAxis[x.rank - 1 - i] = [pads[2 * i], pads[2 * i + 1]];
  }
  if (perAxis.some(([a, b]) => a < 0 || b < 0)) {
    // negative padding crops
    const r: Range[] = perAxis.map((
      [a, b],
      i,
    ) => [Math.max(-a, 0), x.shape[i] - Math.max(-b, 0), 1]);
    return pad(slice(x, r), pads.map((p) => Math.max(p, 0)), mode, value);
  }
  if (perAxis.every(([a, b]) => a === 0 && b === 0)) return x;
  if (mode === "replicate" && x.shape.some((d, i) => d === 0 && perAxis[i].some((p) => p > 0))) {
    throw new ShapeError("pad", `replicate padding of an empty axis in ${fmtShape(x.shape)}`);
  }
  return apply1("pad", [x], { pads: perAxis, mode, value });
}

function padBackward(g: Tensor, shape: Shape, pads: number[][], mode: string): Tensor {
  if (mode === "constant") {
    return slice(g, pads.map(([a], i) => [a, a + shape[i], 1] as Range));
  }
  let out = g;
  pads.forEach(([before, after], axis) => {
    if (before === 0 && after === 0) return;
    const n = shape[axis];
    const head = sum(narrow(out, axis, 0, before + 1), axis, true);
    if (n === 1) {
      out = sum(narrow(out, axis, 0, before + 1 + after), axis, true);
      return;
    }
    const tail = sum(narrow(out, axis, before + n - 1, after + 1), axis, true);
    const mid = narrow(out, axis, before + 1, n - 2);
    out = cat([head, mid, tail], axis);
  });
  return out;
}

/** Cyclic shift along axes (torch.roll). */
export function roll(x: Tensor, shifts: number | number[], axes: number | number[]): Tensor {
  const sh = typeof shifts === "number" ? [shifts] : shifts;
  const ax = typeof axes === "number" ? [axes] : axes;
  if (sh.length !== ax.length) throw new Error("roll: shifts and axes differ in length");
  let out = x;
  sh.forEach((s, i) => {
    const a = normAxis("roll", ax[i], x.rank);
    const n = x.shape[a];
    if (n === 0) return;
    const k = ((s % n) + n) % n;
    if (k === 0) return;
    out = cat([narrow(out, a, n - k, k), narrow(out, a, 0, n - k)], a);
  });
  return out;
}
