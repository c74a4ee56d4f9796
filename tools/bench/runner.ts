/**
 * Times benchmark cases on one backend: warm-up, repeated fenced timings (each iteration
 * ends with `await backend.sync()`), median / min / max / IQR, throughput, and the fraction
 * of the backend's measured peak.
 */
import { type Backend, getBackend, initBackend, setBackend } from "../../src/backend/backend.ts";
import { selectBackendByName } from "../../src/backend/select_name.ts";
import { tidy } from "../../src/tensor/memory.ts";
import type { CudaDeviceInfo } from "../../src/backend/cuda/backend.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import { copyCase, matmulCase } from "./primitives.ts";
import type { BackendReport, BenchCase, BenchRow, Peak, Suite } from "./types.ts";
import { collectTensors, disposeTensors, quantile, tryImport } from "./util.ts";

export interface RunOptions {
  quick: boolean;
  /** Most timed iterations per case. */
  repeat: number;
  /** Seconds of timed iterations per case (fewer repeats for slow cases; at least one). */
  budgetS: number;
  /** Skip a case whose estimated single iteration exceeds this (on estimated backends). */
  maxSeconds: number;
  filter?: RegExp;
  log: (line: string) => void;
}

/** Backends `--backend all` tries, in order. */
export const ALL_BACKENDS = ["cpu", "native", "webgpu", "cuda"];

const MODULES: Record<string, string> = {
  native: "../../src/backend/native/mod.ts",
  webgpu: "../../src/backend/webgpu/mod.ts",
  cuda: "../../src/backend/cuda/mod.ts",
};

/** Initialises a backend by name; throws with a printable reason when it is unavailable. */
export async function openBackend(name: string): Promise<Backend> {
  const path = MODULES[name];
  if (path) {
    const imp = await tryImport(path);
    if (imp.error) throw new Error(imp.error);
  }
  return name === "webgpu" || name === "cpu" ? await selectBackendByName(name) : initBackend(name);
}

function describe(backend: Backend): string {
  if (backend.name === "cpu") return "TypeScript reference, one thread";
  const b = backend as unknown as Record<string, unknown> & {
    context?: { description?: string };
  };
  if (typeof b.context?.description === "string") {
    return `${backend.name} on ${b.context.description}`;
  }
  const lib = (backend as unknown as { lib?: { isa?: () => string; threads?: () => number } })
    .lib;
  if (lib?.isa && lib.threads) {
    const cpuKernels = getBackend("cpu").kernels;
    const names = Object.keys(backend.kernels);
    const own = names.filter((k) => backend.kernels[k] !== cpuKernels[k]).length;
    return `C library (${lib.isa()}, ${lib.threads()} threads); ${own} of ${names.length}` +
      " kernels native, the rest from the TypeScript reference";
  }
  const cuda = (backend as unknown as { info?: Partial<CudaDeviceInfo> }).info;
  if (cuda?.name && cuda.computeCapability) {
    const [major, minor] = cuda.computeCapability;
    return `${cuda.name} (sm_${major}${minor}, ${cuda.multiprocessors} SMs` +
      `${cuda.emulation ? ", CPU emulation" : ""}; cuBLAS ${cuda.cublas ? "loaded" : "not found"})`;
  }
  for (const key of ["description", "device", "adapterName"]) {
    if (typeof b[key] === "string") return b[key] as string;
  }
  return backend.name;
}

/** Largest f32 tensor a device backend can bind (WebGPU maxStorageBufferBindingSize). */
function maxElements(backend: Backend): number {
  const b = backend as unknown as { context?: { limits?: Record<string, number> } };
  const bytes = b.context?.limits?.maxStorageBufferBindingSize;
  return bytes ? Math.floor(bytes / 4) : Infinity;
}

type GpuTimer = (fn: () => void) => Promise<number | null>;

/** The webgpu runtime's timestamp-query timer, when the backend exposes one. */
function gpuTimer(backend: Backend): GpuTimer | null {
  const b = backend as unknown as {
    gpuTime?: GpuTimer;
    runtime?: { gpuTime?: GpuTimer; hasTimestamps?: boolean };
  };
  if (typeof b.gpuTime === "function") return b.gpuTime.bind(b);
  const rt = b.runtime;
  if (rt && typeof rt.gpuTime === "function" && rt.hasTimestamps !== false) {
    return rt.gpuTime.bind(rt);
  }
  return null;
}

interface Timing {
  times: number[];
  warmup: number;
  gpuMs?: number;
}

async function timeCase(backend: Backend, c: BenchCase, opts: RunOptions): Promise<Timing> {
  const prep = await c.setup();
  const run = prep.run;
  const runAsync = prep.runAsync;
  const runOnce = (): Tensor[] => tidy(() => collectTensors(run!()));
  const once = async (): Promise<number> => {
    prep.reset?.();
    await backend.sync();
    const t0 = performance.now();
    const outs = runAsync ? collectTensors(await runAsync()) : runOnce();
    await backend.sync();
    const dt = performance.now() - t0;
    disposeTensors(outs);
    return dt;
  };
  try {
    const first = await once();
    const times: number[] = [];
    let warmup = 1;
    if (opts.quick || first > 20000) {
      // one run is the whole measurement (quick), or so long that a second costs too much
      times.push(first);
      warmup = 0;
    } else if (first < 100) {
      for (let i = 0; i < 2; i++) await once();
      warmup = 3;
    }
    const per = times[0] ?? first;
    const target = opts.quick
      ? 1
      : Math.max(1, Math.min(opts.repeat, Math.floor((opts.budgetS * 1000) / per)));
    while (times.length < target) times.push(await once());
    let gpuMs: number | undefined;
    const timer = opts.quick || runAsync ? null : gpuTimer(backend);
    if (timer) {
      prep.reset?.();
      let outs: Tensor[] = [];
      const ms = await timer(() => {
        outs = runOnce();
      });
      await backend.sync();
      disposeTensors(outs);
      if (ms !== null) gpuMs = ms;
    }
    return { times, warmup, gpuMs };
  } finally {
    prep.dispose?.();
  }
}

function statsRow(base: BenchRow, t: Timing): BenchRow {
  const sorted = [...t.times].sort((a, b) => a - b);
  const row: BenchRow = {
    ...base,
    status: "ok",
    warmup: t.warmup,
    repeat: t.times.length,
    times_ms: t.times.map((x) => +x.toFixed(4)),
    median_ms: quantile(sorted, 0.5),
    min_ms: sorted[0],
    max_ms: sorted[sorted.length - 1],
    q1_ms: quantile(sorted, 0.25),
    q3_ms: quantile(sorted, 0.75),
  };
  if (t.gpuMs !== undefined) row.gpu_ms = t.gpuMs;
  return row;
}

const effOf = (c: BenchCase, backend: string): number =>
  c.efficiency?.[backend] ?? c.efficiency?.cpu ?? 1;

/**
 * Estimated seconds of one iteration from the case's work, the backend's measured peak and
 * the case's expected efficiency (per backend; the cpu figure stands in for backends the
 * case does not list, a conservative guess for a software or untuned device).
 */
function estimate(c: BenchCase, backend: string, peak: Peak | undefined): number | undefined {
  const eff = c.efficiency ? effOf(c, backend) : undefined;
  if (!eff || !peak) return undefined;
  const work = c.flops ?? c.costFlops;
  if (work && peak.gflops > 0) return work / (peak.gflops * 1e9 * eff);
  if (c.bytes && peak.gbps > 0) return c.bytes / (peak.gbps * 1e9 * eff);
  return undefined;
}

/**
 * Best matmul GFLOP/s and best copy GB/s of a backend (best of up to 3 runs per probe;
 * larger matmul probes stop once one takes over a second).
 */
async function measurePeak(backend: Backend, opts: RunOptions): Promise<Peak> {
  const host = backend.name === "cpu";
  const sizes = opts.quick ? [64, 128] : host ? [256, 512] : [512, 1024, 2048, 4096];
  const probe = { ...opts, quick: false, repeat: 3, budgetS: host ? 2 : 3 };
  const peak: Peak = { gflops: 0, gflops_at: "", gbps: 0, gbps_at: "" };
  for (const n of sizes) {
    const c = matmulCase(backend, n);
    const t = await timeCase(backend, c, probe);
    const best = Math.min(...t.times);
    const g = c.flops! / (best * 1e6);
    if (g > peak.gflops) Object.assign(peak, { gflops: g, gflops_at: c.name });
    if (best > 1000) break;
  }
  const len = Math.min(opts.quick ? 1 << 16 : host ? 1 << 24 : 1 << 26, maxElements(backend));
  const c = copyCase(backend, len);
  const t = await timeCase(backend, c, probe);
  Object.assign(peak, { gbps: c.bytes! / (Math.min(...t.times) * 1e6), gbps_at: c.name });
  return peak;
}

const DENSE = /^(matmul|conv2d) /;

/**
 * Adds GFLOP/s, GB/s and the peak fraction to measured rows. The peak is raised by the
 * primitives rows (best run): dense ones (matmul, conv2d) for GFLOP/s, streaming ones
 * (reductions, copies, softmax, layer_norm) for GB/s.
 */
export function finishRows(rows: BenchRow[], peak: Peak): void {
  for (const r of rows) {
    if (r.status !== "ok" || !r.min_ms || r.suite !== "primitives") continue;
    if (DENSE.test(r.name) && r.flops) {
      const g = r.flops / (r.min_ms * 1e6);
      if (g > peak.gflops) Object.assign(peak, { gflops: g, gflops_at: r.name });
    } else if (r.bytes) {
      const g = r.bytes / (r.min_ms * 1e6);
      if (g > peak.gbps) Object.assign(peak, { gbps: g, gbps_at: r.name });
    }
  }
  for (const r of rows) {
    if (r.status !== "ok" || !r.median_ms) continue;
    const s = r.median_ms * 1e6;
    const fc = r.flops ? r.flops / s / peak.gflops : 0;
    const fm = r.bytes ? r.bytes / s / peak.gbps : 0;
    if (r.flops) r.gflops = r.flops / s;
    if (r.bytes) r.gbps = r.bytes / s;
    if (fc || fm) {
      r.peak_fraction = Math.max(fc, fm);
      r.peak_kind = fc >= fm ? "compute" : "memory";
    }
  }
}

export const fmtMs = (ms: number): string =>
  ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);

/** Runs every selected case of `suites` on backend `name`. */
export async function runBackend(
  name: string,
  suites: Suite[],
  opts: RunOptions,
): Promise<BackendReport> {
  let backend: Backend;
  try {
    backend = await openBackend(name);
    await setBackend(name);
  } catch (e) {
    const reason = e instanceof Error ? e.message.split("\n")[0] : String(e);
    opts.log(`backend ${name}: unavailable (${reason})`);
    return { backend: name, available: false, reason, rows: [] };
  }
  const report: BackendReport = {
    backend: name,
    available: true,
    detail: describe(backend),
    rows: [],
  };
  try {
    opts.log(`backend ${name}: ${report.detail}; measuring peak...`);
    let peak: Peak;
    try {
      peak = await measurePeak(backend, opts);
    } catch (e) {
      throw new Error(`peak probe failed: ${e instanceof Error ? e.message : e}`);
    }
    report.peak = peak;
    opts.log(
      `  peak ${peak.gflops.toFixed(2)} GFLOP/s (${peak.gflops_at}), ` +
        `${peak.gbps.toFixed(2)} GB/s (${peak.gbps_at})`,
    );
    for (const suite of suites) {
      let cases: BenchCase[];
      try {
        cases = await suite.cases({ backend, quick: opts.quick });
      } catch (e) {
        const reason = `suite failed to build: ${e instanceof Error ? e.message : e}`;
        opts.log(`  ${suite.name}: ${reason}`);
        report.rows.push({ suite: suite.name, name: "*", shape: "", status: "error", reason });
        continue;
      }
      for (const c of cases) {
        if (opts.filter && !opts.filter.test(`${suite.name}/${c.name}`)) continue;
        const row = await runCase(backend, suite.name, c, peak, opts, report.rows);
        report.rows.push(row);
        opts.log(`  ${rowLine(row)}`);
      }
    }
    finishRows(report.rows, peak);
  } catch (e) {
    // keep what was measured; the reason is printed with the table
    const reason = e instanceof Error ? e.message.split("\n")[0] : String(e);
    opts.log(`backend ${name}: stopped (${reason})`);
    report.reason = `stopped: ${reason}`;
    if (report.peak) finishRows(report.rows, report.peak);
  } finally {
    await setBackend("cpu");
    // a device backend's cached memory goes back before the next backend of the run starts (on
    // one GPU, cuda's pool otherwise stays with the process while webgpu allocates)
    await backend.sync().catch(() => {});
    backend.trim?.();
  }
  return report;
}

/** Estimated seconds from an already measured row (`scaleOf`), when there is one. */
function estimateFromRow(c: BenchCase, suite: string, done: BenchRow[]): number | undefined {
  if (!c.scaleOf) return undefined;
  const ref = c.scaleOf.row.includes("/") ? c.scaleOf.row : `${suite}/${c.scaleOf.row}`;
  const r = done.find((x) => `${x.suite}/${x.name}` === ref && x.status === "ok");
  return r ? (r.median_ms! / 1000) * c.scaleOf.factor : undefined;
}

async function runCase(
  backend: Backend,
  suite: string,
  c: BenchCase,
  peak: Peak,
  opts: RunOptions,
  done: BenchRow[],
): Promise<BenchRow> {
  const base: BenchRow = { suite, name: c.name, shape: c.shape, status: "ok" };
  if (c.flops) base.flops = c.flops;
  if (c.bytes) base.bytes = c.bytes;
  if (c.note) base.note = c.note;
  const skip = c.skip ?? c.skipOn?.[backend.name];
  if (skip) return { ...base, status: "skipped", reason: skip };
  const est = estimateFromRow(c, suite, done) ?? estimate(c, backend.name, peak);
  if (est !== undefined) base.estimate_s = +est.toFixed(3);
  if (est !== undefined && est > opts.maxSeconds) {
    const work = c.flops ?? c.costFlops;
    const what = c.scaleOf && estimateFromRow(c, suite, done) !== undefined
      ? `${c.scaleOf.factor.toFixed(1)}x the median of ${c.scaleOf.row}`
      : work
      ? `${(work / 1e9).toFixed(1)} GFLOP at ~${
        (peak.gflops * effOf(c, backend.name)).toFixed(2)
      } GFLOP/s`
      : `${(c.bytes! / 1e9).toFixed(2)} GB`;
    return {
      ...base,
      status: "skipped",
      reason: `estimated ${est.toFixed(0)} s per run on ${backend.name} ` +
        `(> ${opts.maxSeconds} s; ${what})`,
    };
  }
  try {
    return statsRow(base, await timeCase(backend, c, opts));
  } catch (e) {
    const reason = e instanceof Error ? e.message.split("\n")[0] : String(e);
    // an op the backend does not implement yet is a gap to report, not a failure
    if (/has no kernel|is not supported on backend/.test(reason)) {
      return {
        ...base,
        status: "skipped",
        reason: `not implemented on ${backend.name}: ${reason}`,
      };
    }
    if (/exceeds the device's/.test(reason)) {
      return { ...base, status: "skipped", reason: `device limit: ${reason}` };
    }
    return { ...base, status: "error", reason };
  }
}

export function rowLine(r: BenchRow): string {
  const id = `${r.suite}/${r.name}`.padEnd(44);
  if (r.status !== "ok") return `${id} ${r.status}: ${r.reason}`;
  return `${id} median ${fmtMs(r.median_ms!)} ms (min ${fmtMs(r.min_ms!)}, max ${
    fmtMs(r.max_ms!)
  }, n=${r.repeat}, warm-up ${r.warmup})`;
}
