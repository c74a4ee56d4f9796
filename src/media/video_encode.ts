/** Video encoding (MP4 / GIF) through ffmpeg.wasm; all frames are passed in one buffer. */
import { writeFileAtomic } from "./atomic_write.ts";
import { runFfmpeg } from "./ffmpeg.ts";
import { assertRgbImage, type RgbImage } from "./frame.ts";

export type VideoFormat = "mp4" | "gif";

export interface EncodeVideoOptions {
  fps: number;
  /** Defaults to the output file's extension. */
  format?: VideoFormat;
  /** libx264 constant rate factor (0 = lossless .. 51); mp4 only. */
  crf?: number;
}

function formatOf(path: string, format: VideoFormat | undefined): VideoFormat {
  if (format) return format;
  const extension = /\.([A-Za-z0-9]+)$/.exec(path)?.[1].toLowerCase();
  if (extension === "mp4" || extension === "gif") return extension;
  throw new Error(
    `video: cannot encode ${path}: unsupported extension (use .mp4 or .gif, or pass format)`,
  );
}

/** Encodes frames to MP4 (H.264, yuv420p; odd sizes padded to even) or an animated GIF. */
export async function encodeVideoBytes(
  frames: readonly RgbImage[],
  options: EncodeVideoOptions & { format: VideoFormat },
): Promise<Uint8Array> {
  const { fps, format, crf = 18 } = options;
  if (frames.length === 0) throw new Error("video: cannot encode: no frames");
  if (!(fps > 0 && Number.isFinite(fps))) {
    throw new Error(`video: cannot encode: invalid fps ${fps}`);
  }
  if (format !== "mp4" && format !== "gif") throw new Error(`video: unsupported format ${format}`);
  const { width, height } = frames[0];
  const frameBytes = width * height * 3;
  const raw = new Uint8Array(frameBytes * frames.length);
  frames.forEach((frame, i) => {
    assertRgbImage(frame, `video: frame ${i}`);
    if (frame.width !== width || frame.height !== height) {
      throw new Error(
        `video: frame ${i} is ${frame.width}x${frame.height}, expected ${width}x${height}`,
      );
    }
    raw.set(frame.data, i * frameBytes);
  });
  const output = `out.${format}`;
  const codecArgs = format === "mp4"
    ? [
      "-vf",
      "pad=ceil(iw/2)*2:ceil(ih/2)*2",
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-crf",
      String(crf),
      "-pix_fmt",
      "yuv420p",
      "-movflags",
      "+faststart",
    ]
    : [
      "-filter_complex",
      "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a",
      "-loop",
      "0",
    ];
  try {
    const reply = await runFfmpeg({
      args: [
        "-hide_banner",
        "-nostats",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-video_size",
        `${width}x${height}`,
        "-framerate",
        String(fps),
        "-i",
        "{dir}/frames.rgb",
        ...codecArgs,
        `{dir}/${output}`,
      ],
      inputs: [{ name: "frames.rgb", bytes: raw }],
      outputs: [output],
    });
    const bytes = reply.outputs[output];
    if (!bytes?.length) throw new Error("ffmpeg produced no output");
    return bytes;
  } catch (error) {
    throw new Error(`video: cannot encode ${format}: ${(error as Error).message}`);
  }
}

/** Encodes frames and writes the file atomically; the format follows the extension by default. */
export async function encodeVideo(
  path: string,
  frames: readonly RgbImage[],
  options: EncodeVideoOptions,
): Promise<void> {
  const format = formatOf(path, options.format);
  await writeFileAtomic(path, await encodeVideoBytes(frames, { ...options, format }));
}
