import type { RgbImage } from "./frame.ts";
import { importNpm } from "../npm.ts";

type FastPng = typeof import("npm:fast-png@8.0.0");

let fastPng: Promise<FastPng> | null = null;

export function isPng(bytes: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= 8 && signature.every((b, i) => bytes[i] === b);
}

/** Decodes any PNG to RGB like PIL's `convert("RGB")`: alpha dropped, gray replicated, palette looked up. */
export async function decodePngRgb(bytes: Uint8Array, name = "<bytes>"): Promise<RgbImage> {
  if (!isPng(bytes)) throw new Error(`image: cannot decode ${name}: not a PNG file`);
  fastPng ??= importNpm("npm:fast-png@8.0.0");
  const png = await fastPng;
  let decoded;
  try {
    decoded = png.decode(bytes);
  } catch (error) {
    throw new Error(`image: cannot decode ${name}: ${(error as Error).message}`);
  }
  const { width, height, channels, depth, palette } = decoded;
  const samples = depth < 8 ? unpackBits(decoded.data as Uint8Array, width, height, depth) : (
    depth === 16 ? highBytes(decoded.data as Uint16Array) : decoded.data
  );
  const rgb = new Uint8Array(width * height * 3);
  if (palette) {
    for (let p = 0; p < width * height; p++) {
      const entry = palette[samples[p]] ?? [0, 0, 0];
      rgb[p * 3] = entry[0];
      rgb[p * 3 + 1] = entry[1];
      rgb[p * 3 + 2] = entry[2];
    }
    return { width, height, data: rgb };
  }
  // 1/2/4-bit gray is stretched to 0..255 as PIL does.
  const scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      rgb[p * 3 + c] = samples[p * channels + (channels < 3 ? 0 : c)] * scale;
    }
  }
  return { width, height, data: rgb };
}

function highBytes(data: Uint16Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] >> 8;
  return out;
}

/** Sub-byte samples (one channel: gray or palette index); PNG rows are padded to whole bytes. */
function unpackBits(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = data[y * rowBytes + (bit >> 3)];
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}
