/** fill, arange and rand_uniform (wgsl/creation.wgsl). */
import type { Kernel, KernelOutput } from "../../backend.ts";
import { pcgHash } from "../../../tensor/random.ts";
import { isIntDtype, product, storeExpr } from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, storageWord } from "./common.ts";

const WG = 256;

function creationPipe(rt: Runtime, mode: number, out: KernelOutput, intArange: boolean) {
  return rt.pipeline(`creation:${mode}:${out.dtype}:${intArange}`, ["rw"], 8, () => {
    const header = `${consts({ WG, MODE: mode, INT_ARANGE: intArange })}
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;
fn store_f(i: u32, v: f32) { out0[i] = bitcast<u32>(${storeExpr(out.dtype, "f32", "v")}); }
fn store_i(i: u32, v: i32) { out0[i] = bitcast<u32>(${storeExpr(out.dtype, "i32", "v")}); }`;
    return assemble(header, "creation");
  });
}

/** Fills `out` with one storage word (used by other kernels to zero outputs). */
export function fillWord(rt: Runtime, out: KernelOutput, word: number): void {
  const n = product(out.shape);
  if (n === 0) return;
  const pipe = creationPipe(rt, 0, { ...out, dtype: "i32" }, false);
  rt.dispatch(pipe, [gbuf(out)], new Params().u(n, word), grid(Math.ceil(n / (WG * 4))));
}

function splitF64(v: number): [number, number] {
  const hi = Math.fround(v);
  return [hi, Math.fround(v - hi)];
}

export function creationKernels(rt: Runtime): Record<string, Kernel> {
  return {
    fill: (_ins, [out], { value }) => fillWord(rt, out, storageWord(value, out.dtype)),
    arange: (_ins, [out], { start, step }) => {
      const n = product(out.shape);
      const intArange = isIntDtype(out.dtype) && Number.isInteger(start) &&
        Number.isInteger(step);
      const [sh, sl] = splitF64(start);
      const [th, tl] = splitF64(step);
      const p = new Params().u(n).f(sh, sl, th, tl).i(start, step);
      rt.dispatch(
        creationPipe(rt, 1, out, intArange),
        [gbuf(out)],
        p,
        grid(Math.ceil(n / (WG * 4))),
      );
    },
    rand_uniform: (_ins, [out], { seed, offset }) => {
      const n = product(out.shape);
      const p = new Params().u(n, pcgHash(seed >>> 0), offset >>> 0);
      rt.dispatch(creationPipe(rt, 2, out, false), [gbuf(out)], p, grid(Math.ceil(n / (WG * 4))));
    },
  };
}
