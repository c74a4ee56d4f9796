import { erf, geluErf, geluTanh, sigmoid, softplus } from "./math.ts";

/**
 * Elementwise ops as data: a JS function (CPU reference) and a WGSL expression over `x`
 * (and `y`). Backends generate their kernels from these entries.
 */
export interface UnaryDef {
  js: (x: number) => number;
  wgsl: string;
  /** Output is bool regardless of input. */
  predicate?: boolean;
  /** Integer inputs keep their dtype (abs, neg...); otherwise ints become f32. */
  keepsInt?: boolean;
}

export const UNARY: Record<string, UnaryDef> = {
  neg: { js: (x) => -x, wgsl: "-x", keepsInt: true },
  abs: { js: Math.abs, wgsl: "abs(x)", keepsInt: true },
  sign: { js: Math.sign, wgsl: "sign(x)", keepsInt: true },
  exp: { js: Math.exp, wgsl: "exp(x)" },
  log: { js: Math.log, wgsl: "log(x)" },
  sqrt: { js: Math.sqrt, wgsl: "sqrt(x)" },
  rsqrt: { js: (x) => 1 / Math.sqrt(x), wgsl: "inverseSqrt(x)" },
  reciprocal: { js: (x) => 1 / x, wgsl: "1.0 / x" },
  sin: { js: Math.sin, wgsl: "sin(x)" },
  cos: { js: Math.cos, wgsl: "cos(x)" },
  tanh: { js: Math.tanh, wgsl: "tanh_safe(x)" },
  sigmoid: { js: sigmoid, wgsl: "sigmoid(x)" },
  relu: { js: (x) => (x > 0 ? x : x < 0 ? 0 : x), wgsl: "select(x, 0.0, x < 0.0)", keepsInt: true },
  gelu: { js: geluErf, wgsl: "gelu_erf(x)" },
  gelu_tanh: { js: geluTanh, wgsl: "gelu_tanh(x)" },
  softplus: { js: softplus, wgsl: "softplus(x)" },
  erf: { js: erf, wgsl: "erf(x)" },
  floor: { js: Math.floor, wgsl: "floor(x)", keepsInt: true },
  ceil: { js: Math.ceil, wgsl: "ceil(x)", keepsInt: true },
  round: { js: roundHalfEven, wgsl: "round(x)", keepsInt: true },
  // `x === 0`, not `!x`: NaN is truthy in PyTorch (and in the WGSL `x == 0.0`)
  logical_not: {
    js: (x) => (x === 0 ? 1 : 0),
    wgsl: "select(0.0, 1.0, x == 0.0)",
    predicate: true,
  },
  isnan: {
    js: (x) => (Number.isNaN(x) ? 1 : 0),
    wgsl: "select(0.0, 1.0, x != x)",
    predicate: true,
  },
};

export interface BinaryDef {
  js: (x: number, y: number) => number;
  wgsl: string;
  predicate?: boolean;
  /** Result is float even for integer inputs (true division). */
  floatResult?: boolean;
}

export const BINARY: Record<string, BinaryDef> = {
  add: { js: (x, y) => x + y, wgsl: "x + y" },
  sub: { js: (x, y) => x - y, wgsl: "x - y" },
  mul: { js: (x, y) => x * y, wgsl: "x * y" },
  div: { js: (x, y) => x / y, wgsl: "x / y", floatResult: true },
  pow: { js: powC, wgsl: "pow_torch(x, y)" },
  minimum: { js: nanMin, wgsl: "min_nan(x, y)" },
  maximum: { js: nanMax, wgsl: "max_nan(x, y)" },
  atan2: { js: Math.atan2, wgsl: "atan2(x, y)", floatResult: true },
  eq: { js: (x, y) => (x === y ? 1 : 0), wgsl: "select(0.0, 1.0, x == y)", predicate: true },
  ne: { js: (x, y) => (x !== y ? 1 : 0), wgsl: "select(0.0, 1.0, x != y)", predicate: true },
  lt: { js: (x, y) => (x < y ? 1 : 0), wgsl: "select(0.0, 1.0, x < y)", predicate: true },
  le: { js: (x, y) => (x <= y ? 1 : 0), wgsl: "select(0.0, 1.0, x <= y)", predicate: true },
  gt: { js: (x, y) => (x > y ? 1 : 0), wgsl: "select(0.0, 1.0, x > y)", predicate: true },
  ge: { js: (x, y) => (x >= y ? 1 : 0), wgsl: "select(0.0, 1.0, x >= y)", predicate: true },
  logical_and: {
    js: (x, y) => (x !== 0 && y !== 0 ? 1 : 0),
    wgsl: "select(0.0, 1.0, x != 0.0 && y != 0.0)",
    predicate: true,
  },
  logical_or: {
    js: (x, y) => (x !== 0 || y !== 0 ? 1 : 0),
    wgsl: "select(0.0, 1.0, x != 0.0 || y != 0.0)",
    predicate: true,
  },
  logical_xor: {
    js: (x, y) => ((x !== 0) !== (y !== 0) ? 1 : 0),
    wgsl: "select(0.0, 1.0, (x != 0.0) != (y != 0.0))",
    predicate: true,
  },
};

/** C's pow (used by PyTorch): pow(1, y) and pow(x, 0) are 1 even for NaN; pow(-1, ±inf) is 1. */
function powC(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

function nanMin(x: number, y: number): number {
  return Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y);
}

function nanMax(x: number, y: number): number {
  return Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y);
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
