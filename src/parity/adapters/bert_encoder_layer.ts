import type { Tensor } from "../../tensor/tensor.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { registerParityAdapter } from "../registry.ts";
import { BertEncoderLayer, interactionBertConfig } from "../../models/dmformer/bert_layer.ts";

registerParityAdapter({
  fixture: "bert_encoder_layer",
  run(fx) {
    const cfg = fx.json("config");
    const layer = new BertEncoderLayer(interactionBertConfig({
      hiddenSize: cfg.hidden_size,
      numAttentionHeads: cfg.num_attention_heads,
      intermediateSize: cfg.intermediate_size,
    }));
    layer.eval().loadStateDict(fx.params(), { strict: true });
    const x = fx.tensor("in.language_feature");
    const mask = fx.tensor("in.attention_mask");
    const values = new Map<string, Tensor>();
    noGrad(() => values.set("out.output", layer.forward(x, mask)));
    layer.dispose();
    return Promise.resolve({ values });
  },
});
