/**
 * Cases for public functions composed from catalog ops (clamp, variance, split, roll, topk,
 * one_hot, nonzero, dropout...). They run in the same suite as the catalog cases.
 */
import * as T from "../../mod.ts";
import { assertClose, uniform } from "./numeric.ts";
import { type Case, type Ctx, E } from "./case_types.ts";
import {
  build,
  catRef,
  lanes,
  logSoftmax1d,
  meanOf,
  reduceRef,
  type Ref,
  ref,
  sliceRef,
  sort1d,
  sumOf,
  unravel,
} from "./reference.ts";

const NAN = NaN;
const INF = Infinity;

let seed = 5000;
function rnd(shape: number[], lo = -1, hi = 1): Ref {
  return ref(shape, uniform(shape.reduce((a, b) => a * b, 1), seed++, lo, hi));
}

const clampRef = (
  v: number,
  lo = -INF,
  hi = INF,
) => (Number.isNaN(v) ? NaN : Math.min(Math.max(v, lo), hi));

function varianceRef(x: Ref, axes: number[], correction: number): Ref {
  return reduceRef(x, axes, false, (v) => {
    const m = meanOf(v);
    return sumOf(v.map((a) => (a - m) ** 2)) / Math.max(v.length - correction, 0);
  });
}

function rollRef(x: Ref, shifts: number[], axes: number[]): Ref {
  return build(x.shape, (idx) => {
    const src = [...idx];
    axes.forEach((a, i) => {
      const n = x.shape[a];
      src[a] = (((idx[a] - shifts[i]) % n) + n) % n;
    });
    return x.data[src.reduce((o, v, d) => o * x.shape[d] + v, 0)];
  });
}

/** PyTorch's numerically stable logsumexp of one lane. */
function lse(v: number[]): number {
  const m = Math.max(...v);
  if (!Number.isFinite(m)) return Math.log(sumOf(v.map(Math.exp)));
  return m + Math.log(sumOf(v.map((a) => Math.exp(a - m))));
}

export function functionCases(): Record<string, Case> {
  const x34 = rnd([3, 4], -2, 2);
  const x234 = rnd([2, 3, 4], -2, 2);
  const x53 = rnd([5, 3]);
  const nanv = [NAN, -3, -0.5, 0.25, 2, INF, -INF];
  const logits = rnd([4, 5], -3, 3);
  const labels = [2, 0, 4, 4];
  const rowWeights = [0.1, 1, 0.5, 2];
  const targets = rnd([4, 5], 0, 1);
  return {
    clamp: {
      forward: [
        {
          name: "both bounds, one bound, nan and infinities",
          run: (c) => [
            T.clamp(c.t(nanv, [7]), -1, 1),
            T.clamp(c.t(nanv, [7]), 0),
            T.clamp(c.t(nanv, [7]), undefined, 0),
          ],
          expect: [
            { shape: [7], values: nanv.map((v) => clampRef(v, -1, 1)) },
            { shape: [7], values: nanv.map((v) => clampRef(v, 0)) },
            { shape: [7], values: nanv.map((v) => clampRef(v, undefined, 0)) },
          ],
        },
        {
          name: "tensor bounds broadcast; integers stay i32",
          run: (c) => [
            T.clamp(c.r(x34), c.t([-1, -0.5, 0, -2], [4]), c.t([0.5], [1])),
            T.clamp(c.t([-5, 0, 5], [3], "i32"), -2, 2),
          ],
          expect: [
            E(build([3, 4], ([i, j]) => clampRef(x34.data[i * 4 + j], [-1, -0.5, 0, -2][j], 0.5))),
            { shape: [3], values: [-2, 0, 2], dtype: "i32" },
          ],
        },
      ],
      grad: [
        { name: "scalar bounds", inputs: [{ shape: [3, 4] }], fn: (x) => T.clamp(x, -0.5, 0.5) },
        {
          name: "tensor bounds receive the clamped gradient",
          inputs: [{ shape: [3, 4] }, { shape: [4], lo: -1, hi: -0.2 }, {
            shape: [1],
            lo: 0.2,
            hi: 1,
          }],
          fn: (x, lo, hi) => T.clamp(x, lo, hi),
        },
      ],
    },
    square: {
      forward: [{
        name: "values",
        run: (c) => T.square(c.r(x34)),
        expect: E(ref(x34.shape, x34.data.map((v) => v * v))),
      }],
      grad: [{ name: "[3, 4]", inputs: [{ shape: [3, 4] }], fn: T.square }],
    },
    logsumexp: {
      forward: [
        {
          name: "axes, keepdim",
          run: (c) => [T.logsumexp(c.r(x234), 1), T.logsumexp(c.r(x234), [0, 2], true)],
          expect: [E(reduceRef(x234, [1], false, lse)), E(reduceRef(x234, [0, 2], true, lse))],
        },
        {
          name: "large values, all -inf, +inf, nan",
          run: (c) => T.logsumexp(c.t([1000, 1000, -INF, -INF, INF, 1, NAN, 1], [4, 2]), 1),
          expect: { shape: [4], values: [1000 + Math.LN2, -INF, INF, NAN] },
        },
      ],
      grad: [{ name: "axis 1", inputs: [{ shape: [3, 4] }], fn: (x) => T.logsumexp(x, 1) }],
    },
    variance: {
      forward: [
        {
          name: "correction 1 and 0, std",
          run: (c) => [
            T.variance(c.r(x234), [0, 2]),
            T.variance(c.r(x234), -1, { correction: 0, keepdim: true }),
            T.std(c.r(x234)),
          ],
          expect: [
            E(varianceRef(x234, [0, 2], 1)),
            E(ref([2, 3, 1], varianceRef(x234, [2], 0).data)),
            E(ref([], [Math.sqrt(varianceRef(x234, [0, 1, 2], 1).data[0])])),
          ],
        },
      ],
      grad: [
        {
          name: "variance over [0, 2]",
          inputs: [{ shape: [2, 3, 4] }],
          fn: (x) => T.variance(x, [0, 2]),
        },
        { name: "std over the last axis", inputs: [{ shape: [3, 4] }], fn: (x) => T.std(x, -1) },
      ],
    },
    flatten_squeeze_unsqueeze: {
      forward: [{
        name: "shapes",
        run: (c) => [
          T.flatten(c.r(x234)),
          T.flatten(c.r(x234), 1),
          T.flatten(c.r(x234), 0, -2),
          T.squeeze(c.t([1, 2], [1, 2, 1])),
          T.squeeze(c.t([1, 2], [1, 2, 1]), -1),
          T.unsqueeze(c.t([1, 2], [2]), -1),
          T.unsqueeze(c.t([1, 2], [2]), 0),
        ],
        expect: [
          { shape: [24], values: x234.data },
          { shape: [2, 12], values: x234.data },
          { shape: [6, 4], values: x234.data },
          { shape: [2], values: [1, 2] },
          { shape: [1, 2], values: [1, 2] },
          { shape: [2, 1], values: [1, 2] },
          { shape: [1, 2], values: [1, 2] },
        ],
      }],
    },
    stack: {
      forward: [{
        name: "axis 0 and -1",
        run: (c) => [T.stack([c.r(x34), c.r(x34)]), T.stack([c.r(x34), c.r(x34)], -1)],
        expect: [
          { shape: [2, 3, 4], values: [...x34.data, ...x34.data] },
          E(build([3, 4, 2], ([i, j]) => x34.data[i * 4 + j])),
        ],
      }],
      grad: [{
        name: "two inputs, axis 1",
        inputs: [{ shape: [2, 3] }, { shape: [2, 3] }],
        fn: (a, b) => T.stack([a, b], 1),
      }],
    },
    split_chunk: {
      forward: [
        {
          name: "equal pieces with a remainder, explicit sizes, chunk, negative axis",
          run: (c) => [
            ...T.split(c.r(x53), 2),
            ...T.split(c.r(x53), [1, 2], -1),
            ...T.chunk(c.r(x53), 3),
            ...T.chunk(c.r(x53), 2, 1),
          ],
          expect: [
            E(sliceRef(x53, [[0, 2]])),
            E(sliceRef(x53, [[2, 4]])),
            E(sliceRef(x53, [[4, 5]])),
            E(sliceRef(x53, [undefined, [0, 1]])),
            E(sliceRef(x53, [undefined, [1, 3]])),
            E(sliceRef(x53, [[0, 2]])),
            E(sliceRef(x53, [[2, 4]])),
            E(sliceRef(x53, [[4, 5]])),
            E(sliceRef(x53, [undefined, [0, 2]])),
            E(sliceRef(x53, [undefined, [2, 3]])),
          ],
        },
        {
          name: "pieces put back together give the input",
          run: (c) => T.cat(T.split(c.r(x53), [2, 0, 3]), 0),
          expect: E(catRef([x53], 0)),
        },
      ],
      grad: [{
        name: "weighted pieces",
        inputs: [{ shape: [5, 3] }],
        fn: (x) => {
          const [a, b, d] = T.split(x, 2);
          return T.cat([T.mul(a, 2), T.neg(d), b], 0);
        },
        reaches: ["slice_backward"],
      }],
    },
    roll: {
      forward: [{
        name: "positive, negative, larger than the axis, several axes, zero-size axis",
        run: (c) => [
          T.roll(c.r(x34), 1, 0),
          T.roll(c.r(x34), -1, -1),
          T.roll(c.r(x34), 7, 1),
          T.roll(c.r(x234), [1, -2], [0, 2]),
          T.roll(c.r(x34), 4, 1),
          T.roll(c.t([], [0, 2]), 1, 0),
        ],
        expect: [
          E(rollRef(x34, [1], [0])),
          E(rollRef(x34, [-1], [1])),
          E(rollRef(x34, [7], [1])),
          E(rollRef(x234, [1, -2], [0, 2])),
          E(x34),
          { shape: [0, 2], values: [] },
        ],
      }],
      grad: [{
        name: "two axes",
        inputs: [{ shape: [3, 4] }],
        fn: (x) => T.roll(x, [1, -1], [0, 1]),
      }],
    },
    topk: {
      forward: [{
        name: "largest and smallest, axis 0, k = 0",
        run: (c) => [
          ...T.topk(c.r(x34), 2),
          ...T.topk(c.r(x34), 3, 0, false),
          T.topk(c.r(x34), 0)[0],
        ],
        expect: [
          E(sliceRef(lanes(x34, 1, (v) => sort1d(v, true)[0]), [undefined, [0, 2]])),
          E(sliceRef(lanes(x34, 1, (v) => sort1d(v, true)[1]), [undefined, [0, 2]]), {
            dtype: "i32",
          }),
          E(lanes(x34, 0, (v) => sort1d(v, false)[0])),
          E(lanes(x34, 0, (v) => sort1d(v, false)[1]), { dtype: "i32" }),
          { shape: [3, 0], values: [] },
        ],
      }],
      grad: [{ name: "top 2 values", inputs: [{ shape: [3, 4] }], fn: (x) => T.topk(x, 2)[0] }],
    },
    maskedFill: {
      forward: [{
        name: "broadcast mask",
        run: (c) => T.maskedFill(c.r(x34), c.t([1, 0, 0, 1], [4], "bool"), -INF),
        expect: E(build([3, 4], ([i, j]) => (j === 0 || j === 3 ? -INF : x34.data[i * 4 + j]))),
      }],
      grad: [{
        name: "gradient only where not filled",
        inputs: [{ shape: [3, 4] }, { shape: [3, 1], dtype: "bool", values: [1, 0, 1] }],
        fn: (x, m) => T.maskedFill(x, m, 0),
      }],
    },
    oneHot: {
      forward: [{
        name: "2-D index, i32 result",
        run: (c) => T.oneHot(c.t([0, 2, 1, 2], [2, 2], "i32"), 3),
        expect: {
          shape: [2, 2, 3],
          values: [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1],
          dtype: "i32",
        },
      }],
    },
    nonzero: {
      forward: [
        {
          name: "coordinates in row-major order; nan counts as non-zero",
          check: async (c: Ctx) => {
            const v = [0, 1.5, 0, NAN, 0, -2];
            const out = await T.nonzero(c.t(v, [2, 3]));
            const want = v.flatMap((a, i) => (a !== 0 ? unravel(i, [2, 3]) : []));
            if (out.shape.join() !== "3,2" || out.dtype !== "i32") {
              throw new Error(`nonzero: got ${out.dtype} [${out.shape}]`);
            }
            assertClose(await out.data(), want, { rtol: 0, atol: 0 });
          },
        },
        {
          name: "all zero, bool input, scalars",
          check: async (c: Ctx) => {
            const z = await T.nonzero(c.t([0, 0], [2]));
            const b = await T.nonzero(c.t([0, 1, 1], [3], "bool"));
            const s = await T.nonzero(c.t([5], []));
            const shapes = [z, b, s].map((t) => t.shape.join("x"));
            if (shapes.join() !== "0x1,2x1,1x0") throw new Error(`nonzero shapes ${shapes}`);
            assertClose(await b.data(), [1, 2], { rtol: 0, atol: 0 });
          },
        },
      ],
    },
    eye: {
      forward: [{
        name: "square and rectangular",
        run: (
          c,
        ) => [
          T.eye(2, 2, { backend: c.backend }),
          T.eye(2, 3, { backend: c.backend, dtype: "i32" }),
        ],
        expect: [
          { shape: [2, 2], values: [1, 0, 0, 1], dtype: "f32" },
          { shape: [2, 3], values: [1, 0, 0, 0, 1, 0], dtype: "i32" },
        ],
      }],
    },
    isFinite: {
      forward: [{
        name: "nan and infinities",
        run: (c) => c.t([1, NAN, INF, -INF, 0], [5]).isFinite(),
        expect: { shape: [5], values: [1, 0, 0, 0, 1], dtype: "bool" },
      }],
    },
    crossEntropy: {
      forward: [{
        name: "mean over rows",
        run: (c) => T.crossEntropy(c.r(logits), c.t(labels, [4], "i32")),
        expect: {
          shape: [],
          values: [
            -meanOf(labels.map((l, i) => logSoftmax1d(logits.data.slice(i * 5, i * 5 + 5))[l])),
          ],
        },
      }, {
        name: "weighted mean over rows",
        run: (c) => T.crossEntropy(c.r(logits), c.t(labels, [4], "i32"), c.t(rowWeights, [4])),
        expect: {
          shape: [],
          values: [
            -labels.reduce(
              (s, l, i) => s + rowWeights[i] * logSoftmax1d(logits.data.slice(i * 5, i * 5 + 5))[l],
              0,
            ) / rowWeights.reduce((a, b) => a + b, 0),
          ],
        },
      }],
      grad: [{
        name: "logits",
        inputs: [{ shape: [4, 5] }, { shape: [4], dtype: "i32", values: labels }],
        fn: (x, l) => T.crossEntropy(x, l),
      }, {
        name: "logits, weighted rows",
        inputs: [
          { shape: [4, 5] },
          { shape: [4], dtype: "i32", values: labels },
          { shape: [4], values: rowWeights },
        ],
        fn: (x, l, w) => T.crossEntropy(x, l, w),
      }],
    },
    bceWithLogits: {
      forward: [{
        name: "stable for large logits",
        run: (c) => [
          T.bceWithLogits(c.r(logits), c.r(targets)),
          T.bceWithLogits(c.t([100, -100], [2]), c.t([0, 1], [2])),
        ],
        expect: [
          E(build([4, 5], ([i, j]) => {
            const x = logits.data[i * 5 + j];
            const t = targets.data[i * 5 + j];
            return -(t * Math.log(1 / (1 + Math.exp(-x))) +
              (1 - t) * Math.log(1 - 1 / (1 + Math.exp(-x))));
          })),
          { shape: [2], values: [100, 100] },
        ],
      }],
      grad: [{
        name: "logits and targets",
        inputs: [{ shape: [3, 2] }, { shape: [3, 2], lo: 0, hi: 1 }],
        fn: T.bceWithLogits,
      }],
    },
    randn_randint: {
      forward: [{
        name: "seeded, reproducible, moments and range",
        check: async (c: Ctx) => {
          const o = (s: number) => ({ generator: new T.Generator(s), backend: c.backend });
          const a = Array.from(await T.randn([20000], o(3)).data());
          const a2 = Array.from(await T.randn([20000], o(3)).data());
          assertClose(a2, a, { rtol: 0, atol: 0 }, "same seed");
          const m = meanOf(a);
          const v = meanOf(a.map((x) => (x - m) ** 2));
          assertClose([m, v], [0, 1], { rtol: 0, atol: 0.03 }, "randn mean, variance");
          const r = await T.randint(-2, 3, [5000], o(4)).data();
          const counts = [-2, -1, 0, 1, 2].map((k) => Array.from(r).filter((x) => x === k).length);
          if (counts.reduce((s, x) => s + x, 0) !== 5000) throw new Error("randint out of range");
          assertClose(counts.map((k) => k / 5000), [0.2, 0.2, 0.2, 0.2, 0.2], {
            rtol: 0,
            atol: 0.03,
          });
        },
      }],
    },
    dropout: {
      forward: [
        {
          name: "seeded generator reproduces the mask; keep rate 1 - p; survivors scaled",
          check: async (c: Ctx) => {
            const x = T.ones([100, 100], { backend: c.backend });
            const run = (s: number) =>
              T.dropout(x, 0.3, true, { generator: new T.Generator(s) }).data();
            const [a, b, d] = [await run(9), await run(9), await run(10)];
            assertClose(b, a, { rtol: 0, atol: 0 }, "same seed");
            if (Array.from(a).every((v, i) => v === d[i])) {
              throw new Error("different seeds agreed");
            }
            const kept = Array.from(a).filter((v) => v !== 0);
            assertClose([kept.length / 10000], [0.7], { rtol: 0, atol: 0.02 }, "keep rate");
            assertClose(kept, kept.map(() => 1 / 0.7), { rtol: 1e-6 }, "scale");
          },
        },
        {
          name: "eval mode and p = 0 are the identity; p = 1 zeroes",
          check: async (c: Ctx) => {
            const x = c.t([1, 2, 3], [3]);
            if (T.dropout(x, 0.5, false) !== x || T.dropout(x, 0) !== x) {
              throw new Error("not identity");
            }
            assertClose(await T.dropout(x, 1).data(), [0, 0, 0]);
          },
        },
      ],
      grad: [{
        name: "gradient is the mask scaled by 1 / (1 - p)",
        inputs: [{ shape: [4, 5] }],
        fn: (x) => T.dropout(x, 0.4, true, { generator: new T.Generator(77) }),
      }],
    },
    dropPath: {
      forward: [
        {
          name: "drops whole samples, seeded, keep rate, scaled",
          check: async (c: Ctx) => {
            const x = T.ones([2000, 3, 2], { backend: c.backend });
            const run = (s: number) =>
              T.dropPath(x, 0.25, true, { generator: new T.Generator(s) }).data();
            const [a, b] = [await run(5), await run(5)];
            assertClose(b, a, { rtol: 0, atol: 0 }, "same seed");
            let kept = 0;
            for (let i = 0; i < 2000; i++) {
              const row = Array.from(a.slice(i * 6, i * 6 + 6));
              if (!row.every((v) => v === row[0])) throw new Error(`sample ${i} partly dropped`);
              if (row[0] !== 0) {
                kept++;
                assertClose([row[0]], [1 / 0.75], { rtol: 1e-6 }, "scale");
              }
            }
            assertClose([kept / 2000], [0.75], { rtol: 0, atol: 0.03 }, "keep rate");
          },
        },
        {
          name: "eval mode is the identity; p = 1 gives zeros and zero gradient",
          check: async (c: Ctx) => {
            const x = c.t([1, 2, 3, 4], [2, 2]);
            if (T.dropPath(x, 0.5, false) !== x) throw new Error("not identity");
            const leaf = c.t([1, 2, 3, 4], [2, 2]).requireGrad();
            const y = T.dropPath(leaf, 1);
            T.sum(y).backward();
            assertClose(await y.data(), [0, 0, 0, 0], {}, "values");
            assertClose(await leaf.grad!.data(), [0, 0, 0, 0], {}, "gradient");
          },
        },
      ],
      grad: [{
        name: "per-sample mask",
        inputs: [{ shape: [6, 2] }],
        fn: (x) => T.dropPath(x, 0.5, true, { generator: new T.Generator(3) }),
      }],
    },
  };
}
