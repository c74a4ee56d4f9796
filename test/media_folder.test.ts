import { afterAll, describe, expect, test } from "vitest";
import {
  collectFrames,
  encodePng,
  listFrameFiles,
  readFrameFolder,
  type RgbImage,
  writeFrameFolder,
} from "../src/media/mod.ts";

function solid(width: number, height: number, rgb: number[]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, p * 3);
  return { width, height, data };
}

const COLORS = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [120, 120, 120], [250, 250, 10]];
const root = await Deno.makeTempDir();
afterAll(() => Deno.remove(root, { recursive: true }));

describe("frame folders", () => {
  test("write then read round trip in chunks", async () => {
    const dir = `${root}/frames`;
    const frames = COLORS.map((rgb) => solid(24, 16, rgb));
    const names = await writeFrameFolder(dir, frames, { quality: 95 });
    expect(names).toEqual(["00000.jpg", "00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg"]);
    const chunks = await Array.fromAsync(readFrameFolder(dir, { chunkFrames: 2, fps: 5 }));
    expect(chunks.map((c) => c.names)).toEqual([
      names.slice(0, 2),
      names.slice(2, 4),
      names.slice(4),
    ]);
    expect(chunks.map((c) => c.startIndex)).toEqual([0, 2, 4]);
    expect(chunks.flatMap((c) => c.timestamps)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    const back = chunks.flatMap((c) => c.frames);
    back.forEach((frame, i) => {
      expect([frame.width, frame.height]).toEqual([24, 16]);
      const center = [...frame.data.subarray((8 * 24 + 12) * 3, (8 * 24 + 12) * 3 + 3)];
      center.forEach((v, c) => expect(Math.abs(v - COLORS[i][c])).toBeLessThanOrEqual(3));
    });
    const part = await collectFrames(readFrameFolder(dir, { startFrame: 3, maxFrames: 5 }));
    expect(part.length).toBe(2);
  });

  test("natural order, PNG and JPEG mixed, other files ignored", async () => {
    const dir = `${root}/mixed`;
    await Deno.mkdir(dir);
    await writeFrameFolder(dir, [solid(8, 8, [10, 20, 30]), solid(8, 8, [40, 50, 60])], {
      names: ["10.jpg", "2.JPEG"],
    });
    await Deno.writeFile(`${dir}/1.png`, await encodePng(solid(8, 8, [1, 2, 3])));
    await Deno.writeTextFile(`${dir}/notes.txt`, "not a frame");
    expect(await listFrameFiles(dir)).toEqual(["1.png", "2.JPEG", "10.jpg"]);
    const frames = await collectFrames(readFrameFolder(dir));
    expect([...frames[0].data.subarray(0, 3)]).toEqual([1, 2, 3]);
  });

  test("bad folders give clear errors", async () => {
    await expect(listFrameFiles(`${root}/none`)).rejects.toThrow(
      `frames: cannot read folder ${root}/none: no such file`,
    );
    const empty = `${root}/empty`;
    await Deno.mkdir(empty);
    await expect(listFrameFiles(empty)).rejects.toThrow(`frames: no JPEG/PNG files in ${empty}`);
    const sizes = `${root}/sizes`;
    await writeFrameFolder(sizes, [solid(8, 8, [0, 0, 0]), solid(6, 8, [0, 0, 0])]);
    await expect(collectFrames(readFrameFolder(sizes))).rejects.toThrow(
      `frames: ${sizes}/00001.jpg is 6x8, expected 8x8`,
    );
    const corrupt = `${root}/corrupt`;
    await Deno.mkdir(corrupt);
    await Deno.writeFile(`${corrupt}/0.jpg`, new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]));
    await expect(collectFrames(readFrameFolder(corrupt))).rejects.toThrow(
      `image: cannot decode ${corrupt}/0.jpg`,
    );
  });
});
