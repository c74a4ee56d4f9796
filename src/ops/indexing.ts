import { isFloat } from "../tensor/dtype.ts";
import { fmtShape, normAxis, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply, apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { cast, eq, where } from "./elementwise.ts";
import { arange, tensor, zeros } from "./creation.ts";
import { narrow, pad, unsqueeze } from "./shape_ops.ts";

function checkIndexDtype(op: string, index: Tensor): void {
  if (isFloat(index.dtype)) {
    throw new Error(`${op}: index must be an integer tensor, got ${index.dtype}`);
  }
}

defineOp({
  name: "gather",
  arity: 2,
  shape: ([x, i], a) => {
    if (x.length !== i.length) {
      throw new ShapeError(
        "gather",
        `index ${fmtShape(i)} and input ${fmtShape(x)} differ in rank`,
      );
    }
    if (i.some((d, k) => k !== a.axis && d > x[k])) {
      throw new ShapeError(
        "gather",
        `index ${fmtShape(i)} is larger than input ${fmtShape(x)} off axis ${a.axis}`,
      );
    }
    return [i];
  },
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x, index], attrs }) => [
    g && scatterAdd(zeros(x.shape, { dtype: g.dtype, backend: g.backend }), attrs.axis, index, g),
    null,
  ],
  domain: { integerInputs: [1] },
});

/** torch.gather along `axis`. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndexDtype("gather", index);
  return apply1("gather", [x, cast(index, "i32")], { axis: normAxis("gather", axis, x.rank) });
}

defineOp({
  name: "scatter_add",
  arity: 3,
  shape: ([x, i, s], a) => {
    if (i.length !== x.length || s.length !== x.length || i.some((d, k) => d > s[k])) {
      throw new ShapeError(
        "scatter_add",
        `bad shapes input ${fmtShape(x)}, index ${fmtShape(i)}, src ${fmtShape(s)}`,
      );
    }
    if (i.some((d, k) => k !== a.axis && d > x[k])) {
      throw new ShapeError(
        "scatter_add",
        `index ${fmtShape(i)} is larger than input ${fmtShape(x)} off axis ${a.axis}`,
      );
    }
    return [x];
  },
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [, index, src], attrs }) => {
    if (!g) return [null, null, null];
    const gs = gather(g, attrs.axis, index);
    const fill = src.shape.map((d, k) => [0, d - gs.shape[k]]).reverse().flat();
    return [g, null, pad(gs, fill)];
  },
  domain: { integerInputs: [1] },
});

/** out = x with src added at index positions along `axis` (torch.scatter_add). */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  checkIndexDtype("scatter_add", index);
  return apply1("scatter_add", [x, cast(index, "i32"), cast(src, x.dtype)], {
    axis: normAxis("scatter_add", axis, x.rank),
  });
}

defineOp({
  name: "index_select",
  arity: 2,
  shape: ([x, i], a) => {
    if (i.length !== 1) {
      throw new ShapeError("index_select", `index must be 1-D, got ${fmtShape(i)}`);
    }
    return [x.map((d, k) => (k === a.axis ? i[0] : d))];
  },
  dtype: ([d]) => [d],
  backward: ([g], { inputs: [x, index], attrs }) => [
    g && indexAdd(zeros(x.shape, { dtype: g.dtype, backend: g.backend }), attrs.axis, index, g),
    null,
  ],
  domain: { integerInputs: [1] },
});

export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  checkIndexDtype("index_select", index);
  return apply1("index_select", [x, cast(index, "i32")], {
    axis: normAxis("index_select", axis, x.rank),
  });
}

defineOp({
  name: "index_add",
  arity: 3,
  shape: ([x, i, s], a) => {
    const want = x.map((d, k) => (k === a.axis ? i[0] : d));
    if (i.length !== 1 || s.join() !== want.join()) {
      throw new ShapeError(
        "index_add",
        `src ${fmtShape(s)} must be ${fmtShape(want)} for index ${fmtShape(i)}`,
      );
    }
    return [x];
  },
  dtype: ([d]) => [d],
  backward: (
    [g],
    { inputs: [, index], attrs },
  ) => [g, null, g && indexSelect(g, attrs.axis, index)],
  domain: { integerInputs: [1] },
});

/** out = x; out[.., index[j], ..] += src[.., j, ..] (torch.index_add). */
export function indexAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  checkIndexDtype("index_add", index);
  return apply1("index_add", [x, cast(index, "i32"), cast(src, x.dtype)], {
    axis: normAxis("index_add", axis, x.rank),
  });
}

defineOp({
  name: "sort",
  arity: 1,
  shape: ([s]) => [s, s],
  dtype: ([d]) => [d, "i32"],
  backward: ([g], { inputs: [x], outputs: [, idx], attrs }) => [
    g && scatterAdd(zeros(x.shape, { dtype: g.dtype, backend: g.backend }), attrs.axis, idx, g),
  ],
});

/** Stable sort along `axis`: [values, indices]. */
export function sort(x: Tensor, axis = -1, descending = false): [Tensor, Tensor] {
  const [v, i] = apply("sort", [x], { axis: normAxis("sort", axis, x.rank), descending });
  return [v, i];
}

/** The k largest (or smallest) entries along `axis`, sorted: [values, indices]. */
export function topk(x: Tensor, k: number, axis = -1, largest = true): [Tensor, Tensor] {
  const a = normAxis("topk", axis, x.rank);
  if (k < 0 || k > x.shape[a]) {
    throw new ShapeError("topk", `k=${k} out of range for axis size ${x.shape[a]}`);
  }
  const [v, i] = sort(x, a, largest);
  return [narrow(v, a, 0, k), narrow(i, a, 0, k)];
}

/** where(mask, value, x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}

/** [.., n] one-hot of integer `index` (dtype i32 like torch's int64 result). */
export function oneHot(index: Tensor, n: number): Tensor {
  checkIndexDtype("one_hot", index);
  return cast(eq(unsqueeze(index, -1), arange(n, undefined, 1, { backend: index.backend })), "i32");
}

/** Coordinates of non-zero entries, [count, rank] i32. Reads the values back (async). */
export async function nonzero(x: Tensor): Promise<Tensor> {
  const data = await x.data();
  const coords: number[] = [];
  const rank = x.rank;
  const idx = new Array<number>(rank).fill(0);
  for (let p = 0; p < data.length; p++) {
    if (data[p] !== 0) coords.push(...idx);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  const n = rank === 0 ? (data[0] !== 0 ? 1 : 0) : coords.length / rank;
  return tensor(Int32Array.from(coords), [n, rank], { backend: x.backend });
}
