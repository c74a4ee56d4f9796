import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import type { Backend } from "../src/backend/backend.ts";
import { useBackend } from "../src/backend/backend.ts";
import { tidyAsync } from "../src/tensor/memory.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { SetCriterion } from "../src/models/dmformer/criterion.ts";
import { AdamW } from "../src/optim/adamw.ts";
import { openRefYtvos } from "../src/data/ytvos.ts";
import { evalTransform } from "../src/data/transforms.ts";
import { BertTokenizer } from "../src/text/mod.ts";
import { makeTinySetup } from "../src/pipeline/fixtures.ts";
import { prepareBatch, type PreparedBatch } from "../src/pipeline/batch.ts";
import { testBackends } from "./helpers/backends.ts";

const root = await Deno.makeTempDir({ prefix: "train-health-" });
afterAll(() => Deno.remove(root, { recursive: true }));
const setup = await makeTinySetup(root, { videos: 1, frames: 4 });
const tokenizer = await BertTokenizer.load();
const dataset = await openRefYtvos(setup.data, { split: "train", numFrames: 2, seed: 1 });
const clip = evalTransform(await dataset.get(0), 48);

/** The "tiny" configuration (dmmi_tiny widths) with the real BERT vocabulary, no dropout. */
const CONFIG = resolveConfig({
  base: "tiny",
  dropout: 0,
  text: { vocabSize: 30522, maxLength: 32, hiddenDropout: 0, attentionDropout: 0 },
});

async function overfit(backend: Backend, steps: number, onStep?: (i: number) => void) {
  const previous = useBackend(backend);
  try {
    manualSeed(5);
    const model = new DMFormer(CONFIG);
    const batch: PreparedBatch = await prepareBatch([clip], tokenizer, backend, { maxLength: 32 });
    const criterion = new SetCriterion({ numClasses: 1 });
    const opt = new AdamW([{ params: model.parameters(), lr: 5e-4, weightDecay: 0 }]);
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const loss = await tidyAsync(async () => {
        const out = await model.forward(batch.video, batch.captions, batch.sizes);
        const { total } = await criterion.forward(out, batch.targets, batch.subjectLabels);
        opt.zeroGrad();
        total.backward();
        opt.step();
        return await total.item();
      });
      losses.push(loss);
      onStep?.(i);
    }
    model.dispose();
    return losses;
  } finally {
    useBackend(previous);
  }
}

const gpuStats = async () => (await import("../src/backend/webgpu/mod.ts")).webgpuStats;

describe("training-step health (tiny config, one Ref-Shapes clip)", async () => {
  for (const [name, backend] of await testBackends()) {
    const title = name === "webgpu"
      ? "webgpu: 100 steps cut the loss below 30%, GPU memory flat after warm-up"
      : `${name}: 100 steps overfitting one clip cut the loss below 30%`;
    test.skipIf(!backend)(title, async () => {
      // on webgpu the same run checks the buffer pool: no growth after the first steps
      const stats = name === "webgpu" ? await gpuStats() : null;
      const allocated: number[] = [];
      const losses = await overfit(backend!, 100, () => {
        if (stats) allocated.push(stats().allocatedBytes);
      });
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[losses.length - 1]).toBeLessThan(0.3 * losses[0]);
      if (stats) {
        const warm = allocated[4];
        expect(warm).toBeGreaterThan(0);
        expect(allocated.slice(5)).toEqual(allocated.slice(5).map(() => warm));
      }
    }, 900_000); // the software WebGPU adapter needs minutes for 100 steps
  }
});
