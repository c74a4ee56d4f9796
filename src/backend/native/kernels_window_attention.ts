/**
 * window_attention and its backward op in C (native/window_attention.c) for f32; f64 (the
 * gradient checks) and windows too large for the C workspace run the TypeScript reference.
 */
import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import { windowAttentionGeometry } from "../window_attention_geometry.ts";
import type { NativeSymbols } from "./ffi.ts";
import { countCall, isF32, meta } from "./util.ts";

/** B', N, C, heads, nW */
function dims(qkv: KernelInput, mask: KernelInput | undefined, attrs: Attrs): BigInt64Array {
  const g = windowAttentionGeometry(qkv.shape, attrs, mask?.shape ?? null);
  return meta([g.windows, g.n, g.c, g.heads, g.nW]);
}

const f32 = (t: { buf: unknown }) => t.buf as Float32Array;

export function windowAttentionKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.window_attention = (ins, outs, attrs) => {
    const [qkv, bias, mask] = ins;
    if (![...ins, ...outs].every(isF32)) return cpu.window_attention(ins, outs, attrs);
    const [out, lse] = outs;
    const ran = s.dmf_window_attention(
      f32(qkv),
      f32(bias),
      mask ? f32(mask) : null,
      f32(out),
      f32(lse),
      dims(qkv, mask, attrs),
      attrs.scale,
    );
    if (!ran) return cpu.window_attention(ins, outs, attrs);
    countCall("window_attention");
  };

  k.window_attention_backward = (ins, outs, attrs) => {
    const [gout, qkv, bias, , lse, mask] = ins;
    if (![...ins, ...outs].every(isF32)) return cpu.window_attention_backward(ins, outs, attrs);
    const [dqkv, dbias] = outs;
    const ran = s.dmf_window_attention_backward(
      f32(gout),
      f32(qkv),
      f32(bias),
      mask ? f32(mask) : null,
      f32(lse),
      f32(dqkv),
      f32(dbias),
      dims(qkv, mask, attrs),
      attrs.scale,
    );
    if (!ran) return cpu.window_attention_backward(ins, outs, attrs);
    countCall("window_attention_backward");
  };

  return k;
}
