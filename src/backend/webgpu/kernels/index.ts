/** gather, index_select, scatter_add, index_add and sort. */
import type { Kernel } from "../../backend.ts";
import { around, product, storageOf } from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf } from "./common.ts";
import type { DType } from "../../../tensor/dtype.ts";
import { contiguous } from "../layout.ts";

const WG = 64;

function gatherPipe(rt: Runtime, select: boolean, rank: number) {
  return rt.pipeline(
    `index:${select}:R${rank}`,
    ["rw", "read", "read", "rw"],
    3 + 2 * rank + 1,
    () => assemble(consts({ WG, RANK: rank, SELECT: select }), "index_common", "index"),
  );
}

function scatterPipe(rt: Runtime, select: boolean, rank: number, dtype: DType) {
  const st = storageOf(dtype);
  return rt.pipeline(
    `scatter:${select}:R${rank}:${st}`,
    ["rw", "read", "read", "rw"],
    4 + 3 * rank,
    () => {
      const at = st === "i32" ? "i32" : "u32";
      const add = st === "f32"
        ? "fn add_at(i: u32, v: u32) { add_f32(i, bitcast<f32>(v)); }"
        : st === "i32"
        ? "fn add_at(i: u32, v: u32) { atomicAdd(&out0[i], bitcast<i32>(v)); }"
        : "fn add_at(i: u32, v: u32) { atomicAdd(&out0[i], v & 255u); }";
      return assemble(
        `${consts({ WG, RANK: rank, SELECT: select })}\nalias AT = ${at};\n${add}`,
        "index_common",
        "scatter",
      );
    },
  );
}

/** Ascending comparison of raw value words of a dtype (NaN largest). */
function keyBefore(dtype: DType): string {
  switch (storageOf(dtype)) {
    case "f32":
      return `fn key_before(a: u32, b: u32) -> bool {
  let x = bitcast<f32>(a);
  let y = bitcast<f32>(b);
  if (is_nan(x)) { return false; }
  if (is_nan(y)) { return true; }
  return x < y;
}`;
    case "i32":
      return "fn key_before(a: u32, b: u32) -> bool { return bitcast<i32>(a) < bitcast<i32>(b); }";
    default:
      return "fn key_before(a: u32, b: u32) -> bool { return (a & 255u) < (b & 255u); }";
  }
}

export function indexKernels(rt: Runtime): Record<string, Kernel> {
  return {
    gather: ([x, index], [out], { axis }) => {
      const n = product(index.shape);
      if (n === 0) return;
      const rank = index.shape.length;
      const p = new Params().u(n, axis, x.shape[axis], ...index.shape, ...contiguous(x.shape));
      rt.dispatch(
        gatherPipe(rt, false, rank),
        [gbuf(out), gbuf(x), gbuf(index), rt.status],
        p,
        grid(Math.ceil(n / WG)),
      );
    },
    index_select: ([x, index], [out], { axis }) => {
      const n = product(out.shape);
      if (n === 0) return;
      const [, size, inner] = around(x.shape, axis);
      const p = new Params().u(n, index.shape[0], size, inner);
      rt.dispatch(
        gatherPipe(rt, true, 0),
        [gbuf(out), gbuf(x), gbuf(index), rt.status],
        p,
        grid(Math.ceil(n / WG)),
      );
    },
    scatter_add: ([x, index, src], [out], { axis }) => {
      const bytes = product(out.shape) * 4;
      rt.copy(gbuf(x), 0, gbuf(out), 0, bytes);
      const n = product(index.shape);
      if (n === 0) return;
      const rank = index.shape.length;
      const p = new Params().u(
        n,
        axis,
        out.shape[axis],
        ...index.shape,
        ...contiguous(out.shape),
        ...contiguous(src.shape),
      );
      rt.dispatch(
        scatterPipe(rt, false, rank, out.dtype),
        [gbuf(out), gbuf(src), gbuf(index), rt.status],
        p,
        grid(Math.ceil(n / WG)),
      );
    },
    index_add: ([x, index, src], [out], { axis }) => {
      rt.copy(gbuf(x), 0, gbuf(out), 0, product(out.shape) * 4);
      const n = product(src.shape);
      if (n === 0) return;
      const [, size, inner] = around(out.shape, axis);
      const p = new Params().u(n, index.shape[0], size, inner);
      rt.dispatch(
        scatterPipe(rt, true, 0, out.dtype),
        [gbuf(out), gbuf(src), gbuf(index), rt.status],
        p,
        grid(Math.ceil(n / WG)),
      );
    },
    sort: ([x], [vals, idxs], { axis, descending }) => {
      const [outer, n, inner] = around(x.shape, axis);
      const lines = outer * inner;
      if (lines * n === 0) return;
      const P = 2 ** Math.ceil(Math.log2(Math.max(n, 1)));
      const keys = rt.allocBuffer(lines * P * 4);
      const idx = rt.allocBuffer(lines * P * 4);
      const pipe = (mode: number) =>
        rt.pipeline(
          `sort:${mode}:${storageOf(x.dtype)}`,
          ["rw", "rw", "rw", "rw", "read"],
          7,
          () => assemble(`${consts({ WG, MODE: mode })}\n${keyBefore(x.dtype)}`, "lines", "sort"),
        );
      const bufs = [keys, idx, gbuf(vals), gbuf(idxs), gbuf(x)];
      const prm = (k: number, j: number) => [lines, n, inner, P, k, j, descending ? 1 : 0];
      rt.dispatch(pipe(0), bufs, prm(0, 0), grid(Math.ceil((lines * P) / WG)));
      for (let k = 2; k <= P; k *= 2) {
        for (let j = k / 2; j >= 1; j /= 2) {
          rt.dispatch(pipe(1), bufs, prm(k, j), grid(Math.ceil((lines * P) / 2 / WG)));
        }
      }
      rt.dispatch(pipe(2), bufs, prm(0, 0), grid(Math.ceil((lines * n) / WG)));
      rt.freeBuffer(keys);
      rt.freeBuffer(idx);
    },
  };
}
