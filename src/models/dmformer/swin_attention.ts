/**
 * Window multi-head self-attention with a learned relative-position bias (design doc §4.3,
 * step 4). `windowAttention` is the whole computation: the qkv projection, the fused
 * window_attention op (src/ops/window_attention.ts: scaled q k^T + bias + mask, softmax,
 * times v, in one kernel per backend), the output projection. `{ fused: false }` runs the
 * same middle part composed from ops (matmul, softmax...), the reference the fused op is
 * tested against.
 */
import type { Tensor } from "../../tensor/tensor.ts";
import { prefersFused } from "../../backend/backend.ts";
import { indexSelect } from "../../ops/indexing.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";
import { windowAttentionCore, windowAttentionCoreComposed } from "../../ops/window_attention.ts";
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

export interface WindowAttentionOptions {
  /**
   * The fused window_attention op or the composed reference path; default: whichever the
   * backend runs faster (`Backend.fusedPreference`).
   */
  fused?: boolean;
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
  { fused }: WindowAttentionOptions = {},
): Tensor {
  const qkv = linear(windows, w.qkvWeight, w.qkvBias);
  fused ??= prefersFused(qkv.backend, "window_attention");
  const core = fused ? windowAttentionCore : windowAttentionCoreComposed;
  return linear(core(qkv, bias, mask, heads, scale), w.projWeight, w.projBias);
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

  forward(windows: Tensor, mask: Tensor | null, opts: WindowAttentionOptions = {}): Tensor {
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
      opts,
    );
  }
}
