import type { Attrs } from "./backend.ts";
import type { Shape } from "../tensor/shape.ts";

/**
 * How the window_attention kernels see their inputs (src/ops/window_attention.ts):
 * qkv [windows, n, 3 * c] with the last axis read as [3, heads, headDim] (q | k | v), bias
 * [heads, n, n], mask [nW, n, n] (window b uses mask[b % nW]), out [windows, n, c] and lse
 * [windows, heads, n]. Element (b, i, t, h, d) of qkv sits at
 * ((b * n + i) * 3 + t) * c + h * headDim + d.
 */
export interface WindowAttentionGeometry {
  windows: number;
  n: number;
  c: number;
  heads: number;
  headDim: number;
  /** Mask windows (1 without a mask). */
  nW: number;
}

/** Geometry from qkv's shape, attrs.heads and the mask's shape (or null). */
export function windowAttentionGeometry(
  qkv: Shape,
  attrs: Attrs,
  mask: Shape | null,
): WindowAttentionGeometry {
  const [windows, n, c3] = qkv;
  const heads = attrs.heads as number;
  const c = c3 / 3;
  return { windows, n, c, heads, headDim: c / heads, nW: mask ? mask[0] : 1 };
}
