/**
 * Loads npm fflate under Deno (pinned `npm:` specifier) and under vitest/vite (bare name from
 * node_modules). Specifiers go through variables so no bundler resolves them ahead of time.
 */
import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export type UnzipSync = (data: Uint8Array) => Record<string, Uint8Array>;

const PINNED = "npm:fflate@0.8.2";
const BARE = "fflate";

function installNpmDeps(): void {
  const depsFile = new URL("./npm_deps.ts", import.meta.url);
  if (depsFile.protocol !== "file:") return;
  const path = fileURLToPath(depsFile);
  try {
    // cwd beside the file so Deno finds the project's deno.json (nodeModulesDir).
    execFileSync(Deno.execPath(), ["cache", "--quiet", path], {
      stdio: "ignore",
      cwd: dirname(path),
    });
  } catch {
    // Reported by the final import attempt.
  }
}

async function loadFflate(): Promise<{ unzipSync: UnzipSync }> {
  const errors: unknown[] = [];
  for (const spec of [PINNED, BARE]) {
    try {
      return await import(spec);
    } catch (error) {
      errors.push(error);
    }
  }
  installNpmDeps();
  try {
    return await import(BARE);
  } catch (error) {
    throw new Error(`cannot load npm package ${PINNED}: ${error} (earlier: ${errors.join("; ")})`);
  }
}

export const { unzipSync } = await loadFflate();
