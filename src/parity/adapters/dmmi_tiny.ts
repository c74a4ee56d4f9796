import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { mul, sqrt } from "../../ops/elementwise.ts";
import { sum } from "../../ops/reduce.ts";
import { stack } from "../../ops/shape_ops.ts";
import { noGrad } from "../../tensor/autograd.ts";
import { DMFormer } from "../../models/dmformer/model.ts";
import { resolveConfig } from "../../models/dmformer/config.ts";
import { type ClipTarget, SetCriterion } from "../../models/dmformer/criterion.ts";
import type { PositiveMap } from "../../models/dmformer/subject.ts";
import { AdamW } from "../../optim/adamw.ts";
import type { Fixture, ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";

/** The fixture's configuration with every dropout at 0 (its training step runs without). */
function configOf(fx: Fixture) {
  const m = fx.json("config");
  return resolveConfig({
    base: "tiny",
    hiddenDim: m.hidden_dim,
    dimFeedforward: m.dim_feedforward,
    decLayers: m.dec_layers,
    maskDim: m.mask_dim,
    dynamicMaskChannels: m.dynamic_mask_channels,
    numQueries: m.num_queries,
    numFrames: m.num_frames,
    dropout: 0,
    swin: {
      embedDim: m.swin.embed_dim,
      depths: m.swin.depths,
      numHeads: m.swin.num_heads,
      windowSize: m.swin.window_size,
      mlpRatio: m.swin.mlp_ratio,
      dropPathRate: 0,
    },
    text: {
      vocabSize: m.text.vocab_size,
      hiddenSize: m.text.hidden_size,
      numHiddenLayers: m.text.num_hidden_layers,
      numAttentionHeads: m.text.num_attention_heads,
      intermediateSize: m.text.intermediate_size,
      maxPositionEmbeddings: m.text.max_position_embeddings,
      hiddenDropout: 0,
      attentionDropout: 0,
    },
    interactionIntermediate: m.text.intermediate_size,
    freezeBackbone: false,
    freezeTextEncoder: false,
  });
}

function positiveMaps(fx: Fixture, b: number): PositiveMap[] {
  return Array.from({ length: b }, (_, i) => {
    const rows = fx.raw(`in.positive_map.${i}`).data;
    const map: PositiveMap = new Map();
    for (let r = 0; r < rows.length; r += 3) map.set(rows[r], [rows[r + 1], rows[r + 2]]);
    return map;
  });
}

function targetsOf(fx: Fixture, b: number): ClipTarget[] {
  return Array.from({ length: b }, (_, i) => {
    const masks = fx.raw(`in.targets.${i}.masks`);
    return {
      boxes: fx.raw(`in.targets.${i}.boxes`).data as Float32Array,
      masks: masks.data as Uint8Array,
      size: [masks.shape[1], masks.shape[2]] as [number, number],
      valid: fx.raw(`in.targets.${i}.valid`).data,
      labels: fx.raw(`in.targets.${i}.labels`).data,
    };
  });
}

export const dmmiTinyAdapter: ParityAdapter = {
  fixture: "dmmi_tiny",
  async run(fx) {
    const cfg = configOf(fx);
    const model = new DMFormer(cfg);
    await model.to(fx.backend);
    const report = model.loadStateDict(fx.params(), { strict: true });
    if (report.missing.length) throw new Error(`dmmi_tiny: missing ${report.missing}`);
    const frames = fx.tensor("in.samples.tensors");
    const [b] = frames.shape;
    const ids = fx.raw("in.input_ids");
    const captions = {
      inputIds: ids.data as Int32Array,
      attentionMask: fx.raw("in.attention_mask").data as Int32Array,
      padLength: ids.shape[1],
      positiveMaps: positiveMaps(fx, b),
    };
    const video = { frames, mask: fx.raw("in.samples.mask").data as Uint8Array };
    const sizes = Array.from({ length: b }, (_, i) => {
      const s = fx.raw(`in.targets.${i}.size`).data;
      return [s[0], s[1]] as [number, number];
    });
    const values = new Map<string, Tensor>();
    model.eval();
    const out = await noGrad(() => model.forward(video, captions, sizes));
    for (
      const k of ["pred_logits", "pred_boxes", "pred_masks", "reference_points", "subject"] as const
    ) {
      values.set(`out.${k}`, out[k]);
    }
    out.aux_outputs.forEach((a, i) => {
      for (const [k, v] of Object.entries(a)) values.set(`out.aux.${i}.${k}`, v as Tensor);
    });
    values.set(
      "out.noun_idx",
      tensor(Int32Array.from(out.subjectChoice.keys), [b], { backend: fx.backend }),
    );
    values.set(
      "out.noun_max_span",
      tensor(Int32Array.of(out.subjectChoice.maxSpan), [1], { backend: fx.backend }),
    );

    model.train();
    const train = await model.forward(video, captions, sizes);
    const crit = new SetCriterion({
      numClasses: cfg.numClasses,
      weights: fx.json("config").weight_dict,
    });
    const labels = Array.from({ length: b }, (_, i) => fx.raw(`in.pseudo_label.${i}`).data);
    const losses = await crit.forward(train, targetsOf(fx, b), labels);
    losses.total.backward();
    for (const [k, v] of losses.losses) values.set(`out.train.loss.${k}`, v);
    values.set("out.train.total_loss", losses.total);
    const named = model.namedParameters();
    const withGrad = named.filter(([, p]) => p.grad);
    values.set(
      "out.train.grad_total_norm",
      noGrad(() => sqrt(sum(stack(withGrad.map(([, p]) => sum(mul(p.grad!, p.grad!))))))),
    );
    const gradNames: string[] = fx.json("grad_params");
    const byName = new Map(named);
    for (const n of gradNames) {
      const p = byName.get(n);
      if (!p?.grad) throw new Error(`dmmi_tiny: no gradient for ${n}`);
      values.set(`grad.${n}`, p.grad.detach());
    }
    const adamw = fx.json("config").adamw;
    const opt = new AdamW([{
      params: named.map(([, p]) => p),
      lr: adamw.lr,
      weightDecay: adamw.weight_decay,
    }], {
      betas: adamw.betas,
      eps: adamw.eps,
    });
    opt.step();
    const masks = new Map<string, Uint8Array>();
    for (const n of gradNames) {
      values.set(`out.adamw.${n}`, byName.get(n)!.detach());
      const g = fx.raw(`grad.${n}`).data;
      const threshold = 2 * fx.tolerance(`grad.${n}`).atol;
      masks.set(`out.adamw.${n}`, Uint8Array.from(g, (v) => (Math.abs(v) > threshold ? 1 : 0)));
    }
    return { values, masks };
  },
};

registerParityAdapter(dmmiTinyAdapter);
