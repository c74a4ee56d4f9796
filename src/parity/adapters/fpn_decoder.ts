import type { Tensor } from "../../tensor/tensor.ts";
import { CrossModalFPNDecoder } from "../../models/dmformer/fpn.ts";
import type { Fixture, ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";

/** CrossModalFPNDecoder at the fixture's tiny widths, eval mode (no dropout). */
export const fpnDecoderAdapter: ParityAdapter = {
  fixture: "fpn_decoder",
  run(fx: Fixture) {
    const cfg = fx.json("config");
    const fpn = new CrossModalFPNDecoder({
      featureChannels: cfg.feature_channels,
      convDim: cfg.hidden,
      maskDim: cfg.mask_dim,
      dimFeedforward: cfg.dim_feedforward,
      nhead: cfg.nhead,
      srRatios: cfg.sr_ratios_res2_to_res5,
    });
    fpn.loadStateDict(fx.params(), { strict: true });
    fpn.eval();
    const list = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => fx.tensor(`${prefix}${i}`));
    const y = fpn.forwardFeatures({
      stage1: fx.tensor("in.feat0"),
      memory: list("in.memory", 3),
      masks: list("in.mask", 4),
      poses: list("in.pos", 4),
      text: fx.tensor("in.text"),
      textMask: fx.tensor("in.text_mask"),
      t: cfg.t,
    });
    const values = new Map<string, Tensor>([
      ["dbg.y", y],
      ["out.mask_features", fpn.mask_features.forward(y)],
    ]);
    return Promise.resolve({ values });
  },
};

registerParityAdapter(fpnDecoderAdapter);
