/** Catalog cases: creation, views (reshape, permute, expand, slice), cat, pad, reductions. */
import * as T from "../../mod.ts";
import { assertClose, uniform } from "./numeric.ts";
import { type Case, E } from "./case_types.ts";
import {
  argmaxOf,
  argminOf,
  catRef,
  cumsum1d,
  expandRef,
  lanes,
  logSoftmax1d,
  maxOf,
  meanOf,
  minOf,
  padRef,
  pcgHashRef,
  permuteRef,
  reduceRef,
  ref,
  sliceRef,
  softmax1d,
  sumOf,
} from "./reference.ts";

const NAN = NaN;
const INF = Infinity;

const x234 = ref([2, 3, 4], uniform(24, 11, -2, 2));
const x34 = ref([3, 4], uniform(12, 12, -2, 2));

/** The counter-based uniform of src/tensor/random.ts, from the published PCG hash. */
function uniformRef(seed: number, i: number): number {
  const h = pcgHashRef((pcgHashRef(seed) ^ pcgHashRef(i)) >>> 0);
  return (h >>> 8) / 16777216;
}

function creationCases(): Record<string, Case> {
  return {
    fill: {
      forward: [
        {
          name: "full / zeros / ones / fullLike with dtypes",
          run: (c) => [
            T.full([2, 3], 2.5, { backend: c.backend }),
            T.zeros([2], { dtype: "i32", backend: c.backend }),
            T.ones([], { dtype: "bool", backend: c.backend }),
            T.fullLike(c.t([1, 2, 3], [3, 1], "i32"), -7),
            T.full([0, 3], 1, { backend: c.backend }),
          ],
          expect: [
            { shape: [2, 3], values: [2.5, 2.5, 2.5, 2.5, 2.5, 2.5], dtype: "f32" },
            { shape: [2], values: [0, 0], dtype: "i32" },
            { shape: [], values: [1], dtype: "bool" },
            { shape: [3, 1], values: [-7, -7, -7], dtype: "i32" },
            { shape: [0, 3], values: [], dtype: "f32" },
          ],
        },
        {
          name: "nan and inf fill",
          run: (
            c,
          ) => [
            T.full([2], NAN, { backend: c.backend }),
            T.full([1], -INF, { backend: c.backend }),
          ],
          expect: [{ shape: [2], values: [NAN, NAN] }, { shape: [1], values: [-INF] }],
        },
      ],
    },
    arange: {
      forward: [
        {
          name: "integer and fractional steps, negative step, empty range, linspace",
          run: (c) => {
            const o = { backend: c.backend };
            return [
              T.arange(5, undefined, 1, o),
              T.arange(1, 2, 0.25, o),
              T.arange(5, 0, -2, o),
              T.arange(3, 3, 1, o),
              T.linspace(0, 1, 5, o),
              T.linspace(2, 3, 1, o),
            ];
          },
          expect: [
            { shape: [5], values: [0, 1, 2, 3, 4], dtype: "i32" },
            { shape: [4], values: [1, 1.25, 1.5, 1.75], dtype: "f32" },
            { shape: [3], values: [5, 3, 1], dtype: "i32" },
            { shape: [0], values: [], dtype: "i32" },
            { shape: [5], values: [0, 0.25, 0.5, 0.75, 1], dtype: "f32" },
            { shape: [1], values: [2], dtype: "f32" },
          ],
        },
      ],
    },
    rand_uniform: {
      forward: [
        {
          name: "matches the PCG counter stream and continues across calls",
          run: (c) => {
            const g = new T.Generator(42);
            return [
              T.rand([2, 3], { generator: g, backend: c.backend }),
              T.rand([4], { generator: g, backend: c.backend }),
            ];
          },
          expect: [
            {
              shape: [2, 3],
              values: Array.from({ length: 6 }, (_, i) => uniformRef(42, i)),
              rtol: 0,
              atol: 0,
            },
            { shape: [4], values: [6, 7, 8, 9].map((i) => uniformRef(42, i)), rtol: 0, atol: 0 },
          ],
        },
        {
          name: "range [0, 1), mean 1/2 and variance 1/12 over 20000 draws",
          check: async (c) => {
            const v = await T.rand([20000], { generator: new T.Generator(7), backend: c.backend })
              .data();
            const arr = Array.from(v);
            if (arr.some((x) => x < 0 || x >= 1)) throw new Error("value outside [0, 1)");
            const m = meanOf(arr);
            const varr = meanOf(arr.map((x) => (x - m) ** 2));
            assertClose([m, varr], [0.5, 1 / 12], { rtol: 0, atol: 0.01 }, "mean, variance");
          },
        },
      ],
    },
  };
}

function viewCases(): Record<string, Case> {
  return {
    reshape: {
      forward: [
        {
          name: "new shapes, -1, scalar, zero-size",
          run: (c) => [
            T.reshape(c.r(x234), [4, 6]),
            T.reshape(c.r(x234), [-1, 3]),
            T.reshape(c.t([5], [1, 1]), []),
            T.reshape(c.t([], [0, 3]), [3, 0]),
            T.reshape(c.t([], [0, 3]), [-1]),
          ],
          expect: [
            { shape: [4, 6], values: x234.data },
            { shape: [8, 3], values: x234.data },
            { shape: [], values: [5] },
            { shape: [3, 0], values: [] },
            { shape: [0], values: [] },
          ],
        },
        {
          name: "reshape of a permuted (non-contiguous) tensor reads in the new order",
          run: (c) => T.reshape(T.permute(c.r(x234), [2, 0, 1]), [4, 6]),
          expect: { shape: [4, 6], values: permuteRef(x234, [2, 0, 1]).data },
        },
      ],
      grad: [{
        name: "[2, 3, 4] -> [4, -1]",
        inputs: [{ shape: [2, 3, 4] }],
        fn: (x) => T.reshape(x, [4, -1]),
      }],
    },
    permute: {
      forward: [
        {
          name: "3-D permutation, negative dims, transpose",
          run: (c) => [
            T.permute(c.r(x234), [2, 0, 1]),
            T.permute(c.r(x234), [-1, -3, -2]),
            T.transpose(c.r(x234), 0, -1),
          ],
          expect: [
            E(permuteRef(x234, [2, 0, 1])),
            E(permuteRef(x234, [2, 0, 1])),
            E(permuteRef(x234, [2, 1, 0])),
          ],
        },
        {
          name: "permuted results feed further ops (elementwise, reductions, permute again)",
          run: (c) => {
            const p = T.permute(c.r(x234), [1, 2, 0]);
            return [T.add(p, 1), T.sum(p, 2), T.permute(p, [2, 0, 1])];
          },
          expect: [
            E(permuteRef(ref(x234.shape, x234.data.map((v) => v + 1)), [1, 2, 0])),
            E(reduceRef(permuteRef(x234, [1, 2, 0]), [2], false, sumOf)),
            E(x234),
          ],
        },
        {
          name: "size-1, zero-size and integer tensors",
          run: (c) => [
            T.permute(c.t([1, 2, 3], [1, 3, 1]), [2, 1, 0]),
            T.permute(c.t([], [2, 0, 3]), [2, 0, 1]),
            T.permute(c.t([1, 2, 3, 4, 5, 6], [2, 3], "i32"), [1, 0]),
          ],
          expect: [
            { shape: [1, 3, 1], values: [1, 2, 3] },
            { shape: [3, 2, 0], values: [] },
            { shape: [3, 2], values: [1, 4, 2, 5, 3, 6], dtype: "i32" },
          ],
        },
      ],
      grad: [{
        name: "[2, 3, 4] by [2, 0, 1]",
        inputs: [{ shape: [2, 3, 4] }],
        fn: (x) => T.permute(x, [2, 0, 1]),
      }],
    },
    expand: {
      forward: [
        {
          name: "new leading axes, size-1 axes, -1",
          run: (c) => [
            T.expand(c.r(ref([3, 1], [1, 2, 3])), [2, 3, 4]),
            T.expand(c.t([7], [1]), [0]),
            T.expand(c.r(ref([3, 1], [1, 2, 3])), [-1, 2]),
          ],
          expect: [
            E(expandRef(ref([3, 1], [1, 2, 3]), [2, 3, 4])),
            { shape: [0], values: [] },
            { shape: [3, 2], values: [1, 1, 2, 2, 3, 3] },
          ],
        },
      ],
      grad: [{
        name: "[3, 1] -> [2, 3, 4] sums the broadcast axes",
        inputs: [{ shape: [3, 1] }],
        fn: (x) => T.expand(x, [2, 3, 4]),
      }],
    },
    slice: {
      forward: [
        {
          name: "ranges, negative indices, steps, clamping, empty",
          run: (c) => [
            T.slice(c.r(x234), [[0, 1], [1], [0, 4, 2]]),
            T.slice(c.r(x234), [undefined, [-2], [-3, -1]]),
            T.slice(c.r(x234), [undefined, [undefined, undefined, -1], [3, 0, -2]]),
            T.slice(c.r(x234), [[-10, 10], [5, 9]]),
            T.narrow(c.r(x234), -1, 1, 2),
            T.narrow(c.r(x234), 1, -2, 2),
            T.flip(c.r(x234), [0, -1]),
          ],
          expect: [
            E(sliceRef(x234, [[0, 1], [1], [0, 4, 2]])),
            E(sliceRef(x234, [undefined, [-2], [-3, -1]])),
            E(sliceRef(x234, [undefined, [undefined, undefined, -1], [3, 0, -2]])),
            E(sliceRef(x234, [[-10, 10], [5, 9]])),
            E(sliceRef(x234, [undefined, undefined, [1, 3]])),
            E(sliceRef(x234, [undefined, [1, 3]])),
            E(sliceRef(x234, [[undefined, undefined, -1], undefined, [undefined, undefined, -1]])),
          ],
        },
      ],
      grad: [
        {
          name: "strided, reversed slice",
          inputs: [{ shape: [3, 5] }],
          fn: (x) => T.slice(x, [[2, 0, -1], [0, 5, 2]]),
          reaches: ["slice_backward"],
        },
        {
          name: "empty slice gives zero gradient",
          inputs: [{ shape: [3, 2] }],
          fn: (x) => T.slice(x, [[2, 1]]),
        },
      ],
    },
    cat: {
      forward: [
        {
          name: "axis 0, negative axis, three inputs with a zero-size piece, integers",
          run: (c) => [
            T.cat([c.r(x34), c.r(x34)], 0),
            T.cat([c.r(x34), c.t([], [3, 0]), c.r(x34)], -1),
            T.cat([c.t([1, 2], [2], "i32"), c.t([3], [1], "i32")]),
          ],
          expect: [
            E(catRef([x34, x34], 0)),
            E(catRef([x34, ref([3, 0], []), x34], 1)),
            { shape: [3], values: [1, 2, 3], dtype: "i32" },
          ],
        },
      ],
      grad: [{
        name: "three inputs on axis 1",
        inputs: [{ shape: [2, 1] }, { shape: [2, 3] }, { shape: [2, 2] }],
        fn: (a, b, d) => T.cat([a, b, d], 1),
      }],
    },
    pad: {
      forward: [
        {
          name: "constant, replicate, several axes, negative (crop), zero-size",
          run: (c) => [
            T.pad(c.r(x34), [1, 2], "constant", 9),
            T.pad(c.r(x34), [1, 2, 2, 1], "replicate"),
            T.pad(c.r(x234), [0, 0, 1, 0, 0, 1]),
            T.pad(c.r(x34), [-1, 1]),
            T.pad(c.t([], [0, 2]), [1, 1]),
          ],
          expect: [
            E(padRef(x34, [[0, 0], [1, 2]], "constant", 9)),
            E(padRef(x34, [[2, 1], [1, 2]], "replicate")),
            E(padRef(x234, [[0, 1], [1, 0], [0, 0]], "constant")),
            E(padRef(sliceRef(x34, [undefined, [1]]), [[0, 0], [0, 1]], "constant")),
            { shape: [0, 4], values: [] },
          ],
        },
      ],
      grad: [
        { name: "constant", inputs: [{ shape: [2, 3] }], fn: (x) => T.pad(x, [1, 2, 0, 1]) },
        {
          name: "replicate on two axes",
          inputs: [{ shape: [3, 4] }],
          fn: (x) => T.pad(x, [2, 1, 1, 3], "replicate"),
        },
        {
          name: "replicate of a size-1 and a size-2 axis",
          inputs: [{ shape: [1, 2] }],
          fn: (x) => T.pad(x, [2, 3, 1, 2], "replicate"),
        },
      ],
    },
  };
}

type Red = (x: T.Tensor, axes?: number | number[], keepdim?: boolean) => T.Tensor;

function reductionCase(op: Red, f: (v: number[]) => number, intOut: string): Case {
  const nanRow = ref([2, 3], [1, NAN, 2, -INF, 3, INF]);
  return {
    forward: [
      {
        name: "all axes, some axes, negative axis, keepdim",
        run: (
          c,
        ) => [
          op(c.r(x234)),
          op(c.r(x234), [0, 2]),
          op(c.r(x234), -1, true),
          op(c.r(x234), [1, -3]),
        ],
        expect: [
          E(reduceRef(x234, undefined, false, f)),
          E(reduceRef(x234, [0, 2], false, f)),
          E(reduceRef(x234, [-1], true, f)),
          E(reduceRef(x234, [0, 1], false, f)),
        ],
      },
      {
        name: "nan propagates, infinities",
        run: (c) => op(c.r(nanRow), 1),
        expect: E(reduceRef(nanRow, [1], false, f)),
      },
      {
        name: "size-1 axes and scalars",
        run: (c) => [op(c.t([3], [1, 1]), 0), op(c.t([4], []))],
        expect: [{ shape: [1], values: [3] }, { shape: [], values: [4] }],
      },
      {
        name: "integer input",
        run: (c) => op(c.t([1, -2, 3, 4, 5, 6], [2, 3], "i32"), 1),
        expect: { shape: [2], values: [[1, -2, 3], [4, 5, 6]].map(f), dtype: intOut as T.DType },
      },
    ],
    grad: [
      { name: "all axes", inputs: [{ shape: [2, 3, 4] }], fn: (x) => op(x) },
      {
        name: "axes [0, 2] keepdim",
        inputs: [{ shape: [2, 3, 4] }],
        fn: (x) => op(x, [0, 2], true),
      },
      { name: "axis -1", inputs: [{ shape: [3, 4] }], fn: (x) => op(x, -1) },
    ],
  };
}

function reduceCases(): Record<string, Case> {
  const sum = reductionCase(T.sum, sumOf, "i32");
  sum.forward.push({
    name: "zero-size axis sums to 0; bool sums count",
    run: (c) => [T.sum(c.t([], [0, 3]), 0), T.sum(c.t([1, 0, 1, 1], [4], "bool"))],
    expect: [{ shape: [3], values: [0, 0, 0] }, { shape: [], values: [3], dtype: "i32" }],
  });
  const mean = reductionCase(T.mean, meanOf, "f32");
  mean.forward.push({
    name: "mean over a zero-size axis is nan",
    run: (c) => T.mean(c.t([], [0, 2]), 0),
    expect: { shape: [2], values: [NAN, NAN] },
  });
  const max = reductionCase(T.max, maxOf, "i32");
  const min = reductionCase(T.min, minOf, "i32");
  const nanRow = ref([2, 4], [1, NAN, 2, NAN, -INF, 3, 3, INF]);
  const ties = ref([2, 4], [1, 3, 3, 0, 2, 2, -1, 2]);
  const arg = (op: typeof T.argmax, f: (v: number[]) => number): Case => ({
    forward: [
      {
        name: "per axis, negative axis, keepdim",
        run: (c) => [op(c.r(x234), 1), op(c.r(x234), -1, true), op(c.r(x234), 0)],
        expect: [
          E(reduceRef(x234, [1], false, f), { dtype: "i32" }),
          E(reduceRef(x234, [2], true, f), { dtype: "i32" }),
          E(reduceRef(x234, [0], false, f), { dtype: "i32" }),
        ],
      },
      {
        name: "first index on ties, nan wins",
        run: (c) => [op(c.r(ties), 1), op(c.r(nanRow), 1)],
        expect: [
          E(reduceRef(ties, [1], false, f), { dtype: "i32" }),
          E(reduceRef(nanRow, [1], false, f), { dtype: "i32" }),
        ],
      },
      {
        name: "integer input",
        run: (c) => op(c.t([3, 9, 9, -1], [4], "i32")),
        expect: { shape: [], values: [[3, 9, 9, -1]].map(f), dtype: "i32" },
      },
    ],
  });
  const lane = (
    op: (x: T.Tensor, axis: number) => T.Tensor,
    f: (v: number[]) => number[],
    extra: number[][],
  ): Case => ({
    forward: [
      {
        name: "last axis, axis 0, middle axis",
        run: (c) => [op(c.r(x234), -1), op(c.r(x234), 0), op(c.r(x234), 1)],
        expect: [E(lanes(x234, 2, f)), E(lanes(x234, 0, f)), E(lanes(x234, 1, f))],
      },
      {
        name: "special rows (large values, infinities, nan)",
        run: (c) => op(c.t(extra.flat(), [extra.length, 3]), 1),
        expect: E(lanes(ref([extra.length, 3], extra.flat()), 1, f)),
      },
      {
        name: "size-1 axis",
        run: (c) => op(c.t([2, -1], [2, 1]), 1),
        expect: E(lanes(ref([2, 1], [2, -1]), 1, f)),
      },
    ],
    grad: [
      { name: "last axis", inputs: [{ shape: [3, 4] }], fn: (x) => op(x, -1) },
      { name: "axis 0 of 3-D", inputs: [{ shape: [3, 2, 2] }], fn: (x) => op(x, 0) },
    ],
  });
  const softRows = [[1000, 1001, 999], [1, -INF, 2], [1, NAN, 2], [-INF, -INF, -INF]];
  const softmax = lane(T.softmax, softmax1d, softRows);
  const logSoftmax = lane(T.logSoftmax, logSoftmax1d, softRows.slice(0, 3));
  const cumsum = lane(T.cumsum, cumsum1d, [[1, NAN, 2], [INF, 1, -INF]]);
  cumsum.forward.push({
    name: "integer and bool input give i32",
    run: (c) => [T.cumsum(c.t([1, 2, 3], [3], "i32"), 0), T.cumsum(c.t([1, 0, 1], [3], "bool"), 0)],
    expect: [
      { shape: [3], values: [1, 3, 6], dtype: "i32" },
      { shape: [3], values: [1, 1, 2], dtype: "i32" },
    ],
  });
  softmax.forward.push({
    name: "integer input computes in f32",
    run: (c) => T.softmax(c.t([0, 0], [2], "i32")),
    expect: { shape: [2], values: [0.5, 0.5], dtype: "f32" },
  });
  return {
    sum,
    mean,
    max,
    min,
    argmax: arg(T.argmax, argmaxOf),
    argmin: arg(T.argmin, argminOf),
    cumsum,
    softmax,
    log_softmax: logSoftmax,
  };
}

export function shapeCases(): Record<string, Case> {
  return { ...creationCases(), ...viewCases(), ...reduceCases() };
}
