import type { Tensor } from "../../tensor/tensor.ts";
import { reshape } from "../../ops/shape_ops.ts";
import {
  alignedBilinear,
  computeLocations,
  DynamicMaskHead,
  dynamicMaskWithCoords,
  parseDynamicParams,
} from "../../models/dmformer/mask_head.ts";
import type { Fixture, ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";

/** Controller MLP -> dynamic convs with relative coordinates -> aligned bilinear. */
export const maskHeadAdapter: ParityAdapter = {
  fixture: "mask_head",
  run(fx: Fixture) {
    const cfg = fx.json("config");
    const head = new DynamicMaskHead(cfg.hidden, {
      maskDim: cfg.mask_dim,
      dynamicMaskChannels: cfg.dynamic_mask_channels,
      controllerLayers: cfg.controller_layers,
      relCoord: cfg.rel_coord,
      maskFeatStride: cfg.mask_feat_stride,
      maskOutStride: cfg.mask_out_stride,
    });
    head.loadStateDict(fx.params(), { strict: true });
    head.eval();
    const { b, t, q, h, w } = cfg;
    const params = reshape(head.controller.forward(fx.tensor("in.hs")), [b, t * q, -1]);
    const sizes = fx.raw("in.img_size").data;
    const imageSizes = Array.from(
      { length: b },
      (_, i) => [sizes[2 * i], sizes[2 * i + 1]] as const,
    );
    const values = new Map<string, Tensor>([
      ["out.dynamic_params", params],
      ["out.locations", computeLocations(h, w, cfg.mask_feat_stride, fx.backend)],
      [
        "out.mask_logits",
        dynamicMaskWithCoords(
          fx.tensor("in.mask_features"),
          params,
          fx.tensor("in.reference_points"),
          imageSizes,
          head.options,
        ),
      ],
    ]);
    const parsed = parseDynamicParams(
      reshape(params, [b * t * q, -1]),
      cfg.dynamic_mask_channels,
      cfg.weight_nums,
      cfg.bias_nums,
    );
    parsed.weights.forEach((x, l) => values.set(`out.parsed.w${l}`, x));
    parsed.biases.forEach((x, l) => values.set(`out.parsed.b${l}`, x));
    const upsampleInput = fx.tensor("in.upsample_input");
    for (const f of [2, 4]) {
      values.set(`out.aligned_bilinear_f${f}`, alignedBilinear(upsampleInput, f));
    }
    return Promise.resolve({ values });
  },
};

registerParityAdapter(maskHeadAdapter);
