/** Shared checks for the model's recipe options that add a class-logit term. */
import { expect } from "vitest";
import { getBackend } from "../../src/backend/backend.ts";
import { makeTinySetup, TEST_MODEL_SPEC } from "../../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../../src/pipeline/train_config.ts";
import { openTrainingData } from "../../src/pipeline/train.ts";
import { prepareBatch } from "../../src/pipeline/batch.ts";
import { BertTokenizer } from "../../src/text/bert_tokenizer.ts";
import { manualSeed } from "../../src/tensor/random.ts";
import { DMFormer } from "../../src/models/dmformer/model.ts";
import { type DMFormerConfig, resolveConfig } from "../../src/models/dmformer/config.ts";

/**
 * The test model (with `spec` merged in) with `option` keeps every key of the model without it, in
 * order and with the same seed, and appends exactly `added`; the option is off by default.
 */
export function expectOptionKeysAppended(
  option: keyof DMFormerConfig,
  added: string[],
  spec: Record<string, unknown> = {},
) {
  manualSeed(3);
  const plain = [
    ...new DMFormer(resolveConfig({ ...TEST_MODEL_SPEC, ...spec })).stateDict().keys(),
  ];
  manualSeed(3);
  const withOption = { ...TEST_MODEL_SPEC, ...spec, [option]: true };
  const keys = [...new DMFormer(resolveConfig(withOption)).stateDict().keys()];
  expect(keys.slice(0, plain.length)).toEqual(plain);
  expect(keys.slice(plain.length)).toEqual(added);
  expect(resolveConfig(TEST_MODEL_SPEC)[option]).toBe(false);
}

export interface LayerOutputs {
  logits: Float32Array[];
  masks: Float32Array;
  masksShape: readonly number[];
}

/**
 * Runs the test model (seed 5, eval mode) on one generated 2-frame clip in a temp folder under
 * `root`, with `option` set to `enabled`, `spec` merged into the model spec and `adjust` applied
 * to the model first; returns every decoder layer's class logits and the last layer's masks.
 */
export async function makeOptionRunner(root: string, spec: Record<string, unknown> = {}) {
  const s = await makeTinySetup(root, { videos: 1, frames: 2 });
  const config = parseTrainConfig(s.config, "", "test");
  const data = await openTrainingData(config);
  const batch = await prepareBatch(
    [await data.get(0, 0)],
    await BertTokenizer.load(),
    getBackend("cpu"),
    { maxLength: 32 },
  );
  return async (
    option: string,
    enabled: boolean,
    adjust: (model: DMFormer) => void = () => {},
  ): Promise<LayerOutputs> => {
    manualSeed(5);
    const model = new DMFormer(resolveConfig({ ...TEST_MODEL_SPEC, ...spec, [option]: enabled }));
    adjust(model);
    model.eval();
    const out = await model.forward(batch.video, batch.captions, batch.sizes);
    const layers = [...out.aux_outputs, out];
    return {
      logits: await Promise.all(layers.map((l) => l.pred_logits.data() as Promise<Float32Array>)),
      masks: await out.pred_masks.data() as Float32Array,
      masksShape: out.pred_masks.shape,
    };
  };
}

/**
 * A class-logit term that is zero leaves every layer's logits exactly as without the option; an
 * active one moves every layer's logits and leaves the masks alone.
 */
export function expectLogitTermOnly(plain: LayerOutputs, zero: LayerOutputs, active: LayerOutputs) {
  expect(plain.logits.length).toBe(2);
  zero.logits.forEach((l, k) => expect(Array.from(l)).toEqual(Array.from(plain.logits[k])));
  expect(Array.from(active.masks)).toEqual(Array.from(plain.masks));
  for (const [k, l] of active.logits.entries()) {
    expect(l.some((v, i) => Math.abs(v - plain.logits[k][i]) > 1e-4)).toBe(true);
  }
}
