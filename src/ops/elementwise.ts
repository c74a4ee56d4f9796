import { type DType, isFloat, promote } from "../tensor/dtype.ts";
import { broadcastShapes } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp, type TestDomain } from "./registry.ts";
import { BINARY, UNARY } from "./elementwise_table.ts";
import { scalarDtype, type TensorLike } from "./helpers.ts";
import { full } from "./creation.ts";
import { sumTo } from "./reduce.ts";

// ---- dtype plumbing -------------------------------------------------------------------

export function cast(x: Tensor, dtype: DType): Tensor {
  return x.dtype === dtype ? x : apply1("cast", [x], { dtype });
}

defineOp({
  name: "cast",
  arity: 1,
  shape: ([s]) => [s],
  dtype: (_, a) => [a.dtype],
  backward: ([g], { inputs: [x] }) => [isFloat(x.dtype) && g ? cast(g, x.dtype) : null],
});

function toTensor(v: TensorLike, like: Tensor): Tensor {
  if (typeof v !== "number") return v;
  return full([], v, { dtype: scalarDtype(v, like.dtype), backend: like.backend });
}

// ---- unary ----------------------------------------------------------------------------

type Backward1 = (g: Tensor, x: Tensor, y: Tensor) => Tensor;

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_C = Math.sqrt(2 / Math.PI);

const unaryGrads: Record<string, Backward1> = {
  neg: (g) => neg(g),
  abs: (g, x) => mul(g, sign(x)),
  exp: (g, _x, y) => mul(g, y),
  log: (g, x) => div(g, x),
  sqrt: (g, _x, y) => div(g, mul(y, 2)),
  rsqrt: (g, _x, y) => mul(g, mul(pow(y, 3), -0.5)),
  reciprocal: (g, _x, y) => neg(mul(g, mul(y, y))),
  sin: (g, x) => mul(g, cos(x)),
  cos: (g, x) => neg(mul(g, sin(x))),
  tanh: (g, _x, y) => mul(g, sub(1, mul(y, y))),
  sigmoid: (g, _x, y) => mul(g, mul(y, sub(1, y))),
  relu: (g, x) => mul(g, cast(gt(x, 0), g.dtype)),
  gelu: (g, x) => {
    const cdf = mul(add(erf(mul(x, SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x, x), -0.5)), INV_SQRT_2PI);
    return mul(g, add(cdf, mul(x, pdf)));
  },
  gelu_tanh: (g, x) => {
    const x2 = mul(x, x);
    const t = tanh(mul(add(x, mul(mul(x2, x), 0.044715)), GELU_C));
    const dInner = mul(add(mul(x2, 3 * 0.044715), 1), GELU_C);
    const d = add(mul(add(t, 1), 0.5), mul(mul(mul(x, sub(1, mul(t, t))), dInner), 0.5));
    return mul(g, d);
  },
  softplus: (g, x) => mul(g, sigmoid(x)),
  erf: (g, x) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))),
};

const unaryDomains: Record<string, TestDomain> = {
  log: { lo: 0.1, hi: 3 },
  sqrt: { lo: 0.1, hi: 3 },
  rsqrt: { lo: 0.1, hi: 3 },
  reciprocal: { lo: 0.2, hi: 3 },
  abs: { lo: -2, hi: 2, noGradCheck: false },
  sign: { noGradCheck: true },
  floor: { noGradCheck: true },
  ceil: { noGradCheck: true },
  round: { noGradCheck: true },
};

for (const [name, def] of Object.entries(UNARY)) {
  defineOp({
    name,
    arity: 1,
    shape: ([s]) => [s],
    dtype: ([d]) => [def.predicate ? "bool" : def.keepsInt || isFloat(d) ? d : "f32"],
    backward: unaryGrads[name]
      ? ([g], { inputs: [x], outputs: [y] }) => [g ? unaryGrads[name](g, x, y) : null]
      : undefined,
    domain: unaryDomains[name] ?? { lo: -2, hi: 2 },
  });
}

function unary(name: string): (x: Tensor) => Tensor {
  const def = UNARY[name];
  return (x) =>
    apply1(name, [!def.keepsInt && !def.predicate && !isFloat(x.dtype) ? cast(x, "f32") : x]);
}

export const neg = unary("neg");
export const abs = unary("abs");
export const sign = unary("sign");
export const exp = unary("exp");
export const log = unary("log");
export const sqrt = unary("sqrt");
export const rsqrt = unary("rsqrt");
export const reciprocal = unary("reciprocal");
export const sin = unary("sin");
export const cos = unary("cos");
export const tanh = unary("tanh");
export const sigmoid = unary("sigmoid");
export const relu = unary("relu");
export const softplus = unary("softplus");
export const erf = unary("erf");
export const floor = unary("floor");
export const ceil = unary("ceil");
export const round = unary("round");
export const logicalNot = unary("logical_not");
export const isnan = unary("isnan");

/** GELU, exact (erf) form by default, like torch.nn.GELU(); `tanh` for the approximation. */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  return unary(approximate === "tanh" ? "gelu_tanh" : "gelu")(x);
}

// ---- binary ---------------------------------------------------------------------------

type Backward2 = (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];

function tieSplit(win: Tensor, tie: Tensor, g: Tensor): Tensor {
  return mul(g, add(cast(win, g.dtype), mul(cast(tie, g.dtype), 0.5)));
}

const binaryGrads: Record<string, Backward2> = {
  add: (g) => [g, g],
  sub: (g) => [g, neg(g)],
  mul: (g, a, b) => [mul(g, b), mul(g, a)],
  div: (g, a, b) => [div(g, b), neg(div(mul(g, a), mul(b, b)))],
  pow: (g, a, b, y) => {
    const ga = mul(g, mul(b, pow(a, sub(b, 1))));
    const zeroBase = logicalAnd(eq(a, 0), ge(b, 0));
    const gb = where(zeroBase, 0, mul(g, mul(y, log(a))));
    return [ga, gb];
  },
  maximum: (g, a, b) => [tieSplit(gt(a, b), eq(a, b), g), tieSplit(gt(b, a), eq(a, b), g)],
  minimum: (g, a, b) => [tieSplit(lt(a, b), eq(a, b), g), tieSplit(lt(b, a), eq(a, b), g)],
  atan2: (g, a, b) => {
    const r = add(mul(a, a), mul(b, b));
    return [mul(g, div(b, r)), neg(mul(g, div(a, r)))];
  },
};

const binaryDomains: Record<string, TestDomain> = {
  div: { lo: 0.5, hi: 2 },
  pow: { lo: 0.5, hi: 2 },
  maximum: { lo: -2, hi: 2 },
};

for (const [name, def] of Object.entries(BINARY)) {
  const grad = binaryGrads[name];
  defineOp({
    name,
    arity: 2,
    shape: ([a, b]) => [broadcastShapes(name, a, b)],
    dtype: ([a, b]) => [def.predicate ? "bool" : promote(a, b)],
    backward: grad
      ? ([g], { inputs: [a, b], outputs: [y] }) => {
        if (!g) return [null, null];
        const [ga, gb] = grad(g, a, b, y);
        return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
      }
      : undefined,
    domain: binaryDomains[name] ?? { lo: -2, hi: 2 },
  });
}

function binary(name: string): (a: TensorLike, b: TensorLike) => Tensor {
  const def = BINARY[name];
  return (a, b) => {
    if (typeof a === "number" && typeof b === "number") {
      throw new Error(`${name}: at least one argument must be a tensor`);
    }
    const ta = toTensor(a, b as Tensor);
    const tb = toTensor(b, a as Tensor);
    let dt = promote(ta.dtype, tb.dtype);
    if (def.floatResult && !isFloat(dt)) dt = "f32";
    return apply1(name, [cast(ta, dt), cast(tb, dt)]);
  };
}

export const add = binary("add");
export const sub = binary("sub");
export const mul = binary("mul");
export const div = binary("div");
export const pow = binary("pow");
export const minimum = binary("minimum");
export const maximum = binary("maximum");
export const atan2 = binary("atan2");
export const eq = binary("eq");
export const ne = binary("ne");
export const lt = binary("lt");
export const le = binary("le");
export const gt = binary("gt");
export const ge = binary("ge");
export const logicalAnd = binary("logical_and");
export const logicalOr = binary("logical_or");
export const logicalXor = binary("logical_xor");

// ---- where / clamp --------------------------------------------------------------------

defineOp({
  name: "where",
  arity: 3,
  shape: ([c, a, b]) => [broadcastShapes("where", c, a, b)],
  dtype: ([, a, b]) => [promote(a, b)],
  backward: ([g], { inputs: [c, a, b] }) => {
    if (!g) return [null, null, null];
    return [null, sumTo(where(c, g, 0), a.shape), sumTo(where(c, 0, g), b.shape)];
  },
  domain: { integerInputs: [0] },
});

/** Elementwise `cond ? a : b` with broadcasting (cond is cast to bool). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = typeof a === "number" ? (typeof b === "number" ? cond : b) : a;
  const ta = toTensor(a, like);
  const tb = toTensor(b, like);
  const dt = promote(ta.dtype, tb.dtype);
  return apply1("where", [cast(cond, "bool"), cast(ta, dt), cast(tb, dt)]);
}

/** Clamps into [lo, hi]; gradient passes where lo <= x <= hi (like torch.clamp). */
export function clamp(x: Tensor, lo?: TensorLike, hi?: TensorLike): Tensor {
  let y = x;
  if (lo !== undefined) y = where(lt(y, lo), lo, y);
  if (hi !== undefined) y = where(gt(y, hi), hi, y);
  return y;
}

export function square(x: Tensor): Tensor {
  return mul(x, x);
}
