/**
 * WGSL sources live in /wgsl (one concern per file). They are read once when the backend
 * starts (file: URLs with Deno.readTextFile, anything else with fetch, so the library also
 * works when imported remotely) and specialised later by prepending a generated header.
 */

export const SHADER_FILES = [
  "prelude",
  "elementwise",
  "strided",
  "reduce",
  "lines",
  "softmax",
  "argreduce",
  "cumsum",
  "matmul",
  "matmul_batch",
  "matmul_ubo",
  "matmul_tiled",
  "conv2d",
  "conv2d_image",
  "pool",
  "resize",
  "grid_sample",
  "msda",
  "index_common",
  "index",
  "scatter",
  "cat_pad",
  "sort",
  "creation",
  "norm_rows",
  "norm_forward",
  "norm_backward",
  "norm_affine_grad",
  "window_attention_common",
  "window_attention_forward",
  "window_attention_backward",
] as const;

export type ShaderName = typeof SHADER_FILES[number];

const sources = new Map<string, string>();

async function readSource(name: string): Promise<string> {
  const url = new URL(`../../../wgsl/${name}.wgsl`, import.meta.url);
  if (url.protocol === "file:") return await Deno.readTextFile(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`webgpu: cannot load ${url} (${res.status})`);
  return await res.text();
}

/** Loads every shader source (idempotent). */
export async function loadShaders(): Promise<void> {
  if (sources.size === SHADER_FILES.length) return;
  const texts = await Promise.all(SHADER_FILES.map(readSource));
  SHADER_FILES.forEach((n, i) => sources.set(n, texts[i]));
}

/** The text of a loaded shader file. */
export function shader(name: ShaderName): string {
  const s = sources.get(name);
  if (s === undefined) throw new Error(`webgpu: shader ${name} not loaded`);
  return s;
}

/** `prelude` (math helpers), a header of constants, then shader files (shared snippets, body). */
export function assemble(header: string, ...names: ShaderName[]): string {
  return [shader("prelude"), header, ...names.map(shader)].join("\n");
}
