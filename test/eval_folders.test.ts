import { afterAll, describe, expect, test } from "vitest";
import { writePaletteMask } from "../src/media/png.ts";
import { writeFileAtomic } from "../src/media/atomic_write.ts";
import { importNpm } from "../src/npm.ts";
import {
  evaluateFolders,
  globalCsv,
  resultsToCsv,
  writeResultsCsv,
  writeResultsJson,
} from "../src/eval/folders.ts";
import type { MetaExpressions } from "../src/data/types.ts";

type FastPng = typeof import("npm:fast-png@8.0.0");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));

const N = 10;
function square(y0: number, y1: number, x0: number, x1: number, value = 1): Uint8Array {
  const m = new Uint8Array(N * N);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * N + x] = value;
  return m;
}
const merge = (...ms: Uint8Array[]) => ms.reduce((a, m) => a.map((v, i) => v || m[i]));

const meta: MetaExpressions = {
  videos: {
    v1: {
      frames: ["00000", "00005"],
      expressions: { "0": { exp: "the box", obj_id: "1" }, "1": { exp: "the bar", obj_id: "2" } },
    },
  },
};

async function makeTrees(voidPixels = false) {
  const root = await Deno.makeTempDir();
  dirs.push(root);
  const gt = `${root}/gt`, pred = `${root}/pred/Annotations`;
  await Deno.mkdir(`${gt}/v1`, { recursive: true });
  for (const e of ["0", "1"]) await Deno.mkdir(`${pred}/v1/${e}`, { recursive: true });
  const object1 = square(3, 6, 3, 6);
  const object2 = square(0, 1, 8, 9, 2);
  const voids = voidPixels ? square(8, 9, 0, 1, 255) : new Uint8Array(N * N);
  await writePaletteMask(`${gt}/v1/00000.png`, N, N, merge(object1, object2, voids));
  await writePaletteMask(`${gt}/v1/00005.png`, N, N, merge(object1, voids));
  // expression 0: an offset square (J 9/23, F 15/16), then an exact 0/255 grayscale mask
  await writePaletteMask(
    `${pred}/v1/0/00000.png`,
    N,
    N,
    merge(square(2, 5, 2, 5), voidPixels ? square(8, 9, 0, 1) : new Uint8Array(N * N)),
  );
  const png = await importNpm<FastPng>("npm:fast-png@8.0.0");
  const gray = png.encode({
    width: N,
    height: N,
    data: square(3, 6, 3, 6, 255),
    channels: 1,
    depth: 8,
  });
  await writeFileAtomic(`${pred}/v1/0/00005.png`, gray);
  // expression 1: nothing predicted (misses frame 0, correct on the empty frame 1)
  for (const f of ["00000", "00005"]) {
    await writePaletteMask(`${pred}/v1/1/${f}.png`, N, N, new Uint8Array(N * N));
  }
  return { root, gt, pred: `${root}/pred` };
}

describe("evaluateFolders", () => {
  test("per expression, per video and overall J and F", async () => {
    const { gt, pred } = await makeTrees();
    const r = await evaluateFolders(pred, gt, "ytvos", meta, { perFrame: true });
    const [e0, e1] = r.expressions;
    expect([e0.video, e0.expId, e0.objId, e0.frames]).toEqual(["v1", "0", 1, 2]);
    expect(e0.J.mean).toBeCloseTo((9 / 23 + 1) / 2, 12);
    expect(e0.F.mean).toBeCloseTo((15 / 16 + 1) / 2, 12);
    expect(e0.perFrame!.map((p) => p.frame)).toEqual(["00000", "00005"]);
    expect([e1.J.mean, e1.F.mean, e1.JF]).toEqual([0.5, 0.5, 0.5]);
    const J = ((9 / 23 + 1) / 2 + 0.5) / 2, F = ((15 / 16 + 1) / 2 + 0.5) / 2;
    expect(r.overall.J).toBeCloseTo(J, 12);
    expect(r.overall.F).toBeCloseTo(F, 12);
    expect(r.overall["J&F"]).toBeCloseTo((J + F) / 2, 12);
    expect(r.overall["J-Recall"]).toBeCloseTo((0.5 + 0.5) / 2, 12);
    expect(r.videos).toEqual([{
      video: "v1",
      expressions: 2,
      J: r.overall.J,
      F: r.overall.F,
      JF: r.overall["J&F"],
    }]);
    expect(r.missingPredictions).toBe(0);
  });

  test("CSV and JSON writers", async () => {
    const { root, gt, pred } = await makeTrees();
    const r = await evaluateFolders(pred, gt, "ytvos", meta);
    const csv = resultsToCsv(r).trim().split("\n");
    expect(csv[0]).toBe("video,exp_id,obj_id,frames,J&F,J,F,J-Recall,F-Recall");
    expect(csv[2]).toBe("v1,1,2,2,0.50000,0.50000,0.50000,0.50000,0.50000");
    expect(csv[3].startsWith("overall,,,2,")).toBe(true);
    expect(globalCsv(r).split("\n")[0]).toBe(
      "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay",
    );
    await writeResultsJson(`${root}/results.json`, r);
    await writeResultsCsv(`${root}/results.csv`, r);
    const back = JSON.parse(await Deno.readTextFile(`${root}/results.json`));
    expect(back.overall.J).toBeCloseTo(r.overall.J, 12);
    expect(await Deno.readTextFile(`${root}/results.csv`)).toBe(resultsToCsv(r));
  });

  test("davis layout ignores void (255) pixels; ytvos layout does not", async () => {
    const { gt, pred } = await makeTrees(true);
    const davis = await evaluateFolders(pred, gt, "davis", meta);
    const ytvos = await evaluateFolders(pred, gt, "ytvos", meta);
    expect(davis.expressions[0].J.mean).toBeCloseTo((9 / 23 + 1) / 2, 12);
    expect(ytvos.expressions[0].J.mean).toBeCloseTo((9 / (23 + 4) + 1) / 2, 12);
  });

  test("missing predictions: an error by default, or scored as empty", async () => {
    const { gt, pred } = await makeTrees();
    await Deno.remove(`${pred}/Annotations/v1/1/00000.png`);
    await expect(evaluateFolders(pred, gt, "ytvos", meta)).rejects.toThrow(
      `png: cannot read ${pred}/Annotations/v1/1/00000.png`,
    );
    const r = await evaluateFolders(pred, gt, "ytvos", meta, { missing: "empty" });
    expect(r.missingPredictions).toBe(1);
    expect(r.expressions[1].J.mean).toBe(0.5);
  });

  test("skipFirstLast keeps the middle frames; a size mismatch is reported", async () => {
    const { gt, pred } = await makeTrees();
    const three: MetaExpressions = {
      videos: {
        v1: { frames: ["00000", "00005", "00010"], expressions: { "0": { exp: "x", obj_id: 1 } } },
      },
    };
    await writePaletteMask(`${gt}/v1/00010.png`, N, N, new Uint8Array(N * N));
    const r = await evaluateFolders(pred, gt, "ytvos", three, { skipFirstLast: true });
    expect(r.expressions[0].frames).toBe(1);
    expect(r.expressions[0].J.mean).toBe(1);
    await writePaletteMask(`${pred}/Annotations/v1/0/00005.png`, 4, 4, new Uint8Array(16));
    await expect(evaluateFolders(pred, gt, "ytvos", meta)).rejects.toThrow(
      /v1\/0\/00005\.png is 4x4, ground truth is 10x10/,
    );
  });
});
