import { isFloat } from "../tensor/dtype.ts";
import { fmtShape, type Shape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply, apply1 } from "./dispatch.ts";
import { defineOp } from "./registry.ts";

/** Level sizes (H_l, W_l) of a multi-scale token sequence, highest resolution first. */
export type SpatialShapes = readonly (readonly [number, number])[];

/** Exclusive cumulative sum of H_l * W_l: where each level starts in the token axis. */
export function levelStartIndex(shapes: SpatialShapes): number[] {
  const starts: number[] = [];
  let acc = 0;
  for (const [h, w] of shapes) {
    starts.push(acc);
    acc += h * w;
  }
  return starts;
}

function checkMsda(shapes: Shape[], attrs: Record<string, unknown>): void {
  const [v, loc, attn] = shapes;
  const levels = attrs.spatialShapes as SpatialShapes;
  const bad = (msg: string) => {
    throw new ShapeError(
      "msda",
      `${msg} (value ${fmtShape(v)}, sampling_locations ${fmtShape(loc)}, attention_weights ${
        fmtShape(attn)
      }, ${levels.length} levels)`,
    );
  };
  if (v.length !== 4 || loc.length !== 6 || attn.length !== 5) {
    bad("expected value [N, S, M, D], locations [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P]");
  }
  const [n, s, m] = v;
  const [n2, lq, m2, l, p, two] = loc;
  if (n2 !== n || m2 !== m || two !== 2) bad("batch / head / xy axes disagree");
  if (attn.join() !== [n, lq, m, l, p].join()) bad("attention weights must match the locations");
  if (l !== levels.length) bad("level count disagrees with spatialShapes");
  const total = levels.reduce((acc, [h, w]) => acc + h * w, 0);
  if (total !== s) bad(`value has ${s} tokens but the levels hold ${total}`);
}

defineOp({
  name: "msda",
  arity: 3,
  check: (shapes, dtypes, attrs) => {
    checkMsda(shapes, attrs);
    if (!dtypes.every(isFloat) || new Set(dtypes).size !== 1) {
      throw new Error(`msda: inputs must share one float dtype, got ${dtypes.join(", ")}`);
    }
  },
  shape: ([v, loc]) => [[v[0], loc[1], v[2] * v[3]]],
  dtype: ([d]) => [d],
  backward: ([g], { inputs, attrs }) => {
    if (!g) return [null, null, null];
    return apply("msda_backward", [...inputs, g], attrs);
  },
});

defineOp({
  name: "msda_backward",
  arity: 4,
  internal: true,
  shape: ([v, loc, attn]) => [v, loc, attn],
  dtype: ([d]) => [d, d, d],
});

/**
 * Multi-scale deformable attention sampling core (design doc §9.1 steps 5-6).
 *
 * value [N, S, M, D] (levels concatenated, each row-major), samplingLocations
 * [N, Lq, M, L, P, 2] as normalised (x, y) over each level's padded map, attentionWeights
 * [N, Lq, M, L, P] (used as given). Each point is sampled bilinearly at pixel
 * (x * W_l - 0.5, y * H_l - 0.5) with zero padding per corner (grid_sample with
 * align_corners=false); out[n, q, m*D + d] = sum over (l, p) of weight * sample.
 * Returns [N, Lq, M*D]; differentiable in all three inputs.
 */
export function msda(
  value: Tensor,
  samplingLocations: Tensor,
  attentionWeights: Tensor,
  spatialShapes: SpatialShapes,
): Tensor {
  const shapes = spatialShapes.map(([h, w]) => [h, w] as [number, number]);
  return apply1("msda", [value, samplingLocations, attentionWeights], { spatialShapes: shapes });
}
