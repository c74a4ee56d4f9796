import { readImage } from "../media/image.ts";

/** Reads a JPEG or PNG frame as RGB. */
export const readFrame = readImage;

/** `<dir>/<name>.jpg`, or `.png` when only that exists. */
export async function findFrameFile(dir: string, name: string): Promise<string> {
  for (const ext of [".jpg", ".png", ".jpeg"]) {
    const path = `${dir}/${name}${ext}`;
    try {
      await Deno.stat(path);
      return path;
    } catch {
      // try the next extension
    }
  }
  throw new Error(`frame: no ${name}.jpg or ${name}.png in ${dir}`);
}

export async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`${what}: cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what}: ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
