export * from "./frame.ts";
export { writeFileAtomic } from "./atomic_write.ts";
export {
  decodeJpeg,
  encodeJpeg,
  isJpeg,
  jpegBackend,
  type JpegBackendName,
  setJpegBackend,
  writeJpeg,
} from "./jpeg.ts";
export { decodePngRgb, isPng } from "./png_rgb.ts";
export { decodeImage, readImage } from "./image.ts";
export * from "./video.ts";
export * from "./video_encode.ts";
export { type FfmpegJob, FfmpegJobError, type FfmpegResult, runFfmpeg } from "./ffmpeg.ts";
export * from "./frame_folder.ts";
export * from "./overlay.ts";
export { importNpm } from "../npm.ts";
export * from "./png.ts";
