/** layer_norm / group_norm and their backward ops on the CUDA backend (cuda/norm.cu). */
import type { Kernel } from "../backend.ts";
import { normGeometry } from "../norm_geometry.ts";
import { check, type CudaLib } from "./ffi.ts";
import { i64, requireF32 } from "./layout.ts";
import { ptrOf } from "./kernels.ts";

export function normKernels(lib: CudaLib): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};
  for (const kind of ["layer_norm", "group_norm"] as const) {
    const geom = (shape: readonly number[], attrs: Record<string, unknown>) => {
      const { n, groups, cg, hw } = normGeometry(kind, shape, attrs);
      return i64([n, groups, cg, hw]);
    };

    k[kind] = (ins, [y, mean, rstd], attrs) => {
      requireF32(kind, ...ins);
      const w = attrs.hasWeight ? ptrOf(ins[1]) : 0n;
      const b = attrs.hasBias ? ptrOf(ins[attrs.hasWeight ? 2 : 1]) : 0n;
      const x = ins[0];
      const status = lib.dmfc_norm_forward(
        geom(x.shape, attrs),
        attrs.eps,
        ptrOf(x),
        w,
        b,
        ptrOf(y),
        ptrOf(mean),
        ptrOf(rstd),
      );
      check(lib, status, kind);
    };

    const backward = `${kind}_backward`;
    k[backward] = (ins, [dx, dw, db], attrs) => {
      requireF32(backward, ...ins);
      const [gy, x, mean, rstd] = ins;
      const status = lib.dmfc_norm_backward(
        geom(x.shape, attrs),
        ptrOf(gy),
        ptrOf(x),
        ptrOf(mean),
        ptrOf(rstd),
        attrs.hasWeight ? ptrOf(ins[4]) : 0n,
        ptrOf(dx),
        dw ? ptrOf(dw) : 0n,
        db ? ptrOf(db) : 0n,
      );
      check(lib, status, backward);
    };
  }
  return k;
}
