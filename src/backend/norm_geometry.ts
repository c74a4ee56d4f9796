import type { Attrs } from "./backend.ts";
import { type Shape, sizeOf } from "../tensor/shape.ts";

/**
 * How the normalisation kernels see x: [n, groups, cg, hw]. Each (n, g) is one row of
 * cg * hw contiguous elements normalised together; element (cg, hw) of group g uses affine
 * channel g * cg + cg. LayerNorm is the case groups = 1, hw = 1 (cg = the row length);
 * GroupNorm of x [N, C, ...] has cg = C / groups and hw = the spatial size.
 */
export interface NormGeometry {
  n: number;
  groups: number;
  cg: number;
  hw: number;
  /** n * groups: the rows, and the length of the mean / rstd outputs. */
  rows: number;
  /** cg * hw */
  rowLen: number;
  /** groups * cg: the length of weight, bias and their gradients. */
  channels: number;
}

export type NormKind = "layer_norm" | "group_norm";

/** Geometry of x for `layer_norm` (attrs.dims trailing axes) or `group_norm` (attrs.groups). */
export function normGeometry(kind: NormKind, x: Shape, attrs: Attrs): NormGeometry {
  if (kind === "layer_norm") {
    const lead = x.slice(0, x.length - attrs.dims);
    const rowLen = sizeOf(x.slice(x.length - attrs.dims));
    const rows = sizeOf(lead);
    return { n: rows, groups: 1, cg: rowLen, hw: 1, rows, rowLen, channels: rowLen };
  }
  const groups = attrs.groups as number;
  const [n, c] = x;
  const hw = sizeOf(x.slice(2));
  const cg = c / groups;
  return { n, groups, cg, hw, rows: n * groups, rowLen: cg * hw, channels: c };
}
