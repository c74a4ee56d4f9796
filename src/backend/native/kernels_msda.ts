/**
 * Native overrides of multi-scale deformable attention (msda, msda_backward) for f32 inputs;
 * f64 and more levels than the C kernel takes run the reference.
 */
import type { Attrs, Kernel, KernelInput } from "../backend.ts";
import type { NativeSymbols } from "./ffi.ts";
import { f32Buf, f32Override, meta } from "./util.ts";

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
  return {
    msda: f32Override("msda", cpu, ([value, loc, attn], [out], attrs) =>
      s.dmf_msda(
        f32Buf(value),
        f32Buf(loc),
        f32Buf(attn),
        f32Buf(out),
        msdaMeta(value, loc, attrs),
      )),
    msda_backward: f32Override(
      "msda_backward",
      cpu,
      ([value, loc, attn, gOut], [gValue, gLoc, gAttn], attrs) =>
        s.dmf_msda_backward(
          f32Buf(value),
          f32Buf(loc),
          f32Buf(attn),
          f32Buf(gOut),
          f32Buf(gValue),
          f32Buf(gLoc),
          f32Buf(gAttn),
          msdaMeta(value, loc, attrs),
        ),
    ),
  };
}
