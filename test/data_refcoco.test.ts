import { afterAll, describe, expect, test } from "vitest";
import { writePng } from "../src/media/png.ts";
import {
  decodeSegmentation,
  rleFromPolygon,
  rleFromString,
  rleToMask,
  rleToString,
} from "../src/data/coco_rle.ts";
import { openRefCoco } from "../src/data/refcoco.ts";
import { ConcatDataset } from "../src/data/concat.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  return dir;
}

const rect = (w: number, h: number, x0: number, y0: number, x1: number, y1: number) => {
  const m = new Uint8Array(w * h);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * w + x] = 1;
  return m;
};

describe("COCO RLE", () => {
  test("uncompressed counts are column-major runs starting with zeros", () => {
    const mask = rleToMask({ size: [2, 3], counts: [2, 3, 1] });
    expect([...mask]).toEqual([0, 1, 1, 0, 1, 0]);
  });

  test("compressed strings (hand-encoded, including a negative difference)", () => {
    expect(rleFromString("231", 2, 3).counts).toEqual([2, 3, 1]);
    expect(rleFromString("051M", 2, 4).counts).toEqual([0, 5, 1, 2]);
    expect(rleToString({ size: [2, 4], counts: [0, 5, 1, 2] })).toBe("051M");
    const counts = [5, 100, 3, 2000, 1, 70000, 4, 2];
    expect(rleFromString(rleToString({ size: [1, 1], counts }), 1, 1).counts).toEqual(counts);
  });

  test("polygons rasterise like pycocotools (box corners at pixel edges)", () => {
    const small = rleFromPolygon([2, 1, 6, 1, 6, 4, 2, 4], 8, 8);
    expect(small.counts).toEqual([17, 3, 5, 3, 5, 3, 5, 3, 20]);
    expect([...rleToMask(small)]).toEqual([...rect(8, 8, 2, 1, 5, 3)]);
    const box = rleToMask(rleFromPolygon([0, 0, 10, 0, 10, 10, 0, 10], 12, 12));
    expect([...box]).toEqual([...rect(12, 12, 0, 0, 9, 9)]);
  });

  test("segmentation errors name the field", () => {
    expect(() => decodeSegmentation([[1, 2, 3]], 4, 4, "annotation 5")).toThrow(
      "annotation 5.segmentation[0]: polygon needs an even number (>= 4) of coordinates",
    );
    expect(() => decodeSegmentation({ size: [3, 3], counts: [1] }, 4, 4, "annotation 6")).toThrow(
      "annotation 6.segmentation.size 3x3 differs from the image 4x4",
    );
    expect(() => decodeSegmentation({ size: [2, 2], counts: [1, 9] }, 2, 2, "a")).toThrow(
      "a.segmentation: coco rle: counts cover more than 2x2 pixels",
    );
  });
});

async function makeCoco() {
  const root = await tempDir();
  await writePng(`${root}/img7.png`, {
    width: 8,
    height: 6,
    data: new Uint8Array(8 * 6 * 3).fill(90),
  });
  const corner = rleToString({ size: [6, 8], counts: [0, 2, 4, 2, 40] }); // x 0..1, y 0..1
  const instances = {
    images: [{ id: 7, file_name: "img7.png", height: 6, width: 8 }],
    annotations: [
      {
        id: 70,
        image_id: 7,
        bbox: [2, 1, 4, 3],
        segmentation: [[2, 1, 6, 1, 6, 4, 2, 4]],
        iscrowd: 0,
      },
      { id: 71, image_id: 7, bbox: [0, 0, 2, 2], segmentation: { size: [6, 8], counts: corner } },
    ],
  };
  const refs = [
    {
      ref_id: 1,
      ann_id: 70,
      image_id: 7,
      split: "train",
      sentences: [{ sent: "The Left  Box" }, { sent: "box" }],
    },
    { ref_id: 2, ann_id: 71, image_id: 7, split: "val", sentences: [{ sent: "val only" }] },
    { ref_id: 3, ann_id: 71, image_id: 7, split: "train", sentences: [{ sent: "corner" }] },
  ];
  await Deno.writeTextFile(`${root}/instances.json`, JSON.stringify(instances));
  await Deno.writeTextFile(`${root}/refs.json`, JSON.stringify(refs));
  const converted = {
    images: [{ id: 1, file_name: "img7.png", height: 6, width: 8, caption: "box", original_id: 7 }],
    annotations: [{ ...instances.annotations[0], id: 1, image_id: 1 }],
  };
  await Deno.writeTextFile(`${root}/instances_refcoco_train.json`, JSON.stringify(converted));
  return root;
}

describe("RefCOCO pseudo-videos", () => {
  test("raw instances + refs: one sample per sentence of the split", async () => {
    const root = await makeCoco();
    const ds = await openRefCoco({
      instances: `${root}/instances.json`,
      refs: `${root}/refs.json`,
      imageDir: root,
    });
    expect(ds.length).toBe(3);
    const s = await ds.get(0);
    expect(s.caption).toBe("the left box");
    expect([s.video, s.expId, s.frameIds]).toEqual(["refcoco/7", "1_0", ["7"]]);
    expect([...s.targets.boxesXyxy]).toEqual([2, 1, 6, 4]);
    const b = [...s.targets.boxes];
    [4 / 8, 2.5 / 6, 4 / 8, 3 / 6].forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6));
    expect([...s.targets.masks[0]]).toEqual([...rect(8, 6, 2, 1, 5, 3)]);
    expect([...s.targets.valid]).toEqual([1]);
    const corner = await ds.get(2);
    expect(corner.caption).toBe("corner");
    expect([...corner.targets.masks[0]]).toEqual([...rect(8, 6, 0, 0, 1, 1)]);
  });

  test("numFrames repeats the image into a clip", async () => {
    const root = await makeCoco();
    const ds = await openRefCoco({
      instances: `${root}/instances.json`,
      refs: `${root}/refs.json`,
      imageDir: root,
      numFrames: 3,
    });
    const s = await ds.get(1);
    expect(s.frames.length).toBe(3);
    expect([...s.targets.valid]).toEqual([1, 1, 1]);
    expect([...s.targets.boxesXyxy.subarray(8, 12)]).toEqual([2, 1, 6, 4]);
  });

  test("the converted per-expression COCO file works without refs; concat joins datasets", async () => {
    const root = await makeCoco();
    const converted = await openRefCoco({
      instances: `${root}/instances_refcoco_train.json`,
      imageDir: root,
    });
    const raw = await openRefCoco({
      instances: `${root}/instances.json`,
      refs: `${root}/refs.json`,
      imageDir: root,
    });
    const all = new ConcatDataset([raw, converted]);
    expect(all.length).toBe(4);
    const s = await all.get(3);
    expect(s.caption).toBe("box");
    expect([...s.targets.boxesXyxy]).toEqual([2, 1, 6, 4]);
  });

  test("bad references and sizes give clear errors", async () => {
    const root = await makeCoco();
    await Deno.writeTextFile(
      `${root}/bad.json`,
      JSON.stringify([{ ref_id: 9, ann_id: 99, split: "train", sentences: [] }]),
    );
    await expect(
      openRefCoco({
        instances: `${root}/instances.json`,
        refs: `${root}/bad.json`,
        imageDir: root,
      }),
    )
      .rejects.toThrow(`RefCOCO ${root}/bad.json: refs[0].ann_id 99 is not in the instances file`);
    await expect(openRefCoco({ instances: `${root}/instances.json`, imageDir: root })).rejects
      .toThrow(
        "image 7 has no caption (pass refs for the raw COCO form)",
      );
    await writePng(`${root}/img7.png`, { width: 4, height: 4, data: new Uint8Array(48) });
    const ds = await openRefCoco({
      instances: `${root}/instances.json`,
      refs: `${root}/refs.json`,
      imageDir: root,
    });
    await expect(ds.get(0)).rejects.toThrow(/img7\.png is 4x4, the annotation says 8x6/);
  });
});
