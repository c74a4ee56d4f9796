import { afterAll, describe, expect, test } from "vitest";
import { writePaletteMask, writePng } from "../src/media/png.ts";
import { writeJpeg } from "../src/media/jpeg.ts";
import { openRefYtvos, ytvosInferenceExpressions } from "../src/data/ytvos.ts";
import { Rng } from "../src/data/rng.ts";
import { SubjectLabeler } from "../src/data/subject_labels.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  return dir;
}

const W = 16, H = 12;
const names = (n: number) => Array.from({ length: n }, (_, i) => String(i * 5).padStart(5, "0"));

/** Object 1: rows 3..6, columns 2+f..5+f in frame f; object 2 only in even frames. */
function annotation(f: number): Uint8Array {
  const ids = new Uint8Array(W * H);
  for (let y = 3; y <= 6; y++) for (let x = 2 + f; x <= 5 + f; x++) ids[y * W + x] = 1;
  if (f % 2 === 0) {
    for (let y = 1; y <= 2; y++) {
      for (let x = 10; x <= 12; x++) ids[y * W + x] = 2;
    }
  }
  return ids;
}

async function makeTree(): Promise<string> {
  const root = await tempDir();
  const videos = { vidA: names(7), vidB: names(3) };
  for (const [video, frames] of Object.entries(videos)) {
    await Deno.mkdir(`${root}/train/JPEGImages/${video}`, { recursive: true });
    await Deno.mkdir(`${root}/train/Annotations/${video}`, { recursive: true });
    for (let f = 0; f < frames.length; f++) {
      const image = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(f * 10) };
      if (video === "vidA") {
        await writePng(`${root}/train/JPEGImages/${video}/${frames[f]}.png`, image);
      } else await writeJpeg(`${root}/train/JPEGImages/${video}/${frames[f]}.jpg`, image);
      await writePaletteMask(
        `${root}/train/Annotations/${video}/${frames[f]}.png`,
        W,
        H,
        annotation(f),
      );
    }
  }
  const meta = {
    videos: {
      vidA: {
        frames: [...videos.vidA].reverse(), // the dataset sorts them
        expressions: {
          "0": { exp: "A  Red Box ", obj_id: "1" },
          "1": { exp: "the blue one", obj_id: "2" },
        },
      },
      vidB: { frames: videos.vidB, expressions: { "0": { exp: "box", obj_id: "1" } } },
    },
  };
  const objects = {
    videos: {
      vidA: { objects: { "1": { category: "box" }, "2": { category: "ball" } } },
      vidB: { objects: { "1": { category: "box" } } },
    },
  };
  await Deno.mkdir(`${root}/meta_expressions/train`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/meta_expressions/train/meta_expressions.json`,
    JSON.stringify(meta),
  );
  await Deno.writeTextFile(`${root}/train/meta.json`, JSON.stringify(objects));
  return root;
}

describe("Ref-YouTube-VOS dataset", () => {
  test("one sample per (video, expression, start 0, t, 2t...)", async () => {
    const ds = await openRefYtvos(await makeTree());
    expect(ds.length).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => ds.meta(i))).toEqual([
      { video: "vidA", expId: "0", start: 0 },
      { video: "vidA", expId: "0", start: 5 },
      { video: "vidA", expId: "1", start: 0 },
      { video: "vidA", expId: "1", start: 5 },
      { video: "vidB", expId: "0", start: 0 },
    ]);
  });

  test("targets: binary mask of obj_id, inclusive box, normalised box, valid", async () => {
    const ds = await openRefYtvos(await makeTree());
    const s = await ds.get(0, new Rng(3));
    expect(s.caption).toBe("a red box");
    expect(s.frameIds).toEqual(s.frameIndices.map((i) => names(7)[i]));
    expect(s.targets.size).toEqual([H, W]);
    expect(s.category).toBe("box");
    expect([...s.targets.labels]).toEqual([0, 0, 0, 0, 0]);
    s.frameIndices.forEach((f, k) => {
      expect(s.frames[k].data[0]).toBe(f * 10);
      expect([...s.targets.masks[k]]).toEqual([...annotation(f)].map((v) => (v === 1 ? 1 : 0)));
      expect([...s.targets.boxesXyxy.subarray(k * 4, k * 4 + 4)]).toEqual([2 + f, 3, 5 + f, 6]);
      const box = [...s.targets.boxes.subarray(k * 4, k * 4 + 4)];
      expect(box[0]).toBeCloseTo((2 + f + 5 + f) / 2 / W, 6);
      expect(box[1]).toBeCloseTo(4.5 / H, 6);
      expect(box[2]).toBeCloseTo(3 / W, 6);
      expect(box[3]).toBeCloseTo(3 / H, 6);
    });
    expect([...s.targets.valid]).toEqual([1, 1, 1, 1, 1]);
  });

  test("frames without the object are invalid with a zero box", async () => {
    const ds = await openRefYtvos(await makeTree());
    const s = await ds.get(2, new Rng(11));
    s.frameIndices.forEach((f, k) => {
      expect(s.targets.valid[k]).toBe(f % 2 === 0 ? 1 : 0);
      const expected = f % 2 === 0 ? [10, 1, 12, 2] : [0, 0, 0, 0];
      expect([...s.targets.boxesXyxy.subarray(k * 4, k * 4 + 4)]).toEqual(expected);
      if (f % 2) expect([...s.targets.boxes.subarray(k * 4, k * 4 + 4)]).toEqual([0, 0, 0, 0]);
    });
  });

  test("JPEG frames decode and samples are reproducible per index", async () => {
    const ds = await openRefYtvos(await makeTree(), { seed: 5 });
    const a = await ds.get(4), b = await ds.get(4);
    expect(a.frameIndices).toEqual(b.frameIndices);
    expect(a.frames[0].width).toBe(W);
    expect(Math.abs(a.frames[0].data[0] - a.frameIndices[0] * 10)).toBeLessThanOrEqual(2);
  });

  test("subject labels are attached with their source", async () => {
    const labeler = new SubjectLabeler({
      file: [{ video: "vidA", exp_id: "0", token_span: [0, 3] }],
    });
    const ds = await openRefYtvos(await makeTree(), { labeler });
    expect((await ds.get(0)).subject).toEqual({ source: "file", tokenSpan: [0, 3] });
    expect((await ds.get(2)).subject).toEqual({ source: "fallback-first-chunk", chunkIndex: 0 });
  });

  test("clear errors for missing or inconsistent files", async () => {
    const empty = await tempDir();
    await expect(openRefYtvos(empty)).rejects.toThrow(
      `Ref-YouTube-VOS: cannot read ${empty}/meta_expressions/train/meta_expressions.json`,
    );
    const root = await makeTree();
    await Deno.writeTextFile(
      `${root}/train/meta.json`,
      JSON.stringify({
        videos: { vidA: { objects: { "1": { category: "box" } } }, vidB: { objects: {} } },
      }),
    );
    await expect(openRefYtvos(root)).rejects.toThrow(
      `${root}/train/meta.json: videos.vidA.objects.2 missing (referenced by expression 1)`,
    );
    const root2 = await makeTree();
    await writePaletteMask(`${root2}/train/Annotations/vidB/00000.png`, 4, 4, new Uint8Array(16));
    const ds = await openRefYtvos(root2);
    await expect(ds.get(4)).rejects.toThrow(/vidB\/00000\.png is 4x4 but its frame is 16x12/);
  });

  test("inference expressions: valid videos minus test videos", async () => {
    const root = await tempDir();
    const write = async (split: string, videos: Record<string, unknown>) => {
      await Deno.mkdir(`${root}/meta_expressions/${split}`, { recursive: true });
      await Deno.writeTextFile(
        `${root}/meta_expressions/${split}/meta_expressions.json`,
        JSON.stringify({ videos }),
      );
    };
    const entry = {
      frames: ["00000"],
      expressions: { "0": { exp: "a cat" }, "1": { exp: "a dog" } },
    };
    await write("valid", { v1: entry, v2: entry, v3: entry });
    await write("test", { v2: entry });
    const list = await ytvosInferenceExpressions(root);
    expect(list.map((e) => `${e.video}/${e.expId}`)).toEqual(["v1/0", "v1/1", "v3/0", "v3/1"]);
    expect(list[0].objId).toBeUndefined();
  });
});
