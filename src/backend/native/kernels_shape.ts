/**
 * Native overrides of the data-movement kernels: pad, cat, where and cumsum. pad and cat move
 * raw elements of any dtype; where handles 4-byte values with a 1-byte condition; cumsum f32.
 * Everything else runs the reference kernel.
 */
import type { Kernel } from "../backend.ts";
import { type TypedArray, typedArrayFor } from "../../tensor/dtype.ts";
import { broadcastStrides } from "../../tensor/shape.ts";
import type { NativeSymbols } from "./ffi.ts";
import { collapse, NATIVE_THRESHOLDS } from "./kernels.ts";
import { byteSize, countCall, isF32, meta, prod } from "./util.ts";

const MAX_RANK = 8;

export function shapeKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.pad = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    const pads = attrs.pads as [number, number][];
    // Trailing axes without padding fold into blocks of `inner` elements.
    let last = pads.length - 1;
    while (last >= 0 && pads[last][0] === 0 && pads[last][1] === 0) last--;
    const replicate = attrs.mode === "replicate";
    if (last < 0 || last >= MAX_RANK || (!replicate && attrs.mode !== "constant")) {
      return cpu.pad(ins, outs, attrs);
    }
    const inner = prod(x.shape.slice(last + 1));
    const inShape = x.shape.slice(0, last + 1);
    const value = typedArrayFor(out.dtype, 1);
    value[0] = attrs.value ?? 0;
    s.dmf_pad(
      x.buf as TypedArray,
      out.buf as TypedArray,
      BigInt(byteSize(out)),
      value,
      replicate ? 1 : 0,
      meta([
        inShape.length,
        inner,
        ...inShape,
        ...pads.slice(0, last + 1).map(([b]) => b),
        ...out.shape.slice(0, last + 1),
      ]),
    );
    countCall("pad");
  };

  k.cat = (ins, outs, attrs) => {
    const [out] = outs;
    const axis = attrs.axis as number;
    const es = byteSize(out);
    const outer = prod(out.shape.slice(0, axis));
    const rowBytes = prod(out.shape.slice(axis)) * es;
    const inner = prod(out.shape.slice(axis + 1));
    let start = 0;
    for (const x of ins) {
      const bytes = x.shape[axis] * inner * es;
      if (bytes > 0 && outer > 0) {
        s.dmf_copy_rows(
          x.buf as TypedArray,
          out.buf as TypedArray,
          BigInt(start * inner * es),
          BigInt(outer),
          BigInt(bytes),
          BigInt(bytes),
          BigInt(rowBytes),
        );
      }
      start += x.shape[axis];
    }
    countCall("cat");
  };

  k.where = (ins, outs, attrs) => {
    const [c, x, y] = ins;
    const [out] = outs;
    const o = out.buf as TypedArray;
    const fits = byteSize(c) === 1 && byteSize(out) === 4 && x.dtype === out.dtype &&
      y.dtype === out.dtype;
    if (!fits || o.length < NATIVE_THRESHOLDS.binary) return cpu.where(ins, outs, attrs);
    const [shape, strides] = collapse(
      out.shape,
      [c, x, y].map((t) => broadcastStrides(t.shape, out.shape)),
    );
    if (shape.length > MAX_RANK) return cpu.where(ins, outs, attrs);
    s.dmf_where(
      c.buf as TypedArray,
      x.buf as TypedArray,
      y.buf as TypedArray,
      o,
      meta([shape.length, ...shape, ...strides.flat()]),
    );
    countCall("where");
  };

  k.cumsum = (ins, outs, attrs) => {
    const [x] = ins;
    const [out] = outs;
    if (!isF32(x) || !isF32(out)) return cpu.cumsum(ins, outs, attrs);
    const axis = attrs.axis as number;
    s.dmf_cumsum(
      x.buf as Float32Array,
      out.buf as Float32Array,
      BigInt(prod(x.shape.slice(0, axis))),
      BigInt(x.shape[axis] ?? 1),
      BigInt(prod(x.shape.slice(axis + 1))),
    );
    countCall("cumsum");
  };

  return k;
}
