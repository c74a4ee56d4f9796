/**
 * Native overrides of multi-scale deformable attention (msda, msda_backward) for f32 inputs;
 * f64 and more levels than the C kernel takes run the reference.
 */
import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import type { NativeSymbols } from "./ffi.ts";
import { countCall, isF32, meta } from "./util.ts";

/** N, S, M, D, Lq, L, P, the level heights, the level widths. */
function msdaMeta(value: KernelInput, loc: KernelInput, attrs: Attrs): BigInt64Array {
  const [N, S, M, D] = value.shape;
  const [, Lq, , L, P] = loc.shape;
  const levels = attrs.spatialShapes as [number, number][];
  return meta([N, S, M, D, Lq, L, P, ...levels.map(([h]) => h), ...levels.map(([, w]) => w)]);
}

export function msdaKernels(
  s: NativeSymbols,
  cpu: Readonly<Record<string, Kernel>>,
): Record<string, Kernel> {
  const k: Record<string, Kernel> = {};

  k.msda = (ins, outs, attrs) => {
    const [value, loc, attn] = ins;
    if (![...ins, ...outs].every(isF32)) return cpu.msda(ins, outs, attrs);
    const ran = s.dmf_msda(
      value.buf as Float32Array,
      loc.buf as Float32Array,
      attn.buf as Float32Array,
      outs[0].buf as Float32Array,
      msdaMeta(value, loc, attrs),
    );
    if (!ran) return cpu.msda(ins, outs, attrs);
    countCall("msda");
  };

  k.msda_backward = (ins, outs, attrs) => {
    const [value, loc, attn, gOut] = ins;
    const [gValue, gLoc, gAttn] = outs;
    if (![...ins, ...outs].every(isF32)) return cpu.msda_backward(ins, outs, attrs);
    const ran = s.dmf_msda_backward(
      value.buf as Float32Array,
      loc.buf as Float32Array,
      attn.buf as Float32Array,
      gOut.buf as Float32Array,
      gValue.buf as Float32Array,
      gLoc.buf as Float32Array,
      gAttn.buf as Float32Array,
      msdaMeta(value, loc, attrs),
    );
    if (!ran) return cpu.msda_backward(ins, outs, attrs);
    countCall("msda_backward");
  };

  return k;
}
