import { fileURLToPath } from "node:url";

/**
 * Path of a golden fixture: in ../shared/fixtures beside the repository, or in the folder
 * DMF_FIXTURES names (a machine where the fixtures travel with the checkout).
 */
export function fixturePath(name: string): string {
  const dir = Deno.env.get("DMF_FIXTURES");
  if (dir) return `${dir.replace(/\/$/, "")}/${name}.safetensors`;
  return fileURLToPath(
    new URL(`../../../shared/fixtures/${name}.safetensors`, import.meta.url),
  );
}
