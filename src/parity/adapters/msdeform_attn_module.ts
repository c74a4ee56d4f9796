import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { MSDeformAttn } from "../../models/dmformer/msda.ts";
import { loadModule, spatialShapesOf } from "./deform_common.ts";

/** MSDeformAttn with 2-d reference points and with 4-d reference boxes, padding mask on. */
const adapter: ParityAdapter = {
  fixture: "msdeform_attn_module",
  async run(fx) {
    const cfg = fx.json("config");
    const attn = await loadModule(
      fx,
      new MSDeformAttn(cfg.d_model, cfg.n_levels, cfg.n_heads, cfg.n_points),
    );
    const shapes = spatialShapesOf(fx, "in.input_spatial_shapes");
    const [query, input, mask] = ["in.query", "in.input_flatten", "in.input_padding_mask"].map((
      n,
    ) => fx.tensor(n));
    const values = new Map();
    noGrad(() => {
      for (const kind of ["2d", "4d"]) {
        const refs = fx.tensor(`in.reference_points_${kind}`);
        const r = attn.forward(query, refs, input, shapes, mask);
        values.set(`out.output_${kind}`, r.output);
        values.set(`out.sampling_locations_${kind}`, r.samplingLocations);
        values.set(`out.attention_weights_${kind}`, r.attentionWeights);
      }
    });
    return { values };
  },
};

registerParityAdapter(adapter);
