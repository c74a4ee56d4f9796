import type { RgbImage } from "./frame.ts";
import { decodeJpeg, isJpeg } from "./jpeg.ts";
import { decodePngRgb, isPng } from "./png_rgb.ts";

/** Decodes JPEG or PNG bytes (sniffed from the signature, not the file name) to RGB. */
export async function decodeImage(bytes: Uint8Array, name = "<bytes>"): Promise<RgbImage> {
  if (bytes.length === 0) throw new Error(`image: cannot decode ${name}: file is empty`);
  if (isJpeg(bytes)) return await decodeJpeg(bytes, name);
  if (isPng(bytes)) return await decodePngRgb(bytes, name);
  throw new Error(`image: cannot decode ${name}: unsupported format (expected JPEG or PNG)`);
}

export async function readImage(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`image: cannot read ${path}: ${describeFsError(error)}`);
  }
  return await decodeImage(bytes, path);
}

export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return (error as Error).message ?? String(error);
}
