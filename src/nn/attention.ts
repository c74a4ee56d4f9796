import type { Tensor } from "../tensor/tensor.ts";
import { fmtShape, ShapeError } from "../tensor/shape.ts";
import { add, cast, mul, where } from "../ops/elementwise.ts";
import { matmul } from "../ops/matmul.ts";
import { mean, softmax } from "../ops/reduce.ts";
import { narrow, permute, reshape } from "../ops/shape_ops.ts";
import { dropout } from "../ops/random.ts";
import { full } from "../ops/creation.ts";
import { Module, param } from "./module.ts";
import { Linear, linear } from "./layers.ts";
import { xavierUniform } from "./init.ts";

export interface AttentionOptions {
  /**
   * [N, S] key padding mask. Boolean: true = ignore that key (PyTorch semantics).
   * Numeric (the reference's integer text masks): ADDED to the logits as floats, which is
   * what the PyTorch versions the reference ran on did (so 1 = valid gets +1, padding is
   * not masked). See design doc gotcha 16.1.
   */
  keyPaddingMask?: Tensor | null;
  /** [L, S] or [N*H, L, S]; boolean true = blocked, float = added. */
  attnMask?: Tensor | null;
  needWeights?: boolean;
}

/** Adds a boolean (true = block) or additive float/int mask to attention logits. */
export function applyMask(logits: Tensor, mask: Tensor): Tensor {
  return mask.dtype === "bool"
    ? where(mask, -Infinity, logits)
    : add(logits, cast(mask, logits.dtype));
}

/**
 * Multi-head attention like torch.nn.MultiheadAttention with a packed in-projection
 * (in_proj_weight [3E, E]: q rows, then k, then v) and out_proj. Inputs are
 * sequence-first [L, N, E] unless `batchFirst`.
 */
export class MultiheadAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor;
  out_proj: Linear;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly dropoutP = 0,
    readonly batchFirst = false,
  ) {
    super();
    if (embedDim % numHeads !== 0) {
      throw new Error(
        `MultiheadAttention: embed dim ${embedDim} is not divisible by ${numHeads} heads`,
      );
    }
    this.in_proj_weight = param(xavierUniform([3 * embedDim, embedDim]));
    this.in_proj_bias = param(full([3 * embedDim], 0));
    this.out_proj = new Linear(embedDim, embedDim);
    this.out_proj.bias = param(full([embedDim], 0));
  }

  /** Returns [output, head-averaged weights or null]. */
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    opts: AttentionOptions = {},
  ): [Tensor, Tensor | null] {
    const E = this.embedDim;
    const H = this.numHeads;
    const D = E / H;
    const seqFirst = (t: Tensor) => (this.batchFirst ? permute(t, [1, 0, 2]) : t);
    const [q0, k0, v0] = [seqFirst(query), seqFirst(key), seqFirst(value)];
    if (q0.rank !== 3 || k0.rank !== 3 || q0.shape[2] !== E || k0.shape[1] !== q0.shape[1]) {
      throw new ShapeError(
        "MultiheadAttention",
        `query ${fmtShape(query.shape)} and key ${fmtShape(key.shape)} must be [seq, batch, ${E}]`,
      );
    }
    const [L, N] = q0.shape;
    const S = k0.shape[0];
    const w = this.in_proj_weight;
    const b = this.in_proj_bias;
    const proj = (x: Tensor, i: number) =>
      linear(x, narrow(w, 0, i * E, E), narrow(b, 0, i * E, E));
    const heads = (x: Tensor, len: number) => permute(reshape(x, [len, N * H, D]), [1, 0, 2]);
    const q = heads(mul(proj(q0, 0), 1 / Math.sqrt(D)), L);
    const k = heads(proj(k0, 1), S);
    const v = heads(proj(v0, 2), S);
    let logits = matmul(q, k, { transB: true }); // [N*H, L, S]
    if (opts.attnMask) logits = applyMask(logits, opts.attnMask);
    if (opts.keyPaddingMask) {
      const m = opts.keyPaddingMask;
      if (m.shape.join() !== [N, S].join()) {
        throw new ShapeError(
          "MultiheadAttention",
          `key padding mask ${fmtShape(m.shape)} must be [${N}, ${S}]`,
        );
      }
      logits = reshape(applyMask(reshape(logits, [N, H, L, S]), reshape(m, [N, 1, 1, S])), [
        N * H,
        L,
        S,
      ]);
    }
    const attn = dropout(softmax(logits, -1), this.dropoutP, this.training);
    const ctx = reshape(permute(matmul(attn, v), [1, 0, 2]), [L, N, E]);
    const out = this.out_proj.forward(ctx);
    const weights = opts.needWeights ? mean(reshape(attn, [N, H, L, S]), 1) : null;
    return [this.batchFirst ? permute(out, [1, 0, 2]) : out, weights];
  }
}
