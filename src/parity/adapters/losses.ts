import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { abs, add, mul, sub } from "../../ops/elementwise.ts";
import { sum } from "../../ops/reduce.ts";
import {
  cxcywhToXyxy,
  pairedGiou,
  pairwiseGiou,
  xyxyToCxcywh,
} from "../../models/dmformer/box_ops.ts";
import { diceLoss, sigmoidFocalLoss } from "../../models/dmformer/losses.ts";
import {
  type ClipTarget,
  type Predictions,
  SetCriterion,
  subsampleTargetMasks,
} from "../../models/dmformer/criterion.ts";
import type { Fixture, ParityAdapter } from "../fixture.ts";
import { registerParityAdapter } from "../registry.ts";

function leaf(fx: Fixture, name: string): Tensor {
  return fx.tensor(name).requireGrad();
}

function boxes(fx: Fixture, values: Map<string, Tensor>): void {
  const src = leaf(fx, "in.box.src");
  const tgt = fx.tensor("in.box.tgt");
  const srcXy = cxcywhToXyxy(src);
  const tgtXy = cxcywhToXyxy(tgt);
  const { iou, giou } = pairwiseGiou(srcXy, tgtXy);
  const numBoxes = 4;
  const lossBbox = mul(sum(abs(sub(src, tgt))), 1 / numBoxes);
  const lossGiou = mul(sum(sub(1, pairedGiou(srcXy, tgtXy).giou)), 1 / numBoxes);
  add(lossBbox, lossGiou).backward();
  values.set("out.box.src_xyxy", srcXy);
  values.set("out.box.tgt_xyxy", tgtXy);
  values.set("out.box.src_back_cxcywh", xyxyToCxcywh(srcXy));
  values.set("out.box.iou_matrix", iou);
  values.set("out.box.giou_matrix", giou);
  values.set("out.box.loss_bbox", lossBbox);
  values.set("out.box.loss_giou", lossGiou);
  values.set("grad.box.src", src.grad!);
}

function pointLosses(fx: Fixture, values: Map<string, Tensor>): void {
  const x = leaf(fx, "in.focal.logits");
  const focal = sigmoidFocalLoss(x, fx.tensor("in.focal.targets"), 3);
  focal.backward();
  values.set("out.focal", focal);
  values.set("grad.focal.logits", x.grad!);
  const x3 = leaf(fx, "in.focal.logits3d");
  const focal3 = sigmoidFocalLoss(x3, fx.tensor("in.focal.targets3d"), 2);
  focal3.backward();
  values.set("out.focal3d", focal3);
  values.set("grad.focal3d.logits", x3.grad!);
  const xd = leaf(fx, "in.focal.logits");
  const dice = diceLoss(xd, fx.tensor("in.focal.targets"), 3);
  dice.backward();
  values.set("out.dice", dice);
  values.set("grad.dice.logits", xd.grad!);
}

function clipTargets(fx: Fixture, b: number, labelPrefix: string): ClipTarget[] {
  return Array.from({ length: b }, (_, i) => {
    const masks = fx.raw(`in.crit.targets.${i}.masks`);
    return {
      boxes: fx.raw(`in.crit.targets.${i}.boxes`).data as Float32Array,
      masks: masks.data as Uint8Array,
      size: [masks.shape[1], masks.shape[2]] as [number, number],
      valid: fx.raw(`in.crit.targets.${i}.valid`).data,
      labels: fx.raw(`${labelPrefix}.targets.${i}.labels`).data,
    };
  });
}

async function matchers(fx: Fixture, values: Map<string, Tensor>): Promise<void> {
  const b = fx.json("config").b;
  for (const [tag, prefix, numClasses] of [["bin", "in.crit", 1], ["mc", "in.mc", 7]] as const) {
    const crit = new SetCriterion({ numClasses });
    const pred: Predictions = {
      pred_logits: fx.tensor(`${prefix}.pred_logits`),
      pred_boxes: fx.tensor(`${prefix}.pred_boxes`),
      pred_masks: fx.tensor(`${prefix}.pred_masks`),
    };
    const targets = clipTargets(fx, b, tag === "bin" ? "in.crit" : "in.mc");
    const t = pred.pred_logits.shape[1];
    const { masks } = subsampleTargetMasks(targets, t, 4);
    const { slots, clipCost } = await crit.match(pred, targets, masks);
    const q = pred.pred_logits.shape[2];
    const col = (a: Float64Array) => tensor(Float32Array.from(a), [q, 1], { backend: fx.backend });
    clipCost.forEach((c, i) => {
      values.set(`out.matcher_${tag}.C.${i}`, col(c.total));
      values.set(`out.matcher_${tag}.cost_class.${i}`, col(c.costClass));
      values.set(`out.matcher_${tag}.cost_bbox.${i}`, col(c.costBbox));
      values.set(`out.matcher_${tag}.cost_giou.${i}`, col(c.costGiou));
      values.set(`out.matcher_${tag}.cost_mask.${i}`, col(c.costMask));
      values.set(`out.matcher_${tag}.cost_dice.${i}`, col(c.costDice));
    });
    values.set(
      `out.matcher_${tag}.src_ind`,
      tensor(Int32Array.from(slots), [b], { backend: fx.backend }),
    );
    values.set(
      `out.matcher_${tag}.tgt_ind`,
      tensor(new Int32Array(b), [b], { backend: fx.backend }),
    );
  }
}

async function criterion(fx: Fixture, values: Map<string, Tensor>): Promise<void> {
  const cfg = fx.json("config");
  const names = ["pred_logits", "pred_boxes", "pred_masks"] as const;
  const layer = (p: string): Predictions =>
    Object.fromEntries(names.map((n) => [n, leaf(fx, `${p}.${n}`)])) as unknown as Predictions;
  const out = layer("in.crit");
  out.aux_outputs = Array.from({ length: cfg.aux_layers }, (_, i) => layer(`in.crit.aux${i}`));
  out.subject = leaf(fx, "in.crit.subject");
  const labels = Array.from({ length: cfg.b }, (_, i) => fx.raw(`in.crit.pseudo_label.${i}`).data);
  const crit = new SetCriterion({ numClasses: cfg.num_classes, weights: cfg.weight_dict });
  const result = await crit.forward(out, clipTargets(fx, cfg.b, "in.crit"), labels);
  result.total.backward();
  for (const [k, v] of result.losses) values.set(`out.crit.${k}`, v);
  values.set("out.crit.total", result.total);
  for (const n of names) values.set(`grad.crit.${n}`, out[n].grad!);
  out.aux_outputs.forEach((a, i) => {
    for (const n of names) values.set(`grad.crit.aux${i}.${n}`, a[n].grad!);
  });
  values.set("grad.crit.subject", out.subject.grad!);
}

export const lossesAdapter: ParityAdapter = {
  fixture: "losses",
  async run(fx) {
    const values = new Map<string, Tensor>();
    boxes(fx, values);
    pointLosses(fx, values);
    await matchers(fx, values);
    await criterion(fx, values);
    return { values };
  },
};

registerParityAdapter(lossesAdapter);
