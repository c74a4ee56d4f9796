/**
 * Turns the library's video inputs (a file path, a frame folder, encoded bytes, decoded frames)
 * into one chunked frame stream, with every failure reported as a SegmentationError.
 */
import { decodeVideo, probeVideo } from "../media/video.ts";
import { readFrameFolder } from "../media/frame_folder.ts";
import { assertRgbImage, type FrameChunk, type RgbImage } from "../media/frame.ts";
import { firstLine, SegmentationError } from "./errors.ts";

/**
 * A video to segment: a path to a video file (anything ffmpeg decodes: mp4, webm, gif, ...)
 * or to a folder of JPEG/PNG frames, the encoded bytes of a video file, or decoded RGB frames.
 */
export type VideoInput = string | Uint8Array | readonly RgbImage[];

export interface OpenedVideo {
  width: number;
  height: number;
  fps: number;
  /** Frames the container announces (absent when unknown, e.g. frame streams). */
  frameCount?: number;
  chunks: AsyncGenerator<FrameChunk>;
}

export interface OpenVideoOptions {
  /** Frames per chunk. */
  chunkFrames: number;
  /** Stop after this many frames. */
  maxFrames?: number;
  /** Frame rate of frame folders and frame arrays (they carry none); default 30. */
  fps?: number;
}

function invalid(what: string, error: unknown): SegmentationError {
  return new SegmentationError("invalid_video", `${what}: ${firstLine(error)}`, { cause: error });
}

/** Wraps a chunk stream so that read errors become invalid_video errors. */
async function* guarded(
  chunks: AsyncGenerator<FrameChunk>,
  what: string,
): AsyncGenerator<FrameChunk> {
  try {
    for await (const chunk of chunks) yield chunk;
  } catch (error) {
    if (error instanceof SegmentationError) throw error;
    throw invalid(what, error);
  }
}

async function* fromFrames(
  frames: readonly RgbImage[],
  chunkFrames: number,
  fps: number,
): AsyncGenerator<FrameChunk> {
  for (let s = 0; s < frames.length; s += chunkFrames) {
    const part = frames.slice(s, s + chunkFrames);
    yield { startIndex: s, frames: part, timestamps: part.map((_, i) => (s + i) / fps) };
  }
}

/** Opens a video input; probes files so that size and frame rate are known up front. */
export async function openVideo(
  video: VideoInput,
  options: OpenVideoOptions,
): Promise<OpenedVideo> {
  const { chunkFrames, maxFrames } = options;
  const frameFps = options.fps ?? 30;
  if (Array.isArray(video)) {
    const frames = (video as readonly RgbImage[]).slice(0, maxFrames ?? Infinity);
    if (frames.length === 0) throw new SegmentationError("invalid_video", "video: no frames");
    const { width, height } = frames[0];
    frames.forEach((f, i) => {
      try {
        assertRgbImage(f, `frame ${i}`);
      } catch (error) {
        throw new SegmentationError("invalid_input", firstLine(error));
      }
      if (f.width !== width || f.height !== height) {
        throw new SegmentationError(
          "invalid_input",
          `frame ${i} is ${f.width}x${f.height}, expected ${width}x${height} like frame 0`,
        );
      }
    });
    return {
      width,
      height,
      fps: frameFps,
      frameCount: frames.length,
      chunks: fromFrames(frames, chunkFrames, frameFps),
    };
  }
  let bytes: Uint8Array;
  let what = "video";
  if (typeof video === "string") {
    what = `video ${video}`;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(video);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new SegmentationError("invalid_video", `video not found: ${video}`);
      }
      throw invalid(what, error);
    }
    if (info.isDirectory) return await openFolder(video, options, frameFps);
    try {
      bytes = await Deno.readFile(video);
    } catch (error) {
      throw invalid(what, error);
    }
  } else if (video instanceof Uint8Array) {
    bytes = video;
  } else {
    throw new SegmentationError(
      "invalid_input",
      "video must be a path, a Uint8Array of an encoded video, or an array of RGB frames",
    );
  }
  if (bytes.length === 0) throw new SegmentationError("invalid_video", `${what}: file is empty`);
  let probe;
  try {
    probe = await probeVideo(bytes);
  } catch (error) {
    throw invalid(what, error);
  }
  if (probe.frameCount === 0) throw new SegmentationError("invalid_video", `${what}: no frames`);
  return {
    width: probe.width,
    height: probe.height,
    fps: probe.fps || 25,
    frameCount: probe.frameCount,
    chunks: guarded(decodeVideo(bytes, { chunkFrames, maxFrames }), what),
  };
}

async function openFolder(
  dir: string,
  options: OpenVideoOptions,
  fps: number,
): Promise<OpenedVideo> {
  const what = `frame folder ${dir}`;
  const chunks = guarded(
    readFrameFolder(dir, { chunkFrames: options.chunkFrames, maxFrames: options.maxFrames, fps }),
    what,
  );
  // read the first chunk to learn the frame size, then hand it out again
  const first = await chunks.next();
  if (first.done || first.value.frames.length === 0) {
    await chunks.return(undefined);
    throw new SegmentationError("invalid_video", `${what}: no frames`);
  }
  const { width, height } = first.value.frames[0];
  async function* replay(): AsyncGenerator<FrameChunk> {
    try {
      yield first.value as FrameChunk;
      for await (const chunk of chunks) yield chunk;
    } finally {
      await chunks.return(undefined);
    }
  }
  return { width, height, fps, chunks: replay() };
}
