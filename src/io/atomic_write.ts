import { basename, dirname, join } from "node:path";

/** Writes `bytes` to a temp file next to `path`, then renames it over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const suffix = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
  const tempPath = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  try {
    await Deno.writeFile(tempPath, bytes);
    await Deno.rename(tempPath, path);
  } catch (error) {
    await Deno.remove(tempPath).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot write ${path}: ${reason}`);
  }
}
