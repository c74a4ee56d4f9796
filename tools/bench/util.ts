/** Small helpers shared by the benchmark suites and the runner. */
import type { Tensor } from "../../src/tensor/tensor.ts";

export interface Imported {
  // deno-lint-ignore no-explicit-any
  module?: any;
  /** Why the module could not be used (missing file, load error); absent when it loaded. */
  error?: string;
}

/**
 * Imports a module that may not exist yet (blocks in progress). `path` is relative to
 * tools/bench/. A missing file or a load error becomes a printable reason.
 */
export async function tryImport(path: string): Promise<Imported> {
  const url = new URL(path, import.meta.url);
  const rel = url.pathname.replace(/^.*?\/(src\/)/, "$1");
  try {
    await Deno.stat(url);
  } catch {
    return { error: `${rel} does not exist yet` };
  }
  try {
    return { module: await import(url.href) };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return { error: `${rel} failed to load: ${msg}` };
  }
}

export function disposeTensors(ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) t?.dispose();
}

/** Drops accumulated gradients so every timed iteration does the same work. */
export function clearGrads(ts: Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

/** Collects tensors from a run's return value (a tensor, array or plain object of them). */
export function collectTensors(v: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (!v || typeof v !== "object" || depth > 4) return out;
  if ("dispose" in v && "shape" in v && "backend" in v) {
    out.push(v as Tensor);
  } else if (Array.isArray(v)) {
    for (const x of v) collectTensors(x, out, depth + 1);
  } else if (Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
  }
  return out;
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 1) return sorted[0];
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
