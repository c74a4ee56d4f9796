import { loadSafetensors } from "../io/safetensors.ts";
import type { RawTensor } from "../io/raw_tensor.ts";
import type { Backend } from "../backend/backend.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { tensor } from "../ops/creation.ts";

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** A golden fixture: reference tensors (param.*, in.*, out.*, grad.*, dbg.*) and metadata. */
export class Fixture {
  constructor(
    readonly path: string,
    readonly tensors: Map<string, RawTensor>,
    readonly metadata: Record<string, string>,
    readonly backend: Backend,
  ) {}

  static async load(path: string, backend: Backend): Promise<Fixture> {
    const { tensors, metadata } = await loadSafetensors(path);
    if (!metadata.fixture) {
      throw new Error(`${path}: not a golden fixture (no "fixture" in __metadata__)`);
    }
    return new Fixture(path, tensors, metadata, backend);
  }

  get name(): string {
    return this.metadata.fixture;
  }

  /** Parsed JSON metadata entry (config, tolerances, ...). */
  // deno-lint-ignore no-explicit-any
  json(key: string): any {
    const v = this.metadata[key];
    return v === undefined ? undefined : JSON.parse(v);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  raw(name: string): RawTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.name}: fixture has no tensor "${name}"`);
    return t;
  }

  /** A fixture tensor on the fixture's backend (int64 arrives as i32). */
  tensor(name: string): Tensor {
    const r = this.raw(name);
    return tensor(r.data, r.shape, { dtype: r.dtype, backend: this.backend });
  }

  /** `param.*` entries with the prefix (and an optional key prefix) removed. */
  params(keyPrefix = ""): Map<string, RawTensor> {
    const out = new Map<string, RawTensor>();
    for (const [k, v] of this.tensors) {
      if (k.startsWith("param." + keyPrefix)) out.set(k.slice(6 + keyPrefix.length), v);
    }
    return out;
  }

  /** Names the harness must check: every out.* and grad.* tensor. */
  checkedNames(): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith("out.") || k.startsWith("grad."));
  }

  tolerance(name: string): Tolerance {
    const all = this.json("tolerances") ?? {};
    return all[name] ?? { atol: 1e-5, rtol: 1e-5 };
  }
}

/** What an adapter returns: computed tensors by fixture name, plus optional elementwise masks. */
export interface ParityResult {
  values: Map<string, Tensor>;
  /** Compare only where the mask is non-zero (e.g. the AdamW rule of dmmi_tiny). */
  masks?: Map<string, Uint8Array>;
}

export interface ParityAdapter {
  /** The fixture's metadata "fixture" name. */
  fixture: string;
  run(fx: Fixture): Promise<ParityResult>;
}
