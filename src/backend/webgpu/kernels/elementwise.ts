/**
 * Elementwise kernels generated from the op table (src/ops/elementwise_table.ts): each op's
 * WGSL expression becomes `fn op(..)` in a header prepended to wgsl/elementwise.wgsl, which
 * walks the (coalesced) broadcast output.
 */
import type { Kernel, KernelInput, KernelOutput } from "../../backend.ts";
import { BINARY, UNARY } from "../../../ops/elementwise_table.ts";
import type { DType } from "../../../tensor/dtype.ts";
import { broadcastStrides } from "../../../tensor/shape.ts";
import {
  coalesce,
  type Compute,
  contiguous,
  isIntDtype,
  loadExpr,
  product,
  storageOf,
  storeExpr,
} from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import type { GpuBuffer } from "../runtime.ts";

const WG = 256;
const VEC = 4;

type Mode = "direct" | "scalar" | "strided";

/**
 * Runs out0[i] = f(in0[..], in1[..], ..) with broadcasting. `expr(args)` is a WGSL expression
 * over the loaded operands (in `cts[k]` compute types) producing a value of type `rt`;
 * `store(v)` turns it into the output's storage value.
 */
export function runMap(
  runtime: Runtime,
  key: string,
  ins: KernelInput[],
  out: KernelOutput,
  cts: Compute[],
  expr: (args: string[]) => string,
  resultCt: Compute,
  store?: (v: string) => string,
): void {
  const n = product(out.shape);
  if (n === 0) return;
  const outStrides = contiguous(out.shape);
  const { shape, strides } = coalesce(out.shape, [
    outStrides,
    ...ins.map((x) => broadcastStrides(x.shape, out.shape)),
  ]);
  const rank = shape.length;
  const modes: Mode[] = [];
  const words = new Params().u(n, ...shape);
  strides.slice(1).forEach((s) => {
    if (s.every((v) => v === 0)) modes.push("scalar");
    else if (s.every((v, d) => v === strides[0][d])) modes.push("direct");
    else {
      modes.push("strided");
      words.u(...s);
    }
  });
  // strided operands' strides occupy slots in order; remember each operand's slot
  const slots: number[] = [];
  let slot = 0;
  for (const m of modes) slots.push(m === "strided" ? slot++ : -1);
  // contiguous operands and a length divisible by 4: move vec4s (one load per 4 elements)
  const vec = n % 4 === 0 && modes.every((m) => m !== "strided");
  if (vec) words.words[0] = n / 4;
  const fullKey = `ew:${key}:${ins.map((x, k) => `${x.dtype}.${cts[k]}.${modes[k]}`).join(",")}` +
    `:${out.dtype}.${resultCt}:R${rank}:${vec ? "v4" : "s"}`;
  const pipe = runtime.pipeline(
    fullKey,
    ["rw", ...ins.map(() => "read" as const)],
    words.words.length,
    () => {
      const so = storageOf(out.dtype);
      const vt = (st: string, v4: boolean) => (v4 ? `vec4<${st}>` : st);
      const binds = [
        `@group(0) @binding(1) var<storage, read_write> out0: array<${vt(so, vec)}>;`,
        ...ins.map((x, k) =>
          `@group(0) @binding(${k + 2}) var<storage, read> in${k}: array<${
            vt(storageOf(x.dtype), vec && modes[k] === "direct")
          }>;`
        ),
      ];
      const sv = (r: string) => (store ? store(r) : storeExpr(out.dtype, resultCt, r));
      let body: string;
      if (vec) {
        const raws = ins.map((_, k) =>
          `  let v${k} = in${k}[${modes[k] === "direct" ? "i" : "0u"}];`
        );
        const comp = (c: number) =>
          sv(
            `op(${
              ins.map((x, k) =>
                loadExpr(x.dtype, cts[k], modes[k] === "direct" ? `v${k}[${c}]` : `v${k}`)
              ).join(", ")
            })`,
          );
        body = `fn eval_at(i: u32) {
${raws.join("\n")}
  out0[i] = vec4<${so}>(${[0, 1, 2, 3].map(comp).join(", ")});
}`;
      } else {
        const loads = ins.map((x, k) => {
          const off = modes[k] === "direct"
            ? "i"
            : modes[k] === "scalar"
            ? "0u"
            : `bcast_offset(i, ${slots[k]}u)`;
          return loadExpr(x.dtype, cts[k], `in${k}[${off}]`);
        });
        body = `fn eval_at(i: u32) {
  let r = op(${loads.join(", ")});
  out0[i] = ${sv("r")};
}`;
      }
      const header = `const WG: u32 = ${WG}u;
const VEC: u32 = ${VEC}u;
const RANK: u32 = ${rank}u;
${binds.join("\n")}
fn op(${ins.map((_, k) => `a${k}: ${cts[k]}`).join(", ")}) -> ${resultCt} {
  return ${expr(ins.map((_, k) => `a${k}`))};
}
${body}`;
      return assemble(header, "elementwise");
    },
  );
  const units = vec ? n / 4 : n;
  runtime.dispatch(
    pipe,
    [out.buf as GpuBuffer, ...ins.map((x) => x.buf as GpuBuffer)],
    words,
    grid(Math.ceil(units / (WG * VEC))),
  );
}

/** Rewrites a float WGSL expression of the table for i32 operands. */
export function intExpr(expr: string): string {
  return expr
    .replace(/\b(\d+)\.0\b/g, "$1")
    .replace(/pow_torch\(/g, "pow_i32(")
    .replace(/min_nan\(/g, "min(")
    .replace(/max_nan\(/g, "max(")
    .replace(/\b(floor|ceil|round)\(x\)/g, "(x)");
}

function substitute(expr: string, args: string[]): string {
  // table expressions use the names x and y; atan2 gets the signed-zero cases right
  return expr.replace(/\batan2\(/g, "atan2_safe(").replace(/\bx\b/g, `(${args[0]})`).replace(
    /\by\b/g,
    `(${args[1]})`,
  );
}

/** A WGSL literal for the reference's result on NaN input(s). */
function nanResult(v: number): string {
  return Number.isNaN(v) ? "f32_nan()" : `${v.toFixed(1)}`;
}

function unaryKernel(rt: Runtime, name: string): Kernel {
  const def = UNARY[name];
  return ([x], [out]) => {
    const ct: Compute = (def.predicate || def.keepsInt) && isIntDtype(x.dtype) ? "i32" : "f32";
    const e = ct === "i32" ? intExpr(def.wgsl) : def.wgsl;
    // NaN inputs get the reference's result explicitly: fast-math compilers (llvmpipe)
    // do not keep IEEE comparison semantics for NaN
    const expr = ct === "f32"
      ? (a: string[]) => `select(${substitute(e, a)}, ${nanResult(def.js(NaN))}, is_nan(${a[0]}))`
      : (a: string[]) => substitute(e, a);
    runMap(rt, name, [x], out, [ct], expr, ct);
  };
}

function binaryKernel(rt: Runtime, name: string): Kernel {
  const def = BINARY[name];
  return ([x, y], [out]) => {
    const ct: Compute = !def.floatResult && isIntDtype(x.dtype) && isIntDtype(y.dtype)
      ? "i32"
      : "f32";
    const e = ct === "i32" ? intExpr(def.wgsl) : def.wgsl;
    let expr = (a: string[]) => substitute(e, a);
    if (ct === "f32") {
      const anyNan = (a: string[]) => `(is_nan(${a[0]}) || is_nan(${a[1]}))`;
      if (name.startsWith("logical_")) {
        // NaN is truthy (x != 0), whatever the compiler does with NaN comparisons
        expr = (a) => substitute(e, a.map((v) => `select(${v}, 1.0, is_nan(${v}))`));
      } else if (def.predicate) {
        expr = (a) => `select(${substitute(e, a)}, ${nanResult(def.js(NaN, NaN))}, ${anyNan(a)})`;
      } else if (name !== "pow") {
        expr = (a) => `select(${substitute(e, a)}, f32_nan(), ${anyNan(a)})`;
      }
    }
    // bool results are 0/1 (True + True is True), like the CPU reference
    const store = out.dtype === "bool"
      ? (v: string) => `select(0u, 1u, ${v} != ${ct === "f32" ? "0.0" : "0"})`
      : undefined;
    runMap(rt, name, [x, y], out, [ct, ct], expr, ct, store);
  };
}

function computeOf(d: DType): Compute {
  return isIntDtype(d) ? "i32" : "f32";
}

export function elementwiseKernels(rt: Runtime): Record<string, Kernel> {
  const table: Record<string, Kernel> = {};
  for (const name of Object.keys(UNARY)) table[name] = unaryKernel(rt, name);
  for (const name of Object.keys(BINARY)) table[name] = binaryKernel(rt, name);
  table.where = ([c, x, y], [out]) => {
    const ct: Compute = out.dtype === "f32" ? "f32" : "i32";
    runMap(
      rt,
      "where",
      [c, x, y],
      out,
      [computeOf(c.dtype), ct, ct],
      ([cv, a, b]) => `select(${b}, ${a}, ${cv} != ${computeOf(c.dtype) === "f32" ? "0.0" : "0"})`,
      ct,
    );
  };
  table.cast = ([x], [out]) => {
    const ct = computeOf(x.dtype);
    // castScalar: bool keeps v != 0 (NaN is true); integers truncate and wrap
    const store = out.dtype === "bool"
      ? (v: string) =>
        `select(0u, 1u, ${v} != ${ct === "f32" ? "0.0" : "0"}${
          ct === "f32" ? ` || is_nan(${v})` : ""
        })`
      : undefined;
    runMap(rt, "cast", [x], out, [ct], ([a]) => a, ct, store);
  };
  return table;
}
