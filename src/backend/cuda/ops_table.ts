/**
 * C++ expressions for the elementwise ops of src/ops/elementwise_table.ts, from which the
 * build generates cuda's `dmf_ops_gen.cuh` (device functions `dmf_unary<T>` /
 * `dmf_binary<T>` switching on an op id). The op id is the position in these tables, which
 * the backend uses to call the kernels, so the ids cannot drift between the two sides.
 *
 * `x` and `y` have type `T`: float for f32 tensors, double for the integer and bool paths
 * (whose results are then stored with typed-array semantics). The m_* helpers live in
 * cuda/common.cuh.
 */
import { BINARY, UNARY } from "../../ops/elementwise_table.ts";

export const CUDA_UNARY: Record<string, string> = {
  neg: "-x",
  abs: "m_fabs(x)",
  sign: "m_sign(x)",
  exp: "m_exp(x)",
  log: "m_log(x)",
  sqrt: "m_sqrt(x)",
  rsqrt: "T(1) / m_sqrt(x)",
  reciprocal: "T(1) / x",
  sin: "m_sin(x)",
  cos: "m_cos(x)",
  tanh: "m_tanh(x)",
  sigmoid: "m_sigmoid(x)",
  relu: "x > T(0) ? x : (x < T(0) ? T(0) : x)",
  gelu: "T(0.5) * x * (T(1) + m_erf(x * T(0.70710678118654752440)))",
  gelu_tanh:
    "T(0.5) * x * (T(1) + m_tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)))",
  softplus: "x > T(20) ? x : m_log1p(m_exp(x))",
  erf: "m_erf(x)",
  floor: "m_floor(x)",
  ceil: "m_ceil(x)",
  round: "m_rint(x)",
  logical_not: "x == T(0) ? T(1) : T(0)",
  isnan: "x != x ? T(1) : T(0)",
};

export const CUDA_BINARY: Record<string, string> = {
  add: "x + y",
  sub: "x - y",
  mul: "x * y",
  div: "x / y",
  pow: "m_pow_c(x, y)",
  minimum: "m_min_js(x, y)",
  maximum: "m_max_js(x, y)",
  atan2: "m_atan2(x, y)",
  eq: "x == y ? T(1) : T(0)",
  ne: "x != y ? T(1) : T(0)",
  lt: "x < y ? T(1) : T(0)",
  le: "x <= y ? T(1) : T(0)",
  gt: "x > y ? T(1) : T(0)",
  ge: "x >= y ? T(1) : T(0)",
  logical_and: "(x != T(0) && y != T(0)) ? T(1) : T(0)",
  logical_or: "(x != T(0) || y != T(0)) ? T(1) : T(0)",
  logical_xor: "((x != T(0)) != (y != T(0))) ? T(1) : T(0)",
};

export const UNARY_IDS: Record<string, number> = Object.fromEntries(
  Object.keys(CUDA_UNARY).map((k, i) => [k, i]),
);
export const BINARY_IDS: Record<string, number> = Object.fromEntries(
  Object.keys(CUDA_BINARY).map((k, i) => [k, i]),
);

/** Names of the engine's elementwise ops that have no CUDA expression (should be empty). */
export function missingCudaOps(): string[] {
  return [
    ...Object.keys(UNARY).filter((k) => !(k in CUDA_UNARY)),
    ...Object.keys(BINARY).filter((k) => !(k in CUDA_BINARY)),
  ];
}

/** The generated header: device functions over the tables above. */
export function generateOpsHeader(): string {
  const lines = [
    "// Generated from src/backend/cuda/ops_table.ts by the CUDA build. Do not edit.",
    "#pragma once",
    '#include "common.cuh"',
    "namespace dmf {",
    `#define DMF_UNARY_COUNT ${Object.keys(CUDA_UNARY).length}`,
    `#define DMF_BINARY_COUNT ${Object.keys(CUDA_BINARY).length}`,
    "template <typename T> DMF_HD T dmf_unary(int op, T x) {",
    "  switch (op) {",
    ...Object.entries(CUDA_UNARY).map(([k, e], i) => `    case ${i}: return ${e};  // ${k}`),
    "  }",
    "  return m_nan<T>();",
    "}",
    "template <typename T> DMF_HD T dmf_binary(int op, T x, T y) {",
    "  switch (op) {",
    ...Object.entries(CUDA_BINARY).map(([k, e], i) => `    case ${i}: return ${e};  // ${k}`),
    "  }",
    "  return m_nan<T>();",
    "}",
    "#define DMF_FOR_EACH_UNARY(X) " + Object.keys(CUDA_UNARY).map((_, i) => `X(${i})`).join(" "),
    "#define DMF_FOR_EACH_BINARY(X) " +
    Object.keys(CUDA_BINARY).map((_, i) => `X(${i})`).join(" "),
    "}  // namespace dmf",
    "",
  ];
  return lines.join("\n");
}
