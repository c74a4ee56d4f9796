/**
 * RMHCA, residual multi-head cross-modal attention (design doc §4.6). The reference builds
 * it but never calls it on the path that runs (gotcha 29), so the Swin keeps it optional
 * and off by default; when on, modules sit before Swin stages 3 and 4.
 */
import type { Tensor } from "../../tensor/tensor.ts";
import { add } from "../../ops/elementwise.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";
import { Linear } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import { VisionLanguageFusionModule } from "./fusion.ts";

/** Word features as the gating attention consumes them. */
export interface LanguageMemory {
  /** Word features, sequence-first [L, b, interSize]. */
  feats: Tensor;
  /** [b, L] integer text mask (1 = valid; added to the logits, gotcha 16.1) or bool (true = pad). */
  masks: Tensor | null;
  /** Word position code [L, b, interSize], added to the keys. */
  pos: Tensor | null;
}

export interface RmhcaOptions {
  /** Width of the gating attention (256 in the reference). */
  interSize?: number;
  /** Heads of the gating attention (8 in the reference). */
  nhead?: number;
}

export class RMHCA extends Module {
  linear_in: Linear;
  linear_out: Linear;
  mhca: VisionLanguageFusionModule;

  constructor(readonly targetSize: number, { interSize = 256, nhead = 8 }: RmhcaOptions = {}) {
    super();
    this.linear_in = new Linear(targetSize, interSize);
    this.linear_out = new Linear(interSize, targetSize);
    this.mhca = new VisionLanguageFusionModule(interSize, nhead);
  }

  /**
   * visual [(b t), h*w, C] tokens of every frame -> same shape. All frames of a clip form
   * one query sequence (frame-major), as in the reference.
   */
  forward(visual: Tensor, lang: LanguageMemory): Tensor {
    const [bt, hw, c] = visual.shape;
    const b = lang.feats.shape[1];
    if (bt % b !== 0) throw new Error(`RMHCA: ${bt} frames do not split into ${b} clips`);
    const clips = reshape(visual, [b, (bt / b) * hw, c]);
    const z = permute(this.linear_in.forward(clips), [1, 0, 2]); // [t*hw, b, d]
    const gated = this.mhca.forward(z, lang.feats, {
      memoryKeyPaddingMask: lang.masks,
      pos: lang.pos,
    });
    const delta = this.linear_out.forward(permute(gated, [1, 0, 2]));
    return reshape(add(clips, delta), [bt, hw, c]);
  }
}
