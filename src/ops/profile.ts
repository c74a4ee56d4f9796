/**
 * Per-kernel wall-clock profile. While a profile is active every kernel launch made through
 * `apply` is timed; on host backends (cpu, native) that is the kernel's run time, on queued
 * backends (webgpu, cuda) it is only the time to encode the launch.
 */

/** Totals for one kernel name. */
export interface KernelProfileRow {
  kernel: string;
  calls: number;
  ms: number;
  /** Output elements written, summed over calls. */
  elements: number;
  /** In a per-shape profile: the launches' input shapes and boolean attributes. */
  shapes?: string;
}

let active: Map<string, KernelProfileRow> | null = null;
let byShape = false;

/**
 * Starts collecting (clears an earlier profile). With `shapes`, rows are per kernel and input
 * shapes (plus the launch's boolean attributes, e.g. a matmul's transposes).
 */
export function startProfile(options: { shapes?: boolean } = {}): void {
  active = new Map();
  byShape = options.shapes ?? false;
}

/** True while a per-shape profile is being collected. */
export function profilingShapes(): boolean {
  return active !== null && byShape;
}

/** Stops collecting and returns the rows, slowest first. */
export function stopProfile(): KernelProfileRow[] {
  const rows = [...(active?.values() ?? [])].sort((a, b) => b.ms - a.ms);
  active = null;
  return rows;
}

/** True while a profile is being collected (checked by `apply` before timing). */
export function profiling(): boolean {
  return active !== null;
}

/** Adds one timed launch (`detail`: its shapes, kept apart in a per-shape profile). */
export function recordKernel(kernel: string, ms: number, elements: number, detail?: string): void {
  if (!active) return;
  const shapes = byShape ? detail : undefined;
  const key = shapes ? `${kernel} ${shapes}` : kernel;
  let row = active.get(key);
  if (!row) active.set(key, row = { kernel, calls: 0, ms: 0, elements: 0, shapes });
  row.calls++;
  row.ms += ms;
  row.elements += elements;
}

/** A per-shape profile's rows summed per kernel, slowest first. */
export function sumByKernel(rows: KernelProfileRow[]): KernelProfileRow[] {
  const out = new Map<string, KernelProfileRow>();
  for (const r of rows) {
    const sum = out.get(r.kernel) ?? { kernel: r.kernel, calls: 0, ms: 0, elements: 0 };
    sum.calls += r.calls;
    sum.ms += r.ms;
    sum.elements += r.elements;
    out.set(r.kernel, sum);
  }
  return [...out.values()].sort((a, b) => b.ms - a.ms);
}

/** The rows as an aligned text table with each kernel's share of the total. */
export function formatProfile(rows: KernelProfileRow[], top = 25): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const label = (r: KernelProfileRow) => r.shapes ? `${r.kernel} ${r.shapes}` : r.kernel;
  const width = Math.max(28, ...rows.slice(0, top).map((r) => label(r).length));
  const lines = [`${"kernel".padEnd(width)} ${"calls".padStart(7)} ${"ms".padStart(10)}  share`];
  for (const r of rows.slice(0, top)) {
    const share = total > 0 ? (100 * r.ms / total).toFixed(1) : "0.0";
    lines.push(
      `${label(r).padEnd(width)} ${String(r.calls).padStart(7)} ${r.ms.toFixed(1).padStart(10)}  ${
        share.padStart(5)
      }%`,
    );
  }
  lines.push(`${"total".padEnd(width)} ${"".padStart(7)} ${total.toFixed(1).padStart(10)}`);
  return lines.join("\n");
}
