/**
 * layer_norm / group_norm and their backward ops in C (native/norm.c) for f32; other dtypes
 * (f64 gradient checks) run the TypeScript reference kernels.
 */
import type { Kernel, KernelInput, KernelOutput } from "../backend.ts";
import { normGeometry } from "../norm_geometry.ts";
import type { NativeSymbols } from "./ffi.ts";

const f32 = (t: KernelInput | KernelOutput) => t.buf as Float32Array;

export function nativeNormKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};
  for (const kind of ["layer_norm", "group_norm"] as const) {
    const geom = (x: KernelInput, attrs: Record<string, unknown>) => {
      const { n, groups, cg, hw } = normGeometry(kind, x.shape, attrs);
      return BigInt64Array.from([n, groups, cg, hw], BigInt);
    };

    k[kind] = (ins, outs, attrs) => {
      if (ins[0].dtype !== "f32") return cpu[kind](ins, outs, attrs);
      const w = attrs.hasWeight ? f32(ins[1]) : null;
      const b = attrs.hasBias ? f32(ins[attrs.hasWeight ? 2 : 1]) : null;
      const [y, mean, rstd] = outs.map(f32);
      s.dmf_norm_forward(f32(ins[0]), w, b, y, mean, rstd, geom(ins[0], attrs), attrs.eps);
    };

    const backward = `${kind}_backward`;
    k[backward] = (ins, outs, attrs) => {
      const [gy, x, mean, rstd] = ins;
      if (x.dtype !== "f32") return cpu[backward](ins, outs, attrs);
      const [dx, dw, db] = outs;
      s.dmf_norm_backward(
        f32(gy),
        f32(x),
        f32(mean),
        f32(rstd),
        attrs.hasWeight ? f32(ins[4]) : null,
        f32(dx),
        dw ? f32(dw) : null,
        db ? f32(db) : null,
        geom(x, attrs),
      );
    };
  }
  return k;
}
