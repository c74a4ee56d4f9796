import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { VisionLanguageFusionModule } from "../../models/dmformer/fusion.ts";
import { loadModule } from "./deform_common.ts";

/** Gating attention with a bool padding mask and with DMMI's additive int64 mask. */
const adapter: ParityAdapter = {
  fixture: "vl_fusion",
  async run(fx) {
    const cfg = fx.json("config");
    const fusion = await loadModule(
      fx,
      new VisionLanguageFusionModule(cfg.d_model, cfg.nhead, cfg.dropout),
    );
    const [tgt, memory, pos] = ["in.tgt", "in.memory", "in.pos"].map((n) => fx.tensor(n));
    return noGrad(() => ({
      values: new Map([
        [
          "out.out_boolmask",
          fusion.forward(tgt, memory, { memoryKeyPaddingMask: fx.tensor("in.mask_bool_pad"), pos }),
        ],
        [
          "out.out_int64mask",
          fusion.forward(tgt, memory, {
            memoryKeyPaddingMask: fx.tensor("in.mask_int64_valid"),
            pos,
          }),
        ],
      ]),
    }));
  },
};

registerParityAdapter(adapter);
