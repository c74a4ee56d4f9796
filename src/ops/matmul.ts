import { promote } from "../tensor/dtype.ts";
import { broadcastShapes, fmtShape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";
import { cast } from "./elementwise.ts";
import { sumTo } from "./reduce.ts";
import { reshape } from "./shape_ops.ts";

defineOp({
  name: "matmul",
  arity: 2,
  shape: ([a, b], { transA, transB }) => {
    if (a.length < 2 || b.length < 2) throw new ShapeError("matmul", "inputs must have rank >= 2");
    const [m, k] = transA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
    const [k2, n] = transB
      ? [b[b.length - 1], b[b.length - 2]]
      : [b[b.length - 2], b[b.length - 1]];
    if (k !== k2) {
      throw new ShapeError(
        "matmul",
        `inner dimensions differ: ${fmtShape(a)}${transA ? "ᵀ" : ""} @ ${fmtShape(b)}${
          transB ? "ᵀ" : ""
        }`,
      );
    }
    const batch = broadcastShapes("matmul", a.slice(0, -2), b.slice(0, -2));
    return [[...batch, m, n]];
  },
  dtype: ([a, b]) => [promote(a, b)],
  backward: ([g], { inputs: [a, b], attrs: { transA, transB } }) => {
    if (!g) return [null, null];
    const ga = transA
      ? apply1("matmul", [b, g], { transA: transB, transB: true })
      : apply1("matmul", [g, b], { transA: false, transB: !transB });
    const gb = transB
      ? apply1("matmul", [g, a], { transA: true, transB: transA })
      : apply1("matmul", [a, g], { transA: !transA, transB: false });
    return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
  },
});

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted to matrices and the
 * added axis removed; batch axes broadcast. `transA`/`transB` transpose the last two axes
 * without a copy.
 */
export function matmul(
  a: Tensor,
  b: Tensor,
  { transA = false, transB = false }: { transA?: boolean; transB?: boolean } = {},
): Tensor {
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError("matmul", `scalar operand: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  // check 1-D operands here so the error shows the caller's shapes, not the promoted ones
  const ka = a.rank === 1 ? a.shape[0] : a.shape[a.rank - (transA ? 2 : 1)];
  const kb = b.rank === 1 ? b.shape[0] : b.shape[b.rank - (transB ? 1 : 2)];
  if ((a.rank === 1 || b.rank === 1) && ka !== kb) {
    throw new ShapeError(
      "matmul",
      `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
    );
  }
  const dt = promote(a.dtype, b.dtype);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  let y = apply1("matmul", [cast(a2, dt), cast(b2, dt)], { transA, transB });
  if (a.rank === 1) y = reshape(y, [...y.shape.slice(0, -2), y.shape[y.rank - 1]]);
  if (b.rank === 1) y = reshape(y, y.shape.slice(0, -1));
  return y;
}
