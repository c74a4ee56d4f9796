/** Catalog cases: matmul, indexing, sort, convolution, pooling, resampling. */
import * as T from "../../mod.ts";
import { uniform } from "./numeric.ts";
import { type Case, type Ctx, E } from "./case_types.ts";
import {
  bilinearRef,
  conv2dRef,
  type ConvRefOptions,
  gatherRef,
  gridSampleRef,
  indexAddRef,
  indexSelectRef,
  lanes,
  matmulRef,
  msdaRef,
  nearestRef,
  poolRef,
  type Ref,
  ref,
  scatterAddRef,
  sort1d,
  transposeLast,
} from "./reference.ts";

const NAN = NaN;
const INF = Infinity;

let seedCounter = 1000;
/** A random float32-exact reference array of `shape`. */
function rnd(shape: number[], lo = -1, hi = 1): Ref {
  return ref(shape, uniform(shape.reduce((a, b) => a * b, 1), seedCounter++, lo, hi));
}

function matmulCase(): Case {
  const a = rnd([2, 3]);
  const b = rnd([3, 4]);
  const ba = rnd([2, 1, 3, 4]);
  const bb = rnd([5, 4, 2]);
  const v3 = rnd([3]);
  const b3 = rnd([2, 3, 4]);
  const a223 = rnd([2, 2, 3]);
  const at = rnd([3, 2]);
  const bt = rnd([4, 3]);
  const w42 = rnd([4, 2]);
  const w24 = rnd([2, 4]);
  return {
    forward: [
      { name: "[2, 3] @ [3, 4]", run: (c) => T.matmul(c.r(a), c.r(b)), expect: E(matmulRef(a, b)) },
      {
        name: "batch broadcasting [2, 1, 3, 4] @ [5, 4, 2]",
        run: (
          c,
        ) => [
          T.matmul(c.r(ba), c.r(bb)),
          T.matmul(c.r(bb), c.r(ref([2, 1, 2, 3], [...ba.data.slice(0, 12)]))),
        ],
        expect: [E(matmulRef(ba, bb)), E(matmulRef(bb, ref([2, 1, 2, 3], ba.data.slice(0, 12))))],
      },
      {
        name: "a shared right operand (linear layer): [2, 3, 4] @ [4, 2] and @ [2, 4]^T",
        run: (c) => [T.matmul(c.r(b3), c.r(w42)), T.matmul(c.r(b3), c.r(w24), { transB: true })],
        expect: [E(matmulRef(b3, w42)), E(matmulRef(b3, transposeLast(w24)))],
      },
      {
        name: "1-D operands (vector-matrix, matrix-vector, dot, batched)",
        run: (c) => [
          T.matmul(c.r(v3), c.r(b)),
          T.matmul(c.r(a), c.r(v3)),
          T.matmul(c.r(v3), c.r(v3)),
          T.matmul(c.r(v3), c.r(b3)),
          T.matmul(c.r(a223), c.r(v3)),
        ],
        expect: [
          E(matmulRef(v3, b)),
          E(matmulRef(a, v3)),
          E(matmulRef(v3, v3)),
          E(matmulRef(v3, b3)),
          E(matmulRef(a223, v3)),
        ],
      },
      {
        name: "transA / transB flags and a transposed (permuted) operand",
        run: (c) => [
          T.matmul(c.r(at), c.r(b), { transA: true }),
          T.matmul(c.r(a), c.r(bt), { transB: true }),
          T.matmul(c.r(at), c.r(bt), { transA: true, transB: true }),
          T.matmul(T.transpose(c.r(at)), c.r(b)),
        ],
        expect: [
          E(matmulRef(transposeLast(at), b)),
          E(matmulRef(a, transposeLast(bt))),
          E(matmulRef(transposeLast(at), transposeLast(bt))),
          E(matmulRef(transposeLast(at), b)),
        ],
      },
      {
        name: "zero-size inner, batch and output dims",
        run: (c) => [
          T.matmul(c.t([], [2, 0]), c.t([], [0, 3])),
          T.matmul(c.t([], [0, 2, 3]), c.r(b)),
          T.matmul(c.t([], [2, 3, 0]), c.t([], [0, 1])),
        ],
        expect: [
          { shape: [2, 3], values: [0, 0, 0, 0, 0, 0] },
          { shape: [0, 2, 4], values: [] },
          { shape: [2, 3, 1], values: [0, 0, 0, 0, 0, 0] },
        ],
      },
      {
        name: "integers and nan",
        run: (c) => [
          T.matmul(c.t([1, 2, 3, 4], [2, 2], "i32"), c.t([5, 6, 7, 8], [2, 2], "i32")),
          T.matmul(c.t([1, NAN], [1, 2]), c.t([1, 0, 0, 1], [2, 2])),
        ],
        expect: [
          { shape: [2, 2], values: [19, 22, 43, 50], dtype: "i32" },
          { shape: [1, 2], values: [NAN, NAN] },
        ],
      },
    ],
    grad: [
      {
        name: "[2, 3] @ [3, 4]",
        inputs: [{ shape: [2, 3] }, { shape: [3, 4] }],
        fn: (x, y) => T.matmul(x, y),
      },
      {
        name: "batch broadcast [2, 1, 3, 4] @ [5, 4, 2]",
        inputs: [{ shape: [2, 1, 3, 4] }, { shape: [5, 4, 2] }],
        fn: (x, y) => T.matmul(x, y),
      },
      {
        name: "[3] @ [2, 3, 4]",
        inputs: [{ shape: [3] }, { shape: [2, 3, 4] }],
        fn: (x, y) => T.matmul(x, y),
      },
      {
        name: "[2, 3] @ [3]",
        inputs: [{ shape: [2, 3] }, { shape: [3] }],
        fn: (x, y) => T.matmul(x, y),
      },
      { name: "[3] @ [3]", inputs: [{ shape: [3] }, { shape: [3] }], fn: (x, y) => T.matmul(x, y) },
      ...[[true, false], [false, true], [true, true]].map(([ta, tb]) => ({
        name: `transA=${ta} transB=${tb} with batch`,
        inputs: [{ shape: ta ? [2, 3, 2] : [2, 2, 3] }, { shape: tb ? [4, 3] : [3, 4] }],
        fn: (x: T.Tensor, y: T.Tensor) => T.matmul(x, y, { transA: ta, transB: tb }),
      })),
    ],
  };
}

function indexCases(): Record<string, Case> {
  const x = rnd([3, 4]);
  const x3 = rnd([2, 3, 4]);
  const i1 = ref([3, 2], [3, 0, 1, 1, 2, 3]);
  const i0 = ref([2, 4], [2, 0, 1, 2, 0, 0, 2, 1]);
  const ineg = ref([2, 2, 2], [1, 0, 3, 3, 2, 2, 0, 1]);
  const small = ref([2, 2], [1, 0, 0, 3]);
  const srcS = rnd([2, 4]);
  const srcBig = rnd([3, 5]);
  const idxS = ref([2, 3], [0, 2, 2, 1, 1, 0]);
  return {
    gather: {
      forward: [
        {
          name: "axis 1, axis 0, axis -1 of 3-D, index smaller than the input",
          run: (c) => [
            T.gather(c.r(x), 1, c.r(i1, "i32")),
            T.gather(c.r(x), 0, c.r(i0, "i32")),
            T.gather(c.r(x3), -1, c.r(ineg, "i32")),
            T.gather(c.r(x), 1, c.r(small, "i32")),
          ],
          expect: [
            E(gatherRef(x, 1, i1)),
            E(gatherRef(x, 0, i0)),
            E(gatherRef(x3, 2, ineg)),
            E(gatherRef(x, 1, small)),
          ],
        },
        {
          name: "integer values",
          run: (c) => T.gather(c.t([5, 6, 7], [3], "i32"), 0, c.t([2, 2, 0], [3], "i32")),
          expect: { shape: [3], values: [7, 7, 5], dtype: "i32" },
        },
      ],
      grad: [{
        name: "repeated indices accumulate",
        inputs: [{ shape: [3, 4] }, { shape: [3, 2], dtype: "i32", values: i1.data }],
        fn: (a, i) => T.gather(a, 1, i),
      }, {
        name: "axis 0, index smaller than input",
        inputs: [{ shape: [3, 4] }, { shape: [2, 3], dtype: "i32", values: idxS.data }],
        fn: (a, i) => T.gather(a, 0, i),
      }],
    },
    scatter_add: {
      forward: [
        {
          name: "duplicates accumulate; src larger than index",
          run: (c) => [
            T.scatterAdd(c.r(x), 0, c.r(i0, "i32"), c.r(srcS)),
            T.scatterAdd(c.r(x), 0, c.r(idxS, "i32"), c.r(srcBig)),
            T.scatterAdd(c.r(x), -1, c.r(i1, "i32"), c.r(ref([3, 2], srcS.data.slice(0, 6)))),
          ],
          expect: [
            E(scatterAddRef(x, 0, i0, srcS)),
            E(scatterAddRef(x, 0, idxS, srcBig)),
            E(scatterAddRef(x, 1, i1, ref([3, 2], srcS.data.slice(0, 6)))),
          ],
        },
      ],
      grad: [{
        name: "x and src",
        inputs: [{ shape: [3, 4] }, { shape: [2, 3], dtype: "i32", values: idxS.data }, {
          shape: [3, 5],
        }],
        fn: (a, i, s) => T.scatterAdd(a, 0, i, s),
      }],
    },
    index_select: {
      forward: [
        {
          name: "axis 1 with repeats, axis 0, negative axis, empty index",
          run: (c) => [
            T.indexSelect(c.r(x), 1, c.t([3, 0, 3], [3], "i32")),
            T.indexSelect(c.r(x3), 0, c.t([1], [1], "i32")),
            T.indexSelect(c.r(x3), -2, c.t([2, 1], [2], "i32")),
            T.indexSelect(c.r(x), 0, c.t([], [0], "i32")),
          ],
          expect: [
            E(indexSelectRef(x, 1, [3, 0, 3])),
            E(indexSelectRef(x3, 0, [1])),
            E(indexSelectRef(x3, 1, [2, 1])),
            { shape: [0, 4], values: [] },
          ],
        },
      ],
      grad: [{
        name: "repeated index",
        inputs: [{ shape: [3, 4] }, { shape: [3], dtype: "i32", values: [3, 0, 3] }],
        fn: (a, i) => T.indexSelect(a, 1, i),
      }],
    },
    index_add: {
      forward: [
        {
          name: "repeated targets accumulate, axis 0 and 1",
          run: (c) => [
            T.indexAdd(
              c.r(x),
              1,
              c.t([3, 0, 3], [3], "i32"),
              c.r(ref([3, 3], srcBig.data.slice(0, 9))),
            ),
            T.indexAdd(c.r(x), 0, c.t([2, 2], [2], "i32"), c.r(srcS)),
          ],
          expect: [
            E(indexAddRef(x, 1, [3, 0, 3], ref([3, 3], srcBig.data.slice(0, 9)))),
            E(indexAddRef(x, 0, [2, 2], srcS)),
          ],
        },
      ],
      grad: [{
        name: "x and src",
        inputs: [{ shape: [3, 4] }, { shape: [3], dtype: "i32", values: [1, 0, 1] }, {
          shape: [3, 4],
        }],
        fn: (a, i, s) => T.indexAdd(a, 0, i, s),
      }],
    },
  };
}

function sortCase(): Case {
  const x = rnd([3, 5]);
  const ties = [2, 1, 2, 1, 2];
  const nan = [3, NAN, 1, NAN, 2, -INF, INF];
  const out = (v: number[], desc: boolean) => {
    const [vals, idx] = sort1d(v, desc);
    return [
      { shape: [v.length], values: vals },
      { shape: [v.length], values: idx, dtype: "i32" as const },
    ];
  };
  return {
    forward: [
      {
        name: "ascending and descending along the last axis, and along axis 0",
        run: (c) => [...T.sort(c.r(x)), ...T.sort(c.r(x), -1, true), ...T.sort(c.r(x), 0)],
        expect: [
          E(lanes(x, 1, (v) => sort1d(v, false)[0])),
          E(lanes(x, 1, (v) => sort1d(v, false)[1]), { dtype: "i32" }),
          E(lanes(x, 1, (v) => sort1d(v, true)[0])),
          E(lanes(x, 1, (v) => sort1d(v, true)[1]), { dtype: "i32" }),
          E(lanes(x, 0, (v) => sort1d(v, false)[0])),
          E(lanes(x, 0, (v) => sort1d(v, false)[1]), { dtype: "i32" }),
        ],
      },
      {
        name: "stable: ties keep their original order (both directions)",
        run: (c) => [...T.sort(c.t(ties, [5])), ...T.sort(c.t(ties, [5]), 0, true)],
        expect: [
          { shape: [5], values: [1, 1, 2, 2, 2] },
          { shape: [5], values: [1, 3, 0, 2, 4], dtype: "i32" },
          { shape: [5], values: [2, 2, 2, 1, 1] },
          { shape: [5], values: [0, 2, 4, 1, 3], dtype: "i32" },
        ],
      },
      {
        name: "nan sorts as the largest value, infinities in place",
        run: (c) => [...T.sort(c.t(nan, [7])), ...T.sort(c.t(nan, [7]), 0, true)],
        expect: [...out(nan, false), ...out(nan, true)],
      },
      {
        name: "integers, size-1 and zero-size axes",
        run: (c) => [
          ...T.sort(c.t([3, -1, 2], [3], "i32")),
          T.sort(c.t([4, 5], [2, 1]), 1)[1],
          T.sort(c.t([], [2, 0]), 1)[0],
        ],
        expect: [
          { shape: [3], values: [-1, 2, 3], dtype: "i32" },
          { shape: [3], values: [1, 2, 0], dtype: "i32" },
          { shape: [2, 1], values: [0, 0], dtype: "i32" },
          { shape: [2, 0], values: [] },
        ],
      },
    ],
    grad: [
      { name: "values, ascending", inputs: [{ shape: [3, 5] }], fn: (a) => T.sort(a)[0] },
      {
        name: "values, descending, axis 0",
        inputs: [{ shape: [4, 3] }],
        fn: (a) => T.sort(a, 0, true)[0],
      },
    ],
  };
}

type Pair = [number, number];

interface ConvCfg {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  o: ConvRefOptions;
}

const CONV: ConvCfg[] = [
  { name: "3x3, no padding", x: [2, 3, 5, 5], w: [4, 3, 3, 3], o: {} },
  {
    name: "stride 2, padding 1 (odd size)",
    x: [1, 2, 6, 5],
    w: [3, 2, 3, 3],
    o: { stride: [2, 2], padding: [1, 1] },
  },
  {
    name: "dilation 2, rectangular kernel, stride [1, 2], padding [2, 1]",
    x: [1, 2, 7, 6],
    w: [2, 2, 3, 2],
    o: { dilation: [2, 2], stride: [1, 2], padding: [2, 1] },
  },
  { name: "groups 2 with bias", x: [1, 4, 5, 5], w: [6, 2, 3, 3], bias: true, o: { groups: 2 } },
  {
    name: "depthwise (groups = channels), padding 1",
    x: [1, 3, 4, 4],
    w: [3, 1, 3, 3],
    o: { groups: 3, padding: [1, 1] },
  },
  { name: "1x1 kernel", x: [2, 3, 2, 3], w: [2, 3, 1, 1], bias: true, o: {} },
];

function convCase(): Case {
  const data = CONV.map((cfg) => ({
    cfg,
    x: rnd(cfg.x),
    w: rnd(cfg.w),
    b: cfg.bias ? rnd([cfg.w[0]]) : null,
  }));
  const opts = (o: ConvRefOptions): T.Conv2dOptions => ({ ...o });
  return {
    forward: [
      {
        name: "hand example: 3x3 ramp with a 2x2 box",
        run: (c) =>
          T.conv2d(c.t([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]), c.t([1, 1, 1, 1], [1, 1, 2, 2])),
        expect: { shape: [1, 1, 2, 2], values: [12, 16, 24, 28] },
      },
      ...data.map(({ cfg, x, w, b }) => ({
        name: cfg.name,
        run: (c: Ctx) => T.conv2d(c.r(x), c.r(w), b ? c.r(b) : null, opts(cfg.o)),
        expect: E(conv2dRef(x, w, b?.data ?? null, cfg.o)),
      })),
      {
        name: "nan in one pixel spreads to the windows that see it",
        run: (c) => T.conv2d(c.t([1, 1, 1, NAN], [1, 1, 2, 2]), c.t([1], [1, 1, 1, 1])),
        expect: { shape: [1, 1, 2, 2], values: [1, 1, 1, NAN] },
      },
    ],
    grad: CONV.map((cfg) => ({
      name: cfg.name,
      inputs: [{ shape: cfg.x }, { shape: cfg.w }, ...(cfg.bias ? [{ shape: [cfg.w[0]] }] : [])],
      fn: (x: T.Tensor, w: T.Tensor, b?: T.Tensor) => T.conv2d(x, w, b ?? null, opts(cfg.o)),
      reaches: ["conv2d_input_grad", "conv2d_weight_grad"],
    })),
  };
}

interface PoolCfg {
  name: string;
  x: number[];
  k: Pair;
  s: Pair;
  p: Pair;
}

const POOL: PoolCfg[] = [
  { name: "kernel 2", x: [2, 2, 4, 4], k: [2, 2], s: [2, 2], p: [0, 0] },
  { name: "kernel 3, stride 2, padding 1", x: [1, 2, 5, 6], k: [3, 3], s: [2, 2], p: [1, 1] },
  {
    name: "kernel [2, 3], stride 1, padding [1, 0]",
    x: [1, 1, 3, 5],
    k: [2, 3],
    s: [1, 1],
    p: [1, 0],
  },
];

function poolCase(kind: "max" | "avg"): Case {
  const op = kind === "max" ? T.maxPool2d : T.avgPool2d;
  const data = POOL.map((cfg) => ({ cfg, x: rnd(cfg.x) }));
  const ramp = Array.from({ length: 16 }, (_, i) => i);
  return {
    forward: [
      {
        name: "hand example: 4x4 ramp, kernel 2",
        run: (c) => op(c.t(ramp, [1, 1, 4, 4]), 2),
        expect: {
          shape: [1, 1, 2, 2],
          values: kind === "max" ? [5, 7, 13, 15] : [2.5, 4.5, 10.5, 12.5],
        },
      },
      ...data.map(({ cfg, x }) => ({
        name: cfg.name,
        run: (c: Ctx) => op(c.r(x), cfg.k, { stride: cfg.s, padding: cfg.p }),
        expect: E(poolRef(x, kind, cfg.k, cfg.s, cfg.p)),
      })),
      {
        name: "nan propagates to its windows",
        run: (c) => op(c.t([1, NAN, 3, 4, 5, 6, 7, 8], [1, 1, 2, 4]), 2),
        expect: { shape: [1, 1, 1, 2], values: [NAN, kind === "max" ? 8 : 5.5] },
      },
    ],
    grad: POOL.map((cfg) => ({
      name: cfg.name,
      inputs: [{ shape: cfg.x }],
      fn: (x: T.Tensor) => op(x, cfg.k, { stride: cfg.s, padding: cfg.p }),
      reaches: [`${kind}_pool2d_backward`],
    })),
  };
}

function resampleCases(): Record<string, Case> {
  const q = ref([1, 1, 2, 2], [1, 2, 3, 4]);
  const x = rnd([2, 2, 5, 3]);
  const y = rnd([1, 2, 3, 5]);
  const z = rnd([1, 1, 4, 6]);
  const img = rnd([2, 3, 4, 5]);
  const grid = rnd([2, 3, 2, 2], -1.2, 1.2);
  return {
    resize_nearest: {
      forward: [
        {
          name: "hand examples: 2x2 -> 4x4 and 2x2 -> 3x3",
          run: (c) => [
            T.interpolate(c.r(q), { size: [4, 4] }),
            T.interpolate(c.r(q), { size: [3, 3], mode: "nearest" }),
          ],
          expect: [
            { shape: [1, 1, 4, 4], values: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4] },
            { shape: [1, 1, 3, 3], values: [1, 1, 2, 1, 1, 2, 3, 3, 4] },
          ],
        },
        {
          name: "up and down sizes, scale factors, rank 3, integers",
          run: (c) => [
            T.interpolate(c.r(x), { size: [3, 7] }),
            T.interpolate(c.r(x), { size: [8, 2] }),
            T.interpolate(c.r(z), { scaleFactor: 0.5 }),
            T.interpolate(c.r(z), { scaleFactor: [2, 1] }),
            T.interpolate(c.r(ref([1, 2, 2], q.data)), { size: [3, 1] }),
            T.interpolate(c.t([1, 2, 3, 4], [1, 1, 2, 2], "i32"), { size: [4, 4] }),
          ],
          expect: [
            E(nearestRef(x, 3, 7)),
            E(nearestRef(x, 8, 2)),
            E(nearestRef(z, 2, 3, [2, 2])),
            E(nearestRef(z, 8, 6, [0.5, 1])),
            E(nearestRef(ref([1, 2, 2], q.data), 3, 1)),
            {
              shape: [1, 1, 4, 4],
              values: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4],
              dtype: "i32",
            },
          ],
        },
      ],
      grad: [
        {
          name: "upsample 5x3 -> 7x4",
          inputs: [{ shape: [1, 2, 5, 3] }],
          fn: (a) => T.interpolate(a, { size: [7, 4] }),
          reaches: ["resize_nearest_backward"],
        },
        {
          name: "downsample 5x3 -> 2x2",
          inputs: [{ shape: [1, 1, 5, 3] }],
          fn: (a) => T.interpolate(a, { size: [2, 2] }),
        },
      ],
    },
    resize_bilinear: {
      forward: [
        {
          name: "hand examples: 2x2 -> 4x4, align_corners false and true",
          run: (c) => [
            T.interpolate(c.r(q), { size: [4, 4], mode: "bilinear" }),
            T.interpolate(c.r(q), { size: [4, 4], mode: "bilinear", alignCorners: true }),
          ],
          expect: [
            {
              shape: [1, 1, 4, 4],
              values: [
                1,
                1.25,
                1.75,
                2,
                1.5,
                1.75,
                2.25,
                2.5,
                2.5,
                2.75,
                3.25,
                3.5,
                3,
                3.25,
                3.75,
                4,
              ],
            },
            {
              shape: [1, 1, 4, 4],
              values: [
                1,
                4 / 3,
                5 / 3,
                2,
                5 / 3,
                2,
                7 / 3,
                8 / 3,
                7 / 3,
                8 / 3,
                3,
                10 / 3,
                3,
                10 / 3,
                11 / 3,
                4,
              ],
            },
          ],
        },
        {
          name: "random sizes up and down, both align modes",
          run: (c) => [
            T.interpolate(c.r(y), { size: [4, 7], mode: "bilinear" }),
            T.interpolate(c.r(y), { size: [4, 7], mode: "bilinear", alignCorners: true }),
            T.interpolate(c.r(y), { size: [2, 3], mode: "bilinear" }),
            T.interpolate(c.r(y), { size: [2, 3], mode: "bilinear", alignCorners: true }),
          ],
          expect: [
            E(bilinearRef(y, 4, 7, false)),
            E(bilinearRef(y, 4, 7, true)),
            E(bilinearRef(y, 2, 3, false)),
            E(bilinearRef(y, 2, 3, true)),
          ],
        },
        {
          name: "2x downsample averages 2x2 blocks; scale factor 1.5; size-1 input and output",
          run: (c) => [
            T.interpolate(c.r(z), { size: [2, 3], mode: "bilinear" }),
            T.interpolate(c.r(y), { scaleFactor: 1.5, mode: "bilinear" }),
            T.interpolate(c.t([5], [1, 1, 1, 1]), { size: [2, 3], mode: "bilinear" }),
            T.interpolate(c.r(y), { size: [1, 1], mode: "bilinear", alignCorners: true }),
          ],
          expect: [
            E(bilinearRef(z, 2, 3, false)),
            E(bilinearRef(y, 4, 7, false, [2 / 3, 2 / 3])),
            { shape: [1, 1, 2, 3], values: [5, 5, 5, 5, 5, 5] },
            { shape: [1, 2, 1, 1], values: [y.data[0], y.data[15]] },
          ],
        },
      ],
      grad: [false, true].flatMap((ac) => [
        {
          name: `upsample 3x5 -> 4x7, align_corners ${ac}`,
          inputs: [{ shape: [1, 2, 3, 5] }],
          fn: (a: T.Tensor) =>
            T.interpolate(a, { size: [4, 7], mode: "bilinear", alignCorners: ac }),
          reaches: ["resize_bilinear_backward"],
        },
        {
          name: `downsample 5x4 -> 2x3, align_corners ${ac}`,
          inputs: [{ shape: [1, 1, 5, 4] }],
          fn: (a: T.Tensor) =>
            T.interpolate(a, { size: [2, 3], mode: "bilinear", alignCorners: ac }),
        },
      ]),
    },
    grid_sample: {
      forward: [
        {
          name: "hand example: centre, corner (zero padding), pixel centres, far outside",
          run: (c) =>
            T.gridSample(
              c.r(q),
              c.t([0, 0, -1, -1, -0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 2, 0], [1, 2, 3, 2]),
            ),
          expect: { shape: [1, 1, 2, 3], values: [2.5, 0.25, 1, 2, 3, 0] },
        },
        {
          name: "random image and grid (some points outside)",
          run: (c) => T.gridSample(c.r(img), c.r(grid)),
          expect: E(gridSampleRef(img, grid)),
        },
      ],
      grad: [{
        name: "input and grid",
        inputs: [{ shape: [2, 2, 3, 4] }, { shape: [2, 3, 2, 2], lo: -1.2, hi: 1.2 }],
        fn: (a, g) => T.gridSample(a, g),
        reaches: ["grid_sample_backward"],
      }],
    },
  };
}

function msdaCase(): Case {
  const levels: [number, number][] = [[3, 4], [2, 2]];
  const v = rnd([2, 16, 2, 3]);
  const loc = rnd([2, 3, 2, 2, 2, 2], -0.1, 1.1);
  const w = rnd([2, 3, 2, 2, 2], 0, 1);
  return {
    forward: [
      {
        name: "two levels, two heads, points partly outside",
        run: (c) => T.msda(c.r(v), c.r(loc), c.r(w), levels),
        expect: E(msdaRef(v, loc, w, levels)),
      },
    ],
    grad: [{
      name: "value, locations and weights",
      inputs: [{ shape: [1, 16, 2, 2] }, { shape: [1, 2, 2, 2, 2, 2], lo: -0.1, hi: 1.1 }, {
        shape: [1, 2, 2, 2, 2],
      }],
      fn: (a, l, b) => T.msda(a, l, b, levels),
      reaches: ["msda_backward"],
    }],
  };
}

export function nnCases(): Record<string, Case> {
  return {
    matmul: matmulCase(),
    ...indexCases(),
    sort: sortCase(),
    conv2d: convCase(),
    max_pool2d: poolCase("max"),
    avg_pool2d: poolCase("avg"),
    ...resampleCases(),
    msda: msdaCase(),
  };
}
