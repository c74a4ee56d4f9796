/** Reductions, arg-reductions, cumsum and softmax. */
import type { Kernel } from "../../backend.ts";
import type { DType } from "../../../tensor/dtype.ts";
import {
  around,
  coalesce,
  type Compute,
  contiguous,
  isIntDtype,
  loadExpr,
  product,
  storageOf,
  storeExpr,
} from "../layout.ts";
import { type GpuBuffer, grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, requireF32, storageWord } from "./common.ts";
import { fillWord } from "./creation.ts";

type RedOp = "sum" | "prod" | "max" | "min";

const IDENT: Record<RedOp, Record<Compute, string>> = {
  sum: { f32: "0.0", i32: "0" },
  prod: { f32: "1.0", i32: "1" },
  max: { f32: "-f32_inf()", i32: "i32(-2147483647 - 1)" },
  min: { f32: "f32_inf()", i32: "2147483647" },
};

const COMB: Record<RedOp, Record<Compute, string>> = {
  sum: { f32: "a + b", i32: "a + b" },
  prod: { f32: "a * b", i32: "a * b" },
  max: { f32: "max_nan(a, b)", i32: "max(a, b)" },
  min: { f32: "min_nan(a, b)", i32: "min(a, b)" },
};

interface RedPlan {
  kept: { shape: number[]; strides: number[] };
  red: { shape: number[]; strides: number[] };
}

function plan(shape: readonly number[], axes: number[]): RedPlan {
  const st = contiguous(shape);
  const keptAx = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const kShape = keptAx.map((i) => shape[i]);
  const k = coalesce(kShape, [contiguous(kShape), keptAx.map((i) => st[i])]);
  const rShape = axes.map((i) => shape[i]);
  const r = coalesce(rShape, [contiguous(rShape), axes.map((i) => st[i])]);
  return {
    kept: { shape: k.shape, strides: k.strides[1] },
    red: { shape: r.shape, strides: r.strides[1] },
  };
}

/**
 * One reduction pass writing `outs` values (partials when splits > 1) of compute type ct.
 * `inDtype`/`outDtype` give the storage conversions.
 */
function reducePass(
  rt: Runtime,
  op: RedOp,
  ct: Compute,
  inBuf: GpuBuffer,
  inDtype: DType,
  outBuf: GpuBuffer,
  outDtype: DType,
  p: RedPlan,
  outputs: number,
  rlen: number,
  splits: number,
  divisor: number | null,
): void {
  const rk = p.kept.shape.length;
  const rr = p.red.shape.length;
  // a thread per output when the reduced axes are not innermost, or the reduction is short
  const innerStride = rr ? p.red.strides[rr - 1] : 1;
  // (CPU adapters: barriers are expensive, so prefer a thread per output when there are
  // enough outputs to fill the cores)
  const col = splits === 1 &&
    (rlen <= 32 || (innerStride !== 1 && outputs >= 256) || (rt.preferThreads && outputs >= 64));
  const wg = col ? 64 : rlen * splits >= 4096 * outputs ? 256 : 64;
  const key = `reduce:${op}:${ct}:${inDtype}>${outDtype}:K${rk}:R${rr}:${col}:${
    divisor !== null
  }:${wg}`;
  const words = 5 + 2 * rk + 2 * rr;
  const pipe = rt.pipeline(key, ["rw", "read"], words, () => {
    const header = `${consts({ WG: wg, RK: rk, RR: rr, COL: col, DIVIDE: divisor !== null })}
alias CT = ${ct};
fn ident() -> CT { return ${IDENT[op][ct]}; }
@group(0) @binding(1) var<storage, read_write> out0: array<${storageOf(outDtype)}>;
@group(0) @binding(2) var<storage, read> in0: array<${storageOf(inDtype)}>;
fn ld(i: u32) -> CT { return ${loadExpr(inDtype, ct, "in0[i]")}; }
fn st(i: u32, v: CT) { out0[i] = ${storeExpr(outDtype, ct, "v")}; }
fn comb(a: CT, b: CT) -> CT { return ${COMB[op][ct]}; }`;
    return assemble(header, "reduce");
  });
  const chunk = Math.ceil(rlen / splits);
  const prm = new Params()
    .u(outputs, rlen, splits, chunk)
    .f(divisor ?? 1)
    .u(...p.kept.shape, ...p.kept.strides, ...p.red.shape, ...p.red.strides);
  const groups = col ? Math.ceil(outputs / wg) : outputs * splits;
  rt.dispatch(pipe, [outBuf, inBuf], prm, grid(groups));
}

function reduceKernel(rt: Runtime, name: "sum" | "mean" | "prod" | "max" | "min"): Kernel {
  const op: RedOp = name === "mean" ? "sum" : name;
  return ([x], [out], { axes }) => {
    const ct: Compute = name === "mean" || !isIntDtype(x.dtype) ? "f32" : "i32";
    const outputs = product(out.shape);
    if (outputs === 0) return;
    const rlen = axes.reduce((m: number, a: number) => m * x.shape[a], 1);
    const divisor = name === "mean" ? rlen : null;
    const p = plan(x.shape, axes);
    if (rlen === 0) {
      // empty reduction: the identity (mean: 0 / 0 = NaN)
      const v = name === "mean"
        ? NaN
        : op === "sum"
        ? 0
        : op === "prod"
        ? 1
        : op === "max"
        ? -Infinity
        : Infinity;
      fillWord(rt, out, storageWord(v, out.dtype));
      return;
    }
    // few outputs with long reductions: split into partials, then reduce the partials
    const splits = outputs < 64 && rlen >= 65536 ? Math.min(1024, Math.ceil(rlen / 16384)) : 1;
    if (splits === 1) {
      reducePass(rt, op, ct, gbuf(x), x.dtype, gbuf(out), out.dtype, p, outputs, rlen, 1, divisor);
      return;
    }
    const partDtype: DType = ct === "f32" ? "f32" : "i32";
    const part = rt.allocBuffer(outputs * splits * 4);
    reducePass(rt, op, ct, gbuf(x), x.dtype, part, partDtype, p, outputs, rlen, splits, null);
    const p2: RedPlan = {
      kept: { shape: [outputs], strides: [splits] },
      red: { shape: [splits], strides: [1] },
    };
    reducePass(rt, op, ct, part, partDtype, gbuf(out), out.dtype, p2, outputs, splits, 1, divisor);
    rt.freeBuffer(part);
  };
}

/** Line-wise kernels (softmax, argmax, cumsum) share this layout decision. */
function lineLayout(shape: readonly number[], axis: number, threads: boolean) {
  const [outer, n, inner] = around(shape, axis);
  const lines = outer * inner;
  // a workgroup per line when lines are long and few (or on CPU adapters, where workgroup
  // barriers cost more than serial loops, when there are few lines); else a thread per line
  const row = n >= 256 && (inner === 1 || lines < 256) && !(threads && lines >= 64);
  return { lines, n, inner, row };
}

function softmaxKernel(rt: Runtime, log: boolean): Kernel {
  return ([x], [out], { axis }) => {
    requireF32(log ? "log_softmax" : "softmax", x);
    const { lines, n, inner, row } = lineLayout(x.shape, axis, rt.preferThreads);
    if (lines * n === 0) return;
    const wg = row ? 256 : 64;
    const pipe = rt.pipeline(
      `softmax:${log}:${row}`,
      ["rw", "read"],
      3,
      () => assemble(consts({ WG: wg, ROW: row, LOG: log }), "lines", "softmax"),
    );
    rt.dispatch(
      pipe,
      [gbuf(out), gbuf(x)],
      [lines, n, inner],
      grid(row ? lines : Math.ceil(lines / wg)),
    );
  };
}

function argKernel(rt: Runtime, isMax: boolean): Kernel {
  return ([x], [out], { axis }) => {
    const { lines, n, inner, row } = lineLayout(x.shape, axis, rt.preferThreads);
    if (lines === 0) return;
    const ct: Compute = isIntDtype(x.dtype) ? "i32" : "f32";
    const wg = row ? 256 : 64;
    const pipe = rt.pipeline(`arg:${isMax}:${x.dtype}:${row}`, ["rw", "read"], 3, () => {
      const header = `${consts({ WG: wg, ROW: row, IS_MAX: isMax })}
alias CT = ${ct};
@group(0) @binding(2) var<storage, read> in0: array<${storageOf(x.dtype)}>;
fn ld(i: u32) -> CT { return ${loadExpr(x.dtype, ct, "in0[i]")}; }
fn isnan_ct(v: CT) -> bool { return ${ct === "f32" ? "is_nan(v)" : "false"}; }`;
      return assemble(header, "lines", "argreduce");
    });
    rt.dispatch(
      pipe,
      [gbuf(out), gbuf(x)],
      [lines, n, inner],
      grid(row ? lines : Math.ceil(lines / wg)),
    );
  };
}

function cumsumKernel(rt: Runtime): Kernel {
  return ([x], [out], { axis }) => {
    const { lines, n, inner, row } = lineLayout(x.shape, axis, rt.preferThreads);
    if (lines * n === 0) return;
    const ct: Compute = isIntDtype(x.dtype) ? "i32" : "f32";
    const wg = row ? 256 : 64;
    const pipe = rt.pipeline(`cumsum:${x.dtype}>${out.dtype}:${row}`, ["rw", "read"], 3, () => {
      const header = `${consts({ WG: wg, ROW: row, IS_FLOAT: ct === "f32" })}
alias CT = ${ct};
@group(0) @binding(1) var<storage, read_write> out0: array<${storageOf(out.dtype)}>;
@group(0) @binding(2) var<storage, read> in0: array<${storageOf(x.dtype)}>;
fn ld(i: u32) -> CT { return ${loadExpr(x.dtype, ct, "in0[i]")}; }
fn st(i: u32, v: CT) { out0[i] = ${storeExpr(out.dtype, ct, "v")}; }`;
      return assemble(header, "lines", "cumsum");
    });
    rt.dispatch(
      pipe,
      [gbuf(out), gbuf(x)],
      [lines, n, inner],
      grid(row ? lines : Math.ceil(lines / wg)),
    );
  };
}

export function reduceKernels(rt: Runtime): Record<string, Kernel> {
  return {
    sum: reduceKernel(rt, "sum"),
    mean: reduceKernel(rt, "mean"),
    prod: reduceKernel(rt, "prod"),
    max: reduceKernel(rt, "max"),
    min: reduceKernel(rt, "min"),
    argmax: argKernel(rt, true),
    argmin: argKernel(rt, false),
    cumsum: cumsumKernel(rt),
    softmax: softmaxKernel(rt, false),
    log_softmax: softmaxKernel(rt, true),
  };
}

/** Sums a [rows, cols] f32 buffer over its rows into `out` (split-K partials). */
export function sumRows(rt: Runtime, part: GpuBuffer, out: GpuBuffer, rows: number, cols: number) {
  const p: RedPlan = {
    kept: { shape: [cols], strides: [1] },
    red: { shape: [rows], strides: [cols] },
  };
  reducePass(rt, "sum", "f32", part, "f32", out, "f32", p, cols, rows, 1, null);
}
