import type { Tensor } from "../../tensor/tensor.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { registerParityAdapter } from "../registry.ts";
import { bertConfigFromHF, BertTextEncoder } from "../../models/dmformer/bert.ts";

/** Harness BERT (HF names, with pooler) and DMMI's wrapper on the same weights. */
registerParityAdapter({
  fixture: "text_encoder",
  run(fx) {
    const encoder = new BertTextEncoder(bertConfigFromHF(fx.json("config")), 1, true);
    const params = new Map([...fx.params()].map(([k, v]) => [`model.${k}`, v]));
    encoder.eval().loadStateDict(params, { strict: true });
    const ids = fx.tensor("in.input_ids");
    const mask = fx.tensor("in.attention_mask");
    const values = new Map<string, Tensor>();
    noGrad(() => {
      const out = encoder.model.forward(ids, mask);
      out.hiddenStates.forEach((h, i) => values.set(`out.hidden_states.${i}`, h));
      values.set("out.last_hidden_state", out.lastHiddenState);
      values.set("out.pooler_output", out.poolerOutput!);
      const wrapped = encoder.forward(ids, mask);
      values.set("out.wrapper.embedded", wrapped.embedded);
      values.set("out.wrapper.aggregate", wrapped.aggregate);
    });
    encoder.dispose();
    return Promise.resolve({ values });
  },
});
