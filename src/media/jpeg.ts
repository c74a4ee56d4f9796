import { writeFileAtomic } from "./atomic_write.ts";
import { assertRgbImage, type RgbImage } from "./frame.ts";
import { importNpm } from "../npm.ts";

type SharpModule = typeof import("npm:sharp@0.35.5");
type Sharp = SharpModule["default"];
type JpegJs = typeof import("npm:jpeg-js@0.4.4");

/**
 * `sharp` (libvips + libjpeg-turbo) decodes bit-identically to PIL; `jpeg-js` is a pure-JS
 * fallback for machines where sharp's prebuilt binary does not load (close, not identical:
 * it upsamples chroma without libjpeg's "fancy" filter).
 */
export type JpegBackendName = "sharp" | "jpeg-js";

let backend: Promise<{ name: "sharp"; sharp: Sharp } | { name: "jpeg-js"; jpegJs: JpegJs }> | null =
  null;

function loadBackend(preferred: JpegBackendName) {
  backend ??= (async () => {
    if (preferred === "sharp") {
      try {
        const mod: SharpModule = await importNpm("npm:sharp@0.35.5");
        return { name: "sharp" as const, sharp: mod.default };
      } catch {
        // fall through to the pure-JS decoder
      }
    }
    const jpegJs: JpegJs = await importNpm("npm:jpeg-js@0.4.4");
    return { name: "jpeg-js" as const, jpegJs };
  })();
  return backend;
}

/** Loads (once) and names the JPEG codec in use. */
export async function jpegBackend(): Promise<JpegBackendName> {
  return (await loadBackend("sharp")).name;
}

/** Forces a codec (for tests and comparisons); "sharp" still falls back when it cannot load. */
export async function setJpegBackend(name: JpegBackendName): Promise<JpegBackendName> {
  backend = null;
  return (await loadBackend(name)).name;
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** Decodes a JPEG to RGB exactly as PIL's `Image.open(f).convert("RGB")` (with sharp). */
export async function decodeJpeg(bytes: Uint8Array, name = "<bytes>"): Promise<RgbImage> {
  if (!isJpeg(bytes)) throw new Error(`image: cannot decode ${name}: not a JPEG file`);
  const codec = await loadBackend("sharp");
  try {
    if (codec.name === "jpeg-js") {
      const out = codec.jpegJs.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
      });
      return { width: out.width, height: out.height, data: new Uint8Array(out.data) };
    }
    return await decodeWithSharp(codec.sharp, bytes);
  } catch (error) {
    throw new Error(`image: cannot decode ${name}: ${firstLine(error)}`);
  }
}

async function decodeWithSharp(sharp: Sharp, bytes: Uint8Array): Promise<RgbImage> {
  const meta = await sharp(bytes).metadata();
  if (meta.space === "cmyk") {
    // sharp would colour-manage CMYK; PIL applies its plain formula to the raw inks instead.
    const { data, info } = await sharp(bytes).pipelineColourspace("cmyk").toColourspace("cmyk")
      .raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: cmykToRgbLikePil(data) };
  }
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const rgb = info.channels === 3 ? new Uint8Array(data.buffer, data.byteOffset, data.length) : (
    toRgb(data, info.channels)
  );
  return { width: info.width, height: info.height, data: rgb };
}

function toRgb(data: Uint8Array, channels: number): Uint8Array {
  const pixels = data.length / channels;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = data[p * channels + (channels < 3 ? 0 : c)];
  }
  return rgb;
}

function cmykToRgbLikePil(cmyk: Uint8Array): Uint8Array {
  const pixels = cmyk.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  const mulDiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let p = 0; p < pixels; p++) {
    const notBlack = 255 - cmyk[p * 4 + 3];
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = notBlack - mulDiv255(cmyk[p * 4 + c], notBlack);
  }
  return rgb;
}

/** Encodes RGB to a baseline JPEG (4:2:0), `quality` in 1..100. */
export async function encodeJpeg(image: RgbImage, quality = 90): Promise<Uint8Array> {
  assertRgbImage(image);
  if (!(quality >= 1 && quality <= 100)) throw new Error(`jpeg: quality ${quality} not in 1..100`);
  const codec = await loadBackend("sharp");
  const { width, height } = image;
  if (codec.name === "sharp") {
    const buffer = await codec.sharp(image.data, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: Math.round(quality), chromaSubsampling: "4:2:0" })
      .toBuffer();
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba.set(image.data.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  const out = codec.jpegJs.encode({ width, height, data: rgba }, Math.round(quality));
  return new Uint8Array(out.data);
}

export async function writeJpeg(path: string, image: RgbImage, quality = 90): Promise<void> {
  await writeFileAtomic(path, await encodeJpeg(image, quality));
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0].trim() || "unknown error";
}
