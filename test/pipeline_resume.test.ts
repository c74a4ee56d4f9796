import { afterAll, describe, expect, test } from "vitest";
import "../src/ops/mod.ts";
import { getBackend } from "../src/backend/backend.ts";
import { makeTinySetup } from "../src/pipeline/fixtures.ts";
import { parseTrainConfig } from "../src/pipeline/train_config.ts";
import { train } from "../src/pipeline/train.ts";
import { loadSafetensors } from "../src/io/safetensors.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

describe("training resumes exactly", () => {
  test("k steps, stop, resume == an uninterrupted run, bit for bit (cpu)", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-resume-" });
    dirs.push(root);
    // one video of 2 frames: one clip per expression, a few steps per epoch; the run crosses
    // an epoch end (sampler reshuffle, lr drop) after the interruption
    const setup = await makeTinySetup(root, {
      videos: 1,
      frames: 2,
      overrides: { schedule: { epochs: 3, maxSteps: 8, lrDrop: [1] } },
    });
    const config = parseTrainConfig(setup.config, "", "test config");
    const backend = getBackend("cpu");
    const full = await train(config, { backend, runDir: `${root}/full`, quiet: true });
    expect(full.state.step).toBe(8);
    expect(full.state.epoch).toBeGreaterThanOrEqual(1);

    const first = await train(config, {
      backend,
      runDir: `${root}/split`,
      quiet: true,
      stopAtStep: 3,
    });
    expect(first.state.step).toBe(3);
    expect(first.state.epoch).toBe(0);
    const resumed = await train(config, {
      backend,
      runDir: `${root}/split`,
      quiet: true,
      resume: `${root}/split`,
    });
    expect(resumed.state.step).toBe(8);
    expect(resumed.history).toEqual(full.history.slice(3));

    const a = (await loadSafetensors(`${full.lastCheckpoint}/model.safetensors`)).tensors;
    const b = (await loadSafetensors(`${resumed.lastCheckpoint}/model.safetensors`)).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    const differing = [...a].filter(([k, t]) => {
      const u = b.get(k)!.data;
      return t.data.length !== u.length || t.data.some((v, i) => !Object.is(v, u[i]));
    }).map(([k]) => k);
    expect(differing).toEqual([]);
    const oa = (await loadSafetensors(`${full.lastCheckpoint}/optimizer.safetensors`)).tensors;
    const ob = (await loadSafetensors(`${resumed.lastCheckpoint}/optimizer.safetensors`)).tensors;
    expect(ob.size).toBe(oa.size);
    for (const [k, t] of oa) expect(ob.get(k)!.data).toEqual(t.data);
    const state = JSON.parse(await Deno.readTextFile(`${resumed.lastCheckpoint}/state.json`));
    expect(state.rng).toEqual(full.state.rng);
    // the reference's groups (backbone 5e-5, text 1e-5, rest 1e-4) after the epoch-1 drop x0.1
    const lrs = state.optimizer.groups.map((g: { lr: number }) => g.lr);
    [5e-6, 1e-6, 1e-5, 1e-5].forEach((lr, i) => expect(lrs[i]).toBeCloseTo(lr, 12));
  });
});
