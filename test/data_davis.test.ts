import { afterAll, describe, expect, test } from "vitest";
import { writePaletteMask, writePng } from "../src/media/png.ts";
import { openRefDavis, parseDavisTextAnnotations, readRefDavis } from "../src/data/davis.ts";
import { Rng } from "../src/data/rng.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  return dir;
}

const W = 8, H = 6;

async function makeDavis(options: { dropVideoFrom?: string } = {}): Promise<string> {
  const root = await tempDir();
  const davis = `${root}/DAVIS`;
  const videos = { bike: 3, "dogs-scale": 2 };
  for (const [video, n] of Object.entries(videos)) {
    await Deno.mkdir(`${davis}/JPEGImages/480p/${video}`, { recursive: true });
    await Deno.mkdir(`${davis}/Annotations_unsupervised/480p/${video}`, { recursive: true });
    for (let f = 0; f < n; f++) {
      const name = String(f).padStart(5, "0");
      const image = { width: W, height: H, data: new Uint8Array(W * H * 3).fill(40 * f) };
      await writePng(`${davis}/JPEGImages/480p/${video}/${name}.png`, image);
      const ids = new Uint8Array(W * H);
      ids.fill(1, 0, 8); // object 1: the first row
      ids.fill(2, 8 * 3, 8 * 3 + 4 + f); // object 2: part of row 3
      ids[W * H - 1] = 255; // a void pixel
      await writePaletteMask(
        `${davis}/Annotations_unsupervised/480p/${video}/${name}.png`,
        W,
        H,
        ids,
      );
    }
  }
  await Deno.mkdir(`${davis}/ImageSets/2017`, { recursive: true });
  await Deno.writeTextFile(`${davis}/ImageSets/2017/val.txt`, "bike\ndogs-scale\n");
  await Deno.writeTextFile(`${davis}/ImageSets/2017/train.txt`, "");
  const text = `${root}/davis_text_annotations`;
  await Deno.mkdir(text);
  const lines = (
    tag: string,
  ) => [
    `bike 2 "a man riding ${tag}"`,
    `bike 1 "a black bike ${tag}"`,
    `dog-scale 1 "the dog ${tag}"`,
  ];
  await Deno.writeTextFile(`${text}/Davis17_annot1.txt`, lines("a1").join("\n") + "\n");
  await Deno.writeTextFile(`${text}/Davis17_annot1_full_video.txt`, lines("a1f").join("\n") + "\n");
  const latin = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  let annot2 = lines("caf\u00e9");
  if (options.dropVideoFrom === "annot2") annot2 = annot2.slice(0, 2);
  await Deno.writeFile(`${text}/Davis17_annot2.txt`, latin(annot2.join("\r\n")));
  await Deno.writeFile(`${text}/Davis17_annot2_full_video.txt`, latin(lines("a2f").join("\n")));
  return root;
}

describe("Ref-DAVIS17 expressions", () => {
  test('parses `video obj_id "expression"` lines, fixing known video names', () => {
    const parsed = parseDavisTextAnnotations(
      'motor-bike 2 "a  red bike"\nmotor-bike 10 "x"\n',
      "t.txt",
    );
    expect(parsed.get("motorbike")).toEqual([{ objId: "10", exp: "x" }, {
      objId: "2",
      exp: "a red bike",
    }]);
    expect(() => parseDavisTextAnnotations("bike one two", "t.txt")).toThrow(
      `Ref-DAVIS17 t.txt:1: expected 'video obj_id "expression"'`,
    );
  });

  test("expression ids follow the converter: per object annot1 first/full, annot2 first/full", async () => {
    const tree = await readRefDavis(await makeDavis(), "valid");
    const bike = tree.meta.videos.bike;
    expect(bike.frames).toEqual(["00000", "00001", "00002"]);
    expect(bike.expressions).toEqual({
      "0": { exp: "a black bike a1", obj_id: "1" },
      "1": { exp: "a black bike a1f", obj_id: "1" },
      "2": { exp: "a black bike caf\u00e9", obj_id: "1" },
      "3": { exp: "a black bike a2f", obj_id: "1" },
      "4": { exp: "a man riding a1", obj_id: "2" },
      "5": { exp: "a man riding a1f", obj_id: "2" },
      "6": { exp: "a man riding caf\u00e9", obj_id: "2" },
      "7": { exp: "a man riding a2f", obj_id: "2" },
    });
    expect(Object.keys(tree.meta.videos["dogs-scale"].expressions)).toEqual(["0", "1", "2", "3"]);
    const e = tree.expressions.find((x) => x.video === "bike" && x.expId === "6")!;
    expect([e.annotator, e.variant, e.objId]).toEqual([2, "first-frame", 2]);
    expect(tree.annotationRoot.endsWith("DAVIS/Annotations_unsupervised/480p")).toBe(true);
  });

  test("a video missing from one expression file is a clear error", async () => {
    const root = await makeDavis({ dropVideoFrom: "annot2" });
    await expect(readRefDavis(root, "valid")).rejects.toThrow(
      `Ref-DAVIS17 ${root}/davis_text_annotations/Davis17_annot2.txt: no expressions for video dogs-scale`,
    );
  });

  test("clips read the DAVIS tree directly", async () => {
    const ds = await openRefDavis(await makeDavis(), { numFrames: 2 });
    expect(ds.length).toBe(8 * 2 + 4 * 1);
    const s = await ds.get(8, new Rng(1)); // bike, exp 4 (object 2), start 0
    expect(s.objId).toBe(2);
    expect(s.caption).toBe("a man riding a1");
    s.frameIndices.forEach((f, k) => {
      expect(s.frames[k].data[0]).toBe(40 * f);
      expect([...s.targets.boxesXyxy.subarray(k * 4, k * 4 + 4)]).toEqual([0, 3, 3 + f, 3]);
      expect(s.targets.masks[k].reduce((a, b) => a + b, 0)).toBe(4 + f);
    });
  });
});
