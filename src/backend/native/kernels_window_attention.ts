/**
 * window_attention and its backward op in C (native/window_attention.c) for f32; f64 (the
 * gradient checks) and windows too large for the C workspace run the TypeScript reference.
 */
import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import { windowAttentionGeometry } from "../window_attention_geometry.ts";
import type { NativeSymbols } from "./ffi.ts";
import { f32Buf, f32Override, meta } from "./util.ts";

/** B', N, C, heads, nW */
function dims(qkv: KernelInput, mask: KernelInput | undefined, attrs: Attrs): BigInt64Array {
  const g = windowAttentionGeometry(qkv.shape, attrs, mask?.shape ?? null);
  return meta([g.windows, g.n, g.c, g.heads, g.nW]);
}

export function windowAttentionKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  return {
    window_attention: f32Override(
      "window_attention",
      cpu,
      ([qkv, bias, mask], [out, lse], attrs) =>
        s.dmf_window_attention(
          f32Buf(qkv),
          f32Buf(bias),
          mask ? f32Buf(mask) : null,
          f32Buf(out),
          f32Buf(lse),
          dims(qkv, mask, attrs),
          attrs.scale,
        ),
    ),
    window_attention_backward: f32Override(
      "window_attention_backward",
      cpu,
      ([gout, qkv, bias, , lse, mask], [dqkv, dbias], attrs) =>
        s.dmf_window_attention_backward(
          f32Buf(gout),
          f32Buf(qkv),
          f32Buf(bias),
          mask ? f32Buf(mask) : null,
          f32Buf(lse),
          f32Buf(dqkv),
          f32Buf(dbias),
          dims(qkv, mask, attrs),
          attrs.scale,
        ),
    ),
  };
}
