import { afterAll, describe, expect, test } from "vitest";
import { importNpm } from "../src/npm.ts";
import {
  DAVIS_PALETTE,
  decodeMaskPng,
  decodePng,
  encodePaletteMask,
  encodePng,
  readPaletteMask,
  writePaletteMask,
} from "../src/media/png.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => Deno.removeSync(d, { recursive: true })));
async function tempDir(): Promise<string> {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  return dir;
}

type FastPng = typeof import("npm:fast-png@8.0.0");
const fastPng = () => importNpm<FastPng>("npm:fast-png@8.0.0");
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

// Made with PIL: a 5x2 two-bit palette image and a 5x2 one-bit image.
const PIL_P2 =
  "iVBORw0KGgoAAAANSUhEUgAAAAUAAAACAgMAAADtBP7OAAAADFBMVEUAAACAAAAAgACAgAA47ASAAAAADklEQVR4nGOQZmB44gAAApUBQAsU0eEAAAAASUVORK5CYII=";
const PIL_1BIT =
  "iVBORw0KGgoAAAANSUhEUgAAAAUAAAACAQAAAAC4ESvwAAAADElEQVR4nGMoYHgBAAI8AVnw6gxiAAAAAElFTkSuQmCC";

describe("DAVIS palette", () => {
  test("is the PASCAL VOC colour map", () => {
    expect(DAVIS_PALETTE.length).toBe(768);
    const entry = (i: number) => [...DAVIS_PALETTE.subarray(i * 3, i * 3 + 3)];
    expect(entry(0)).toEqual([0, 0, 0]);
    expect(entry(1)).toEqual([128, 0, 0]);
    expect(entry(2)).toEqual([0, 128, 0]);
    expect(entry(3)).toEqual([128, 128, 0]);
    expect(entry(4)).toEqual([0, 0, 128]);
    expect(entry(8)).toEqual([64, 0, 0]);
    expect(entry(255)).toEqual([224, 224, 192]);
  });
});

describe("palette masks", () => {
  test("write then read keeps the indices and the palette; no temp file is left", async () => {
    const dir = await tempDir();
    const indices = new Uint8Array([0, 1, 2, 7, 255, 1, 0, 3, 4, 5, 6, 0]);
    await writePaletteMask(`${dir}/m.png`, 4, 3, indices);
    const mask = await readPaletteMask(`${dir}/m.png`);
    expect(mask.kind).toBe("palette");
    expect([mask.width, mask.height]).toEqual([4, 3]);
    expect([...mask.indices]).toEqual([...indices]);
    expect(mask.palette).toEqual(DAVIS_PALETTE);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    expect(names).toEqual(["m.png"]);
  });

  test("reads PIL's packed 2-bit palette PNG", async () => {
    const mask = await readPaletteMask(fromBase64(PIL_P2));
    expect(mask.kind).toBe("palette");
    expect([...mask.indices]).toEqual([0, 1, 2, 3, 0, 3, 2, 1, 0, 1]);
    expect([...mask.palette!]).toEqual([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]);
  });

  test("custom palettes are written as given", async () => {
    const bytes = await encodePaletteMask(
      2,
      1,
      new Uint8Array([1, 0]),
      new Uint8Array([9, 9, 9, 200, 100, 50]),
    );
    const rgb = await decodePng(bytes);
    expect([...rgb.data]).toEqual([200, 100, 50, 9, 9, 9]);
  });

  test("bad input gives a one-line error", async () => {
    await expect(encodePaletteMask(3, 2, new Uint8Array(5))).rejects.toThrow(
      "png: mask has 5 indices, expected 6",
    );
    await expect(readPaletteMask("/nonexistent/x.png")).rejects.toThrow(
      /png: cannot read \/nonexistent\/x\.png/,
    );
    await expect(decodeMaskPng(new Uint8Array([1, 2, 3]), "junk.png")).rejects.toThrow(
      /png: cannot decode junk\.png/,
    );
  });
});

describe("grayscale and RGB masks", () => {
  test("a 1-bit image reads as 0/1", async () => {
    const mask = await readPaletteMask(fromBase64(PIL_1BIT));
    expect(mask.kind).toBe("grayscale");
    expect([...mask.indices]).toEqual([0, 1, 1, 1, 0, 1, 1, 1, 0, 1]);
  });

  test("0/255 grayscale reads as binary; several levels need grayscale: ids", async () => {
    const png = await fastPng();
    const binary = png.encode({
      width: 3,
      height: 1,
      data: new Uint8Array([0, 255, 255]),
      channels: 1,
      depth: 8,
    });
    expect([...(await readPaletteMask(binary)).indices]).toEqual([0, 1, 1]);
    const levels = png.encode({
      width: 3,
      height: 1,
      data: new Uint8Array([0, 1, 2]),
      channels: 1,
      depth: 8,
    });
    await expect(readPaletteMask(levels)).rejects.toThrow(
      "grayscale mask has 2 non-zero levels (1, 2)",
    );
    expect([...(await readPaletteMask(levels, { grayscale: "ids" })).indices]).toEqual([0, 1, 2]);
  });

  test("RGB masks map DAVIS colours to indices, a single other colour to 1", async () => {
    const png = await fastPng();
    const davis = png.encode({
      width: 3,
      height: 1,
      data: new Uint8Array([0, 0, 0, 128, 0, 0, 0, 128, 0]),
      channels: 3,
      depth: 8,
    });
    expect([...(await readPaletteMask(davis)).indices]).toEqual([0, 1, 2]);
    const single = png.encode({
      width: 2,
      height: 1,
      data: new Uint8Array([10, 20, 30, 0, 0, 0]),
      channels: 3,
      depth: 8,
    });
    expect([...(await readPaletteMask(single)).indices]).toEqual([1, 0]);
    const two = png.encode({
      width: 2,
      height: 1,
      data: new Uint8Array([10, 20, 30, 11, 20, 30]),
      channels: 3,
      depth: 8,
    });
    await expect(readPaletteMask(two)).rejects.toThrow(/RGB mask has 2 non-black colours/);
  });
});

describe("RGB PNG", () => {
  test("encode/decode round trip", async () => {
    const image = { width: 2, height: 2, data: Uint8Array.from({ length: 12 }, (_, i) => i * 20) };
    const back = await decodePng(await encodePng(image));
    expect(back).toEqual(image);
  });
});
