/**
 * Shared types of the benchmark harness (tools/bench.ts) and its suites. The JSON schema
 * written by `--json` (and by tools/bench_torch.py) is `BenchReport`.
 */
import type { Backend } from "../../src/backend/backend.ts";

/** What a suite's cases are built for. */
export interface SuiteContext {
  backend: Backend;
  /** Tiny sizes, one timed run each (the smoke test). */
  quick: boolean;
}

/**
 * A case ready to time: `run` does one iteration (inside `tidy`) and returns what to dispose
 * afterwards; `runAsync` is for iterations that must await (read-backs inside a model's
 * forward): it runs outside `tidy`, so only what it returns is disposed.
 */
export interface Prepared {
  run?(): unknown;
  runAsync?(): Promise<unknown>;
  /** Before every iteration, outside the timed region (e.g. clear accumulated grads). */
  reset?(): void;
  /** After the last iteration. */
  dispose?(): void;
}

export interface BenchCase {
  name: string;
  /** Human-readable shape, e.g. "[5, 4820, 256]". */
  shape: string;
  /** Exact floating-point operation count of one iteration (the formula is in `note`). */
  flops?: number;
  /** Bytes one iteration must move at least (each input read once, each output written once). */
  bytes?: number;
  /** Approximate work when `flops` is not exact; only used to estimate the run time. */
  costFlops?: number;
  /**
   * Expected fraction of the backend's measured peak (matmul GFLOP/s for flop-counted cases,
   * copy GB/s for byte-counted ones), per backend name; used to skip cases that would run
   * longer than `--max-seconds` per iteration. Backends not listed are not estimated.
   */
  efficiency?: Partial<Record<string, number>>;
  /**
   * Estimate the run time as `factor` times an earlier row's median on the same backend
   * ("suite/case", or a case of the same suite); preferred over `efficiency` when measured.
   */
  scaleOf?: { row: string; factor: number };
  /** How flops/bytes are counted. */
  note?: string;
  /** A reason to skip on every backend (missing module, not implemented yet). */
  skip?: string;
  /** Skip reasons per backend (e.g. an op the backend lacks). */
  skipOn?: Partial<Record<string, string>>;
  setup(): Prepared | Promise<Prepared>;
}

export interface Suite {
  name: string;
  title: string;
  cases(ctx: SuiteContext): BenchCase[] | Promise<BenchCase[]>;
}

export type RowStatus = "ok" | "skipped" | "error";

/** One timed case on one backend. Times are milliseconds. */
export interface BenchRow {
  suite: string;
  name: string;
  shape: string;
  status: RowStatus;
  reason?: string;
  warmup?: number;
  repeat?: number;
  times_ms?: number[];
  median_ms?: number;
  min_ms?: number;
  max_ms?: number;
  q1_ms?: number;
  q3_ms?: number;
  /** GPU time from timestamp queries (one extra run), when the backend exposes them. */
  gpu_ms?: number;
  flops?: number;
  bytes?: number;
  gflops?: number;
  gbps?: number;
  /** Throughput as a fraction of the backend's measured peak (the closer of the two bounds). */
  peak_fraction?: number;
  /** "compute" (GFLOP/s vs matmul peak) or "memory" (GB/s vs copy peak). */
  peak_kind?: "compute" | "memory";
  estimate_s?: number;
  note?: string;
}

export interface Peak {
  /** Best matmul GFLOP/s seen (peak probe and matmul rows). */
  gflops: number;
  gflops_at: string;
  /** Best copy-like GB/s (read + write bytes). */
  gbps: number;
  gbps_at: string;
}

export interface BackendReport {
  backend: string;
  available: boolean;
  reason?: string;
  /** Extra description (device name, thread count). */
  detail?: string;
  peak?: Peak;
  rows: BenchRow[];
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_gib?: number;
  os: string;
  runtime: string;
  /** 1-minute load average at the start and at the end of the run (shared machines). */
  load?: string;
}

export interface Comparison {
  suite: string;
  name: string;
  backend: string;
  ours_ms: number;
  torch_ms: number;
  /** ours / torch median time (> 1: slower than PyTorch). */
  ratio: number;
}

export interface BenchReport {
  schema: "dmformer-bench/1";
  date: string;
  command: string;
  quick: boolean;
  machine: MachineInfo;
  backends: BackendReport[];
  /** Present with --compare torch: the PyTorch run, in the same schema. */
  torch?: BenchReport | { error: string };
  comparisons?: Comparison[];
}

/** "[a, b, c]" */
export const shapeStr = (...dims: number[]): string => `[${dims.join(", ")}]`;

/** Flops of a dense matmul [m, k] x [k, n]: one multiply and one add per term. */
export const matmulFlops = (m: number, k: number, n: number): number => 2 * m * k * n;
