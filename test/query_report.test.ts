import { afterAll, describe, expect, test } from "vitest";
import { quietly } from "./helpers/quietly.ts";
import "../src/ops/mod.ts";
import { manualSeed } from "../src/tensor/random.ts";
import { DMFormer } from "../src/models/dmformer/model.ts";
import { resolveConfig } from "../src/models/dmformer/config.ts";
import { makeTinySetup, TEST_MODEL_SPEC } from "../src/pipeline/fixtures.ts";
import { saveModelWeights } from "../src/pipeline/checkpoint.ts";
import { querySlotReport } from "../src/eval/query_slots.ts";
import { main as queryReportMain } from "../tools/query_report.ts";
import { main as inferMain } from "../tools/infer.ts";
import { main as evalMain } from "../tools/eval.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

/** A 4x4 mask with the 2x2 block whose top-left corner is (x, y); null: empty. */
function block(x: number | null, y = 0): Uint8Array {
  const m = new Uint8Array(16);
  if (x === null) return m;
  for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m[(y + dy) * 4 + x + dx] = 1;
  return m;
}

describe("querySlotReport", () => {
  // the object moves right; slot 0 follows it for two frames, slot 1 picks it up in the third
  const gts = [block(0), block(1), block(2)];
  const slots = [[block(0), block(1), block(null)], [block(null), block(null), block(2)]];

  test("chosen, best single slot and best slot per frame", () => {
    const r = querySlotReport(slots, 1, gts, 4, 4);
    // J and F are 1 on an exact match and 0 for an empty prediction of a present object
    expect(r.chosen).toBe(1);
    expect(r.chosenJF).toBeCloseTo(1 / 3, 10);
    expect(r.bestSlot).toBe(0);
    expect(r.bestSlotJF).toBeCloseTo(2 / 3, 10);
    expect(r.perFrameBestJF).toBeCloseTo(1, 10);
    expect(r.slotChanges).toBe(1);
  });

  test("equal slots: the lowest slot, no change between frames", () => {
    const same = [block(0), block(1), block(2)];
    const r = querySlotReport(
      [same, same, same],
      2,
      gts,
      4,
      4,
    );
    expect([r.bestSlot, r.slotChanges, r.chosenJF, r.perFrameBestJF]).toEqual([0, 0, 1, 1]);
  });

  test("a partial overlap scores between", () => {
    // predicted 2x2 block one pixel off: IoU 2/6
    const r = querySlotReport([[block(1)]], 0, [block(0)], 4, 4);
    expect(r.chosenJF).toBeGreaterThan(1 / 6);
    expect(r.chosenJF).toBeLessThan(1);
  });

  test("bad input is named", () => {
    expect(() => querySlotReport([], 0, gts, 4, 4)).toThrow(/no slots/);
    expect(() => querySlotReport(slots, 2, gts, 4, 4)).toThrow(/chosen slot 2 outside 0\.\.1/);
    expect(() => querySlotReport([[block(0)]], 0, gts, 4, 4)).toThrow(
      /slot 0 has 1 frames, ground truth 3/,
    );
  });
});

describe("deno task query-report", () => {
  test("its chosen-slot J&F is what infer + eval report; CSV per expression", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-qreport-" });
    dirs.push(root);
    manualSeed(5);
    const model = new DMFormer(resolveConfig(TEST_MODEL_SPEC as never));
    const weights = `${root}/weights.safetensors`;
    await saveModelWeights(model, weights);
    const config = `${root}/config.json`;
    await Deno.writeTextFile(config, JSON.stringify({ model: TEST_MODEL_SPEC }));
    const setup = await makeTinySetup(`${root}/ds`, { videos: 1, frames: 2 });
    const common = ["--checkpoint", weights, "--config", config, "--limit", "2"];

    const logged: string[] = [];
    await quietly(
      () => queryReportMain([...common, "--data", setup.data, "--out", `${root}/r/report.csv`]),
      logged,
    );
    const csv = (await Deno.readTextFile(`${root}/r/report.csv`)).trim().split("\n");
    expect(csv[0]).toBe(
      "video,exp_id,sentence,chosen,chosen_jf,best_slot,best_slot_jf,per_frame_best_jf," +
        "slot_changes",
    );
    expect(csv.length).toBe(3);
    const rows = csv.slice(1).map((l) => l.split(","));
    for (const r of rows) {
      const [chosenJF, bestJF, perFrameJF] = [r[4], r[6], r[7]].map(Number);
      expect(bestJF).toBeGreaterThanOrEqual(chosenJF);
      expect(perFrameJF).toBeGreaterThanOrEqual(bestJF - 1e-9);
    }
    expect(logged.join("\n")).toMatch(/2 expressions\nJ&F, the chosen slot: +\d\.\d{3}/);

    await quietly(() =>
      inferMain([...common, "--ytvos", setup.data, "--out", `${root}/pred`, "--quiet"])
    );
    await quietly(() =>
      evalMain([
        "--pred",
        `${root}/pred`,
        "--gt",
        setup.data,
        "--layout",
        "ytvos",
        "--missing",
        "empty",
      ])
    );
    const evalRows = (await Deno.readTextFile(`${root}/pred/per-expression.csv`)).trim()
      .split("\n").map((l) => l.split(","));
    const jfColumn = evalRows[0].indexOf("J&F");
    expect(jfColumn).toBe(4);
    const scored = new Map(evalRows.slice(1).map((r) => [`${r[0]},${r[1]}`, Number(r[jfColumn])]));
    for (const r of rows) {
      expect(scored.has(`${r[0]},${r[1]}`)).toBe(true);
      expect(Number(r[4])).toBeCloseTo(scored.get(`${r[0]},${r[1]}`)!, 3);
    }
  });

  test("missing dataset, missing ground truth, bad --limit", async () => {
    const root = await Deno.makeTempDir({ prefix: "dmf-qreport-" });
    dirs.push(root);
    await Deno.writeTextFile(`${root}/w.safetensors`, "");
    const base = ["--checkpoint", `${root}/w.safetensors`];
    await expect(queryReportMain(base)).rejects.toThrow(/--data is required/);
    await expect(queryReportMain([...base, "--data", `${root}/none`])).rejects.toThrow(
      /dataset root not found/,
    );
    await Deno.mkdir(`${root}/ds/valid`, { recursive: true });
    await expect(queryReportMain([...base, "--data", `${root}/ds`])).rejects.toThrow(
      /ground truth of split valid not found/,
    );
    await Deno.mkdir(`${root}/ds/valid/Annotations`);
    await expect(queryReportMain([...base, "--data", `${root}/ds`, "--limit", "0"]))
      .rejects.toThrow(/--limit must be a positive integer/);
  });
});
