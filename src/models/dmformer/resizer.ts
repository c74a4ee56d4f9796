import type { Tensor } from "../../tensor/tensor.ts";
import { Module } from "../../nn/module.ts";
import { Dropout, LayerNorm, Linear } from "../../nn/layers.ts";

/** FeatureResizer: Linear, then LayerNorm with eps 1e-12 (when doLn), then dropout. */
export class FeatureResizer extends Module {
  fc: Linear;
  layer_norm: LayerNorm;
  dropout: Dropout;

  constructor(
    readonly inputFeatSize: number,
    readonly outputFeatSize: number,
    dropout = 0.1,
    readonly doLn = true,
  ) {
    super();
    this.fc = new Linear(inputFeatSize, outputFeatSize);
    this.layer_norm = new LayerNorm(outputFeatSize, 1e-12);
    this.dropout = new Dropout(dropout);
  }

  /** [..., in] -> [..., out]. */
  forward(x: Tensor): Tensor {
    let y = this.fc.forward(x);
    if (this.doLn) y = this.layer_norm.forward(y);
    return this.dropout.forward(y);
  }
}
