import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { noGrad } from "../../tensor/autograd.ts";
import {
  DeformableTransformerEncoderLayer,
  getReferencePoints,
} from "../../models/dmformer/deformable.ts";
import { loadModule, spatialShapesOf } from "./deform_common.ts";

/** Deformable encoder layer (eval) fed with reference points recomputed from the valid ratios. */
const adapter: ParityAdapter = {
  fixture: "deform_encoder_layer",
  async run(fx) {
    const cfg = fx.json("config");
    const layer = await loadModule(
      fx,
      new DeformableTransformerEncoderLayer({
        dModel: cfg.d_model,
        dFfn: cfg.d_ffn,
        activation: cfg.activation,
        nLevels: cfg.n_levels,
        nHeads: cfg.n_heads,
        nPoints: cfg.n_points,
      }),
    );
    const shapes = spatialShapesOf(fx, "in.spatial_shapes");
    return noGrad(() => {
      const refs = getReferencePoints(shapes, fx.tensor("in.valid_ratios"));
      const output = layer.forward(
        fx.tensor("in.src"),
        fx.tensor("in.pos"),
        refs,
        shapes,
        fx.tensor("in.padding_mask"),
      );
      return { values: new Map([["out.output", output], ["out.reference_points", refs]]) };
    });
  },
};

registerParityAdapter(adapter);
