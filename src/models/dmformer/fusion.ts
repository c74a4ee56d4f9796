import type { Tensor } from "../../tensor/tensor.ts";
import { add, mul } from "../../ops/elementwise.ts";
import { Module } from "../../nn/module.ts";
import { MultiheadAttention } from "../../nn/attention.ts";

export interface FusionInputs {
  /** [B, S] key padding mask: bool (true = pad) or the integer text mask (1 = valid). */
  memoryKeyPaddingMask?: Tensor | null;
  /** Added to the memory for the keys only. */
  pos?: Tensor | null;
  /** Added to tgt for the queries only (DMMI passes none). */
  queryPos?: Tensor | null;
}

/**
 * Gating cross-attention "VisionLanguageFusionModule" (§8.4): out = tgt * MHA(query =
 * tgt + queryPos, key = memory + pos, value = memory). No residual, no norm (gotcha 15).
 * Sequence-first [L, B, C]. An integer key padding mask (DMMI's 1 = valid text mask) is
 * added to the logits, not used to block keys: the PyTorch 1.10-1.12 behaviour the
 * reference ran on (gotcha 16.1).
 */
export class VisionLanguageFusionModule extends Module {
  multihead_attn: MultiheadAttention;

  constructor(readonly dModel = 256, readonly nhead = 8, readonly dropout = 0) {
    super();
    this.multihead_attn = new MultiheadAttention(dModel, nhead, dropout);
  }

  /** tgt [Lv, B, C], memory [Lt, B, C] -> [Lv, B, C]. */
  forward(tgt: Tensor, memory: Tensor, inputs: FusionInputs = {}): Tensor {
    const query = inputs.queryPos ? add(tgt, inputs.queryPos) : tgt;
    const key = inputs.pos ? add(memory, inputs.pos) : memory;
    const [attended] = this.multihead_attn.forward(query, key, memory, {
      keyPaddingMask: inputs.memoryKeyPaddingMask,
    });
    return mul(tgt, attended);
  }
}
