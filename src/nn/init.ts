import type { Shape } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { full, rand, type RandomOptions } from "../ops/creation.ts";
import { add, mul } from "../ops/elementwise.ts";
import { randn } from "../ops/random.ts";
import { noGrad } from "../tensor/autograd.ts";
import { tidy } from "../tensor/memory.ts";

/** fan_in and fan_out as PyTorch computes them (receptive field included). */
export function fans(shape: Shape): [number, number] {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [(shape[1] ?? 1) * receptive, shape[0] * receptive];
}

// The draws below free their intermediates at once (tidy): a word embedding's are 94 MB each.

export function uniform(shape: Shape, lo: number, hi: number, opts: RandomOptions = {}): Tensor {
  return tidy(() => noGrad(() => add(mul(rand(shape, opts), hi - lo), lo)));
}

export function normal(shape: Shape, mean = 0, std = 1, opts: RandomOptions = {}): Tensor {
  return tidy(() => noGrad(() => add(mul(randn(shape, opts), std), mean)));
}

export function constant(shape: Shape, value: number, opts: RandomOptions = {}): Tensor {
  return full(shape, value, opts);
}

export function xavierUniform(shape: Shape, gain = 1, opts: RandomOptions = {}): Tensor {
  const [fi, fo] = fans(shape);
  const a = gain * Math.sqrt(6 / (fi + fo));
  return uniform(shape, -a, a, opts);
}

/** PyTorch's default Linear/Conv weight init: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)). */
export function defaultWeight(shape: Shape, opts: RandomOptions = {}): Tensor {
  const bound = 1 / Math.sqrt(fans(shape)[0]);
  return uniform(shape, -bound, bound, opts);
}

export function defaultBias(n: number, fanIn: number, opts: RandomOptions = {}): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform([n], -bound, bound, opts);
}
