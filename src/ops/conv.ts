import { fmtShape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { add } from "./elementwise.ts";
import { reshape } from "./shape_ops.ts";

type Pair = [number, number];
const pair = (v: number | Pair): Pair => (typeof v === "number" ? [v, v] : v);

export interface Conv2dOptions {
  stride?: number | Pair;
  padding?: number | Pair;
  dilation?: number | Pair;
  groups?: number;
}

function convOut(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

defineOp({
  name: "conv2d",
  arity: 2,
  shape: ([x, w], a) => [[x[0], w[0], a.outSize[0], a.outSize[1]]],
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x, w], attrs }) => {
    if (!g) return [null, null];
    return [
      apply1("conv2d_input_grad", [g, w], { ...attrs, inputShape: x.shape }),
      apply1("conv2d_weight_grad", [x, g], { ...attrs, weightShape: w.shape }),
    ];
  },
});

defineOp({
  name: "conv2d_input_grad",
  arity: 2,
  internal: true,
  shape: (_, a) => [a.inputShape],
  dtype: ([d]) => [d],
});

defineOp({
  name: "conv2d_weight_grad",
  arity: 2,
  internal: true,
  shape: (_, a) => [a.weightShape],
  dtype: ([d]) => [d],
});

/** 2-D convolution of x [N, C, H, W] with w [O, C/groups, KH, KW] (+ bias [O]). */
export function conv2d(
  x: Tensor,
  w: Tensor,
  bias?: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const stride = pair(opts.stride ?? 1);
  const padding = pair(opts.padding ?? 0);
  const dilation = pair(opts.dilation ?? 1);
  const groups = opts.groups ?? 1;
  if (x.rank !== 4 || w.rank !== 4) {
    throw new ShapeError(
      "conv2d",
      `input ${fmtShape(x.shape)} and weight ${fmtShape(w.shape)} must be 4-D`,
    );
  }
  if (x.shape[1] !== w.shape[1] * groups || w.shape[0] % groups !== 0) {
    throw new ShapeError(
      "conv2d",
      `input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)} with groups=${groups}`,
    );
  }
  const outSize: Pair = [
    convOut(x.shape[2], w.shape[2], stride[0], padding[0], dilation[0]),
    convOut(x.shape[3], w.shape[3], stride[1], padding[1], dilation[1]),
  ];
  if (outSize[0] <= 0 || outSize[1] <= 0) {
    throw new ShapeError(
      "conv2d",
      `input ${fmtShape(x.shape)} is smaller than the kernel ${fmtShape(w.shape)}`,
    );
  }
  const y = apply1("conv2d", [x, w], { stride, padding, dilation, groups, outSize });
  return bias ? add(y, reshape(bias, [1, bias.size, 1, 1])) : y;
}

// ---- pooling --------------------------------------------------------------------------

export interface PoolOptions {
  stride?: number | Pair;
  padding?: number | Pair;
}

function poolShape(x: readonly number[], k: Pair, s: Pair, p: Pair): number[] {
  return [x[0], x[1], convOut(x[2], k[0], s[0], p[0], 1), convOut(x[3], k[1], s[1], p[1], 1)];
}

defineOp({
  name: "max_pool2d",
  arity: 1,
  shape: ([x], a) => [poolShape(x, a.kernel, a.stride, a.padding)],
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x], attrs }) => [g && apply1("max_pool2d_backward", [x, g], attrs)],
});

defineOp({
  name: "max_pool2d_backward",
  arity: 2,
  internal: true,
  shape: ([x]) => [x],
  dtype: ([d]) => [d],
});

defineOp({
  name: "avg_pool2d",
  arity: 1,
  shape: ([x], a) => [poolShape(x, a.kernel, a.stride, a.padding)],
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x], attrs }) => [
    g && apply1("avg_pool2d_backward", [g], { ...attrs, inputShape: x.shape }),
  ],
});

defineOp({
  name: "avg_pool2d_backward",
  arity: 1,
  internal: true,
  shape: (_, a) => [a.inputShape],
  dtype: ([d]) => [d],
});

function poolAttrs(op: string, x: Tensor, kernel: number | Pair, opts: PoolOptions) {
  if (x.rank !== 4) {
    throw new ShapeError(op, `input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  }
  const k = pair(kernel);
  const padding = pair(opts.padding ?? 0);
  if (padding[0] * 2 > k[0] || padding[1] * 2 > k[1]) {
    throw new ShapeError(op, `padding ${padding} must be at most half the kernel ${k}`);
  }
  return { kernel: k, stride: pair(opts.stride ?? kernel), padding };
}

export function maxPool2d(x: Tensor, kernel: number | Pair, opts: PoolOptions = {}): Tensor {
  return apply1("max_pool2d", [x], poolAttrs("max_pool2d", x, kernel, opts));
}

/** Average pooling; padded zeros count in the divisor (count_include_pad=True). */
export function avgPool2d(x: Tensor, kernel: number | Pair, opts: PoolOptions = {}): Tensor {
  return apply1("avg_pool2d", [x], poolAttrs("avg_pool2d", x, kernel, opts));
}
