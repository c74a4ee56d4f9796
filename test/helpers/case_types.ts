/**
 * The shape of the catalog-driven test table. A case is plain data plus closures over the
 * public API, so the same table runs on every backend (see catalog.ts: runCatalogSuite).
 */
import type { Backend, DType, Tensor } from "../../mod.ts";
import { tensor } from "../../mod.ts";
import type { Ref } from "./reference.ts";
import type { Tolerance } from "./numeric.ts";

/** What a check gets: the backend under test and tensor factories bound to it. */
export interface Ctx {
  backend: Backend;
  /** A tensor on the backend under test (default dtype f32). */
  t(values: ArrayLike<number>, shape: readonly number[], dtype?: DType): Tensor;
  /** A tensor holding a reference array. */
  r(x: Ref, dtype?: DType): Tensor;
}

export function makeCtx(backend: Backend): Ctx {
  const t = (values: ArrayLike<number>, shape: readonly number[], dtype: DType = "f32") =>
    tensor(Array.from(values), [...shape], { dtype, backend });
  return { backend, t, r: (x, dtype) => t(x.data, x.shape, dtype) };
}

/** Expected output: shape, values (float64, computed by the reference) and dtype. */
export interface Expect extends Tolerance {
  shape: readonly number[];
  values: ArrayLike<number>;
  dtype?: DType;
}

/** Compares the output(s) of `run` with `expect` (one Expect per output). */
export interface ForwardCheck {
  name: string;
  run: (c: Ctx) => Tensor | Tensor[];
  expect: Expect | Expect[];
  /** Dtypes the check needs from the backend (skipped where missing). */
  needs?: DType[];
}

/** A free-form check (statistics, reproducibility, async results). */
export interface CustomCheck {
  name: string;
  check: (c: Ctx) => void | Promise<void>;
  needs?: DType[];
}

export type Check = ForwardCheck | CustomCheck;

/** One input of a gradient case: float unless `dtype` says otherwise. */
export interface InputSpec {
  shape: number[];
  /** Fixed values; otherwise uniform in [lo, hi] (defaults from the op's test domain). */
  values?: number[];
  lo?: number;
  hi?: number;
  /** Integer or bool inputs (indices, masks) are never differentiated. */
  dtype?: "i32" | "bool" | "u8";
}

export interface GradCase extends Tolerance {
  name: string;
  inputs: InputSpec[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Internal (backward-only) ops this gradient must run. */
  reaches?: string[];
  eps?: number;
}

export interface Case {
  forward: Check[];
  grad?: GradCase[];
}

/** Expectation from a reference array. */
export function E(x: Ref, o: { dtype?: DType } & Tolerance = {}): Expect {
  return { shape: x.shape, values: x.data, ...o };
}
