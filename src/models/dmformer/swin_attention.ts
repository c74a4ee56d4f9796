/**
 * Window multi-head self-attention with a learned relative-position bias (design doc §4.3,
 * step 4). `windowAttention` is the whole computation composed from ops, kept separate from
 * the module so a fused kernel can replace it.
 */
import type { Tensor } from "../../tensor/tensor.ts";
import { add, mul } from "../../ops/elementwise.ts";
import { indexSelect } from "../../ops/indexing.ts";
import { matmul } from "../../ops/matmul.ts";
import { softmax } from "../../ops/reduce.ts";
import { narrow, permute, reshape } from "../../ops/shape_ops.ts";
import { Linear, linear } from "../../nn/layers.ts";
import { Module, param } from "../../nn/module.ts";
import { normal } from "../../nn/init.ts";
import { relativePositionIndexTensor } from "./swin_window.ts";

export interface WindowAttentionWeights {
  qkvWeight: Tensor;
  qkvBias: Tensor | null;
  projWeight: Tensor;
  projBias: Tensor | null;
}

/**
 * windows [B', N, C] -> [B', N, C]. `bias` [heads, N, N] is added to every window's
 * logits; `mask` [nW, 1, N, N] (or null) to window w of every image (B' = B * nW, windows
 * image-major). The qkv projection output is read as [3, heads, head_dim] (q | k | v).
 */
export function windowAttention(
  windows: Tensor,
  w: WindowAttentionWeights,
  bias: Tensor,
  mask: Tensor | null,
  heads: number,
  scale: number,
): Tensor {
  const [bw, n, c] = windows.shape;
  const qkv = linear(windows, w.qkvWeight, w.qkvBias);
  const split = permute(reshape(qkv, [bw, n, 3, heads, c / heads]), [2, 0, 3, 1, 4]);
  const part = (i: number) => reshape(narrow(split, 0, i, 1), [bw, heads, n, c / heads]);
  const q = mul(part(0), scale);
  let logits = add(matmul(q, part(1), { transB: true }), bias); // [B', heads, N, N]
  if (mask) {
    const nw = mask.shape[0];
    logits = reshape(add(reshape(logits, [bw / nw, nw, heads, n, n]), mask), [bw, heads, n, n]);
  }
  const ctx = matmul(softmax(logits, -1), part(2)); // [B', heads, N, head_dim]
  const merged = reshape(permute(ctx, [0, 2, 1, 3]), [bw, n, c]);
  return linear(merged, w.projWeight, w.projBias);
}

/** Reference attribute names: qkv, proj, relative_position_bias_table. */
export class WindowAttention extends Module {
  relative_position_bias_table: Tensor;
  qkv: Linear;
  proj: Linear;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly windowSize: number,
    readonly numHeads: number,
    qkvBias = true,
    qkScale?: number,
  ) {
    super();
    if (dim % numHeads !== 0) {
      throw new Error(`WindowAttention: dim ${dim} is not divisible by ${numHeads} heads`);
    }
    this.scale = qkScale ?? (dim / numHeads) ** -0.5;
    const rows = (2 * windowSize - 1) ** 2;
    // trunc_normal(std 0.02) in the reference; a plain normal is close enough for an init
    this.relative_position_bias_table = param(normal([rows, numHeads], 0, 0.02));
    this.qkv = new Linear(dim, 3 * dim, qkvBias);
    this.proj = new Linear(dim, dim);
  }

  /** The bias [heads, N, N] gathered from the table (differentiable w.r.t. the table). */
  relativeBias(): Tensor {
    const table = this.relative_position_bias_table;
    const n = this.windowSize * this.windowSize;
    const index = relativePositionIndexTensor(table.backend, this.windowSize);
    return permute(reshape(indexSelect(table, 0, index), [n, n, this.numHeads]), [2, 0, 1]);
  }

  forward(windows: Tensor, mask: Tensor | null): Tensor {
    return windowAttention(
      windows,
      {
        qkvWeight: this.qkv.weight,
        qkvBias: this.qkv.bias,
        projWeight: this.proj.weight,
        projBias: this.proj.bias,
      },
      this.relativeBias(),
      mask,
      this.numHeads,
      this.scale,
    );
  }
}
