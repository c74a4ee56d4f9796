import { describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { type Backend, getBackend } from "../src/backend/backend.ts";
import { noGrad, tensor } from "../mod.ts";
import { runParity } from "../src/parity/run.ts";
import {
  BERT_BASE_UNCASED,
  type BertConfig,
  BertModel,
  BertTextEncoder,
  extendedAttentionMask,
} from "../src/models/dmformer/bert.ts";
import { BertEncoderLayer, interactionBertConfig } from "../src/models/dmformer/bert_layer.ts";
import { fixturePath } from "./helpers/fixtures.ts";
import { optionalBackend } from "./helpers/backends.ts";
import { uniform } from "./helpers/numeric.ts";

const cpu = getBackend("cpu");

async function expectParity(name: string, backend: Backend, rows: number) {
  const report = await runParity(fixturePath(name), backend);
  expect(report.implemented).toBe(true);
  const failed = report.rows.filter((r) => r.status !== "pass");
  expect(failed.map((r) => `${r.name}: ${r.status} ${r.detail ?? ""}`)).toEqual([]);
  expect(report.rows.length).toBe(rows);
  expect(report.ok).toBe(true);
}

describe("text side parity (cpu)", () => {
  test("text_encoder: BERT hidden states, pooler and the DMMI wrapper", async () => {
    await expectParity("text_encoder", cpu, 7);
  });

  test("bert_encoder_layer: the interaction layer with an integer padding mask", async () => {
    await expectParity("bert_encoder_layer", cpu, 1);
  });
});

const gpu = await optionalBackend("webgpu");

describe.skipIf(!gpu)("text side parity (webgpu)", () => {
  test("text_encoder and bert_encoder_layer", async () => {
    await expectParity("text_encoder", gpu!, 7);
    await expectParity("bert_encoder_layer", gpu!, 1);
  });
});

const tiny: BertConfig = {
  ...BERT_BASE_UNCASED,
  vocabSize: 50,
  hiddenSize: 16,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 32,
  maxPositionEmbeddings: 16,
};

describe("BERT pieces", () => {
  test("extended mask is (1 - m) * -10000 broadcast over heads and queries", () => {
    const m = tensor([[1, 1, 0], [1, 0, 0]], { dtype: "i32" });
    const ext = extendedAttentionMask(m);
    expect(ext.shape).toEqual([2, 1, 1, 3]);
    expect(Array.from(ext.dataSync()).map((v) => v + 0)).toEqual([0, 0, -10000, 0, -10000, -10000]);
  });

  test("padded keys do not influence real tokens (BertModel and the interaction layer)", () => {
    const model = new BertModel(tiny).eval();
    const mask = tensor([[1, 1, 1, 0, 0]], { dtype: "i32" });
    const idsA = tensor([[1, 7, 2, 0, 0]], { dtype: "i32" });
    const idsB = tensor([[1, 7, 2, 33, 41]], { dtype: "i32" });
    const layer = new BertEncoderLayer(
      interactionBertConfig({ hiddenSize: 16, numAttentionHeads: 8, intermediateSize: 32 }),
    )
      .eval();
    const fa = uniform(5 * 16, 1);
    const fb = [...fa.slice(0, 3 * 16), ...uniform(2 * 16, 2)];
    noGrad(() => {
      const real = (t: Float32Array | Float64Array | Int32Array | Uint8Array) =>
        Array.from(t.slice(0, 3 * 16));
      const a = model.forward(idsA, mask).lastHiddenState.dataSync();
      const b = model.forward(idsB, mask).lastHiddenState.dataSync();
      real(a).forEach((v, i) => expect(real(b)[i]).toBeCloseTo(v, 5));
      const la = layer.forward(tensor(fa, [1, 5, 16]), mask).dataSync();
      const lb = layer.forward(tensor(fb, [1, 5, 16]), mask).dataSync();
      real(la).forEach((v, i) => expect(real(lb)[i]).toBeCloseTo(v, 5));
    });
  });

  test("wrapper: embedded is zero at padding, aggregate is the mean over real tokens", () => {
    const enc = new BertTextEncoder(tiny).eval();
    expect([...enc.stateDict().keys()].some((k) => k.startsWith("model.pooler"))).toBe(false);
    expect(enc.stateDict().has("model.encoder.layer.1.attention.self.query.weight")).toBe(true);
    const ids = tensor([[1, 9, 4, 2, 0, 0]], { dtype: "i32" });
    const mask = tensor([[1, 1, 1, 1, 0, 0]], { dtype: "i32" });
    noGrad(() => {
      const out = enc.forward(ids, mask);
      const h = out.hidden.dataSync();
      const e = out.embedded.dataSync();
      const agg = out.aggregate.dataSync();
      for (let c = 0; c < 16; c++) {
        expect(e[4 * 16 + c] + 0).toBe(0);
        expect(e[5 * 16 + c] + 0).toBe(0);
        const mean = (h[c] + h[16 + c] + h[32 + c] + h[48 + c]) / 4;
        expect(agg[c]).toBeCloseTo(mean, 5);
      }
    });
  });

  test("interaction layer defaults: hidden 256, 8 heads, intermediate 3072, eps 1e-12", () => {
    const layer = new BertEncoderLayer();
    const shapes = new Map(layer.namedParameters().map(([k, t]) => [k, t.shape]));
    expect(shapes.get("attention.self.query.weight")).toEqual([256, 256]);
    expect(shapes.get("intermediate.dense.weight")).toEqual([3072, 256]);
    expect(shapes.get("output.dense.weight")).toEqual([256, 3072]);
    expect(shapes.size).toBe(16);
    expect(layer.config.numAttentionHeads).toBe(8);
    expect(layer.config.layerNormEps).toBe(1e-12);
  });
});
