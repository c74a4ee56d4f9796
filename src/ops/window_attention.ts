import type { Attrs } from "../backend/backend.ts";
import { type DType, isFloat } from "../tensor/dtype.ts";
import { fmtShape, type Shape, ShapeError } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { apply } from "./dispatch.ts";
import { add, mul } from "./elementwise.ts";
import { matmul } from "./matmul.ts";
import { softmax } from "./reduce.ts";
import { type BackwardContext, defineOp } from "./registry.ts";
import { narrow, permute, reshape } from "./shape_ops.ts";

/*
 * window_attention: the core of Swin's window multi-head self-attention, between the qkv and
 * output projections. Inputs [qkv, bias, mask?] (attrs heads, scale, hasMask):
 *   qkv  [B', N, 3C], the last axis read as [3, heads, C / heads] (q | k | v),
 *   bias [heads, N, N], added to every window's logits,
 *   mask [nW, N, N], added to window b's logits as mask[b % nW] (windows image-major).
 * Outputs [out, lse]: out [B', N, C] = softmax(scale q k^T + bias + mask) v with the heads
 * side by side (channel h * headDim + d), and lse [B', heads, N], the log-sum-exp of each
 * logit row, kept for the backward op (which recomputes the probabilities from it).
 *
 * window_attention_backward takes [gOut, qkv, bias, out, lse, mask?] and returns
 * [dqkv, dbias]; dbias sums over the windows in a fixed order. The mask gets no gradient,
 * and lse is a saved statistic (its gradient is ignored).
 */

function checkWindowAttention(shapes: Shape[], dtypes: DType[], attrs: Attrs): void {
  const [qkv, bias, mask] = shapes;
  const heads = attrs.heads;
  if (shapes.length !== 2 + Number(!!attrs.hasMask)) {
    throw new Error(`window_attention: ${shapes.length} inputs disagree with hasMask`);
  }
  if (!dtypes.every((d) => isFloat(d)) || new Set(dtypes).size !== 1) {
    throw new Error(
      `window_attention: inputs must share one float dtype, got ${dtypes.join(", ")}`,
    );
  }
  if (!Number.isInteger(heads) || heads < 1) {
    throw new Error(`window_attention: heads must be a positive integer, got ${heads}`);
  }
  if (qkv.length !== 3 || qkv[2] % (3 * heads) !== 0) {
    throw new ShapeError(
      "window_attention",
      `qkv ${fmtShape(qkv)} must be [windows, N, 3 * C] with C divisible by ${heads} heads`,
    );
  }
  const n = qkv[1];
  if (bias.join() !== [heads, n, n].join()) {
    throw new ShapeError(
      "window_attention",
      `bias ${fmtShape(bias)} must be [${heads}, ${n}, ${n}] for qkv ${fmtShape(qkv)}`,
    );
  }
  if (
    mask && (mask.length !== 3 || mask[1] !== n || mask[2] !== n || !(mask[0] > 0) ||
      qkv[0] % mask[0] !== 0)
  ) {
    throw new ShapeError(
      "window_attention",
      `mask ${fmtShape(mask)} must be [nW, ${n}, ${n}] with nW dividing ${qkv[0]} windows`,
    );
  }
}

function windowAttentionBackward(
  [g]: (Tensor | null)[],
  { inputs, outputs, attrs }: BackwardContext,
): (Tensor | null)[] {
  if (!g) return inputs.map(() => null);
  const [qkv, bias, ...mask] = inputs;
  const [out, lse] = outputs;
  const [dqkv, dbias] = apply(
    "window_attention_backward",
    [g, qkv, bias, out, lse, ...mask],
    attrs,
  );
  return [dqkv, dbias, ...mask.map(() => null)];
}

defineOp({
  name: "window_attention",
  arity: -1,
  check: checkWindowAttention,
  shape: ([qkv], a) => [[qkv[0], qkv[1], qkv[2] / 3], [qkv[0], a.heads, qkv[1]]],
  dtype: ([d]) => [d, d],
  backward: windowAttentionBackward,
});

defineOp({
  name: "window_attention_backward",
  arity: -1,
  internal: true,
  shape: ([, qkv, bias]) => [qkv, bias],
  dtype: ([d]) => [d, d],
});

/** A mask [nW, N, N] or [nW, 1, N, N] (the shape Swin builds) as [nW, N, N]. */
function mask3(mask: Tensor | null): Tensor | null {
  if (!mask || mask.rank !== 4) return mask;
  if (mask.shape[1] !== 1) {
    throw new ShapeError("window_attention", `mask ${fmtShape(mask.shape)} is not [nW, 1, N, N]`);
  }
  return reshape(mask, [mask.shape[0], mask.shape[2], mask.shape[3]]);
}

/**
 * Fused Swin window attention: qkv [B', N, 3C] (q | k | v, each [heads, C / heads]), bias
 * [heads, N, N], mask [nW, N, N] or [nW, 1, N, N] (or null) -> softmax(scale q k^T + bias +
 * mask[b % nW]) v as [B', N, C], heads side by side. Differentiable w.r.t. qkv and bias.
 */
export function windowAttentionCore(
  qkv: Tensor,
  bias: Tensor,
  mask: Tensor | null,
  heads: number,
  scale: number,
): Tensor {
  const m = mask3(mask);
  const [out, lse] = apply("window_attention", m ? [qkv, bias, m] : [qkv, bias], {
    heads,
    scale,
    hasMask: !!m,
  });
  if (!out.node) lse.dispose();
  return out;
}

/**
 * The same computation composed from catalog ops (reshape / permute, q * scale, matmul,
 * add, softmax, matmul): the reference the fused op is tested against.
 */
export function windowAttentionCoreComposed(
  qkv: Tensor,
  bias: Tensor,
  mask: Tensor | null,
  heads: number,
  scale: number,
): Tensor {
  const [bw, n, c3] = qkv.shape;
  const c = c3 / 3;
  const split = permute(reshape(qkv, [bw, n, 3, heads, c / heads]), [2, 0, 3, 1, 4]);
  const part = (i: number) => reshape(narrow(split, 0, i, 1), [bw, heads, n, c / heads]);
  const q = mul(part(0), scale);
  let logits = add(matmul(q, part(1), { transB: true }), bias); // [B', heads, N, N]
  const m = mask3(mask);
  if (m) {
    const nw = m.shape[0];
    const m4 = reshape(m, [nw, 1, n, n]);
    logits = reshape(add(reshape(logits, [bw / nw, nw, heads, n, n]), m4), [bw, heads, n, n]);
  }
  const ctx = matmul(softmax(logits, -1), part(2)); // [B', heads, N, head_dim]
  return reshape(permute(ctx, [0, 2, 1, 3]), [bw, n, c]);
}
