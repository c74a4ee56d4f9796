import { fileURLToPath } from "node:url";

/** Path of a golden fixture in ../shared/fixtures beside the repository. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../../shared/fixtures/${name}.safetensors`, import.meta.url));
}
