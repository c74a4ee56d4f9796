/**
 * The kernel table of the CUDA backend: every kernel of `requiredKernels()` as a thin wrapper
 * that reads the op's attrs (same meaning as in src/backend/cpu) and calls libdmf_cuda.
 * Calls only queue work; a failure to launch throws here, a failure while running surfaces
 * at the next read-back or sync.
 */
import type { Attrs, Kernel, KernelInput, KernelOutput } from "../backend.ts";
import { matmulLaunch } from "../matmul_launch.ts";
import { broadcastStrides, sizeOf, stridesOf } from "../../tensor/shape.ts";
import { check, type CudaLib } from "./ffi.ts";
import { BINARY_IDS, UNARY_IDS } from "./ops_table.ts";
import { around, dtCode, i64, mergeAxes, requireF32 } from "./layout.ts";
import { normKernels } from "./kernels_norm.ts";
import { windowAttentionKernels } from "./kernels_window_attention.ts";

/** A device allocation: the tensor layer's opaque buffer on this backend. */
export class CudaBuffer {
  constructor(public ptr: bigint, readonly bytes: number) {}
}

export function ptrOf(x: { buf: unknown }): bigint {
  const b = x.buf as CudaBuffer;
  if (!(b instanceof CudaBuffer)) throw new Error("cuda: buffer from another backend");
  if (b.ptr === 0n && b.bytes > 0) throw new Error("cuda: buffer used after free");
  return b.ptr;
}

const RED = { sum: 0, mean: 1, max: 2, min: 3, prod: 4 } as const;

export function makeKernels(lib: CudaLib): Record<string, Kernel> {
  const ok = (status: number, what: string) => check(lib, status, what);
  const k: Record<string, Kernel> = {};

  // ---- elementwise -------------------------------------------------------------------------
  for (const [name, id] of Object.entries(UNARY_IDS)) {
    k[name] = ([x], [out]) =>
      ok(
        lib.dmfc_unary(
          id,
          dtCode(name, x.dtype),
          dtCode(name, out.dtype),
          ptrOf(x),
          ptrOf(out),
          sizeOf(out.shape),
        ),
        name,
      );
  }
  for (const [name, id] of Object.entries(BINARY_IDS)) {
    k[name] = ([a, b], [out]) => {
      const m = mergeAxes(out.shape, [
        broadcastStrides(a.shape, out.shape),
        broadcastStrides(b.shape, out.shape),
      ]);
      ok(
        lib.dmfc_binary(
          id,
          dtCode(name, a.dtype),
          dtCode(name, out.dtype),
          m.shape.length,
          i64(m.shape),
          i64(m.strides[0]),
          i64(m.strides[1]),
          ptrOf(a),
          ptrOf(b),
          ptrOf(out),
        ),
        name,
      );
    };
  }
  k.where = ([c, a, b], [out]) => {
    const m = mergeAxes(out.shape, [c, a, b].map((t) => broadcastStrides(t.shape, out.shape)));
    ok(
      lib.dmfc_where(
        dtCode("where", out.dtype),
        m.shape.length,
        i64(m.shape),
        i64(m.strides[0]),
        i64(m.strides[1]),
        i64(m.strides[2]),
        ptrOf(c),
        ptrOf(a),
        ptrOf(b),
        ptrOf(out),
      ),
      "where",
    );
  };
  k.cast = ([x], [out]) =>
    ok(
      lib.dmfc_cast(
        dtCode("cast", x.dtype),
        dtCode("cast", out.dtype),
        ptrOf(x),
        ptrOf(out),
        sizeOf(out.shape),
      ),
      "cast",
    );

  // ---- data movement -------------------------------------------------------------------------
  k.strided_copy = ([x], [out], attrs) => {
    const m = mergeAxes(out.shape, [attrs.strides]);
    ok(
      lib.dmfc_strided_copy(
        dtCode("strided_copy", x.dtype),
        m.shape.length,
        i64(m.shape),
        i64(m.strides[0]),
        attrs.offset,
        ptrOf(x),
        ptrOf(out),
      ),
      "strided_copy",
    );
  };
  k.strided_scatter = ([g], [out], attrs) => {
    const m = mergeAxes(g.shape, [attrs.strides]);
    ok(
      lib.dmfc_strided_scatter(
        dtCode("strided_scatter", g.dtype),
        m.shape.length,
        i64(m.shape),
        i64(m.strides[0]),
        attrs.offset,
        ptrOf(g),
        ptrOf(out),
        sizeOf(out.shape),
      ),
      "strided_scatter",
    );
  };
  k.cat = (ins, [out], { axis }) => {
    const [outer, total, inner] = around(out.shape, axis);
    let start = 0;
    for (const x of ins) {
      const n = x.shape[axis];
      if (n > 0 && outer > 0 && inner > 0) {
        ok(
          lib.dmfc_cat_part(
            dtCode("cat", x.dtype),
            outer,
            n * inner,
            total * inner,
            start * inner,
            ptrOf(x),
            ptrOf(out),
          ),
          "cat",
        );
      }
      start += n;
    }
  };
  k.pad = ([x], [out], { pads, mode, value }) => {
    if (mode !== "constant" && mode !== "replicate") throw new Error(`cuda: pad: mode ${mode}`);
    ok(
      lib.dmfc_pad(
        dtCode("pad", x.dtype),
        x.shape.length,
        i64(x.shape),
        i64(out.shape),
        i64((pads as number[][]).map((p) => p[0])),
        mode === "replicate" ? 1 : 0,
        value ?? 0,
        ptrOf(x),
        ptrOf(out),
      ),
      "pad",
    );
  };

  // ---- creation ------------------------------------------------------------------------------
  k.fill = (_, [out], { value }) =>
    ok(
      lib.dmfc_fill(dtCode("fill", out.dtype), Number(value), ptrOf(out), sizeOf(out.shape)),
      "fill",
    );
  k.arange = (_, [out], { start, step }) =>
    ok(
      lib.dmfc_arange(dtCode("arange", out.dtype), start, step, ptrOf(out), sizeOf(out.shape)),
      "arange",
    );
  k.rand_uniform = (_, [out], { seed, offset }) =>
    ok(
      lib.dmfc_rand_uniform(
        dtCode("rand_uniform", out.dtype),
        seed >>> 0,
        offset >>> 0,
        ptrOf(out),
        sizeOf(out.shape),
      ),
      "rand_uniform",
    );

  // ---- reductions ----------------------------------------------------------------------------
  for (const [name, op] of Object.entries(RED)) {
    k[name] = ([x], [out], { axes }) => reduce(lib, name, op, x, out, axes);
  }
  for (const name of ["argmax", "argmin"]) {
    k[name] = ([x], [out], { axis }) => {
      const [outer, n, inner] = around(x.shape, axis);
      ok(
        lib.dmfc_argreduce(
          name === "argmin" ? 1 : 0,
          dtCode(name, x.dtype),
          outer,
          n,
          inner,
          ptrOf(x),
          ptrOf(out),
        ),
        name,
      );
    };
  }
  k.cumsum = ([x], [out], { axis }) => {
    const [outer, n, inner] = around(x.shape, axis);
    ok(
      lib.dmfc_cumsum(
        dtCode("cumsum", x.dtype),
        dtCode("cumsum", out.dtype),
        outer,
        n,
        inner,
        ptrOf(x),
        ptrOf(out),
      ),
      "cumsum",
    );
  };
  for (const name of ["softmax", "log_softmax"]) {
    k[name] = ([x], [out], { axis }) => {
      requireF32(name, x, out);
      const [outer, n, inner] = around(x.shape, axis);
      ok(
        lib.dmfc_softmax(name === "log_softmax" ? 1 : 0, outer, n, inner, ptrOf(x), ptrOf(out)),
        name,
      );
    };
  }

  // ---- indexing ------------------------------------------------------------------------------
  k.gather = ([x, index], [out], { axis }) => {
    const xs = x.shape.length ? x.shape : [1];
    const is = index.shape.length ? index.shape : [1];
    ok(
      lib.dmfc_gather(
        dtCode("gather", x.dtype),
        is.length,
        i64(is),
        i64(stridesOf(xs)),
        axis,
        xs[axis],
        ptrOf(x),
        ptrOf(index),
        ptrOf(out),
      ),
      "gather",
    );
  };
  k.scatter_add = ([x, index, src], [out], { axis }) => {
    const os = out.shape.length ? out.shape : [1];
    const is = index.shape.length ? index.shape : [1];
    const ss = src.shape.length ? src.shape : [1];
    ok(
      lib.dmfc_scatter_add(
        dtCode("scatter_add", out.dtype),
        is.length,
        i64(is),
        i64(stridesOf(os)),
        i64(stridesOf(ss)),
        axis,
        os[axis],
        ptrOf(x),
        ptrOf(index),
        ptrOf(src),
        ptrOf(out),
        sizeOf(out.shape),
      ),
      "scatter_add",
    );
  };
  k.index_select = ([x, index], [out], { axis }) => {
    const [outer, n, inner] = around(x.shape, axis);
    ok(
      lib.dmfc_index_select(
        dtCode("index_select", x.dtype),
        outer,
        n,
        inner,
        sizeOf(index.shape),
        ptrOf(x),
        ptrOf(index),
        ptrOf(out),
      ),
      "index_select",
    );
  };
  k.index_add = ([x, index, src], [out], { axis }) => {
    const [outer, n, inner] = around(out.shape, axis);
    ok(
      lib.dmfc_index_add(
        dtCode("index_add", out.dtype),
        outer,
        n,
        inner,
        sizeOf(index.shape),
        ptrOf(x),
        ptrOf(index),
        ptrOf(src),
        ptrOf(out),
      ),
      "index_add",
    );
  };
  k.sort = ([x], [vals, idx], { axis, descending }) => {
    const [outer, n, inner] = around(x.shape, axis);
    ok(
      lib.dmfc_sort(
        dtCode("sort", x.dtype),
        descending ? 1 : 0,
        outer,
        n,
        inner,
        ptrOf(x),
        ptrOf(vals),
        ptrOf(idx),
      ),
      "sort",
    );
  };

  // ---- convolution and pooling ---------------------------------------------------------------
  const convGeom = (xShape: readonly number[], wShape: readonly number[], a: Attrs) =>
    i64([
      xShape[0],
      xShape[1],
      xShape[2],
      xShape[3],
      wShape[0],
      wShape[2],
      wShape[3],
      a.outSize[0],
      a.outSize[1],
      a.groups,
      a.stride[0],
      a.stride[1],
      a.padding[0],
      a.padding[1],
      a.dilation[0],
      a.dilation[1],
    ]);
  k.conv2d = ([x, w], [out], attrs) => {
    requireF32("conv2d", x, w);
    ok(
      lib.dmfc_conv2d(convGeom(x.shape, w.shape, attrs), ptrOf(x), ptrOf(w), ptrOf(out)),
      "conv2d",
    );
  };
  k.conv2d_input_grad = ([gy, w], [dx], attrs) => {
    requireF32("conv2d_input_grad", gy, w);
    ok(
      lib.dmfc_conv2d_input_grad(
        convGeom(dx.shape, w.shape, attrs),
        ptrOf(gy),
        ptrOf(w),
        ptrOf(dx),
      ),
      "conv2d_input_grad",
    );
  };
  k.conv2d_weight_grad = ([x, gy], [dw], attrs) => {
    requireF32("conv2d_weight_grad", x, gy);
    ok(
      lib.dmfc_conv2d_weight_grad(
        convGeom(x.shape, dw.shape, attrs),
        ptrOf(x),
        ptrOf(gy),
        ptrOf(dw),
      ),
      "conv2d_weight_grad",
    );
  };
  const poolGeom = (inShape: readonly number[], outShape: readonly number[], a: Attrs) =>
    i64([
      inShape[0] * inShape[1],
      inShape[2],
      inShape[3],
      outShape[2],
      outShape[3],
      a.kernel[0],
      a.kernel[1],
      a.stride[0],
      a.stride[1],
      a.padding[0],
      a.padding[1],
    ]);
  for (const [name, isMax] of [["max_pool2d", 1], ["avg_pool2d", 0]] as const) {
    k[name] = ([x], [out], attrs) => {
      requireF32(name, x);
      ok(lib.dmfc_pool2d(isMax, poolGeom(x.shape, out.shape, attrs), ptrOf(x), ptrOf(out)), name);
    };
  }
  k.max_pool2d_backward = ([x, gy], [dx], attrs) => {
    requireF32("max_pool2d_backward", x, gy);
    ok(
      lib.dmfc_max_pool2d_backward(
        poolGeom(x.shape, gy.shape, attrs),
        ptrOf(x),
        ptrOf(gy),
        ptrOf(dx),
      ),
      "max_pool2d_backward",
    );
  };
  k.avg_pool2d_backward = ([gy], [dx], attrs) => {
    requireF32("avg_pool2d_backward", gy);
    ok(
      lib.dmfc_avg_pool2d_backward(poolGeom(dx.shape, gy.shape, attrs), ptrOf(gy), ptrOf(dx)),
      "avg_pool2d_backward",
    );
  };

  // ---- resampling ------------------------------------------------------------------------------
  const planeArgs = (inShape: readonly number[], outShape: readonly number[]) => {
    const r = inShape.length;
    return [
      sizeOf(inShape.slice(0, -2)),
      inShape[r - 2],
      inShape[r - 1],
      outShape[r - 2],
      outShape[r - 1],
    ] as const;
  };
  k.resize_nearest = ([x], [out], a) =>
    ok(
      lib.dmfc_resize_nearest(
        dtCode("resize_nearest", x.dtype),
        ...planeArgs(x.shape, out.shape),
        a.scaleH,
        a.scaleW,
        ptrOf(x),
        ptrOf(out),
      ),
      "resize_nearest",
    );
  k.resize_nearest_backward = ([g], [dx], a) => {
    requireF32("resize_nearest_backward", g);
    ok(
      lib.dmfc_resize_nearest_backward(
        ...planeArgs(dx.shape, g.shape),
        a.scaleH,
        a.scaleW,
        ptrOf(g),
        ptrOf(dx),
      ),
      "resize_nearest_backward",
    );
  };
  k.resize_bilinear = ([x], [out], a) => {
    requireF32("resize_bilinear", x);
    ok(
      lib.dmfc_resize_bilinear(
        ...planeArgs(x.shape, out.shape),
        a.scaleH,
        a.scaleW,
        a.alignCorners ? 1 : 0,
        ptrOf(x),
        ptrOf(out),
      ),
      "resize_bilinear",
    );
  };
  k.resize_bilinear_backward = ([g], [dx], a) => {
    requireF32("resize_bilinear_backward", g);
    ok(
      lib.dmfc_resize_bilinear_backward(
        ...planeArgs(dx.shape, g.shape),
        a.scaleH,
        a.scaleW,
        a.alignCorners ? 1 : 0,
        ptrOf(g),
        ptrOf(dx),
      ),
      "resize_bilinear_backward",
    );
  };
  k.grid_sample = ([x, grid], [out]) => {
    requireF32("grid_sample", x, grid);
    const [N, C, H, W] = x.shape;
    ok(
      lib.dmfc_grid_sample(
        N,
        C,
        H,
        W,
        out.shape[2],
        out.shape[3],
        ptrOf(x),
        ptrOf(grid),
        ptrOf(out),
      ),
      "grid_sample",
    );
  };
  k.grid_sample_backward = ([x, grid, g], [dx, dgrid]) => {
    requireF32("grid_sample_backward", x, grid, g);
    const [N, C, H, W] = x.shape;
    ok(
      lib.dmfc_grid_sample_backward(
        N,
        C,
        H,
        W,
        g.shape[2],
        g.shape[3],
        ptrOf(x),
        ptrOf(grid),
        ptrOf(g),
        ptrOf(dx),
        ptrOf(dgrid),
      ),
      "grid_sample_backward",
    );
  };

  // ---- deformable attention ---------------------------------------------------------------------
  const msdaArgs = (value: KernelInput, loc: KernelInput, a: Attrs) => {
    const [N, S, M, D] = value.shape;
    const [, Lq, , L, P] = loc.shape;
    const levels = (a.spatialShapes as [number, number][]).flat();
    return [i64([N, S, M, D, Lq, L, P]), i64(levels)] as const;
  };
  k.msda = ([value, loc, attn], [out], attrs) => {
    requireF32("msda", value, loc, attn);
    ok(
      lib.dmfc_msda(
        ...msdaArgs(value, loc, attrs),
        ptrOf(value),
        ptrOf(loc),
        ptrOf(attn),
        ptrOf(out),
      ),
      "msda",
    );
  };
  k.msda_backward = ([value, loc, attn, g], [gv, gl, ga], attrs) => {
    requireF32("msda_backward", value, loc, attn, g);
    ok(
      lib.dmfc_msda_backward(
        ...msdaArgs(value, loc, attrs),
        ptrOf(value),
        ptrOf(loc),
        ptrOf(attn),
        ptrOf(g),
        ptrOf(gv),
        ptrOf(gl),
        ptrOf(ga),
      ),
      "msda_backward",
    );
  };

  // ---- matmul ----------------------------------------------------------------------------------
  k.matmul = ([x, y], [out], { transA = false, transB = false }) => {
    const { M, N, K, batch, sa, sb } = matmulLaunch(x.shape, y.shape, out.shape, transA);
    const so = stridesOf(batch).map((s) => s * M * N);
    const m = mergeAxes(batch, [sa, sb, so]);
    ok(
      lib.dmfc_matmul(
        dtCode("matmul", out.dtype),
        transA ? 1 : 0,
        transB ? 1 : 0,
        M,
        N,
        K,
        m.shape.length,
        i64(m.shape),
        i64(m.strides[0]),
        i64(m.strides[1]),
        ptrOf(x),
        ptrOf(y),
        ptrOf(out),
      ),
      "matmul",
    );
  };

  return { ...k, ...normKernels(lib), ...windowAttentionKernels(lib) };
}

function reduce(
  lib: CudaLib,
  name: string,
  op: number,
  x: KernelInput,
  out: KernelOutput,
  axes: number[],
): void {
  const st = stridesOf(x.shape);
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const kept = mergeAxes(keptAxes.map((i) => x.shape[i]), [keptAxes.map((i) => st[i])]);
  const red = mergeAxes(axes.map((i) => x.shape[i]), [axes.map((i) => st[i])]);
  check(
    lib,
    lib.dmfc_reduce(
      op,
      dtCode(name, x.dtype),
      dtCode(name, out.dtype),
      kept.shape.length,
      i64(kept.shape),
      i64(kept.strides[0]),
      red.shape.length,
      i64(red.shape),
      i64(red.strides[0]),
      ptrOf(x),
      ptrOf(out),
    ),
    name,
  );
}
