import { writeFileAtomic } from "./atomic_write.ts";
import { assertRgbImage, type RgbImage } from "./frame.ts";
import { importNpm } from "../npm.ts";

type FastPng = typeof import("npm:fast-png@8.0.0");
type DecodedPng = ReturnType<FastPng["decode"]>;

let fastPng: Promise<FastPng> | null = null;
function codec(): Promise<FastPng> {
  fastPng ??= importNpm<FastPng>("npm:fast-png@8.0.0");
  return fastPng;
}

/** The DAVIS / PASCAL VOC colour map: index i -> 3 bytes at 3*i (1 = (128,0,0), 2 = (0,128,0)...). */
export const DAVIS_PALETTE: Uint8Array = (() => {
  const palette = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    let r = 0, g = 0, b = 0, c = i;
    for (let j = 0; j < 8; j++) {
      r |= (c & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    palette.set([r, g, b], i * 3);
  }
  return palette;
})();

export interface IndexedMask {
  width: number;
  height: number;
  /** One index per pixel, row-major. */
  indices: Uint8Array;
  /** How the file stored the mask; grayscale/RGB files are mapped to indices. */
  kind: "palette" | "grayscale" | "rgb";
  /** The file's palette (n*3 bytes) for palette PNGs. */
  palette?: Uint8Array;
}

export interface MaskReadOptions {
  /** Grayscale files with several non-zero levels: "ids" keeps the levels as indices. */
  grayscale?: "binary-only" | "ids";
}

async function decodeRaw(bytes: Uint8Array, name: string): Promise<DecodedPng> {
  const png = await codec();
  try {
    return png.decode(bytes);
  } catch (error) {
    throw new Error(`png: cannot decode ${name}: ${(error as Error).message}`);
  }
}

/** Samples of one channel-interleaved image as plain numbers (bit depths < 8 unpacked). */
function samples(decoded: DecodedPng): Uint8Array | Uint16Array {
  const { width, height, depth } = decoded;
  const channels = decoded.channels;
  if (depth === 8 || depth === 16) return decoded.data as Uint8Array | Uint16Array;
  const packed = decoded.data as Uint8Array;
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Decodes a mask PNG to indices: palette PNGs as stored, grayscale/RGB where unambiguous. */
export async function decodeMaskPng(
  bytes: Uint8Array,
  name = "<bytes>",
  options: MaskReadOptions = {},
): Promise<IndexedMask> {
  const decoded = await decodeRaw(bytes, name);
  const { width, height, channels } = decoded;
  const values = samples(decoded);
  const n = width * height;
  if (decoded.palette) {
    const indices = new Uint8Array(n);
    for (let p = 0; p < n; p++) indices[p] = values[p];
    const palette = new Uint8Array(decoded.palette.length * 3);
    decoded.palette.forEach((c, i) => palette.set(c.slice(0, 3), i * 3));
    return { width, height, indices, kind: "palette", palette };
  }
  if (channels <= 2) return grayscaleToIndices(values, width, height, channels, name, options);
  return rgbToIndices(values, decoded.depth, width, height, channels, name);
}

function grayscaleToIndices(
  values: Uint8Array | Uint16Array,
  width: number,
  height: number,
  channels: number,
  name: string,
  options: MaskReadOptions,
): IndexedMask {
  const n = width * height;
  const levels = new Set<number>();
  for (let p = 0; p < n; p++) if (values[p * channels] !== 0) levels.add(values[p * channels]);
  const indices = new Uint8Array(n);
  if (levels.size <= 1) {
    for (let p = 0; p < n; p++) indices[p] = values[p * channels] !== 0 ? 1 : 0;
    return { width, height, indices, kind: "grayscale" };
  }
  const maxLevel = Math.max(...levels);
  if (options.grayscale === "ids" && maxLevel < 256) {
    for (let p = 0; p < n; p++) indices[p] = values[p * channels];
    return { width, height, indices, kind: "grayscale" };
  }
  const shown = [...levels].sort((a, b) => a - b).slice(0, 6).join(", ");
  throw new Error(
    `png: ${name}: grayscale mask has ${levels.size} non-zero levels (${shown}); ` +
      `cannot tell instance ids from intensities (read it with grayscale: "ids")`,
  );
}

function rgbToIndices(
  values: Uint8Array | Uint16Array,
  depth: number,
  width: number,
  height: number,
  channels: number,
  name: string,
): IndexedMask {
  const n = width * height;
  const shift = depth === 16 ? 8 : 0;
  const paletteIndex = new Map<number, number>();
  for (let i = 255; i >= 0; i--) {
    const c = DAVIS_PALETTE.subarray(i * 3, i * 3 + 3);
    paletteIndex.set((c[0] << 16) | (c[1] << 8) | c[2], i);
  }
  const colours = new Uint32Array(n);
  const distinct = new Set<number>();
  for (let p = 0; p < n; p++) {
    const o = p * channels;
    const rgb = ((values[o] >> shift) << 16) | ((values[o + 1] >> shift) << 8) |
      (values[o + 2] >> shift);
    colours[p] = rgb;
    if (rgb !== 0) distinct.add(rgb);
  }
  const indices = new Uint8Array(n);
  const allInPalette = [...distinct].every((c) => paletteIndex.has(c));
  if (allInPalette) {
    for (let p = 0; p < n; p++) indices[p] = paletteIndex.get(colours[p])!;
  } else if (distinct.size === 1) {
    for (let p = 0; p < n; p++) indices[p] = colours[p] !== 0 ? 1 : 0;
  } else {
    throw new Error(
      `png: ${name}: RGB mask has ${distinct.size} non-black colours that are not all DAVIS ` +
        `palette colours; cannot map them to object ids`,
    );
  }
  return { width, height, indices, kind: "rgb" };
}

/** Reads a mask PNG (bytes or a path) as indices; see `decodeMaskPng`. */
export async function readPaletteMask(
  source: Uint8Array | string,
  options: MaskReadOptions = {},
): Promise<IndexedMask> {
  if (typeof source !== "string") return await decodeMaskPng(source, "<bytes>", options);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(source);
  } catch (error) {
    throw new Error(`png: cannot read ${source}: ${(error as Error).message}`);
  }
  return await decodeMaskPng(bytes, source, options);
}

function checkIndices(width: number, height: number, indices: Uint8Array, palette: Uint8Array) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`png: invalid mask size ${width}x${height}`);
  }
  if (indices.length !== width * height) {
    throw new Error(`png: mask has ${indices.length} indices, expected ${width * height}`);
  }
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 768) {
    throw new Error(`png: palette must hold 1..256 RGB triples, got ${palette.length} bytes`);
  }
}

/** Encodes an 8-bit palette PNG whose pixel values are `indices`. */
export async function encodePaletteMask(
  width: number,
  height: number,
  indices: Uint8Array,
  palette: Uint8Array = DAVIS_PALETTE,
): Promise<Uint8Array> {
  checkIndices(width, height, indices, palette);
  const entries: [number, number, number][] = [];
  for (let i = 0; i < palette.length; i += 3) {
    entries.push([palette[i], palette[i + 1], palette[i + 2]]);
  }
  const png = await codec();
  return png.encode({ width, height, data: indices, depth: 8, channels: 1, palette: entries });
}

/** Writes a palette PNG mask atomically (DAVIS palette by default). */
export async function writePaletteMask(
  path: string,
  width: number,
  height: number,
  indices: Uint8Array,
  palette: Uint8Array = DAVIS_PALETTE,
): Promise<void> {
  await writeFileAtomic(path, await encodePaletteMask(width, height, indices, palette));
}

/** Encodes an 8-bit RGB PNG. */
export async function encodePng(image: RgbImage): Promise<Uint8Array> {
  assertRgbImage(image);
  const png = await codec();
  return png.encode({
    width: image.width,
    height: image.height,
    data: image.data,
    depth: 8,
    channels: 3,
  });
}

export async function writePng(path: string, image: RgbImage): Promise<void> {
  await writeFileAtomic(path, await encodePng(image));
}

/** Decodes any PNG to 8-bit RGB (palette expanded, gray replicated, alpha dropped). */
export async function decodePng(bytes: Uint8Array, name = "<bytes>"): Promise<RgbImage> {
  const decoded = await decodeRaw(bytes, name);
  const { width, height, channels } = decoded;
  const values = samples(decoded);
  const n = width * height;
  const data = new Uint8Array(n * 3);
  if (decoded.palette) {
    const pal = decoded.palette;
    for (let p = 0; p < n; p++) {
      const c = pal[values[p]];
      if (!c) throw new Error(`png: ${name}: pixel index ${values[p]} is outside the palette`);
      data[p * 3] = c[0];
      data[p * 3 + 1] = c[1];
      data[p * 3 + 2] = c[2];
    }
    return { width, height, data };
  }
  const toByte = decoded.depth === 16
    ? (v: number) => v >> 8
    : (v: number) => Math.round((v * 255) / ((1 << decoded.depth) - 1));
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      data[p * 3 + c] = toByte(values[p * channels + (channels < 3 ? 0 : c)]);
    }
  }
  return { width, height, data };
}
