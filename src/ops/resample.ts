import { fmtShape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply, apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";

const resizeShape = ([x]: readonly (readonly number[])[], a: Record<string, unknown>) => [
  [...x.slice(0, -2), ...(a.size as number[])],
];
const backShape = (_: unknown, a: Record<string, unknown>) => [a.inputShape as number[]];

defineOp({
  name: "resize_nearest",
  arity: 1,
  shape: resizeShape,
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x], attrs }) => [
    g && apply1("resize_nearest_backward", [g], { ...attrs, inputShape: x.shape }),
  ],
});

defineOp({
  name: "resize_nearest_backward",
  arity: 1,
  internal: true,
  shape: backShape,
  dtype: ([d]) => [d],
});

defineOp({
  name: "resize_bilinear",
  arity: 1,
  shape: resizeShape,
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x], attrs }) => [
    g && apply1("resize_bilinear_backward", [g], { ...attrs, inputShape: x.shape }),
  ],
});

defineOp({
  name: "resize_bilinear_backward",
  arity: 1,
  internal: true,
  shape: backShape,
  dtype: ([d]) => [d],
});

export interface InterpolateOptions {
  size?: [number, number];
  scaleFactor?: number | [number, number];
  mode?: "nearest" | "bilinear";
  alignCorners?: boolean;
}

/**
 * torch.nn.functional.interpolate over the last two axes ('nearest' is PyTorch's legacy
 * nearest; bilinear supports align_corners true/false). Scales use float32 arithmetic
 * like PyTorch's CPU kernels.
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  if (x.rank < 3) throw new ShapeError("interpolate", `input ${fmtShape(x.shape)} needs rank >= 3`);
  const [h, w] = x.shape.slice(-2);
  const mode = opts.mode ?? "nearest";
  let size: [number, number];
  let scaleH: number;
  let scaleW: number;
  const alignCorners = opts.alignCorners ?? false;
  if (opts.size) {
    size = opts.size;
    scaleH = Math.fround(h / size[0]);
    scaleW = Math.fround(w / size[1]);
  } else if (opts.scaleFactor !== undefined) {
    const [sh, sw] = typeof opts.scaleFactor === "number"
      ? [opts.scaleFactor, opts.scaleFactor]
      : opts.scaleFactor;
    size = [Math.floor(h * sh), Math.floor(w * sw)];
    scaleH = Math.fround(1 / sh);
    scaleW = Math.fround(1 / sw);
  } else {
    throw new Error("interpolate: give size or scaleFactor");
  }
  if (size[0] <= 0 || size[1] <= 0) {
    throw new ShapeError("interpolate", `output size [${size}] must be positive`);
  }
  if (mode === "bilinear" && alignCorners) {
    scaleH = size[0] > 1 ? Math.fround((h - 1) / (size[0] - 1)) : 0;
    scaleW = size[1] > 1 ? Math.fround((w - 1) / (size[1] - 1)) : 0;
  }
  if (mode === "nearest") return apply1("resize_nearest", [x], { size, scaleH, scaleW });
  if (mode === "bilinear") {
    return apply1("resize_bilinear", [x], { size, scaleH, scaleW, alignCorners });
  }
  throw new Error(`interpolate: unsupported mode "${mode}"`);
}

defineOp({
  name: "grid_sample",
  arity: 2,
  shape: ([x, g]) => [[x[0], x[1], g[1], g[2]]],
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x, grid] }) => {
    if (!g) return [null, null];
    const [dx, dg] = apply("grid_sample_backward", [x, grid, g]);
    return [dx, dg];
  },
});

defineOp({
  name: "grid_sample_backward",
  arity: 3,
  internal: true,
  shape: ([x, g]) => [x, g],
  dtype: ([d]) => [d, d],
});

/** grid_sample with bilinear sampling, zero padding and align_corners=False. */
export function gridSample(x: Tensor, grid: Tensor): Tensor {
  if (x.rank !== 4 || grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0]) {
    throw new ShapeError(
      "grid_sample",
      `input ${fmtShape(x.shape)} must be [N, C, H, W] and grid ${
        fmtShape(grid.shape)
      } [N, H', W', 2]`,
    );
  }
  return apply1("grid_sample", [x, grid]);
}
