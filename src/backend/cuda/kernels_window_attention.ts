/** window_attention and its backward op on the CUDA backend (cuda/window_attention.cu). */
import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import { windowAttentionGeometry } from "../window_attention_geometry.ts";
import { check, type CudaLib } from "./ffi.ts";
import { i64, requireF32 } from "./layout.ts";
import { ptrOf } from "./kernels.ts";

/** B', N, C, heads, nW */
function dims(qkv: KernelInput, mask: KernelInput | undefined, attrs: Attrs): BigInt64Array {
  const g = windowAttentionGeometry(qkv.shape, attrs, mask?.shape ?? null);
  return i64([g.windows, g.n, g.c, g.heads, g.nW]);
}

export function windowAttentionKernels(lib: CudaLib): Record<string, Kernel> {
  return {
    window_attention: (ins, [out, lse], attrs) => {
      requireF32("window_attention", ...ins);
      const [qkv, bias, mask] = ins;
      const status = lib.dmfc_window_attention(
        dims(qkv, mask, attrs),
        attrs.scale,
        ptrOf(qkv),
        ptrOf(bias),
        mask ? ptrOf(mask) : 0n,
        ptrOf(out),
        ptrOf(lse),
      );
      check(lib, status, "window_attention");
    },
    window_attention_backward: (ins, [dqkv, dbias], attrs) => {
      requireF32("window_attention_backward", ...ins);
      const [gout, qkv, bias, out, lse, mask] = ins;
      const status = lib.dmfc_window_attention_backward(
        dims(qkv, mask, attrs),
        attrs.scale,
        ptrOf(gout),
        ptrOf(qkv),
        ptrOf(bias),
        mask ? ptrOf(mask) : 0n,
        ptrOf(out),
        ptrOf(lse),
        ptrOf(dqkv),
        ptrOf(dbias),
      );
      check(lib, status, "window_attention_backward");
    },
  };
}
