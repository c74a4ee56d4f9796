/**
 * Native kernel overrides. Each one handles the common f32 cases in C and falls back to the
 * TypeScript reference kernel (same buffers: plain typed arrays) for everything else.
 */
import type { Kernel } from "../backend.ts";
import { bytesPerElement, type TypedArray } from "../../tensor/dtype.ts";
import { broadcastStrides, type Shape } from "../../tensor/shape.ts";
import type { NativeSymbols } from "./ffi.ts";
import { isF32, meta, prod } from "./util.ts";
import { matmulLaunch } from "../matmul_launch.ts";

/** Binary op ids of dmf.h (order matters). */
export const NATIVE_BINARY = [
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "minimum",
  "maximum",
  "atan2",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "logical_and",
  "logical_or",
  "logical_xor",
] as const;

/** Unary op ids of dmf.h (order matters). */
export const NATIVE_UNARY = [
  "neg",
  "abs",
  "sign",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "reciprocal",
  "sin",
  "cos",
  "tanh",
  "sigmoid",
  "relu",
  "gelu",
  "gelu_tanh",
  "softplus",
  "erf",
  "floor",
  "ceil",
  "round",
  "logical_not",
  "isnan",
] as const;

const REDUCE_IDS: Record<string, number> = { sum: 0, mean: 1, max: 2, min: 3 };

const MAX_RANK = 8;

/**
 * Below these output sizes elementwise ops run the TypeScript kernel: the FFI call and its
 * metadata cost a few microseconds, more than a short monomorphic JS loop. Tests set them to 0
 * to exercise the C kernels on small shapes.
 */
export const NATIVE_THRESHOLDS = { binary: 1024, unary: 128 };

/**
 * Drops size-1 axes of a broadcast and merges neighbours that are contiguous for every
 * operand. Returns the collapsed shape and per-operand strides.
 */
export function collapse(shape: Shape, strides: number[][]): [number[], number[][]] {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const r = outShape.length;
    if (r > 0 && strides.every((s, k) => outStrides[k][r - 1] === s[d] * n)) {
      outShape[r - 1] *= n;
      strides.forEach((s, k) => (outStrides[k][r - 1] = s[d]));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) return [[1], strides.map(() => [0])];
  return [outShape, outStrides];
}

/** The overriding kernels, each given the reference kernel of the same name to fall back to. */
export function nativeKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.matmul = (ins, outs, attrs) => {
    const [x, y] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(y) || !isF32(out)) return cpu.matmul(ins, outs, attrs);
    const { transA = false, transB = false } = attrs;
    const { M, N, K, batch, sa, sb } = matmulLaunch(x.shape, y.shape, out.shape, transA);
    s.dmf_matmul(
      x.buf as Float32Array,
      y.buf as Float32Array,
      out.buf as Float32Array,
      meta([M, N, K, transA ? 1 : 0, transB ? 1 : 0, batch.length, ...batch, ...sa, ...sb]),
    );
  };

  const convMeta = (xs: Shape, ws: Shape, a: Record<string, number[] | number>) => {
    const [sh, sw] = a.stride as number[];
    const [ph, pw] = a.padding as number[];
    const [dh, dw] = a.dilation as number[];
    const [OH, OW] = a.outSize as number[];
    return meta([...xs, ws[0], ws[2], ws[3], OH, OW, a.groups as number, sh, sw, ph, pw, dh, dw]);
  };

  k.conv2d = (ins, outs, attrs) => {
    const [x, w] = ins;
    if (!isF32(x) || !isF32(w) || !isF32(outs[0])) return cpu.conv2d(ins, outs, attrs);
    s.dmf_conv2d(
      x.buf as Float32Array,
      w.buf as Float32Array,
      outs[0].buf as Float32Array,
      convMeta(x.shape, w.shape, attrs),
    );
  };

  k.conv2d_input_grad = (ins, outs, attrs) => {
    const [gy, w] = ins;
    const [dx] = outs;
    if (!isF32(gy) || !isF32(w) || !isF32(dx)) return cpu.conv2d_input_grad(ins, outs, attrs);
    s.dmf_conv2d_input_grad(
      gy.buf as Float32Array,
      w.buf as Float32Array,
      dx.buf as Float32Array,
      convMeta(dx.shape, w.shape, attrs),
    );
  };

  k.conv2d_weight_grad = (ins, outs, attrs) => {
    const [x, gy] = ins;
    const [dw] = outs;
    if (!isF32(x) || !isF32(gy) || !isF32(dw)) return cpu.conv2d_weight_grad(ins, outs, attrs);
    s.dmf_conv2d_weight_grad(
      x.buf as Float32Array,
      gy.buf as Float32Array,
      dw.buf as Float32Array,
      convMeta(x.shape, dw.shape, attrs),
    );
  };

  NATIVE_BINARY.forEach((name, id) => {
    const ref = cpu[name];
    k[name] = (ins, outs, attrs) => {
      const [x, y] = ins;
      const [out] = outs;
      if (!isF32(x) || !isF32(y)) return ref(ins, outs, attrs);
      const o = out.buf as TypedArray;
      if (o.length < NATIVE_THRESHOLDS.binary) return ref(ins, outs, attrs);
      const a = x.buf as Float32Array;
      const b = y.buf as Float32Array;
      let m: BigInt64Array;
      if (a.length === o.length && b.length === o.length) {
        m = meta([1, o.length, 1, 1]); // same shape
      } else if (a.length === o.length && b.length === 1) {
        m = meta([1, o.length, 1, 0]);
      } else if (a.length === 1 && b.length === o.length) {
        m = meta([1, o.length, 0, 1]);
      } else {
        const [shape, [sa, sb]] = collapse(out.shape, [
          broadcastStrides(x.shape, out.shape),
          broadcastStrides(y.shape, out.shape),
        ]);
        if (shape.length > MAX_RANK) return ref(ins, outs, attrs);
        m = meta([shape.length, ...shape, ...sa, ...sb]);
      }
      s.dmf_binary(id, a, b, o, m);
    };
  });

  NATIVE_UNARY.forEach((name, id) => {
    const ref = cpu[name];
    k[name] = (ins, outs, attrs) => {
      const [x] = ins;
      const o = outs[0].buf as TypedArray;
      if (!isF32(x) || o.length < NATIVE_THRESHOLDS.unary) return ref(ins, outs, attrs);
      s.dmf_unary(id, x.buf as Float32Array, o, BigInt(o.length));
    };
  });

  for (const [name, id] of Object.entries(REDUCE_IDS)) {
    const ref = cpu[name];
    k[name] = (ins, outs, attrs) => {
      const [x] = ins;
      const [out] = outs;
      if (!isF32(x) || !isF32(out)) return ref(ins, outs, attrs);
      const axes = [...(attrs.axes as number[])].sort((a, b) => a - b);
      // Only a contiguous block of axes: x = [outer, n, inner].
      if (axes.some((a, i) => i > 0 && a !== axes[i - 1] + 1)) return ref(ins, outs, attrs);
      const a0 = axes.length ? axes[0] : x.shape.length;
      const a1 = axes.length ? axes[axes.length - 1] + 1 : x.shape.length;
      s.dmf_reduce(
        id,
        x.buf as Float32Array,
        out.buf as Float32Array,
        BigInt(prod(x.shape.slice(0, a0))),
        BigInt(prod(x.shape.slice(a0, a1))),
        BigInt(prod(x.shape.slice(a1))),
      );
    };
  }

  for (const [name, log] of [["softmax", 0], ["log_softmax", 1]] as const) {
    const ref = cpu[name];
    k[name] = (ins, outs, attrs) => {
      const [x] = ins;
      const r = x.shape.length;
      const axis = attrs.axis < 0 ? attrs.axis + r : attrs.axis;
      if (!isF32(x) || !isF32(outs[0]) || prod(x.shape.slice(axis + 1)) !== 1) {
        return ref(ins, outs, attrs);
      }
      const n = x.shape[axis] ?? 1;
      const o = outs[0].buf as Float32Array;
      s.dmf_softmax(log, x.buf as Float32Array, o, BigInt(n === 0 ? 0 : o.length / n), BigInt(n));
    };
  }

  k.strided_copy = (ins, outs, attrs) => {
    const [out] = outs;
    const shape = out.shape;
    const strides = attrs.strides as number[];
    if (shape.length > MAX_RANK || strides.length !== shape.length) {
      return cpu.strided_copy(ins, outs, attrs);
    }
    s.dmf_strided_copy(
      ins[0].buf as TypedArray,
      out.buf as TypedArray,
      BigInt(bytesPerElement(out.dtype)),
      meta([shape.length, attrs.offset ?? 0, ...shape, ...strides]),
    );
  };

  return k;
}
