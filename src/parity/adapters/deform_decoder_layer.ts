import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { noGrad } from "../../tensor/autograd.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { DeformableTransformerDecoderLayer } from "../../models/dmformer/deformable.ts";
import { loadModule, spatialShapesOf } from "./deform_common.ts";

/** Deformable decoder layer (eval) with 2-d reference points and with 4-d boxes. */
const adapter: ParityAdapter = {
  fixture: "deform_decoder_layer",
  async run(fx) {
    const cfg = fx.json("config");
    const layer = await loadModule(
      fx,
      new DeformableTransformerDecoderLayer({
        dModel: cfg.d_model,
        dFfn: cfg.d_ffn,
        activation: cfg.activation,
        nLevels: cfg.n_levels,
        nHeads: cfg.n_heads,
        nPoints: cfg.n_points,
      }),
    );
    const shapes = spatialShapesOf(fx, "in.spatial_shapes");
    const [tgt, queryPos, src, mask] = ["in.tgt", "in.query_pos", "in.src", "in.src_padding_mask"]
      .map((n) => fx.tensor(n));
    const values = new Map<string, Tensor>();
    noGrad(() => {
      for (const kind of ["2d", "4d"]) {
        const refs = fx.tensor(`in.reference_points_input_${kind}`);
        const r = layer.forward(tgt, queryPos, refs, src, shapes, mask);
        values.set(`out.output_${kind}`, r.output);
        values.set(`out.sampling_locations_${kind}`, r.samplingLocations);
        values.set(`out.attention_weights_${kind}`, r.attentionWeights);
      }
    });
    return { values };
  },
};

registerParityAdapter(adapter);
