/** layer_norm / group_norm forward and backward (wgsl/norm_*.wgsl). */
import type { Attrs, Kernel } from "../../backend.ts";
import { type NormGeometry, normGeometry, type NormKind } from "../../norm_geometry.ts";
import { type BindingKind, type GpuBuffer, grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, requireF32 } from "./common.ts";
import { sumRows } from "./reduce.ts";

/**
 * A workgroup per row; a thread per row where rows are short and many, and on CPU adapters
 * whenever there are enough rows to fill the cores (barriers are slow there).
 */
function rowLayout(rt: Runtime, g: NormGeometry) {
  const row = rt.preferThreads ? g.rows < 64 : g.rowLen >= 32 || g.rows < 256;
  const wg = row && g.rowLen >= 2048 ? 256 : 64;
  return { row, wg, groups: row ? g.rows : Math.ceil(g.rows / wg) };
}

/** WGSL declarations of the optional affine inputs from `binding` on, and wt() / bs(). */
function affineHeader(hasW: boolean, hasB: boolean, binding: number): string {
  const decl = (name: string, b: number) =>
    `@group(0) @binding(${b}) var<storage, read> ${name}: array<f32>;`;
  return [
    hasW ? decl("w_", binding) : "",
    hasB ? decl("b_", binding + (hasW ? 1 : 0)) : "",
    `fn wt(c: u32) -> f32 { return ${hasW ? "w_[c]" : "1.0"}; }`,
    `fn bs(c: u32) -> f32 { return ${hasB ? "b_[c]" : "0.0"}; }`,
  ].join("\n");
}

function rowParams(g: NormGeometry, eps = 0): Params {
  return new Params().u(g.rows, g.rowLen, g.groups, g.cg, g.hw).f(eps);
}

function forward(rt: Runtime, kind: NormKind): Kernel {
  return (ins, [y, mean, rstd], attrs) => {
    requireF32(kind, ...ins);
    const g = normGeometry(kind, ins[0].shape, attrs);
    if (g.rows === 0) return;
    const { row, wg, groups } = rowLayout(rt, g);
    const hasW = !!attrs.hasWeight;
    const hasB = !!attrs.hasBias;
    const kinds: BindingKind[] = ["rw", "rw", "rw", ...ins.map(() => "read" as const)];
    const pipe = rt.pipeline(
      `norm_fwd:${row}:${wg}:${g.hw === 1}:${hasW}:${hasB}`,
      kinds,
      6,
      () =>
        assemble(
          `${consts({ WG: wg, ROW: row, HW1: g.hw === 1 })}\n${affineHeader(hasW, hasB, 5)}`,
          "norm_rows",
          "norm_forward",
        ),
    );
    const bufs = [gbuf(y), gbuf(mean), gbuf(rstd), ...ins.map(gbuf)];
    rt.dispatch(pipe, bufs, rowParams(g, attrs.eps), grid(groups));
  };
}

/** Sums gy * xhat and gy per channel into dw and db (through per-split partials). */
function affineGrads(
  rt: Runtime,
  g: NormGeometry,
  ins: GpuBuffer[],
  dw: GpuBuffer,
  db: GpuBuffer,
): void {
  const items = g.n * g.hw;
  const splits = Math.max(1, Math.min(1024, Math.ceil(items / 256)));
  const chunk = Math.max(1, Math.ceil(items / splits));
  const wg = 64;
  const pipe = rt.pipeline(
    `norm_affine_grad:${wg}`,
    ["rw", "rw", "read", "read", "read", "read"],
    6,
    () => assemble(consts({ WG: wg }), "norm_affine_grad"),
  );
  const partW = splits === 1 ? dw : rt.allocBuffer(splits * g.channels * 4);
  const partB = splits === 1 ? db : rt.allocBuffer(splits * g.channels * 4);
  const prm = new Params().u(splits, chunk, g.n, g.groups, g.cg, g.hw);
  rt.dispatch(pipe, [partW, partB, ...ins], prm, grid(Math.ceil((splits * g.channels) / wg)));
  if (splits > 1) {
    sumRows(rt, partW, dw, splits, g.channels);
    sumRows(rt, partB, db, splits, g.channels);
    rt.freeBuffer(partW);
    rt.freeBuffer(partB);
  }
}

function backward(rt: Runtime, kind: NormKind): Kernel {
  const name = `${kind}_backward`;
  return (ins, [dx, dw, db], attrs: Attrs) => {
    requireF32(name, ...ins);
    const [gy, x, mean, rstd] = ins.map(gbuf);
    const g = normGeometry(kind, ins[1].shape, attrs);
    if (g.rows > 0 && g.rowLen > 0) {
      const { row, wg, groups } = rowLayout(rt, g);
      const hasW = !!attrs.hasWeight;
      const kinds: BindingKind[] = ["rw", ...ins.map(() => "read" as const)];
      const pipe = rt.pipeline(
        `norm_bwd:${row}:${wg}:${g.hw === 1}:${hasW}`,
        kinds,
        6,
        () =>
          assemble(
            `${consts({ WG: wg, ROW: row, HW1: g.hw === 1 })}\n${affineHeader(hasW, false, 6)}`,
            "norm_rows",
            "norm_backward",
          ),
      );
      rt.dispatch(pipe, [gbuf(dx), ...ins.map(gbuf)], rowParams(g), grid(groups));
    }
    if (dw && g.channels > 0) affineGrads(rt, g, [gy, x, mean, rstd], gbuf(dw), gbuf(db));
  };
}

export function normKernels(rt: Runtime): Record<string, Kernel> {
  return {
    layer_norm: forward(rt, "layer_norm"),
    layer_norm_backward: backward(rt, "layer_norm"),
    group_norm: forward(rt, "group_norm"),
    group_norm_backward: backward(rt, "group_norm"),
  };
}
