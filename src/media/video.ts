/**
 * Video probing and decoding through ffmpeg compiled to WebAssembly (in-process, on a worker
 * thread; see ffmpeg.ts). Encoding is in video_encode.ts.
 *
 * Memory: the compressed file is copied into the wasm file system once per call; decoded frames
 * are streamed out of a single ffmpeg run in chunks with back-pressure (see ffmpeg_worker.ts),
 * so the worker is at most a few chunks ahead of the consumer, however long the video (frames
 * the consumer drops are reclaimed by V8's GC on its own schedule). Decoding is sequential:
 * `startFrame` skips frames by decoding them (exact, not keyframe-seeking). Finish or `break`
 * out of the loop: an abandoned generator keeps its worker blocked.
 */
import { FfmpegJobError, runFfmpeg, streamFfmpeg } from "./ffmpeg.ts";
import type { FrameChunk, RgbImage } from "./frame.ts";
import { describeFsError } from "./image.ts";

export interface VideoInfo {
  /** Display size (rotation metadata applied, as decodeVideo delivers frames). */
  width: number;
  height: number;
  fps: number;
  /** From the container, or by counting packets; absent when neither is known. */
  frameCount?: number;
  durationSec: number;
  /** ffmpeg's codec name, e.g. "h264", "gif", "vp9". */
  codec: string;
}

export interface DecodeVideoOptions {
  /** First frame to deliver (counted after `fps` resampling). */
  startFrame?: number;
  maxFrames?: number;
  /** Frames per yielded chunk. */
  chunkFrames?: number;
  /** Resample to this constant frame rate; by default every decoded frame is delivered. */
  fps?: number;
  /** Resize to [width, height] (bicubic). */
  size?: [number, number];
}

type Source = string | Uint8Array;

interface LoadedSource {
  name: string;
  fileName: string;
  bytes: Uint8Array;
}

async function loadSource(source: Source): Promise<LoadedSource> {
  let bytes: Uint8Array;
  let name = "<bytes>";
  let extension = "";
  if (typeof source === "string") {
    name = source;
    try {
      bytes = await Deno.readFile(source);
    } catch (error) {
      throw new Error(`video: cannot read ${source}: ${describeFsError(error)}`);
    }
    extension = /\.[A-Za-z0-9]{1,8}$/.exec(source)?.[0].toLowerCase() ?? "";
  } else {
    bytes = source;
  }
  if (bytes.length === 0) throw new Error(`video: cannot decode ${name}: file is empty`);
  return { name, fileName: `input${extension}`, bytes };
}

function decodeError(source: LoadedSource, error: unknown): Error {
  const reason = error instanceof FfmpegJobError ? error.message : (error as Error).message;
  return new Error(`video: cannot decode ${source.name}: ${reason}`);
}

export async function probeVideo(source: Source): Promise<VideoInfo> {
  return await probeLoaded(await loadSource(source));
}

interface ProbeStream {
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
}

async function probeLoaded(source: LoadedSource): Promise<VideoInfo> {
  const reply = await runFfmpeg({
    tool: "ffprobe",
    args: [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-count_packets",
      "-show_entries",
      "stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_frames,nb_read_packets,duration" +
      ":stream_side_data=rotation:stream_tags=rotate:format=duration",
      "-of",
      "json",
      `{dir}/${source.fileName}`,
    ],
    inputs: [{ name: source.fileName, bytes: source.bytes }],
  });
  let parsed: { streams?: ProbeStream[]; format?: { duration?: string } } = {};
  try {
    parsed = JSON.parse(reply.stdout);
  } catch {
    // reported below together with ffmpeg's own message
  }
  const stream = parsed.streams?.[0];
  if (!stream) {
    const reason = reply.log.length ? new FfmpegJobError(1, reply.log).message : "no video stream";
    throw new Error(`video: cannot decode ${source.name}: ${reason}`);
  }
  if (!stream.width || !stream.height) {
    throw new Error(`video: cannot decode ${source.name}: unknown frame size`);
  }
  const rotation = Number(
    stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ??
      stream.tags?.rotate ?? 0,
  );
  const quarterTurn = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const fps = parseRate(stream.avg_frame_rate) || parseRate(stream.r_frame_rate);
  const frameCount = Number(stream.nb_frames) || Number(stream.nb_read_packets) || undefined;
  const duration = Number(stream.duration) || Number(parsed.format?.duration) ||
    (frameCount && fps ? frameCount / fps : 0);
  return {
    width: quarterTurn ? stream.height : stream.width,
    height: quarterTurn ? stream.width : stream.height,
    fps,
    frameCount,
    durationSec: duration,
    codec: stream.codec_name ?? "unknown",
  };
}

function parseRate(rate: string | undefined): number {
  const [num, den = "1"] = (rate ?? "").split("/");
  const value = Number(num) / Number(den);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

function checkDecodeOptions(options: DecodeVideoOptions): void {
  const { startFrame = 0, maxFrames, chunkFrames = 16, fps, size } = options;
  const isCount = (n: number) => Number.isInteger(n) && n >= 0;
  if (!isCount(startFrame)) {
    throw new Error(`video: startFrame must be an integer >= 0, got ${startFrame}`);
  }
  if (maxFrames !== undefined && !isCount(maxFrames)) {
    throw new Error(`video: maxFrames must be an integer >= 0, got ${maxFrames}`);
  }
  if (!isCount(chunkFrames) || chunkFrames < 1) {
    throw new Error(`video: chunkFrames must be an integer >= 1, got ${chunkFrames}`);
  }
  if (fps !== undefined && !(fps > 0 && Number.isFinite(fps))) {
    throw new Error(`video: invalid fps ${fps}`);
  }
  if (size && !(size.length === 2 && size.every((n) => Number.isInteger(n) && n > 0))) {
    throw new Error(`video: invalid size ${JSON.stringify(size)}`);
  }
}

/** Decodes a video to RGB frames, yielded in chunks of `chunkFrames` (the last may be shorter). */
export async function* decodeVideo(
  source: Source,
  options: DecodeVideoOptions = {},
): AsyncGenerator<FrameChunk> {
  checkDecodeOptions(options);
  const { startFrame = 0, maxFrames, chunkFrames = 16, fps, size } = options;
  if (maxFrames === 0) return;
  const loaded = await loadSource(source);
  const info = await probeLoaded(loaded);
  const [width, height] = size ?? [info.width, info.height];
  const frameBytes = width * height * 3;
  const filters = [
    ...(fps ? [`fps=${fps}`] : []),
    ...(startFrame > 0 ? [`trim=start_frame=${startFrame}`] : []),
    `scale=${width}:${height}:flags=bicubic`,
    "format=rgb24",
    "showinfo",
  ];
  const args = [
    "-hide_banner",
    "-nostats",
    "-i",
    `{dir}/${loaded.fileName}`,
    "-an",
    "-sn",
    "-vf",
    filters.join(","),
    "-fps_mode",
    "passthrough",
    ...(maxFrames !== undefined ? ["-frames:v", String(maxFrames)] : []),
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "/dev/frames",
  ];
  const fallbackFps = fps ?? (info.fps || 25);
  let index = startFrame;
  try {
    const job = { args, inputs: [{ name: loaded.fileName, bytes: loaded.bytes }] };
    for await (const chunk of streamFfmpeg(job, frameBytes, chunkFrames)) {
      const frames: RgbImage[] = [];
      const timestamps: number[] = [];
      for (let i = 0; i < chunk.frames; i++) {
        frames.push({
          width,
          height,
          data: chunk.data.subarray(i * frameBytes, (i + 1) * frameBytes),
        });
        timestamps.push(chunk.timestamps[i] ?? (index + i) / fallbackFps);
      }
      yield { startIndex: index, frames, timestamps };
      index += chunk.frames;
    }
  } catch (error) {
    throw decodeError(loaded, error);
  }
}
