/**
 * Native overrides of the indexing kernels (i32 indices): gather and index_select move raw
 * elements of any dtype; scatter_add and index_add add f32. When C reports an out-of-range
 * index the reference kernel runs and raises the error.
 */
import type { Kernel, KernelInput } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import type { NativeSymbols } from "./ffi.ts";
import { byteSize, countCall, isF32, meta, prod } from "./util.ts";

const MAX_RANK = 8;

const isI32 = (t: KernelInput) => t.dtype === "i32";

/** [outer, n, inner] around `axis`. */
function around(shape: readonly number[], axis: number): [bigint, bigint, bigint] {
  return [
    BigInt(prod(shape.slice(0, axis))),
    BigInt(shape[axis] ?? 1),
    BigInt(prod(shape.slice(axis + 1))),
  ];
}

export function indexKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.gather = (ins, outs, attrs) => {
    const [x, index] = ins;
    const [out] = outs;
    const r = x.shape.length;
    if (!isI32(index) || r > MAX_RANK) return cpu.gather(ins, outs, attrs);
    const bad = s.dmf_gather(
      x.buf as TypedArray,
      index.buf as Int32Array,
      out.buf as TypedArray,
      BigInt(byteSize(x)),
      meta([r, attrs.axis, ...index.shape, ...x.shape]),
    );
    if (Number(bad) !== 0) return cpu.gather(ins, outs, attrs);
    countCall("gather");
  };

  k.scatter_add = (ins, outs, attrs) => {
    const [x, index, src] = ins;
    const [out] = outs;
    const r = x.shape.length;
    if (!isF32(x) || !isF32(src) || !isI32(index) || r > MAX_RANK) {
      return cpu.scatter_add(ins, outs, attrs);
    }
    const bad = s.dmf_scatter_add(
      x.buf as Float32Array,
      index.buf as Int32Array,
      src.buf as Float32Array,
      out.buf as Float32Array,
      meta([r, attrs.axis, ...index.shape, ...x.shape, ...src.shape]),
    );
    if (Number(bad) !== 0) return cpu.scatter_add(ins, outs, attrs);
    countCall("scatter_add");
  };

  k.index_select = (ins, outs, attrs) => {
    const [x, index] = ins;
    if (!isI32(index)) return cpu.index_select(ins, outs, attrs);
    const [outer, n, inner] = around(x.shape, attrs.axis);
    const bad = s.dmf_index_select(
      x.buf as TypedArray,
      index.buf as Int32Array,
      outs[0].buf as TypedArray,
      BigInt(byteSize(x)),
      outer,
      n,
      BigInt(index.shape[0]),
      inner,
    );
    if (Number(bad) !== 0) return cpu.index_select(ins, outs, attrs);
    countCall("index_select");
  };

  k.index_add = (ins, outs, attrs) => {
    const [x, index, src] = ins;
    if (!isF32(x) || !isF32(src) || !isI32(index)) return cpu.index_add(ins, outs, attrs);
    const [outer, n, inner] = around(x.shape, attrs.axis);
    const bad = s.dmf_index_add(
      x.buf as Float32Array,
      index.buf as Int32Array,
      src.buf as Float32Array,
      outs[0].buf as Float32Array,
      outer,
      n,
      BigInt(index.shape[0]),
      inner,
    );
    if (Number(bad) !== 0) return cpu.index_add(ins, outs, attrs);
    countCall("index_add");
  };

  return k;
}
