import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { noGrad } from "../../tensor/autograd.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { FeatureResizer } from "../../models/dmformer/resizer.ts";
import { loadModule } from "./deform_common.ts";

/** FeatureResizer 768 -> 256 and 256 -> 128 on 2-d and 3-d inputs (eval: no dropout). */
const adapter: ParityAdapter = {
  fixture: "feature_resizer",
  async run(fx) {
    const cfg = fx.json("config");
    const values = new Map<string, Tensor>();
    for (const name of ["r768", "r256"]) {
      const c = cfg[name];
      const resizer = await loadModule(
        fx,
        new FeatureResizer(c.input_feat_size, c.output_feat_size, 0.1, c.do_ln),
        `${name}.`,
      );
      noGrad(() => {
        for (const rank of ["2d", "3d"]) {
          values.set(
            `out.${name}_${rank}`,
            resizer.forward(fx.tensor(`in.x${c.input_feat_size}_${rank}`)),
          );
        }
      });
    }
    return { values };
  },
};

registerParityAdapter(adapter);
