/**
 * Media throughput at 640x360: deno run -A tools/bench_media.ts [frames=60] [noise=4]
 * Prints frames/s for video encode/decode (ffmpeg.wasm) and JPEG encode/decode. `noise` is the
 * peak-to-peak amplitude of per-pixel noise; encoders (GIF most) slow down as it grows.
 */
import {
  collectFrames,
  decodeJpeg,
  decodeVideo,
  encodeJpeg,
  encodeVideoBytes,
  jpegBackend,
  probeVideo,
  type RgbImage,
  setJpegBackend,
} from "../src/media/mod.ts";

const WIDTH = 640, HEIGHT = 360;
const count = Number(Deno.args[0] ?? 60);
const noiseAmplitude = Number(Deno.args[1] ?? 4);

/** Smooth gradients, a moving disc and mild noise: roughly natural-video statistics. */
function syntheticFrame(index: number): RgbImage {
  const data = new Uint8Array(WIDTH * HEIGHT * 3);
  let seed = index * 7919 + 1;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = Math.floor(((seed >>> 16) / 65536 - 0.5) * noiseAmplitude);
      const inDisc = (x - 100 - 6 * index) ** 2 + (y - 180) ** 2 < 60 ** 2;
      const base = inDisc ? [230, 60, 40] : [(x * 255) / WIDTH, (y * 255) / HEIGHT, 128];
      for (let c = 0; c < 3; c++) data[(y * WIDTH + x) * 3 + c] = base[c] + noise;
    }
  }
  return { width: WIDTH, height: HEIGHT, data };
}

async function timed<T>(label: string, frames: number, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await run();
  const seconds = (performance.now() - start) / 1000;
  console.log(`${label.padEnd(34)} ${(frames / seconds).toFixed(1).padStart(7)} frames/s`);
  return result;
}

const frames = Array.from({ length: count }, (_, i) => syntheticFrame(i));
console.log(`${count} frames of ${WIDTH}x${HEIGHT}, noise ${noiseAmplitude}`);
await probeVideo(await encodeVideoBytes(frames.slice(0, 2), { fps: 25, format: "mp4" })); // warm-up

const mp4 = await timed(
  "encode mp4 (libx264 veryfast)",
  count,
  () => encodeVideoBytes(frames, { fps: 25, format: "mp4" }),
);
const gif = await timed(
  "encode gif (palettegen)",
  count,
  () => encodeVideoBytes(frames, { fps: 25, format: "gif" }),
);
await timed("decode mp4 (chunks of 16)", count, () => collectFrames(decodeVideo(mp4)));
await timed("decode gif (chunks of 16)", count, () => collectFrames(decodeVideo(gif)));
await timed(
  "decode mp4 resized to 320x180",
  count,
  () => collectFrames(decodeVideo(mp4, { size: [320, 180] })),
);

for (const backend of ["sharp", "jpeg-js"] as const) {
  const name = await setJpegBackend(backend);
  const jpegs = await timed(
    `encode jpeg q90 (${name})`,
    count,
    () => Promise.all(frames.map((frame) => encodeJpeg(frame, 90))),
  );
  await timed(`decode jpeg (${name})`, count, async () => {
    for (const jpeg of jpegs) await decodeJpeg(jpeg);
  });
}
console.log(`default JPEG backend: ${await setJpegBackend("sharp")} (${await jpegBackend()})`);
