/** An 8-bit RGB image: row-major, 3 bytes per pixel, `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A run of consecutive frames from a video or a frame folder. */
export interface FrameChunk {
  /** Index of `frames[0]` in the decoded sequence (after `startFrame` / `fps` resampling). */
  startIndex: number;
  frames: RgbImage[];
  /** Presentation time of each frame in seconds. */
  timestamps: number[];
  /** Source file name of each frame (frame folders only). */
  names?: string[];
}

export type Rgb = readonly [number, number, number];

export function createRgbImage(width: number, height: number): RgbImage {
  assertSize(width, height);
  return { width, height, data: new Uint8Array(width * height * 3) };
}

export function cloneRgbImage(image: RgbImage): RgbImage {
  return { width: image.width, height: image.height, data: image.data.slice() };
}

export function assertRgbImage(image: RgbImage, what = "image"): void {
  assertSize(image.width, image.height, what);
  if (!(image.data instanceof Uint8Array)) throw new Error(`${what}: data must be a Uint8Array`);
  const expected = image.width * image.height * 3;
  if (image.data.length !== expected) {
    throw new Error(
      `${what}: data has ${image.data.length} bytes, expected ${expected} for ${image.width}x${image.height} RGB`,
    );
  }
}

function assertSize(width: number, height: number, what = "image"): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${what}: invalid size ${width}x${height}`);
  }
}

/** Gathers every frame of a chunked source (only for sources known to be small). */
export async function collectFrames(chunks: AsyncIterable<FrameChunk>): Promise<RgbImage[]> {
  const frames: RgbImage[] = [];
  for await (const chunk of chunks) frames.push(...chunk.frames);
  return frames;
}
