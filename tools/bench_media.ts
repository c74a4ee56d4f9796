/**
 * Media throughput at 640x360: deno run -A tools/bench_media.ts [frames=60] [noise=4]
 * Prints frames/s for video encode/decode (ffmpeg.wasm), JPEG encode/decode and the edge-aware
 * mask refinement (`inference.maskCrf`). `noise` is the peak-to-peak amplitude of per-pixel
 * noise; encoders (GIF most) slow down as it grows.
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
import { DEFAULT_MASK_CRF, refineMaskLogits } from "../src/pipeline/mask_crf.ts";

const WIDTH = 640, HEIGHT = 360;
const count = Number(Deno.args[0] ?? 60);
const noiseAmplitude = Number(Deno.args[1] ?? 4);

const discCentre = (index: number) => [100 + 6 * index, 180];

/** Smooth gradients, a moving disc and mild noise: roughly natural-video statistics. */
function syntheticFrame(index: number): RgbImage {
  const data = new Uint8Array(WIDTH * HEIGHT * 3);
  let seed = index * 7919 + 1;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = Math.floor(((seed >>> 16) / 65536 - 0.5) * noiseAmplitude);
      const [cx, cy] = discCentre(index);
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < 60 ** 2;
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

// a model's mask logits stand-in: the disc, 3 px too far right and a little too large
const roughLogits = (index: number) => {
  const [cx, cy] = discCentre(index);
  return Float32Array.from({ length: WIDTH * HEIGHT }, (_, i) => {
    const x = i % WIDTH, y = Math.floor(i / WIDTH);
    return 8 - 8 * Math.hypot(x - cx - 3, y - cy) / 62;
  });
};
const unaries = frames.map((_, i) => roughLogits(i));
await timed("mask CRF (default settings)", count, () => {
  frames.forEach((frame, i) => refineMaskLogits(unaries[i], frame, DEFAULT_MASK_CRF));
  return Promise.resolve();
});
