import { type Shape, sizeOf } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { arange, rand, type RandomOptions } from "./creation.ts";
import { add, cast, cos, div, eq, floor, ge, log, mul, sqrt, sub, where } from "./elementwise.ts";
import { narrow, reshape, unsqueeze } from "./shape_ops.ts";
import type { CreateOptions } from "./helpers.ts";

/** Standard normal samples (Box-Muller over counter-based uniforms). */
export function randn(shape: Shape, opts: RandomOptions = {}): Tensor {
  const n = sizeOf(shape);
  const u = rand([2, n], { ...opts, dtype: "f32" });
  const [u1, u2] = [narrow(u, 0, 0, 1), narrow(u, 0, 1, 1)];
  const r = sqrt(mul(log(sub(1, u1)), -2));
  const z = mul(r, cos(mul(u2, 2 * Math.PI)));
  return cast(reshape(z, shape), opts.dtype ?? "f32");
}

/** Integers uniform in [lo, hi). */
export function randint(lo: number, hi: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  const u = rand(shape, { ...opts, dtype: "f32" });
  return cast(add(floor(mul(u, hi - lo)), lo), opts.dtype ?? "i32");
}

export function eye(n: number, m = n, opts: CreateOptions = {}): Tensor {
  const r = arange(n, undefined, 1, { backend: opts.backend });
  const c = arange(m, undefined, 1, { backend: opts.backend });
  return cast(eq(unsqueeze(r, 1), unsqueeze(c, 0)), opts.dtype ?? "f32");
}

/** Inverted dropout: zeroes with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, training = true, opts: RandomOptions = {}): Tensor {
  if (p < 0 || p > 1) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return mul(x, 0);
  const keep = ge(rand(x.shape, { ...opts, backend: x.backend }), p);
  return where(keep, div(x, 1 - p), 0);
}

/** Stochastic depth: drops whole samples (axis 0) with probability p, scaling survivors. */
export function dropPath(x: Tensor, p: number, training = true, opts: RandomOptions = {}): Tensor {
  if (p < 0 || p > 1) throw new Error(`dropPath: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  // like dropout: x * 0, not where(keep, x / 0, 0), whose gradient would be 0 / 0 = NaN
  if (p === 1) return mul(x, 0);
  const maskShape = [x.shape[0], ...x.shape.slice(1).map(() => 1)];
  const keep = ge(rand(maskShape, { ...opts, backend: x.backend }), p);
  return where(keep, div(x, 1 - p), 0);
}
