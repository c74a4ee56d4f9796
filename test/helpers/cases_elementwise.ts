/** Catalog cases: unary and binary elementwise ops, where and cast. */
import * as T from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { type Case, type Check, E, type GradCase } from "./case_types.ts";
import { ints, uniform } from "./numeric.ts";
import { erfRef, mapRef, ref, roundHalfEven, whereRef, zipRef } from "./reference.ts";

type TensorLike = Tensor | number;

const sigmoidRef = (x: number) => 1 / (1 + Math.exp(-x));
const GELU_C = Math.sqrt(2 / Math.PI);

/** Independent scalar references (PyTorch semantics). */
const UNARY: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  abs: (x) => (x < 0 ? -x : x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: (x) => (Math.abs(x) > 20 ? Math.sign(x) : (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1)),
  sigmoid: sigmoidRef,
  relu: (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0)),
  gelu: (x) => 0.5 * x * (1 + erfRef(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3))),
  softplus: (x) => (x > 20 ? x : Math.log(1 + Math.exp(x))),
  erf: erfRef,
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
  logical_not: (x) => (x === 0 ? 1 : 0),
  isnan: (x) => (Number.isNaN(x) ? 1 : 0),
};

const NAN = NaN;
const INF = Infinity;

/** Special inputs with their PyTorch results, per unary op. */
const UNARY_SPECIAL: Record<string, [number[], number[]]> = {
  neg: [[NAN, INF, -INF, 0], [NAN, -INF, INF, 0]],
  abs: [[NAN, -INF, -3, 0], [NAN, INF, 3, 0]],
  sign: [[-INF, -2, 0, 3, INF], [-1, -1, 0, 1, 1]],
  exp: [[NAN, -INF, INF, 0, 100], [NAN, 0, INF, 1, INF]],
  log: [[NAN, 0, -1, INF, 1], [NAN, -INF, NAN, INF, 0]],
  sqrt: [[NAN, -1, 0, INF, 4], [NAN, NAN, 0, INF, 2]],
  rsqrt: [[NAN, 0, INF, 4, -1], [NAN, INF, 0, 0.5, NAN]],
  reciprocal: [[NAN, 0, INF, 4, -0.5], [NAN, INF, 0, 0.25, -2]],
  sin: [[NAN, INF, 0], [NAN, NAN, 0]],
  cos: [[NAN, INF, 0], [NAN, NAN, 1]],
  tanh: [[NAN, INF, -INF, 0, 30], [NAN, 1, -1, 0, 1]],
  sigmoid: [[NAN, INF, -INF, 0, -200, 200], [NAN, 1, 0, 0.5, 0, 1]],
  relu: [[NAN, -INF, INF, -1, 0, 2], [NAN, 0, INF, 0, 0, 2]],
  gelu: [[NAN, 0, 10, -10], [NAN, 0, 10, 0]],
  gelu_tanh: [[NAN, 0, 10, -10], [NAN, 0, 10, 0]],
  softplus: [[NAN, -INF, INF, 0, 30], [NAN, 0, INF, Math.LN2, 30]],
  erf: [[NAN, INF, -INF, 0], [NAN, 1, -1, 0]],
  floor: [[NAN, INF, -1.5, 1.5, -0.5], [NAN, INF, -2, 1, -1]],
  ceil: [[NAN, -INF, -1.5, 1.5, -0.5], [NAN, -INF, -1, 2, 0]],
  round: [[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, NAN], [0, 2, 2, 0, -2, -2, 0, NAN]],
  logical_not: [[0, 1, -2, NAN, INF], [1, 0, 0, 0, 0]],
  isnan: [[NAN, INF, 0, -INF], [1, 0, 0, 0]],
};

/** Ops that keep integer dtypes (others compute in f32). */
const KEEPS_INT = new Set(["neg", "abs", "sign", "relu", "floor", "ceil", "round"]);
const PREDICATE = new Set(["logical_not", "isnan"]);

const UNARY_FN: Record<string, (x: Tensor) => Tensor> = {
  neg: T.neg,
  abs: T.abs,
  sign: T.sign,
  exp: T.exp,
  log: T.log,
  sqrt: T.sqrt,
  rsqrt: T.rsqrt,
  reciprocal: T.reciprocal,
  sin: T.sin,
  cos: T.cos,
  tanh: T.tanh,
  sigmoid: T.sigmoid,
  relu: T.relu,
  gelu: (x) => T.gelu(x),
  gelu_tanh: (x) => T.gelu(x, "tanh"),
  softplus: T.softplus,
  erf: T.erf,
  floor: T.floor,
  ceil: T.ceil,
  round: T.round,
  logical_not: T.logicalNot,
  isnan: T.isnan,
};

function unaryCase(name: string): Case {
  const spec = T.getOp(name);
  const lo = spec.domain?.lo ?? -2;
  const hi = spec.domain?.hi ?? 2;
  const f = UNARY[name];
  const op = UNARY_FN[name];
  const pred = PREDICATE.has(name);
  const outDtype = pred ? "bool" : "f32";
  const x = ref([2, 3, 4], uniform(24, name.length * 31 + 7, lo, hi));
  const [sIn, sOut] = UNARY_SPECIAL[name];
  const iv = [-3, -1, 0, 2, 5];
  const forward: Check[] = [
    {
      name: "random values in the test domain",
      run: (c) => op(c.r(x)),
      expect: E(mapRef(x, f), { dtype: outDtype }),
    },
    {
      name: "special values (nan, inf, signed zero, limits)",
      run: (c) => op(c.t(sIn, [sIn.length])),
      expect: { shape: [sIn.length], values: sOut, dtype: outDtype },
    },
    {
      name: "size-1 and zero-size dims",
      run: (c) => [op(c.t([x.data[0]], [1, 1])), op(c.t([], [0, 3]))],
      expect: [
        { shape: [1, 1], values: [f(x.data[0])], dtype: outDtype },
        { shape: [0, 3], values: [], dtype: outDtype },
      ],
    },
    {
      name: "integer input",
      run: (c) => op(c.t(iv, [5], "i32")),
      expect: {
        shape: [5],
        values: iv.map(f),
        dtype: pred ? "bool" : KEEPS_INT.has(name) ? "i32" : "f32",
      },
    },
  ];
  const grad: GradCase[] = spec.backward && !spec.domain?.noGradCheck
    ? [
      { name: "[2, 3, 4]", inputs: [{ shape: [2, 3, 4] }], fn: op },
      { name: "scalar", inputs: [{ shape: [] }], fn: op },
    ]
    : [];
  return { forward, grad };
}

/** C99 pow special cases (std::pow, used by PyTorch), which Math.pow does not follow. */
function powC(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && !Number.isFinite(y) && !Number.isNaN(y)) return 1;
  return Math.pow(x, y);
}

const truthy = (v: number) => v !== 0;

const BINARY: Record<string, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  pow: powC,
  minimum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x < y ? x : y),
  maximum: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : x > y ? x : y),
  atan2: Math.atan2,
  eq: (x, y) => +(x === y),
  ne: (x, y) => +(x !== y),
  lt: (x, y) => +(x < y),
  le: (x, y) => +(x <= y),
  gt: (x, y) => +(x > y),
  ge: (x, y) => +(x >= y),
  logical_and: (x, y) => +(truthy(x) && truthy(y)),
  logical_or: (x, y) => +(truthy(x) || truthy(y)),
  logical_xor: (x, y) => +(truthy(x) !== truthy(y)),
};

const BINARY_FN: Record<string, (a: TensorLike, b: TensorLike) => Tensor> = {
  add: T.add,
  sub: T.sub,
  mul: T.mul,
  div: T.div,
  pow: T.pow,
  minimum: T.minimum,
  maximum: T.maximum,
  atan2: T.atan2,
  eq: T.eq,
  ne: T.ne,
  lt: T.lt,
  le: T.le,
  gt: T.gt,
  ge: T.ge,
  logical_and: T.logicalAnd,
  logical_or: T.logicalOr,
  logical_xor: T.logicalXor,
};

const BOOL_OUT = new Set([
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "logical_and",
  "logical_or",
  "logical_xor",
]);
const FLOAT_OUT = new Set(["div", "atan2"]);
/** Ops PyTorch accepts on two bool tensors with a bool result. */
const BOOL_OK = new Set([...BOOL_OUT, "add", "mul", "maximum", "minimum"]);

function binaryCase(name: string): Case {
  const spec = T.getOp(name);
  const lo = spec.domain?.lo ?? -2;
  const hi = spec.domain?.hi ?? 2;
  const f = BINARY[name];
  const op = BINARY_FN[name];
  const pred = BOOL_OUT.has(name);
  const fOut = pred ? "bool" : "f32";
  const seed = name.length * 101;
  const a = ref([2, 3, 4], uniform(24, seed, lo, hi));
  const b = ref([2, 3, 4], uniform(24, seed + 1, lo, hi));
  // a few exact ties so comparisons see equality
  b.data[3] = a.data[3];
  b.data[10] = a.data[10];
  const col = ref([3, 1], uniform(3, seed + 2, lo, hi));
  const row = ref([1, 4], uniform(4, seed + 3, lo, hi));
  const vec = ref([4], uniform(4, seed + 4, lo, hi));
  const s = Math.fround((lo + hi) / 2 + 0.25);
  const sp = [NAN, 1, INF, -INF, 0, NAN, -1, 2];
  const sq = [1, NAN, INF, 1, 0, NAN, INF, -INF];
  const ia = [-3, 0, 2, 5, 7, -4];
  const ib = [2, 3, -2, 5, 1, -4];
  const iOut = pred ? "bool" : FLOAT_OUT.has(name) ? "f32" : "i32";
  const intSafe = (x: number, y: number) => (name === "pow" ? powC(x, Math.abs(y)) : f(x, y));
  const forward: Check[] = [
    {
      name: "same shape",
      run: (c) => op(c.r(a), c.r(b)),
      expect: E(zipRef(a, b, f), { dtype: fOut }),
    },
    {
      name: "broadcast [3, 1] with [1, 4] (both directions)",
      run: (c) => [op(c.r(col), c.r(row)), op(c.r(row), c.r(col))],
      expect: [E(zipRef(col, row, f), { dtype: fOut }), E(zipRef(row, col, f), { dtype: fOut })],
    },
    {
      name: "broadcast a lower-rank operand on either side",
      run: (c) => [op(c.r(a), c.r(vec)), op(c.r(vec), c.r(a))],
      expect: [E(zipRef(a, vec, f), { dtype: fOut }), E(zipRef(vec, a, f), { dtype: fOut })],
    },
    {
      name: "scalar operand on either side",
      run: (c) => [op(c.r(a), s), op(s, c.r(a))],
      expect: [
        E(mapRef(a, (v) => f(v, s)), { dtype: fOut }),
        E(mapRef(a, (v) => f(s, v)), { dtype: fOut }),
      ],
    },
    {
      name: "zero-size and size-1 dims",
      run: (c) => [op(c.t([], [0, 4]), c.r(row)), op(c.t([2], [1]), c.t([3], [1, 1]))],
      expect: [
        { shape: [0, 4], values: [], dtype: fOut },
        { shape: [1, 1], values: [f(2, 3)], dtype: fOut },
      ],
    },
    {
      name: "nan and inf",
      run: (c) => op(c.t(sp, [8]), c.t(sq, [8])),
      expect: { shape: [8], values: sp.map((v, i) => f(v, sq[i])), dtype: fOut },
    },
    {
      name: "integer dtypes",
      run: (c) => op(c.t(ia, [6], "i32"), c.t(name === "pow" ? ib.map(Math.abs) : ib, [6], "i32")),
      expect: { shape: [6], values: ia.map((v, i) => intSafe(v, ib[i])), dtype: iOut },
    },
    {
      name: "integer tensor with a fractional scalar promotes to f32",
      run: (c) => op(c.t(ia, [6], "i32"), 0.5),
      expect: { shape: [6], values: ia.map((v) => f(v, 0.5)), dtype: pred ? "bool" : "f32" },
    },
  ];
  if (BOOL_OK.has(name)) {
    const ba = [0, 0, 1, 1];
    const bb = [0, 1, 0, 1];
    forward.push({
      name: "bool operands give bool 0/1 (add is or, mul is and)",
      run: (c) => op(c.t(ba, [4], "bool"), c.t(bb, [4], "bool")),
      expect: { shape: [4], values: ba.map((v, i) => +(f(v, bb[i]) !== 0)), dtype: "bool" },
    });
  }
  const grad: GradCase[] = spec.backward
    ? [
      { name: "same shape", inputs: [{ shape: [2, 3] }, { shape: [2, 3] }], fn: op },
      { name: "broadcast [3, 1] x [1, 4]", inputs: [{ shape: [3, 1] }, { shape: [1, 4] }], fn: op },
      { name: "broadcast [4] x [2, 3, 4]", inputs: [{ shape: [4] }, { shape: [2, 3, 4] }], fn: op },
      { name: "scalar tensor x [2, 2]", inputs: [{ shape: [] }, { shape: [2, 2] }], fn: op },
    ]
    : [];
  return { forward, grad };
}

function whereCase(): Case {
  const c = ref([3, 1], [1, 0, 1]);
  const a = ref([1, 4], uniform(4, 5));
  const b = ref([2, 3, 4], uniform(24, 6));
  const m = ref([2, 3, 4], ints(24, 7, 0, 2));
  return {
    forward: [
      {
        name: "broadcast cond [3, 1], a [1, 4], b [2, 3, 4]",
        run: (x) => T.where(x.r(c, "bool"), x.r(a), x.r(b)),
        expect: E(whereRef(c, a, b)),
      },
      {
        name: "scalar branches and a non-bool condition",
        run: (x) => [T.where(x.r(m, "i32"), 1.5, x.r(b)), T.where(x.r(m, "f32"), x.r(b), -2)],
        expect: [E(whereRef(m, ref([], [1.5]), b)), E(whereRef(m, b, ref([], [-2])))],
      },
      {
        name: "nan in the unselected branch does not leak",
        run: (x) => T.where(x.t([1, 0], [2], "bool"), x.t([1, NAN], [2]), x.t([NAN, 2], [2])),
        expect: { shape: [2], values: [1, 2] },
      },
      {
        name: "integer branches keep i32",
        run: (x) => T.where(x.t([1, 0, 1], [3], "bool"), x.t([1, 2, 3], [3], "i32"), 0),
        expect: { shape: [3], values: [1, 0, 3], dtype: "i32" },
      },
    ],
    grad: [
      {
        name: "a and b through a broadcast mask",
        inputs: [{ shape: [3, 1], dtype: "bool", values: [1, 0, 1] }, { shape: [1, 4] }, {
          shape: [2, 3, 4],
        }],
        fn: (cond, x, y) => T.where(cond, x, y),
      },
    ],
  };
}

function castCase(): Case {
  const v = [-2.7, -1, -0.5, 0, 0.5, 1.9, 255, 256, -1, NAN];
  const trunc = (x: number) => (Number.isNaN(x) ? NAN : Math.trunc(x));
  return {
    forward: [
      {
        name: "float to i32 truncates toward zero",
        run: (c) => T.cast(c.t(v.slice(0, 9), [9]), "i32"),
        expect: { shape: [9], values: v.slice(0, 9).map(trunc), dtype: "i32" },
      },
      {
        name: "float to u8 wraps modulo 256",
        run: (c) => T.cast(c.t([0, 1, 255, 256, 257, -1], [6]), "u8"),
        expect: { shape: [6], values: [0, 1, 255, 0, 1, 255], dtype: "u8" },
      },
      {
        name: "to bool: non-zero (and nan) is true",
        run: (c) => T.cast(c.t([0, 0.5, -2, NAN, INF], [5]), "bool"),
        expect: { shape: [5], values: [0, 1, 1, 1, 1], dtype: "bool" },
      },
      {
        name: "i32 and bool to f32",
        run: (
          c,
        ) => [T.cast(c.t([-3, 7], [2], "i32"), "f32"), T.cast(c.t([1, 0], [2], "bool"), "f32")],
        expect: [
          { shape: [2], values: [-3, 7], dtype: "f32" },
          { shape: [2], values: [1, 0], dtype: "f32" },
        ],
      },
      {
        name: "same dtype is the identity",
        run: (c) => {
          const x = c.t([1, 2], [2]);
          if (T.cast(x, "f32") !== x) throw new Error("cast to the same dtype copied");
          return x;
        },
        expect: { shape: [2], values: [1, 2] },
      },
      {
        name: "f64 to f32 rounds",
        needs: ["f64"],
        run: (c) => T.cast(c.t([1 / 3], [1], "f64"), "f32"),
        expect: { shape: [1], values: [Math.fround(1 / 3)], dtype: "f32", rtol: 0, atol: 0 },
      },
    ],
    grad: [
      {
        // values and step exactly representable in f32 so the float32 round trip is exact
        name: "f64 -> f32 passes the gradient, cast back to f64",
        inputs: [{ shape: [2, 3], values: [-1.5, -0.25, 0, 0.75, 1.125, 2] }],
        fn: (x) => T.mul(T.cast(x, "f32"), 3),
        eps: 2 ** -10,
      },
    ],
  };
}

export function elementwiseCases(): Record<string, Case> {
  const out: Record<string, Case> = {};
  for (const name of Object.keys(UNARY)) out[name] = unaryCase(name);
  for (const name of Object.keys(BINARY)) out[name] = binaryCase(name);
  out.where = whereCase();
  out.cast = castCase();
  return out;
}
