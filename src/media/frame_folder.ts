import { join } from "node:path";
import type { FrameChunk, RgbImage } from "./frame.ts";
import { decodeImage, describeFsError } from "./image.ts";
import { writeJpeg } from "./jpeg.ts";

const IMAGE_FILE = /\.(jpe?g|png)$/i;
const naturalOrder = new Intl.Collator("en", { numeric: true }).compare;

export interface FrameFolderOptions {
  startFrame?: number;
  maxFrames?: number;
  chunkFrames?: number;
  /** Frame rate used for the timestamps (index / fps). */
  fps?: number;
}

/** JPEG/PNG file names in `dir`, in natural order ("2.jpg" before "10.jpg"). */
export async function listFrameFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && IMAGE_FILE.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    throw new Error(`frames: cannot read folder ${dir}: ${describeFsError(error)}`);
  }
  if (names.length === 0) throw new Error(`frames: no JPEG/PNG files in ${dir}`);
  return names.sort(naturalOrder);
}

/** Reads a folder of frames in chunks, like decodeVideo; all frames must share one size. */
export async function* readFrameFolder(
  dir: string,
  options: FrameFolderOptions = {},
): AsyncGenerator<FrameChunk> {
  const { startFrame = 0, maxFrames = Infinity, chunkFrames = 16, fps = 30 } = options;
  if (!(Number.isInteger(chunkFrames) && chunkFrames >= 1)) {
    throw new Error(`frames: chunkFrames must be an integer >= 1, got ${chunkFrames}`);
  }
  const names = (await listFrameFiles(dir)).slice(startFrame, startFrame + maxFrames);
  let size: { width: number; height: number } | null = null;
  for (let start = 0; start < names.length; start += chunkFrames) {
    const chunkNames = names.slice(start, start + chunkFrames);
    const frames: RgbImage[] = [];
    for (const name of chunkNames) {
      const path = join(dir, name);
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        throw new Error(`frames: cannot read ${path}: ${describeFsError(error)}`);
      }
      const frame = await decodeImage(bytes, path);
      size ??= frame;
      if (frame.width !== size.width || frame.height !== size.height) {
        throw new Error(
          `frames: ${path} is ${frame.width}x${frame.height}, expected ${size.width}x${size.height}`,
        );
      }
      frames.push(frame);
    }
    const startIndex = startFrame + start;
    yield {
      startIndex,
      frames,
      timestamps: frames.map((_, i) => (startIndex + i) / fps),
      names: chunkNames,
    };
  }
}

/** Writes frames as `00000.jpg`, `00001.jpg`, ... (or the given names), each atomically. */
export async function writeFrameFolder(
  dir: string,
  frames: readonly RgbImage[],
  options: { quality?: number; names?: readonly string[] } = {},
): Promise<string[]> {
  const { quality = 90, names = frames.map((_, i) => `${String(i).padStart(5, "0")}.jpg`) } =
    options;
  if (names.length !== frames.length) {
    throw new Error(`frames: ${names.length} names for ${frames.length} frames`);
  }
  await Deno.mkdir(dir, { recursive: true });
  for (let i = 0; i < frames.length; i++) await writeJpeg(join(dir, names[i]), frames[i], quality);
  return [...names];
}
