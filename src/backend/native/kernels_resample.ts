/**
 * Native overrides of resize (nearest / bilinear), grid_sample and 2-D pooling, with their
 * backward kernels. The resize source maps are computed here with the reference's float32
 * coordinate functions, so C only does the arithmetic. f32 only (nearest resize: any dtype).
 */
import type { Attrs, Kernel, KernelInput, KernelOutput } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import { linearSource, nearestIndex } from "../cpu/resample.ts";
import type { NativeSymbols } from "./ffi.ts";
import { byteSize, countCall, isF32, meta, prod } from "./util.ts";

type Tensorish = KernelInput | KernelOutput;

/** planes, H, W of the input side and OH, OW of the output side. */
function planeMeta(input: Tensorish, output: Tensorish): number[] {
  const [H, W] = input.shape.slice(-2);
  const [OH, OW] = output.shape.slice(-2);
  return [prod(input.shape.slice(0, -2)), H, W, OH, OW];
}

function nearestMaps(input: Tensorish, output: Tensorish, attrs: Attrs) {
  const [H, W] = input.shape.slice(-2);
  const [OH, OW] = output.shape.slice(-2);
  const rows = Int32Array.from({ length: OH }, (_, i) => nearestIndex(i, H, OH, attrs.scaleH));
  const cols = Int32Array.from({ length: OW }, (_, j) => nearestIndex(j, W, OW, attrs.scaleW));
  return { rows, cols };
}

/** (i0, i1) pairs and second-source weights of n destination positions. */
function linearMap(n: number, inSize: number, scale: number, alignCorners: boolean) {
  const idx = new Int32Array(2 * n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [i0, i1, l1] = linearSource(i, inSize, scale, alignCorners);
    idx[2 * i] = i0;
    idx[2 * i + 1] = i1;
    w[i] = l1;
  }
  return [idx, w] as const;
}

function bilinearMaps(input: Tensorish, output: Tensorish, attrs: Attrs) {
  const [H, W] = input.shape.slice(-2);
  const [OH, OW] = output.shape.slice(-2);
  const ac = attrs.alignCorners as boolean;
  return [...linearMap(OH, H, attrs.scaleH, ac), ...linearMap(OW, W, attrs.scaleW, ac)] as const;
}

function poolMeta(input: Tensorish, output: Tensorish, attrs: Attrs): BigInt64Array {
  const { kernel, stride, padding } = attrs;
  return meta([...planeMeta(input, output), ...kernel, ...stride, ...padding]);
}

export function resampleKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.resize_nearest = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    const { rows, cols } = nearestMaps(x, out, attrs);
    s.dmf_resize_nearest(
      x.buf as TypedArray,
      out.buf as TypedArray,
      BigInt(byteSize(x)),
      meta(planeMeta(x, out)),
      rows,
      cols,
    );
    countCall("resize_nearest");
  };

  k.resize_nearest_backward = (ins, outs, attrs) => {
    const [g] = ins;
    const [dx] = outs;
    if (!isF32(g) || !isF32(dx)) return cpu.resize_nearest_backward(ins, outs, attrs);
    const { rows, cols } = nearestMaps(dx, g, attrs);
    s.dmf_resize_nearest_backward(
      g.buf as Float32Array,
      dx.buf as Float32Array,
      meta(planeMeta(dx, g)),
      rows,
      cols,
    );
    countCall("resize_nearest_backward");
  };

  k.resize_bilinear = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(out)) return cpu.resize_bilinear(ins, outs, attrs);
    const [ri, rl, ci, cl] = bilinearMaps(x, out, attrs);
    s.dmf_resize_bilinear(
      x.buf as Float32Array,
      out.buf as Float32Array,
      meta(planeMeta(x, out)),
      ri,
      rl,
      ci,
      cl,
    );
    countCall("resize_bilinear");
  };

  k.resize_bilinear_backward = (ins, outs, attrs) => {
    const [g] = ins;
    const [dx] = outs;
    if (!isF32(g) || !isF32(dx)) return cpu.resize_bilinear_backward(ins, outs, attrs);
    const [ri, rl, ci, cl] = bilinearMaps(dx, g, attrs);
    s.dmf_resize_bilinear_backward(
      g.buf as Float32Array,
      dx.buf as Float32Array,
      meta(planeMeta(dx, g)),
      ri,
      rl,
      ci,
      cl,
    );
    countCall("resize_bilinear_backward");
  };

  /** N, C, H, W of x and the number of grid points per image. */
  const gridMeta = (x: Tensorish, grid: Tensorish) =>
    meta([...x.shape, grid.shape[1] * grid.shape[2]]);

  k.grid_sample = (ins, outs, attrs) => {
    const [x, grid] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(grid) || !isF32(out)) return cpu.grid_sample(ins, outs, attrs);
    s.dmf_grid_sample(
      x.buf as Float32Array,
      grid.buf as Float32Array,
      out.buf as Float32Array,
      gridMeta(x, grid),
    );
    countCall("grid_sample");
  };

  k.grid_sample_backward = (ins, outs, attrs) => {
    const [x, grid, g] = ins;
    const [dx, dg] = outs;
    if (![x, grid, g, dx, dg].every(isF32)) return cpu.grid_sample_backward(ins, outs, attrs);
    s.dmf_grid_sample_backward(
      x.buf as Float32Array,
      grid.buf as Float32Array,
      g.buf as Float32Array,
      dx.buf as Float32Array,
      dg.buf as Float32Array,
      gridMeta(x, grid),
    );
    countCall("grid_sample_backward");
  };

  k.max_pool2d = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(out)) return cpu.max_pool2d(ins, outs, attrs);
    s.dmf_max_pool2d(x.buf as Float32Array, out.buf as Float32Array, poolMeta(x, out, attrs));
    countCall("max_pool2d");
  };

  k.max_pool2d_backward = (ins, outs, attrs) => {
    const [x, g] = ins;
    const [dx] = outs;
    if (!isF32(x) || !isF32(g) || !isF32(dx)) return cpu.max_pool2d_backward(ins, outs, attrs);
    s.dmf_max_pool2d_backward(
      x.buf as Float32Array,
      g.buf as Float32Array,
      dx.buf as Float32Array,
      poolMeta(x, g, attrs),
    );
    countCall("max_pool2d_backward");
  };

  k.avg_pool2d = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(out)) return cpu.avg_pool2d(ins, outs, attrs);
    s.dmf_avg_pool2d(x.buf as Float32Array, out.buf as Float32Array, poolMeta(x, out, attrs));
    countCall("avg_pool2d");
  };

  k.avg_pool2d_backward = (ins, outs, attrs) => {
    const [g] = ins;
    const [dx] = outs;
    if (!isF32(g) || !isF32(dx)) return cpu.avg_pool2d_backward(ins, outs, attrs);
    s.dmf_avg_pool2d_backward(
      g.buf as Float32Array,
      dx.buf as Float32Array,
      poolMeta(dx, g, attrs),
    );
    countCall("avg_pool2d_backward");
  };

  return k;
}
