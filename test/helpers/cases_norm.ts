/** Catalog cases: layer_norm and group_norm (forward outputs y, mean, rstd; gradients). */
import * as T from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { uniform } from "./numeric.ts";
import { type Case, type Ctx, E, type Expect, type GradCase } from "./case_types.ts";
import { type Ref, ref } from "./reference.ts";

let seed = 7000;
function rnd(shape: number[], lo = -1, hi = 1): Ref {
  return ref(shape, uniform(shape.reduce((a, b) => a * b, 1), seed++, lo, hi));
}

interface NormRef {
  y: Ref;
  mean: Ref;
  rstd: Ref;
}

/**
 * Normalises each row of `rowLen` consecutive values of x (two-pass mean and biased
 * variance in float64); element j of row r uses affine channel `channel(r, j)`.
 */
function normRows(
  x: Ref,
  rowLen: number,
  statsShape: number[],
  channel: (r: number, j: number) => number,
  w: Ref | null,
  b: Ref | null,
  eps: number,
): NormRef {
  const y = [...x.data];
  const mean: number[] = [];
  const rstd: number[] = [];
  for (let r = 0; r * rowLen < x.data.length; r++) {
    const v = x.data.slice(r * rowLen, (r + 1) * rowLen);
    const m = v.reduce((a, c) => a + c, 0) / rowLen;
    const va = v.reduce((a, c) => a + (c - m) ** 2, 0) / rowLen;
    const inv = 1 / Math.sqrt(va + eps);
    mean.push(m);
    rstd.push(inv);
    v.forEach((xv, j) => {
      const c = channel(r, j);
      y[r * rowLen + j] = (xv - m) * inv * (w ? w.data[c] : 1) + (b ? b.data[c] : 0);
    });
  }
  return { y: ref(x.shape, y), mean: ref(statsShape, mean), rstd: ref(statsShape, rstd) };
}

function layerNormRef(x: Ref, dims: number, w: Ref | null, b: Ref | null, eps = 1e-5) {
  const rowLen = x.shape.slice(x.shape.length - dims).reduce((a, c) => a * c, 1);
  return normRows(x, rowLen, x.shape.slice(0, x.shape.length - dims), (_, j) => j, w, b, eps);
}

function groupNormRef(x: Ref, groups: number, w: Ref | null, b: Ref | null, eps = 1e-5) {
  const [n, c] = x.shape;
  const hw = x.shape.slice(2).reduce((a, v) => a * v, 1);
  const cg = c / groups;
  const chan = (r: number, j: number) => (r % groups) * cg + Math.floor(j / hw);
  return normRows(x, cg * hw, [n, groups], chan, w, b, eps);
}

const all = (r: NormRef, tol = {}): Expect[] => [E(r.y, tol), E(r.mean, tol), E(r.rstd, tol)];

/** The op itself (all three outputs), with optional affine parameters. */
function runOp(
  name: "layer_norm" | "group_norm",
  c: Ctx,
  x: Ref,
  w: Ref | null,
  b: Ref | null,
  attrs: Record<string, number>,
): Tensor[] {
  const params = [w, b].filter((p): p is Ref => !!p).map((p) => c.r(p));
  return T.apply(name, [c.r(x), ...params], { ...attrs, hasWeight: !!w, hasBias: !!b });
}

function layerNormCase(): Case {
  const x = rnd([2, 3, 5], -2, 2);
  const w = rnd([5], 0.5, 1.5);
  const b = rnd([5]);
  const w15 = rnd([3, 5], 0.5, 1.5);
  const tall = rnd([3, 1, 7], -3, 1);
  const w7 = rnd([1, 7], 0.5, 1.5);
  const b7 = rnd([7]);
  // rows longer than a workgroup, off-centre like activations (mean ~5, std ~0.6)
  const long = rnd([3, 1501], 4, 6);
  const wl = rnd([1501], 0.5, 1.5);
  const bl = rnd([1501]);
  const grad = (
    name: string,
    shape: number[],
    dims: number,
    affine: "wb" | "w" | "b" | "",
  ): GradCase => {
    const p = shape.slice(shape.length - dims);
    return {
      name,
      inputs: [{ shape }, ...[...affine].map(() => ({ shape: p }))],
      fn: (xx, ...ps) => {
        const wt = affine.includes("w") ? ps[0] : null;
        const bs = affine.includes("b") ? ps[affine.length - 1] : null;
        return T.layerNorm(xx, p, wt, bs);
      },
      reaches: ["layer_norm_backward"],
    };
  };
  return {
    forward: [
      {
        name: "op outputs y, mean, rstd: rows of 5 with weight and bias",
        run: (c) => runOp("layer_norm", c, x, w, b, { dims: 1, eps: 1e-5 }),
        expect: all(layerNormRef(x, 1, w, b)),
      },
      {
        name: "two normalised axes (rows of 15): no affine, weight only, bias only",
        run: (c) => [
          T.layerNorm(c.r(x), [3, 5]),
          T.layerNorm(c.r(x), [3, 5], c.r(w15)),
          T.layerNorm(c.r(x), [3, 5], null, c.r(w15)),
        ],
        expect: [
          E(layerNormRef(x, 2, null, null).y),
          E(layerNormRef(x, 2, w15, null).y),
          E(layerNormRef(x, 2, null, w15).y),
        ],
      },
      {
        name: "size-1 axes: stats of [3, 1, 7], rows of one element, [1, 7] with eps 1e-12",
        run: (c) => [
          ...runOp("layer_norm", c, tall, null, null, { dims: 1, eps: 1e-5 }).slice(1),
          T.layerNorm(c.r(ref([3, 7, 1], tall.data)), [1], c.r(ref([1], [2])), c.r(ref([1], [3]))),
          T.layerNorm(c.r(tall), [1, 7], c.r(w7), c.r(b7), 1e-12),
        ],
        expect: [
          E(layerNormRef(tall, 1, null, null).mean),
          E(layerNormRef(tall, 1, null, null).rstd),
          E(layerNormRef(ref([3, 7, 1], tall.data), 1, ref([1], [2]), ref([1], [3])).y),
          E(layerNormRef(tall, 2, w7, b7, 1e-12).y),
        ],
      },
      {
        name: "rows of 1501 (longer than a workgroup) centred at 5",
        run: (c) => runOp("layer_norm", c, long, wl, bl, { dims: 1, eps: 1e-6 }),
        expect: all(layerNormRef(long, 1, wl, bl, 1e-6), { rtol: 2e-5, atol: 2e-5 }),
      },
      {
        name: "float64",
        needs: ["f64"],
        run: (c) => T.layerNorm(c.r(x, "f64"), [5], c.r(w, "f64"), c.r(b, "f64")),
        expect: E(layerNormRef(x, 1, w, b).y, { dtype: "f64" }),
      },
    ],
    grad: [
      grad("rows of 5: x, weight, bias", [2, 3, 5], 1, "wb"),
      grad("two axes (rows of 6), no affine", [3, 2, 3], 2, ""),
      grad("weight only", [4, 3], 1, "w"),
      grad("bias only, size-1 axes", [3, 1, 4], 2, "b"),
      grad("rows of 1100 (longer than a workgroup)", [2, 1100], 1, "wb"),
    ],
  };
}

function groupNormCase(): Case {
  const x = rnd([2, 6, 3, 5], -2, 2);
  const w = rnd([6], 0.5, 1.5);
  const b = rnd([6]);
  const x2 = rnd([3, 4], -2, 2);
  const w4 = rnd([4], 0.5, 1.5);
  const x3 = rnd([2, 3, 7], -2, 2);
  const one = rnd([1, 2, 1, 1]);
  const long = rnd([1, 4, 20, 31], 4, 6);
  const wl = rnd([4], 0.5, 1.5);
  const bl = rnd([4]);
  const grad = (name: string, shape: number[], groups: number, affine: boolean): GradCase => ({
    name,
    inputs: [{ shape }, ...(affine ? [{ shape: [shape[1]] }, { shape: [shape[1]] }] : [])],
    fn: (xx, wt, bs) => T.groupNorm(xx, groups, wt, bs),
    reaches: ["group_norm_backward"],
  });
  return {
    forward: [
      {
        name: "op outputs y, mean, rstd: 3 groups of 2 channels of 3 x 5",
        run: (c) => runOp("group_norm", c, x, w, b, { groups: 3, eps: 1e-5 }),
        expect: all(groupNormRef(x, 3, w, b)),
      },
      {
        name: "no spatial axes, weight only; one group; a group per channel, no affine",
        run: (c) => [
          T.groupNorm(c.r(x2), 2, c.r(w4)),
          T.groupNorm(c.r(x3), 1, null, c.r(ref([3], [1, -1, 0.5]))),
          T.groupNorm(c.r(x3), 3),
        ],
        expect: [
          E(groupNormRef(x2, 2, w4, null).y),
          E(groupNormRef(x3, 1, null, ref([3], [1, -1, 0.5])).y),
          E(groupNormRef(x3, 3, null, null).y),
        ],
      },
      {
        name: "groups of one element (size-1 axes)",
        run: (c) => runOp("group_norm", c, one, null, null, { groups: 2, eps: 1e-5 }),
        expect: all(groupNormRef(one, 2, null, null)),
      },
      {
        name: "groups of 1240 elements (longer than a workgroup) centred at 5",
        run: (c) => runOp("group_norm", c, long, wl, bl, { groups: 2, eps: 1e-6 }),
        expect: all(groupNormRef(long, 2, wl, bl, 1e-6), { rtol: 2e-5, atol: 2e-5 }),
      },
      {
        name: "float64",
        needs: ["f64"],
        run: (c) => T.groupNorm(c.r(x, "f64"), 3, c.r(w, "f64"), c.r(b, "f64")),
        expect: E(groupNormRef(x, 3, w, b).y, { dtype: "f64" }),
      },
    ],
    grad: [
      grad("3 groups of 2 x 2 x 3: x, weight, bias", [2, 6, 2, 3], 3, true),
      grad("no affine, [N, C, L]", [2, 4, 3], 2, false),
      grad("no spatial axes", [3, 4], 2, true),
      grad("groups of 1122 (longer than a workgroup)", [1, 2, 33, 34], 1, true),
    ],
  };
}

export function normCases(): Record<string, Case> {
  return { layer_norm: layerNormCase(), group_norm: groupNormCase() };
}
