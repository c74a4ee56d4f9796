import { afterAll, describe, expect, test } from "vitest";
import {
  collectFrames,
  decodeVideo,
  encodeVideo,
  encodeVideoBytes,
  probeVideo,
  type RgbImage,
} from "../src/media/mod.ts";
import { runFfmpeg } from "../src/media/ffmpeg.ts";

const W = 64, H = 48, N = 24, FPS = 10;
const BACKGROUND = [40, 60, 80];

/** A red 16x16 square moving 2 px right per frame over a flat background. */
function movingSquare(index: number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++) data.set(BACKGROUND, p * 3);
  for (let y = 16; y < 32; y++) {
    for (let x = 4 + 2 * index; x < 20 + 2 * index; x++) data.set([220, 40, 30], (y * W + x) * 3);
  }
  return { width: W, height: H, data };
}

const source = Array.from({ length: N }, (_, i) => movingSquare(i));

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** Index of the first differing byte, -1 when equal (much faster than toEqual on big arrays). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [...image.data.subarray(i, i + 3)];
}

const dir = await Deno.makeTempDir();
const mp4 = `${dir}/square.mp4`;
const gif = `${dir}/square.gif`;
afterAll(() => Deno.remove(dir, { recursive: true }));

describe("video round trip", () => {
  test("encode mp4 and gif atomically", async () => {
    await encodeVideo(mp4, source, { fps: FPS });
    await encodeVideo(gif, source, { fps: FPS });
    const names = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
    expect(names.sort()).toEqual(["square.gif", "square.mp4"]);
    const mp4Bytes = await Deno.readFile(mp4);
    expect(new TextDecoder().decode(mp4Bytes.subarray(4, 8))).toBe("ftyp");
    expect(new TextDecoder().decode((await Deno.readFile(gif)).subarray(0, 6))).toBe("GIF89a");
  });

  test("probe reports size, fps, frame count, duration and codec", async () => {
    expect(await probeVideo(mp4)).toEqual({
      width: W,
      height: H,
      fps: FPS,
      frameCount: N,
      durationSec: N / FPS,
      codec: "h264",
    });
    const gifInfo = await probeVideo(await Deno.readFile(gif));
    expect(gifInfo).toMatchObject({ width: W, height: H, fps: FPS, frameCount: N, codec: "gif" });
    expect(gifInfo.durationSec).toBeCloseTo(N / FPS, 5);
  });

  test("mp4 decodes to frames close to the source", async () => {
    const chunks = await Array.fromAsync(decodeVideo(mp4, { chunkFrames: 10 }));
    expect(chunks.map((c) => [c.startIndex, c.frames.length])).toEqual([[0, 10], [10, 10], [
      20,
      4,
    ]]);
    const frames = chunks.flatMap((c) => c.frames);
    const timestamps = chunks.flatMap((c) => c.timestamps);
    expect(timestamps.map((t) => Math.round(t * 1000))).toEqual(source.map((_, i) => i * 100));
    for (let i = 0; i < N; i++) {
      expect([frames[i].width, frames[i].height]).toEqual([W, H]);
      expect(meanAbsDiff(frames[i].data, source[i].data)).toBeLessThan(4);
      // Square interior and far background survive the lossy round trip.
      const inside = pixel(frames[i], 12 + 2 * i, 24);
      expect(Math.abs(inside[0] - 220)).toBeLessThan(16);
      expect(Math.abs(inside[1] - 40)).toBeLessThan(16);
      const outside = pixel(frames[i], 60, 4);
      outside.forEach((v, c) => expect(Math.abs(v - BACKGROUND[c])).toBeLessThan(8));
    }
  });

  test("gif decodes to the exact source (few colours fit the palette)", async () => {
    const frames = await collectFrames(decodeVideo(gif));
    expect(frames.length).toBe(N);
    frames.forEach((frame, i) => expect(meanAbsDiff(frame.data, source[i].data)).toBe(0));
  });

  test("chunked decoding yields the same frames as whole decoding", async () => {
    const whole = await Array.fromAsync(decodeVideo(mp4, { chunkFrames: N }));
    expect(whole.length).toBe(1);
    const chunked = await collectFrames(decodeVideo(mp4, { chunkFrames: 5 }));
    expect(chunked.length).toBe(N);
    chunked.forEach((frame, i) =>
      expect(firstDifference(frame.data, whole[0].frames[i].data)).toBe(-1)
    );
  });

  test("startFrame, maxFrames, fps and size", async () => {
    const whole = await collectFrames(decodeVideo(mp4));
    const part = await Array.fromAsync(
      decodeVideo(mp4, { startFrame: 5, maxFrames: 7, chunkFrames: 3 }),
    );
    expect(part.map((c) => c.startIndex)).toEqual([5, 8, 11]);
    const frames = part.flatMap((c) => c.frames);
    expect(frames.length).toBe(7);
    frames.forEach((frame, i) => expect(firstDifference(frame.data, whole[5 + i].data)).toBe(-1));
    expect(part[0].timestamps[0]).toBeCloseTo(0.5, 6);

    const resampled = await Array.fromAsync(decodeVideo(mp4, { fps: 5, size: [32, 24] }));
    const small = resampled.flatMap((c) => c.frames);
    expect(small.length).toBe(N / 2);
    expect([small[0].width, small[0].height, small[0].data.length]).toEqual([32, 24, 32 * 24 * 3]);
    expect(resampled[0].timestamps.slice(0, 3).map((t) => Math.round(t * 10))).toEqual([0, 2, 4]);
    // Every other source frame: the square is near x = 6 + 4k (half size).
    const inside = pixel(small[3], Math.round((12 + 2 * 6) / 2), 12);
    expect(inside[0]).toBeGreaterThan(180);
  });

  test("leaving a decode early cancels it and the decoder stays usable", async () => {
    for await (const chunk of decodeVideo(mp4, { chunkFrames: 2 })) {
      expect(chunk.frames.length).toBe(2);
      break;
    }
    expect((await collectFrames(decodeVideo(mp4, { maxFrames: 3 }))).length).toBe(3);
  });

  test("two decodes can be interleaved (a second ffmpeg worker serves the other)", async () => {
    const a = decodeVideo(mp4, { chunkFrames: 4 });
    const b = decodeVideo(gif, { chunkFrames: 4 });
    const fromA: RgbImage[] = [], fromB: RgbImage[] = [];
    for (let round = 0; round < 6; round++) {
      fromA.push(...(await a.next()).value!.frames);
      fromB.push(...(await b.next()).value!.frames);
    }
    expect([(await a.next()).done, (await b.next()).done]).toEqual([true, true]);
    expect([fromA.length, fromB.length]).toEqual([N, N]);
    fromB.forEach((frame, i) => expect(meanAbsDiff(frame.data, source[i].data)).toBe(0));
    expect(meanAbsDiff(fromA[N - 1].data, source[N - 1].data)).toBeLessThan(4);
  });

  test("odd sizes are padded to even for mp4", async () => {
    const odd = { width: 15, height: 9, data: new Uint8Array(15 * 9 * 3).fill(128) };
    const bytes = await encodeVideoBytes([odd, odd], { fps: 5, format: "mp4" });
    expect(await probeVideo(bytes)).toMatchObject({ width: 16, height: 10, frameCount: 2 });
  });
});

describe("video bad input", () => {
  test("corrupt bytes", async () => {
    const path = `${dir}/corrupt.mp4`;
    await Deno.writeFile(path, crypto.getRandomValues(new Uint8Array(4096)));
    await expect(probeVideo(path)).rejects.toThrow(
      `video: cannot decode ${path}: invalid data found when processing input`,
    );
    await expect(collectFrames(decodeVideo(path))).rejects.toThrow(
      /^video: cannot decode .*corrupt\.mp4: invalid data/,
    );
  });

  test("truncated mp4", async () => {
    const path = `${dir}/truncated.mp4`;
    await Deno.writeFile(path, (await Deno.readFile(mp4)).slice(0, 200));
    await expect(probeVideo(path)).rejects.toThrow(/^video: cannot decode .*truncated\.mp4: /);
  });

  test("a file without a video stream", async () => {
    const { outputs } = await runFfmpeg({
      args: ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.2", "{dir}/tone.wav"],
      inputs: [],
      outputs: ["tone.wav"],
    });
    await expect(probeVideo(outputs["tone.wav"])).rejects.toThrow(
      "video: cannot decode <bytes>: no video stream",
    );
  });

  test("empty, missing and unsupported", async () => {
    const empty = `${dir}/empty.mp4`;
    await Deno.writeFile(empty, new Uint8Array());
    await expect(probeVideo(empty)).rejects.toThrow(`video: cannot decode ${empty}: file is empty`);
    await expect(collectFrames(decodeVideo(`${dir}/nope.mp4`))).rejects.toThrow(
      `video: cannot read ${dir}/nope.mp4: no such file`,
    );
    await expect(encodeVideo(`${dir}/x.avi`, source, { fps: 5 })).rejects.toThrow(
      "unsupported extension (use .mp4 or .gif, or pass format)",
    );
    await expect(encodeVideo(`${dir}/x.mp4`, [], { fps: 5 })).rejects.toThrow("no frames");
    await expect(
      encodeVideo(`${dir}/x.mp4`, [source[0], movingSquare(0), {
        width: 2,
        height: 2,
        data: new Uint8Array(12),
      }], { fps: 5 }),
    )
      .rejects.toThrow("frame 2 is 2x2, expected 64x48");
    await expect(collectFrames(decodeVideo(mp4, { chunkFrames: 0 }))).rejects.toThrow(
      "chunkFrames",
    );
  });
});
