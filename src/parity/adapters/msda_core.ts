import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { msda } from "../../ops/deform_attn.ts";
import { spatialShapesOf } from "./deform_common.ts";

/** ms_deform_attn_core_pytorch: forward and the gradients for in.grad_output. */
const adapter: ParityAdapter = {
  fixture: "msda_core",
  run(fx) {
    const value = fx.tensor("in.value").requireGrad();
    const locations = fx.tensor("in.sampling_locations").requireGrad();
    const weights = fx.tensor("in.attention_weights").requireGrad();
    const output = msda(value, locations, weights, spatialShapesOf(fx, "in.spatial_shapes"));
    output.backward(fx.tensor("in.grad_output"));
    return Promise.resolve({
      values: new Map([
        ["out.output", output],
        ["grad.value", value.grad!],
        ["grad.sampling_locations", locations.grad!],
        ["grad.attention_weights", weights.grad!],
      ]),
    });
  },
};

registerParityAdapter(adapter);
