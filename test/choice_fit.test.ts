/**
 * deno task fit-choice: refitting the class_geometry term to the query choice on whole videos.
 */
import { afterAll, describe, expect, test } from "vitest";
import { quietly } from "./helpers/quietly.ts";
import "../src/ops/mod.ts";
import { tensor } from "../src/ops/creation.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { randn } from "../src/ops/random.ts";
import { param } from "../src/nn/module.ts";
import {
  MASK_GEOMETRY_FEATURES,
  maskGeometry,
  MaskGeometryScore,
} from "../src/models/dmformer/class_geometry.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { makeTinySetup, TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { readWeights, saveModelWeights } from "../src/pipeline/checkpoint.ts";
import { loadModelForInference, readExpressionFrames, ytvosJobs } from "../src/pipeline/infer.ts";
import { segmentClip } from "../src/pipeline/segment.ts";
import { getBackend } from "../src/backend/backend.ts";
import {
  choiceJF,
  type ChoiceSample,
  chosenSlot,
  collectChoiceSamples,
  fitChoiceTerm,
  geometryTerm,
  lastClassHead,
  loadChoiceSamples,
  saveChoiceSamples,
  slotLogits,
} from "../src/pipeline/choice_fit.ts";
import { main as fitChoiceMain } from "../tools/fit_choice.ts";

const F = MASK_GEOMETRY_FEATURES;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

/** A sample of t frames and q slots with the given per-frame base logits and no geometry. */
function plainSample(base: number[], t: number, q: number, jf: number[]): ChoiceSample {
  return {
    video: "v",
    expId: "0",
    caption: "the shape",
    t,
    q,
    d: 1,
    h: 1,
    base: Float64Array.from(base),
    head: new Float64Array(t * q),
    features: new Float64Array(t * q),
    geometry: new Float64Array(t * q * F),
    sentence: new Float64Array(t),
    jf: Float64Array.from(jf),
  };
}

describe("the term and the choice on the host", () => {
  test("geometryTerm equals what MaskGeometryScore adds to the logits", async () => {
    manualSeed(11);
    const [t, q, d] = [3, 2, 4];
    const masks = randn([1, t, q, 4, 8]);
    const words = randn([1, 5, d]);
    const wordMask = tensor([1, 1, 1, 0, 0], [1, 5], { dtype: "i32" });
    const m = new MaskGeometryScore(d);
    m.weight = randn([F, d]);
    m.bias = randn([F]);
    const term = await m.forward(words, wordMask, masks, [[4, 12]], [4, 16]).data();
    const w = await words.data();
    const sentence = new Float64Array(t * d);
    for (let f = 0; f < t; f++) {
      for (let k = 0; k < d; k++) sentence[f * d + k] = w[k] + w[d + k] + w[2 * d + k];
    }
    const sample: ChoiceSample = {
      ...plainSample(new Array(t * q).fill(0), t, q, [0, 0]),
      d,
      h: 0,
      features: new Float64Array(0),
      geometry: Float64Array.from(await maskGeometry(masks, [[4, 12]], [4, 16]).data()),
      sentence,
    };
    const host = geometryTerm(sample, await m.weight.data(), await m.bias.data());
    expect(host.length).toBe(term.length);
    host.forEach((v, i) => expect(v).toBeCloseTo(term[i], 4));
    expect(Math.max(...Array.from(term, Math.abs))).toBeGreaterThan(0.1);
  });

  test("the chosen slot has the highest mean sigmoid over frames; ties go to the lowest", () => {
    // slot 0 has the higher mean logit (2 against 1), slot 1 the higher mean sigmoid
    const s = plainSample([6, 1, -2, 1], 2, 2, [0.1, 0.9]);
    const zero = { weight: new Float64Array(F), bias: new Float64Array(F) };
    expect(chosenSlot(s, zero)).toBe(1);
    expect(choiceJF([s], zero)).toBeCloseTo(0.9, 10);
    const tie = plainSample([1, 1, 1, 1], 2, 2, [0, 1]);
    expect(chosenSlot(tie, zero)).toBe(0);
    expect(choiceJF([], zero)).toBeNaN();
    // the recorded head logits count unless class weights are given: w_c . features + b_c
    const withHead = {
      ...tie,
      head: Float64Array.from([0, 2, 0, 2]),
      features: Float64Array.from([3, 0, 3, 0]),
    };
    expect(chosenSlot(withHead, zero)).toBe(1);
    expect(chosenSlot(withHead, { ...zero, classWeight: [1], classBias: -1 })).toBe(0);
    expect(Array.from(slotLogits(withHead, { ...zero, classWeight: [1], classBias: -1 }))).toEqual(
      [3, 0, 3, 0],
    );
  });
});

describe("fitChoiceTerm", () => {
  /**
   * Four slots with random centroids x; the sentence is "left" ([1, 0]) or "right" ([0, 1]) and
   * the slot furthest that way is the object. Base logits are noise, so only the term can choose.
   */
  function leftRight(n: number, seed: number): ChoiceSample[] {
    let state = seed;
    const rand = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    return Array.from({ length: n }, (_, i) => {
      const t = 2, q = 4, d = 2, left = i % 2 === 0;
      const xs = Array.from({ length: q }, () => rand() * 2 - 1);
      const geometry = new Float64Array(t * q * F);
      for (let f = 0; f < t; f++) for (let j = 0; j < q; j++) geometry[(f * q + j) * F + 1] = xs[j];
      const target = xs.indexOf(left ? Math.min(...xs) : Math.max(...xs));
      return {
        ...plainSample(
          Array.from({ length: t * q }, () => rand() * 0.2),
          t,
          q,
          xs.map((_, j) => j === target ? 0.9 : 0.05),
        ),
        d,
        geometry,
        sentence: Float64Array.from(left ? [1, 0, 1, 0] : [0, 1, 0, 1]),
      };
    });
  }

  const zero = { weight: new Float64Array(F * 2), bias: new Float64Array(F) };

  test("learns the planted rule from zero and it holds on new samples", async () => {
    const train = leftRight(60, 1), held = leftRight(40, 2);
    expect(choiceJF(held, zero)).toBeLessThan(0.6);
    const fit = await fitChoiceTerm(train, zero, { steps: 300, lambda: 1e-4 });
    expect(fit.lossAfter).toBeLessThan(fit.lossBefore * 0.5);
    expect(fit.classWeight).toBeUndefined();
    expect(choiceJF(held, fit)).toBeCloseTo(0.9, 10);
    // centroid x weighs "left" negatively and "right" positively, nothing else much
    expect(fit.weight[1 * 2 + 0]).toBeLessThan(-1);
    expect(fit.weight[1 * 2 + 1]).toBeGreaterThan(1);
  });

  test("a strong pull keeps the starting weights", async () => {
    const start = Float64Array.from({ length: F * 2 }, (_, i) => (i % 3) * 0.1);
    const fit = await fitChoiceTerm(
      leftRight(20, 3),
      { weight: start, bias: new Float64Array(F) },
      {
        steps: 200,
        lambda: 1e4,
      },
    );
    fit.weight.forEach((v, i) => expect(v).toBeCloseTo(start[i], 2));
  });

  test("with classHead, learns a class weight when the object shows in the query features", async () => {
    // the object's slot has feature 1 in every frame, the others -1; no geometry, no sentence
    const samples = leftRight(30, 5).map((s) => {
      const target = s.jf.indexOf(Math.max(...s.jf));
      return {
        ...s,
        geometry: new Float64Array(s.geometry.length),
        features: Float64Array.from({ length: s.t * s.q }, (_, n) => (n % s.q === target ? 1 : -1)),
      };
    });
    const start = { ...zero, classWeight: [0], classBias: 0.5 };
    expect(choiceJF(samples, start)).toBeLessThan(0.6);
    const fit = await fitChoiceTerm(samples, start, { steps: 200, classHead: true });
    expect(fit.classWeight![0]).toBeGreaterThan(1);
    expect(choiceJF(samples, { ...start, ...fit })).toBeCloseTo(0.9, 10);
    await expect(fitChoiceTerm(samples, zero, { classHead: true })).rejects.toThrow(
      /refitting the class head needs its 1 starting weights/,
    );
  });

  test("bad input is named", async () => {
    await expect(fitChoiceTerm([], zero)).rejects.toThrow(/no expressions to fit/);
    const [a, b] = leftRight(2, 4);
    const odd = { ...b, q: 3, video: "odd" };
    await expect(fitChoiceTerm([a, odd], zero)).rejects.toThrow(
      /odd\/0 has 3 slots of 2 \+ 1 features, 4 of 2 \+ 1 expected/,
    );
    await expect(fitChoiceTerm([a], { ...zero, weight: new Float64Array(3) })).rejects.toThrow(
      /weights of 3 \+ 6 values, 12 \+ 6 expected/,
    );
  });

  test("samples survive a save and load; a damaged file is named", async () => {
    const dir = await Deno.makeTempDir({ prefix: "dmf-fitchoice-" });
    dirs.push(dir);
    const samples = leftRight(3, 6);
    await saveChoiceSamples(`${dir}/s.jsonl`, samples);
    const back = await loadChoiceSamples(`${dir}/s.jsonl`);
    expect(back.length).toBe(3);
    back.forEach((s, i) => {
      expect([s.video, s.expId, s.t, s.q, s.d, s.h]).toEqual([
        samples[i].video,
        samples[i].expId,
        2,
        4,
        2,
        1,
      ]);
      s.base.forEach((v, n) => expect(v).toBeCloseTo(samples[i].base[n], 6));
      expect(Array.from(s.geometry)).toEqual(
        Array.from(samples[i].geometry, (v) => Number(v.toPrecision(7))),
      );
    });
    const lines = (await Deno.readTextFile(`${dir}/s.jsonl`)).trim().split("\n");
    const broken = JSON.parse(lines[1]);
    broken.jf = [1];
    await Deno.writeTextFile(`${dir}/bad.jsonl`, [lines[0], JSON.stringify(broken)].join("\n"));
    await expect(loadChoiceSamples(`${dir}/bad.jsonl`)).rejects.toThrow(
      /bad\.jsonl:2: "jf" should hold 4 numbers/,
    );
    await expect(loadChoiceSamples(`${dir}/none.jsonl`)).rejects.toThrow(
      /samples file not found: .*none\.jsonl/,
    );
  });
});

describe("deno task fit-choice", () => {
  const spec = { ...TEST_MODEL_SPEC, classGeometry: true };

  async function tinyModel(root: string) {
    manualSeed(5);
    const model = new DMFormer(resolveConfig(spec as never));
    // trained-looking weights: the term starts at zero in a fresh model
    model.class_geometry!.weight = param(randn(model.class_geometry!.weight.shape));
    model.class_geometry!.bias = param(randn([F]));
    const weights = `${root}/weights.safetensors`;
    await saveModelWeights(model, weights);
    const config = `${root}/config.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ model: spec, inference: { shortSide: 48, windowFrames: 2 } }),
    );
    return { weights, config };
  }

  /** A temporary folder with the tiny model, `videos` generated 3-frame videos, and the model loaded. */
  async function tinyRun(videos: number) {
    const root = await Deno.makeTempDir({ prefix: "dmf-fitchoice-" });
    dirs.push(root);
    const { weights, config } = await tinyModel(root);
    const setup = await makeTinySetup(`${root}/ds`, { videos, frames: 3 });
    const loaded = await loadModelForInference(weights, config, getBackend("cpu"));
    const jobs = await ytvosJobs(setup.data, "train");
    return { root, weights, config, setup, loaded, jobs, gtDir: `${setup.data}/train/Annotations` };
  }

  test("the samples reproduce inference's choice across windows; the fit changes only the term", async () => {
    const { root, weights, config, setup, loaded, jobs, gtDir } = await tinyRun(2);
    const options = { shortSide: null, windowFrames: 2, maxLength: 32, limit: 3 };
    const samples = await collectChoiceSamples(
      loaded,
      jobs.expressions,
      jobs.imageDir,
      gtDir,
      options,
    );
    expect(samples.length).toBe(3);
    const head = await lastClassHead(loaded.model);
    expect(head!.weight.length).toBe(32);
    const trained = {
      weight: await loaded.model.class_geometry!.weight.data(),
      bias: await loaded.model.class_geometry!.bias.data(),
    };
    for (const [i, s] of samples.entries()) {
      expect([s.t, s.q, s.d, s.h]).toEqual([3, 5, 32, 32]);
      const e = jobs.expressions[i];
      const frames = await readExpressionFrames(jobs.imageDir, e);
      const seg = await segmentClip(loaded.model, frames, e.caption, {
        tokenizer: loaded.tokenizer,
        shortSide: null,
        windowFrames: 2,
        maxLength: 32,
      });
      expect(chosenSlot(s, trained)).toBe(seg.query);
      // the head's logits recomputed from the recorded features give the same logits
      const recomputed = slotLogits(s, {
        ...trained,
        classWeight: head!.weight,
        classBias: head!.bias,
      });
      slotLogits(s, trained).forEach((v, n) => expect(recomputed[n]).toBeCloseTo(v, 4));
      s.jf.forEach((v) => expect(v >= 0 && v <= 1).toBe(true));
    }
    expect(loaded.model.class_geometry!.observer).toBeUndefined();

    // model and fit settings shared by both runs
    const common = [
      ...["--checkpoint", weights, "--config", config],
      ...["--steps", "50", "--lambda", "0", "--class-head"],
    ];
    const logged: string[] = [];
    await quietly(() =>
      fitChoiceMain([
        ...common,
        ...["--data", setup.data, "--limit", "3", "--out", `${root}/fit`, "--quiet"],
        ...["--save-samples", `${root}/samples.jsonl`],
      ]), logged);
    expect(logged.join("\n")).toMatch(
      /^3 expressions: loss \d\.\d{4} -> \d\.\d{4}, J&F of the chosen slot/m,
    );
    const report = JSON.parse(await Deno.readTextFile(`${root}/fit/fit.json`));
    expect(report.expressions).toBe(3);
    expect(report.loss.after).toBeLessThan(report.loss.before);
    expect(report.chosenJF.before).toBeCloseTo(choiceJF(samples, trained), 10);
    const before = await readWeights(weights);
    const after = await readWeights(`${root}/fit/model.safetensors`);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [key, t] of before) {
      const same = Array.from(after.get(key)!.data as Float32Array).every((v, i) =>
        v === (t.data as Float32Array)[i]
      );
      expect(same).toBe(!key.startsWith("class_geometry.") && key !== "class_embed.1.weight");
    }
    // again from the saved samples, without the dataset: the same fit
    await quietly(() =>
      fitChoiceMain([...common, "--samples", `${root}/samples.jsonl`, "--out", `${root}/again`])
    );
    const again = JSON.parse(await Deno.readTextFile(`${root}/again/fit.json`));
    expect(again.loss.after).toBeCloseTo(report.loss.after, 4);
    expect(again.chosenJF).toEqual(report.chosenJF);
    // samples recorded with other weights are refused
    manualSeed(6);
    await saveModelWeights(new DMFormer(resolveConfig(spec as never)), `${root}/other.safetensors`);
    await expect(fitChoiceMain([
      ...["--checkpoint", `${root}/other.safetensors`, "--config", config],
      ...["--samples", `${root}/samples.jsonl`, "--out", `${root}/other`],
    ])).rejects.toThrow(/samples\.jsonl were recorded with other weights than the checkpoint's/);
  });

  test("with test-time views and clips: a row per frame and view, inference's scores", async () => {
    const { loaded, jobs, gtDir } = await tinyRun(1);
    const inference = {
      shortSide: null,
      windowFrames: 36,
      maxLength: 32,
      testTimeAugment: ["hflip"] as const,
      clipFrames: 2,
    };
    const samples = await collectChoiceSamples(
      loaded,
      jobs.expressions,
      jobs.imageDir,
      gtDir,
      { ...inference, limit: 2 },
    );
    const trained = {
      weight: await loaded.model.class_geometry!.weight.data(),
      bias: await loaded.model.class_geometry!.bias.data(),
    };
    for (const [i, s] of samples.entries()) {
      expect([s.t, s.q]).toEqual([6, 5]);
      const e = jobs.expressions[i];
      const frames = await readExpressionFrames(jobs.imageDir, e);
      const seg = await segmentClip(loaded.model, frames, e.caption, {
        tokenizer: loaded.tokenizer,
        ...inference,
      });
      expect(chosenSlot(s, trained)).toBe(seg.query);
      const logits = slotLogits(s, trained);
      seg.queryMeanScores.forEach((score, j) => {
        let mean = 0;
        for (let row = 0; row < s.t; row++) mean += 1 / (1 + Math.exp(-logits[row * s.q + j]));
        expect(mean / s.t).toBeCloseTo(score, 5);
      });
      // the mirrored view reads another sentence only when it has left or right in it
      const rows = Array.from({ length: s.t }, (_, r) => s.sentence.slice(r * s.d, (r + 1) * s.d));
      expect(rows[2]).toEqual(rows[0]);
    }
  });

  test("a model without the term, a missing --out and a bad --tau are named", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-fitchoice-" });
    dirs.push(root);
    manualSeed(5);
    const plain = new DMFormer(resolveConfig(TEST_MODEL_SPEC as never));
    await saveModelWeights(plain, `${root}/plain.safetensors`);
    await Deno.writeTextFile(`${root}/plain.json`, JSON.stringify({ model: TEST_MODEL_SPEC }));
    const setup = await makeTinySetup(`${root}/ds`, { videos: 1, frames: 2 });
    const base = ["--checkpoint", `${root}/plain.safetensors`, "--data", setup.data];
    await expect(fitChoiceMain(base)).rejects.toThrow(/--out is required/);
    await expect(fitChoiceMain([...base, "--out", `${root}/o`, "--tau", "0"])).rejects.toThrow(
      /--tau must be > 0/,
    );
    await expect(fitChoiceMain([...base, "--out", `${root}/o`, "--lambda", "x"])).rejects.toThrow(
      /--lambda must be a number >= 0, got "x"/,
    );
    await expect(
      fitChoiceMain([...base, "--config", `${root}/plain.json`, "--out", `${root}/o`]),
    ).rejects.toThrow(/the model has no class_geometry term/);
    const loaded = await loadModelForInference(
      `${root}/plain.safetensors`,
      `${root}/plain.json`,
      getBackend("cpu"),
    );
    await expect(collectChoiceSamples(loaded, [], "", "", {
      shortSide: null,
      windowFrames: 2,
      maxLength: 32,
    })).rejects.toThrow(/the model has no class_geometry term/);
  });
});
