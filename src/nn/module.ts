import { type DType, typedArrayFor } from "../tensor/dtype.ts";
import { fmtShape } from "../tensor/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { Backend } from "../backend/backend.ts";
import { tensor } from "../ops/creation.ts";
import { noGrad } from "../tensor/autograd.ts";

const PARAMS = new WeakSet<Tensor>();
const BUFFERS = new WeakSet<Tensor>();

/** Marks `t` as a trainable parameter (requires grad) of the module it is assigned to. */
export function param(t: Tensor): Tensor {
  PARAMS.add(t);
  return t.requireGrad(true);
}

/** Marks `t` as a non-trainable state tensor saved in the state dict (e.g. index tables). */
export function buffer(t: Tensor): Tensor {
  BUFFERS.add(t);
  return t;
}

/** A tensor as stored in a checkpoint file, before it is placed on a backend. */
export interface HostTensor {
  dtype: DType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; got: number[] }[];
}

export type Slot = {
  owner: Record<string, unknown>;
  key: string;
  tensor: Tensor;
  kind: "param" | "buffer";
};

/**
 * Base class of layers, named like torch.nn.Module: child modules, parameters and buffers
 * are discovered from the object's own properties (arrays of modules number their
 * children), so state-dict keys equal PyTorch's when attribute names do.
 */
export class Module {
  training = true;

  /** Collects parameters and buffers (recursively) in definition order. */
  collectSlots(prefix: string, out: Slot[], seen: Set<Module>): void {
    if (seen.has(this)) return;
    seen.add(this);
    for (const [key, value] of Object.entries(this)) {
      if (key === "training") continue;
      visit(this as unknown as Record<string, unknown>, key, value, prefix + key, out, seen);
    }
  }

  namedSlots(): (Slot & { name: string })[] {
    const out: Slot[] = [];
    this.collectSlots("", out, new Set());
    return out as (Slot & { name: string })[];
  }

  namedParameters(): [string, Tensor][] {
    return this.namedSlots().filter((s) => s.kind === "param").map((s) => [s.name, s.tensor]);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(): [string, Tensor][] {
    return this.namedSlots().filter((s) => s.kind === "buffer").map((s) => [s.name, s.tensor]);
  }

  /** Parameters and buffers by PyTorch key. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedSlots().map((s) => [s.name, s.tensor]));
  }

  children(): Module[] {
    return Object.values(this).flatMap((v) =>
      v instanceof Module ? [v] : Array.isArray(v) ? v.filter((m) => m instanceof Module) : []
    );
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes every parameter. */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /**
   * Loads tensors by key. Strict mode throws one error listing every missing key,
   * unexpected key and shape mismatch; non-strict mode loads what matches and returns
   * the report.
   */
  loadStateDict(
    dict: Map<string, Tensor | HostTensor> | Record<string, Tensor | HostTensor>,
    { strict = true }: { strict?: boolean } = {},
  ): LoadReport {
    const entries = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const slots = this.namedSlots();
    const known = new Set(slots.map((s) => s.name));
    const report: LoadReport = {
      missing: slots.filter((s) => !entries.has(s.name)).map((s) => s.name),
      unexpected: [...entries.keys()].filter((k) => !known.has(k)),
      mismatched: [],
    };
    for (const s of slots) {
      const src = entries.get(s.name);
      if (src && src.shape.join() !== s.tensor.shape.join()) {
        report.mismatched.push({ key: s.name, expected: [...s.tensor.shape], got: [...src.shape] });
      }
    }
    const bad = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (strict && bad > 0) throw new Error(describeReport(report));
    for (const s of slots) {
      const src = entries.get(s.name);
      if (!src || src.shape.join() !== s.tensor.shape.join()) continue;
      // values move into the existing tensor objects, so optimizers and other holders of
      // these parameters keep working after a load
      const next = toBackendTensor(src, s.tensor.dtype, s.tensor.backend);
      if (next !== s.tensor) s.tensor.assign(src instanceof Tensor ? next.detach() : next);
      s.tensor.name = s.name;
    }
    return report;
  }

  /** Moves every parameter and buffer to `backend` (copies through the host). */
  async to(backend: Backend): Promise<this> {
    for (const s of this.namedSlots()) {
      if (s.tensor.backend === backend) continue;
      const data = await s.tensor.data();
      const next = tensor(data, s.tensor.shape, { dtype: s.tensor.dtype, backend });
      const trainable = s.tensor.requiresGrad;
      s.tensor.dispose();
      s.owner[s.key] = s.kind === "param" ? param(next) : buffer(next);
      next.requiresGrad = trainable;
      next.name = s.name;
    }
    return this;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const s of this.namedSlots()) s.tensor.dispose();
  }
}

function visit(
  owner: Record<string, unknown>,
  key: string,
  value: unknown,
  name: string,
  out: Slot[],
  seen: Set<Module>,
): void {
  if (value instanceof Module) {
    value.collectSlots(name + ".", out, seen);
  } else if (value instanceof Tensor) {
    if (PARAMS.has(value)) out.push(named({ owner, key, tensor: value, kind: "param" }, name));
    else if (BUFFERS.has(value)) {
      out.push(named({ owner, key, tensor: value, kind: "buffer" }, name));
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) =>
      visit(value as unknown as Record<string, unknown>, String(i), v, `${name}.${i}`, out, seen)
    );
  }
}

function named(s: Slot, name: string): Slot {
  return Object.assign(s, { name });
}

function toBackendTensor(src: Tensor | HostTensor, dtype: DType, backend: Backend): Tensor {
  if (src instanceof Tensor) {
    if (src.backend === backend && src.dtype === dtype) return src;
    throw new Error("loadStateDict: tensors from another backend or dtype must be moved first");
  }
  const arr = typedArrayFor(dtype, src.data.length);
  arr.set(src.data);
  return noGrad(() => tensor(arr, src.shape, { dtype, backend }));
}

export function describeReport(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing keys (${r.missing.length}): ${r.missing.join(", ")}`);
  if (r.unexpected.length) {
    parts.push(`unexpected keys (${r.unexpected.length}): ${r.unexpected.join(", ")}`);
  }
  for (const m of r.mismatched) {
    parts.push(
      `shape mismatch for ${m.key}: model ${fmtShape(m.expected)}, checkpoint ${fmtShape(m.got)}`,
    );
  }
  return `loadStateDict: ${parts.join("; ")}`;
}
