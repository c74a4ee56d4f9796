/** resize (nearest / bilinear) and grid_sample, forward and backward. */
import type { Attrs, Kernel, KernelInput, KernelOutput } from "../../backend.ts";
import { product } from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, requireF32 } from "./common.ts";
import { fillWord } from "./creation.ts";

const WG = 64;

/**
 * Binding 1 (`out0`, f32) with a plain store `store` and an accumulation `add`; in backward
 * mode (2) threads race on the same elements, so out0 holds raw words and `add` is an atomic
 * compare-and-swap loop.
 */
function outDecl(mode: number, store: string, add: string): string {
  return mode === 2
    ? `@group(0) @binding(1) var<storage, read_write> out0: array<atomic<u32>>;
fn ${store}(i: u32, v: f32) { atomicStore(&out0[i], bitcast<u32>(v)); }
fn ${add}(i: u32, v: f32) {
  var old = atomicLoad(&out0[i]);
  loop {
    let r = atomicCompareExchangeWeak(&out0[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`
    : `@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
fn ${store}(i: u32, v: f32) { out0[i] = v; }
fn ${add}(i: u32, v: f32) { out0[i] += v; }`;
}

function resizePass(
  rt: Runtime,
  mode: number,
  out: KernelOutput,
  src: KernelInput,
  inShape: readonly number[],
  outShape: readonly number[],
  attrs: Attrs,
) {
  const pipe = rt.pipeline(
    `resize:${mode}`,
    ["rw", "read"],
    8,
    () => assemble(consts({ WG, MODE: mode }), "resize"),
  );
  const planes = product(inShape.slice(0, -2));
  const [H, W] = inShape.slice(-2);
  const [OH, OW] = outShape.slice(-2);
  const n = product(mode === 1 || mode === 3 ? inShape : outShape);
  if (n === 0) return;
  const p = new Params().u(planes, H, W, OH, OW).f(attrs.scaleH, attrs.scaleW).u(
    attrs.alignCorners ? 1 : 0,
  );
  rt.dispatch(pipe, [gbuf(out), gbuf(src)], p, grid(Math.ceil(n / WG)));
}

function gridPipe(rt: Runtime, mode: number) {
  return rt.pipeline(`grid_sample:${mode}`, ["rw", "read", "read", "read"], 5, () => {
    const decl = outDecl(mode, "store_grad", "add_dx");
    return assemble(`${consts({ WG, MODE: mode })}\n${decl}`, "grid_sample");
  });
}

export function resampleKernels(rt: Runtime): Record<string, Kernel> {
  return {
    resize_nearest: ([x], [out], attrs) => {
      resizePass(rt, 0, out, x, x.shape, out.shape, attrs);
    },
    resize_nearest_backward: ([g], [out], attrs) => {
      requireF32("resize_nearest_backward", g);
      resizePass(rt, 1, out, g, out.shape, g.shape, attrs);
    },
    resize_bilinear: ([x], [out], attrs) => {
      requireF32("resize_bilinear", x);
      resizePass(rt, 2, out, x, x.shape, out.shape, attrs);
    },
    resize_bilinear_backward: ([g], [out], attrs) => {
      requireF32("resize_bilinear_backward", g);
      resizePass(rt, 3, out, g, out.shape, g.shape, attrs);
    },
    grid_sample: ([x, gr], [out]) => {
      requireF32("grid_sample", x, gr);
      const [N, C, H, W] = x.shape;
      const Q = out.shape[2] * out.shape[3];
      const n = N * C * Q;
      if (n === 0) return;
      // gy is unused in the forward pass: bind the grid in its place
      rt.dispatch(
        gridPipe(rt, 0),
        [gbuf(out), gbuf(x), gbuf(gr), gbuf(gr)],
        [N, C, H, W, Q],
        grid(Math.ceil(n / WG)),
      );
    },
    grid_sample_backward: ([x, gr, gy], [dx, dg]) => {
      requireF32("grid_sample_backward", x, gr, gy);
      const [N, C, H, W] = x.shape;
      const Q = gy.shape[2] * gy.shape[3];
      const prm = [N, C, H, W, Q];
      fillWord(rt, dx, 0);
      if (N * Q > 0) {
        rt.dispatch(
          gridPipe(rt, 1),
          [gbuf(dg), gbuf(x), gbuf(gr), gbuf(gy)],
          prm,
          grid(Math.ceil((N * Q) / WG)),
        );
      }
      if (N * C * Q > 0) {
        rt.dispatch(
          gridPipe(rt, 2),
          [gbuf(dx), gbuf(x), gbuf(gr), gbuf(gy)],
          prm,
          grid(Math.ceil((N * C * Q) / WG)),
        );
      }
    },
  };
}

function msdaPipe(rt: Runtime, mode: number) {
  return rt.pipeline(
    `msda:${mode}`,
    ["rw", "read", "read", "read", "read", "rw"],
    7 + 3 * 16,
    () => {
      const decl = outDecl(mode, "store_out", "add_value");
      return assemble(`${consts({ WG, MODE: mode })}\n${decl}`, "msda");
    },
  );
}

function msdaParams(value: KernelInput, loc: KernelInput, attrs: Attrs): Params {
  const [N, S, M, D] = value.shape;
  const [, Lq, , L, P] = loc.shape;
  if (L > 16) throw new Error(`webgpu: msda supports at most 16 levels (got ${L})`);
  const p = new Params().u(N, S, M, D, Lq, L, P);
  let start = 0;
  for (const [h, w] of attrs.spatialShapes as [number, number][]) {
    p.u(h, w, start);
    start += h * w;
  }
  return p;
}

export function msdaKernels(rt: Runtime): Record<string, Kernel> {
  return {
    msda: ([value, loc, attn], [out], attrs) => {
      requireF32("msda", value, loc, attn);
      const n = product(out.shape);
      if (n === 0) return;
      // the gradient slots are unused: bind inputs there (read-only) and a scratch buffer
      const scratch = rt.allocBuffer(16);
      rt.dispatch(
        msdaPipe(rt, 0),
        [gbuf(out), gbuf(value), gbuf(loc), gbuf(attn), gbuf(attn), scratch],
        msdaParams(value, loc, attrs),
        grid(Math.ceil(n / WG)),
      );
      rt.freeBuffer(scratch);
    },
    msda_backward: ([value, loc, attn, g], [dValue, dLoc, dAttn], attrs) => {
      requireF32("msda_backward", value, loc, attn, g);
      const prm = msdaParams(value, loc, attrs);
      const points = product(attn.shape);
      fillWord(rt, dValue, 0);
      if (points === 0) {
        fillWord(rt, dLoc, 0);
        return;
      }
      const D = value.shape[3];
      const ins = [gbuf(value), gbuf(loc), gbuf(attn), gbuf(g)];
      rt.dispatch(
        msdaPipe(rt, 1),
        [gbuf(dAttn), ...ins, gbuf(dLoc)],
        prm,
        grid(Math.ceil(points / WG)),
      );
      if (product(value.shape) > 0) {
        const scratch = rt.allocBuffer(16);
        rt.dispatch(
          msdaPipe(rt, 2),
          [gbuf(dValue), ...ins, scratch],
          prm,
          grid(Math.ceil((points * D) / WG)),
        );
        rt.freeBuffer(scratch);
      }
    },
  };
}
