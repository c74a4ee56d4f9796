/**
 * conv2d (forward, input grad, weight grad) as implicit GEMM, and pooling. On CPU adapters
 * the GEMMs run on the image kernel (conv_image.ts) where it applies; the buffer kernels
 * here are the fallback and the path of hardware GPUs.
 */
import type { Attrs, Kernel, KernelInput, KernelOutput } from "../../backend.ts";
import { product } from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, requireF32 } from "./common.ts";
import { PANEL, rowsPerGroup, uboGemm, uboRows } from "./matmul.ts";
import { sumRows } from "./reduce.ts";
import { convForwardImage, convInputGradImage, convWeightGradImage } from "./conv_image.ts";
import { gemmShape, type Geometry, geometry } from "../../cpu/conv.ts";

const WG = 64;

function convPass(
  rt: Runtime,
  mode: number,
  g: Geometry,
  attrs: Attrs,
  out: KernelOutput | { buf: unknown },
  a: KernelInput,
  b: KernelInput,
  rows: number,
  cols: number,
  z: number,
  chunk = 0,
  split = false,
) {
  const rm = rowsPerGroup(rows);
  const blocks = Math.ceil(rows / rm);
  const pipe = convPipe(rt, mode, rm, split);
  const p = new Params().u(g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.OH, g.OW, g.groups)
    .u(...attrs.stride, ...attrs.padding, ...attrs.dilation, chunk, blocks);
  const gx = Math.ceil(Math.ceil(cols / 4) / WG);
  rt.dispatch(pipe, [gbuf(out as KernelOutput), gbuf(a), gbuf(b)], p, [gx, g.groups * blocks, z]);
}

function convPipe(rt: Runtime, mode: number, rm: number, split: boolean) {
  return rt.pipeline(
    `conv2d:${mode}:RM${rm}:${split}`,
    ["rw", "read", "read"],
    18,
    () => assemble(consts({ WG, RM: rm, MODE: mode, SPLIT: split, PANEL }), "conv2d"),
  );
}

/**
 * Forward conv on CPU adapters: im2col of each (image, group) into matmul panels, then the
 * uniform-window GEMM (see kernels/matmul.ts). Returns false when it does not apply.
 */
function convByGemm(
  rt: Runtime,
  g: Geometry,
  attrs: Attrs,
  out: KernelOutput,
  x: KernelInput,
  w: KernelInput,
): boolean {
  const { Og, Kc, P } = gemmShape(g);
  if (P % 4 !== 0) return false;
  const offsets = Array.from({ length: g.groups }, (_, i) => i * Og * Kc);
  const rows = uboRows(rt, Og, P, Kc, offsets);
  const panels = Math.ceil(P / PANEL);
  const bytes = panels * Kc * PANEL * 4;
  if (rows === 0 || bytes > (rt.limits.maxStorageBufferBindingSize ?? 134217728)) return false;
  const packed = rt.allocBuffer(bytes);
  const pipe = convPipe(rt, 3, 1, false);
  for (let n = 0; n < g.N; n++) {
    for (let gi = 0; gi < g.groups; gi++) {
      const p = new Params().u(g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.OH, g.OW, g.groups)
        .u(...attrs.stride, ...attrs.padding, ...attrs.dilation, n, gi);
      rt.dispatch(pipe, [packed, gbuf(x), gbuf(x)], p, grid(Math.ceil(bytes / 4 / WG)));
      uboGemm(
        rt,
        rows,
        gbuf(out),
        (n * g.O + gi * Og) * P,
        gbuf(w),
        gi * Og * Kc,
        packed,
        0,
        Og,
        P,
        Kc,
      );
    }
  }
  rt.freeBuffer(packed);
  return true;
}

function poolPass(
  rt: Runtime,
  mode: number,
  out: KernelOutput,
  xin: KernelInput,
  gin: KernelInput,
  inShape: readonly number[],
  outShape: readonly number[],
  attrs: Attrs,
) {
  const pipe = rt.pipeline(
    `pool:${mode}`,
    ["rw", "read", "read"],
    11,
    () => assemble(consts({ WG: 64, MODE: mode }), "pool"),
  );
  const planes = inShape[0] * inShape[1];
  const p = new Params().u(planes, inShape[2], inShape[3], outShape[2], outShape[3])
    .u(...attrs.kernel, ...attrs.stride, ...attrs.padding);
  const n = product(mode < 2 ? outShape : inShape);
  if (n === 0) return;
  rt.dispatch(pipe, [gbuf(out), gbuf(xin), gbuf(gin)], p, grid(Math.ceil(n / 64)));
}

export function convKernels(rt: Runtime): Record<string, Kernel> {
  return {
    conv2d: ([x, w], [out], attrs) => {
      requireF32("conv2d", x, w, out);
      const g = geometry(x.shape, w.shape, attrs);
      if (product(out.shape) === 0) return;
      if (convForwardImage(rt, g, attrs, out, x, w)) return;
      if (convByGemm(rt, g, attrs, out, x, w)) return;
      convPass(rt, 0, g, attrs, out, w, x, g.O / g.groups, g.OH * g.OW, g.N);
    },
    conv2d_input_grad: ([gy, w], [out], attrs) => {
      requireF32("conv2d_input_grad", gy, w, out);
      const g = geometry(out.shape, w.shape, attrs);
      if (product(out.shape) === 0) return;
      if (convInputGradImage(rt, g, attrs, out, gy, w)) return;
      convPass(rt, 1, g, attrs, out, w, gy, g.C / g.groups, g.H * g.W, g.N);
    },
    conv2d_weight_grad: ([x, gy], [out], attrs) => {
      requireF32("conv2d_weight_grad", x, gy, out);
      const g = geometry(x.shape, out.shape, attrs);
      if (product(out.shape) === 0) return;
      if (convWeightGradImage(rt, g, attrs, out, x, gy)) return;
      const { Og: rows, Kc: kc } = gemmShape(g);
      const total = g.N * g.OH * g.OW;
      const groupsXY = Math.ceil(Math.ceil(kc / 4) / WG) * g.groups *
        Math.ceil(rows / rowsPerGroup(rows));
      let splits = 1;
      if (groupsXY < 16 && total > 1024) {
        splits = Math.min(64, Math.ceil(total / 512), Math.ceil(64 / groupsXY));
      }
      const chunk = Math.ceil(total / splits);
      splits = Math.ceil(total / chunk);
      if (splits <= 1) {
        convPass(rt, 2, g, attrs, out, gy, x, rows, kc, 1, total, false);
        return;
      }
      const len = product(out.shape);
      const part = rt.allocBuffer(splits * len * 4);
      convPass(rt, 2, g, attrs, { buf: part }, gy, x, rows, kc, splits, chunk, true);
      sumRows(rt, part, gbuf(out), splits, len);
      rt.freeBuffer(part);
    },
    max_pool2d: ([x], [out], attrs) => {
      requireF32("max_pool2d", x);
      poolPass(rt, 0, out, x, x, x.shape, out.shape, attrs);
    },
    avg_pool2d: ([x], [out], attrs) => {
      requireF32("avg_pool2d", x);
      poolPass(rt, 1, out, x, x, x.shape, out.shape, attrs);
    },
    max_pool2d_backward: ([x, gy], [out], attrs) => {
      requireF32("max_pool2d_backward", x, gy);
      poolPass(rt, 2, out, x, gy, x.shape, gy.shape, attrs);
    },
    avg_pool2d_backward: ([gy], [out], attrs) => {
      requireF32("avg_pool2d_backward", gy);
      poolPass(rt, 3, out, gy, gy, out.shape, gy.shape, attrs);
    },
  };
}
