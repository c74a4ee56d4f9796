import type { ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import {
  type HostMask,
  positionEmbeddingSine1DHost,
  positionEmbeddingSine2DHost,
} from "../../models/dmformer/position_encoding.ts";

/** 2-D codes (128 and 32 features per axis) and the 1-D text code with bool and int64 masks. */
const adapter: ParityAdapter = {
  fixture: "pos_sine",
  run(fx) {
    const cfg = fx.json("config");
    const mask = (name: string): HostMask => {
      const r = fx.raw(name);
      return { data: r.data, shape: r.shape, dtype: r.dtype === "bool" ? "bool" : "int" };
    };
    const values = new Map<string, Tensor>([
      [
        "out.pos2d_128",
        positionEmbeddingSine2DHost(mask("in.mask2d"), fx.backend, {
          numPosFeats: cfg.pos2d.num_pos_feats,
        }),
      ],
      [
        "out.pos2d_32",
        positionEmbeddingSine2DHost(mask("in.mask2d"), fx.backend, {
          numPosFeats: cfg.pos2d_32.num_pos_feats,
        }),
      ],
      [
        "out.pos1d_bool",
        positionEmbeddingSine1DHost(mask("in.mask1d_bool_pad"), fx.backend, {
          numPosFeats: cfg.pos1d.num_pos_feats,
        }),
      ],
      [
        "out.pos1d_int64",
        positionEmbeddingSine1DHost(mask("in.mask1d_int64_valid"), fx.backend, {
          numPosFeats: cfg.pos1d.num_pos_feats,
        }),
      ],
    ]);
    return Promise.resolve({ values });
  },
};

registerParityAdapter(adapter);
