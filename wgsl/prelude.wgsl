// Math helpers shared by every kernel. The elementwise table (src/ops/elementwise_table.ts)
// refers to gelu_erf, gelu_tanh, erf, sigmoid, tanh_safe, softplus, pow_torch, min_nan and
// max_nan; the rest are storage conversions with the CPU reference's semantics.

// Non-finite values cannot be written as WGSL constants; build them at run time.
var<private> BITS_INF: u32 = 0x7f800000u;
var<private> BITS_NAN: u32 = 0x7fc00000u;

fn f32_inf() -> f32 { return bitcast<f32>(BITS_INF); }
fn f32_nan() -> f32 { return bitcast<f32>(BITS_NAN); }

// Bit test: survives fast-math compilers that fold x != x.
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

// NaN-propagating min/max (torch.minimum / torch.maximum).
fn min_nan(x: f32, y: f32) -> f32 {
  if (is_nan(x) || is_nan(y)) { return f32_nan(); }
  return min(x, y);
}

fn max_nan(x: f32, y: f32) -> f32 {
  if (is_nan(x) || is_nan(y)) { return f32_nan(); }
  return max(x, y);
}

// erfc for z >= 0 (Numerical Recipes' erfcc, fractional error < 1.2e-7).
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
    + t * 0.17087277))))))));
  return t * exp(-z * z + p);
}

fn erf(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let a = abs(x);
  if (a < 0.5) {
    // Maclaurin series; relative error < 1e-10 on |x| < 0.5
    let x2 = x * x;
    return 1.1283791670955126 * x * (1.0 + x2 * (-0.3333333333 + x2 * (0.1 + x2 * (-0.0238095238
      + x2 * (0.0046296296 + x2 * (-0.0007575758 + x2 * 0.0001068376))))));
  }
  if (a > 6.0) { return sign(x); }
  let r = 1.0 - erfc_pos(a);
  return select(r, -r, x < 0.0);
}

fn gelu_erf(x: f32) -> f32 {
  // 0.5 x erfc(-x / sqrt 2) keeps relative accuracy in the negative tail
  let z = x * 0.7071067811865476;
  if (z < -0.5) { return 0.5 * x * erfc_pos(-z); }
  return 0.5 * x * (1.0 + erf(z));
}

fn tanh_safe(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  // tanh(±15) rounds to ±1 in f32; clamping avoids inf/inf in exp-based implementations
  return tanh(clamp(x, -15.0, 15.0));
}

fn gelu_tanh(x: f32) -> f32 {
  return 0.5 * x * (1.0 + tanh_safe(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

// log(1 + u) without cancellation for small u.
fn log1p_f(u: f32) -> f32 {
  let w = 1.0 + u;
  if (w == 1.0) { return u; }
  return log(w) * (u / (w - 1.0));
}

// torch.nn.functional.softplus with beta 1 and threshold 20.
fn softplus(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  return log1p_f(exp(x));
}

// x^n for a small non-negative integer n by repeated squaring (exact when representable).
fn pow_int_f(x: f32, n: u32) -> f32 {
  var r = 1.0;
  var b = x;
  var e = n;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}

// C pow semantics (PyTorch): x^0 = 1^y = 1 even for NaN, (-1)^±inf = 1, negative bases
// with integer exponents, 0^y.
fn pow_torch(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  if (is_nan(x) || is_nan(y)) { return f32_nan(); }
  if (x == -1.0 && abs(y) == f32_inf()) { return 1.0; }
  let yi = floor(y);
  let is_int = yi == y;
  if (is_int && abs(y) <= 64.0) {
    let r = pow_int_f(x, u32(abs(y)));
    return select(r, 1.0 / r, y < 0.0);
  }
  if (x == 0.0) { return select(0.0, f32_inf(), y < 0.0); }
  let r = exp2(y * log2(abs(x)));
  if (x < 0.0) {
    if (!is_int) { return f32_nan(); }
    let half = y * 0.5;
    if (floor(half) != half) { return -r; }
  }
  return r;
}

// atan2 with the signed-zero cases of Math.atan2 (atan2(±0, ±0)).
fn atan2_safe(y: f32, x: f32) -> f32 {
  if (y == 0.0 && x == 0.0) {
    let r = select(0.0, 3.141592653589793, (bitcast<u32>(x) >> 31u) == 1u);
    return select(r, -r, (bitcast<u32>(y) >> 31u) == 1u);
  }
  return atan2(y, x);
}

// Integer power with wrap-around (JS Math.pow stored into an Int32Array, for small results).
fn pow_i32(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = u32(y);
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}

// JS `Math.trunc(v) | 0`: truncation, NaN/inf -> 0, wrap-around modulo 2^32.
fn f32_to_i32_wrap(v: f32) -> i32 {
  let bits = bitcast<u32>(v);
  let e = i32((bits >> 23u) & 0xffu) - 127;
  if (e < 0 || e == 128) { return 0; }
  if (e < 31) { return i32(trunc(v)); }
  if (e >= 55) { return 0; }
  let m = (bits & 0x7fffffu) | 0x800000u;
  let mag = m << u32(e - 23);
  let r = bitcast<i32>(mag);
  return select(r, -r, (bits >> 31u) == 1u);
}

// Linear index of workgroup `wid` in a 2-D grid of `nwg` (large 1-D launches).
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}
