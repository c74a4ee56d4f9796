import type { Tensor } from "../../tensor/tensor.ts";
import { add, div, maximum, minimum, mul, sub } from "../../ops/elementwise.ts";
import { expand, narrow, squeeze, stack, unsqueeze } from "../../ops/shape_ops.ts";

const EPS = 1e-6;

function parts(b: Tensor): Tensor[] {
  return [0, 1, 2, 3].map((i) => squeeze(narrow(b, -1, i, 1), -1));
}

/** (cx, cy, w, h) -> (x1, y1, x2, y2) on the last axis. */
export function cxcywhToXyxy(b: Tensor): Tensor {
  const [cx, cy, w, h] = parts(b);
  const hw = mul(w, 0.5);
  const hh = mul(h, 0.5);
  return stack([sub(cx, hw), sub(cy, hh), add(cx, hw), add(cy, hh)], -1);
}

/** (x1, y1, x2, y2) -> (cx, cy, w, h). */
export function xyxyToCxcywh(b: Tensor): Tensor {
  const [x1, y1, x2, y2] = parts(b);
  return stack([mul(add(x1, x2), 0.5), mul(add(y1, y2), 0.5), sub(x2, x1), sub(y2, y1)], -1);
}

function area(b: Tensor): Tensor {
  const [x1, y1, x2, y2] = parts(b);
  return mul(sub(x2, x1), sub(y2, y1));
}

/**
 * IoU and GIoU of boxes a[i] and b[i] (xyxy) for matching leading shapes, with the
 * reference's eps: IoU = (inter + 1e-6) / (union + 1e-6),
 * GIoU = IoU - (enclosing - union + 1e-6) / (enclosing + 1e-6).
 */
export function pairedGiou(a: Tensor, b: Tensor): { iou: Tensor; giou: Tensor } {
  const [ax1, ay1, ax2, ay2] = parts(a);
  const [bx1, by1, bx2, by2] = parts(b);
  const iw = maximum(sub(minimum(ax2, bx2), maximum(ax1, bx1)), 0);
  const ih = maximum(sub(minimum(ay2, by2), maximum(ay1, by1)), 0);
  const inter = mul(iw, ih);
  const union = sub(add(area(a), area(b)), inter);
  const iou = div(add(inter, EPS), add(union, EPS));
  const cw = maximum(sub(maximum(ax2, bx2), minimum(ax1, bx1)), 0);
  const ch = maximum(sub(maximum(ay2, by2), minimum(ay1, by1)), 0);
  const enclosing = mul(cw, ch);
  const giou = sub(iou, div(add(sub(enclosing, union), EPS), add(enclosing, EPS)));
  return { iou, giou };
}

/** Pairwise IoU / GIoU matrices [n, m] of xyxy boxes a [n, 4] and b [m, 4]. */
export function pairwiseGiou(a: Tensor, b: Tensor): { iou: Tensor; giou: Tensor } {
  const n = a.shape[0];
  const m = b.shape[0];
  return pairedGiou(expand(unsqueeze(a, 1), [n, m, 4]), expand(unsqueeze(b, 0), [n, m, 4]));
}
