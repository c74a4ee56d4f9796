import type { Backend } from "../backend/backend.ts";
import { type DType, isFloat, type TypedArray } from "./dtype.ts";
import { fmtShape, type Shape, sizeOf } from "./shape.ts";
import { type GradNode, noGrad, topoOrder } from "./autograd.ts";
import { keep, trackCreated, trackDisposed } from "./memory.ts";
import { formatTensor } from "./format.ts";

let nextId = 1;

/**
 * A contiguous n-d array on one backend. Ops never mutate a tensor's values;
 * view-like ops produce new storage, `reshape` shares it.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: Backend;
  /** Backend buffer; null after dispose. Shared by reshapes of the same storage. */
  #storage: { buf: unknown; refs: number } | null;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  node: GradNode | null = null;
  /** Human-readable name (parameters carry their state-dict key). */
  name?: string;

  constructor(
    backend: Backend,
    buf: unknown,
    shape: Shape,
    dtype: DType,
    shared?: Tensor,
  ) {
    this.backend = backend;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    if (shared) {
      this.#storage = shared.#live();
      this.#storage.refs++;
    } else {
      this.#storage = { buf, refs: 1 };
    }
    trackCreated(this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.#storage === null;
  }

  #live(): { buf: unknown; refs: number } {
    if (!this.#storage) {
      throw new Error(`tensor #${this.id} ${fmtShape(this.shape)} was used after dispose()`);
    }
    return this.#storage;
  }

  /** The backend buffer (throws if disposed). */
  get buf(): unknown {
    return this.#live().buf;
  }

  /** Reads the values back to the host. */
  async data(): Promise<TypedArray> {
    return await this.backend.download(this.buf, this.dtype, this.size);
  }

  /** Synchronous read, only on host-memory backends (cpu, native). */
  dataSync(): TypedArray {
    const read = this.backend.downloadSync;
    if (!read) {
      throw new Error(`dataSync() is not available on backend ${this.backend.name}: await data()`);
    }
    return read.call(this.backend, this.buf, this.dtype, this.size);
  }

  /** Values as nested JS arrays. */
  async array(): Promise<unknown> {
    return nest(Array.from(await this.data()), this.shape);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(`item(): tensor has ${this.size} elements, shape ${fmtShape(this.shape)}`);
    }
    return (await this.data())[0];
  }

  toString(): string {
    if (!this.backend.downloadSync) {
      return `Tensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.backend.name})`;
    }
    return formatTensor(this.dataSync(), this.shape, this.dtype);
  }

  /** Frees the storage (once every reshape sharing it is disposed too). Idempotent. */
  dispose(): void {
    const s = this.#storage;
    if (!s) return;
    this.#storage = null;
    this.node = null;
    if (--s.refs === 0) this.backend.free(s.buf, this.dtype, this.size);
    trackDisposed(this);
  }

  /**
   * Makes this tensor hold `src`'s values (same shape and dtype) and disposes `src`.
   * The only in-place operation: optimizers use it to update parameters that modules
   * and optimizer state refer to. Not recorded by autograd.
   */
  assign(src: Tensor): this {
    if (src.shape.join() !== this.shape.join() || src.dtype !== this.dtype) {
      throw new Error(
        `assign: source ${fmtShape(src.shape)} ${src.dtype} does not match ${
          fmtShape(this.shape)
        } ${this.dtype}`,
      );
    }
    if (src.backend !== this.backend) throw new Error("assign: source is on another backend");
    const old = this.#live();
    const next = src.#live();
    if (old !== next) {
      next.refs++;
      if (--old.refs === 0) this.backend.free(old.buf, this.dtype, this.size);
      this.#storage = next;
    }
    src.dispose();
    return this;
  }

  /** Same values and storage, cut from the autograd graph. */
  detach(): Tensor {
    return this.withShape(this.shape);
  }

  /** A tensor sharing this storage with another shape (no copy, no grad). */
  withShape(shape: Shape): Tensor {
    return new Tensor(this.backend, null, shape, this.dtype, this);
  }

  /** Marks this tensor as a leaf that accumulates gradients. */
  requireGrad(flag = true): this {
    if (flag && !isFloat(this.dtype)) {
      throw new Error(`requireGrad: only float tensors can require grad (got ${this.dtype})`);
    }
    this.requiresGrad = flag;
    return this;
  }

  /**
   * Backpropagates from this tensor. Scalars use gradient 1; otherwise pass `grad`.
   * Leaf gradients accumulate into `.grad` (kept out of `tidy` scopes).
   */
  backward(grad?: Tensor): void {
    if (!grad && this.size !== 1) {
      throw new Error(
        `backward(): output has shape ${fmtShape(this.shape)}; pass a gradient of that shape`,
      );
    }
    if (grad && (grad.size !== this.size || grad.dtype !== this.dtype)) {
      throw new Error(
        `backward(): gradient ${fmtShape(grad.shape)} ${grad.dtype} does not match output ${
          fmtShape(this.shape)
        } ${this.dtype}`,
      );
    }
    noGrad(() => runBackward(this, grad));
  }
}

// Gradients are stored as fresh handles (shared, refcounted storage), so every stored
// gradient can be disposed independently once consumed; this keeps GPU memory bounded.
function runBackward(root: Tensor, seed?: Tensor): void {
  const start = seed ? seed.withShape(root.shape) : gradHooks.onesLike(root);
  if (!root.node) {
    if (root.requiresGrad) accumulate(root, start);
    start.dispose();
    return;
  }
  const grads = new Map<Tensor, Tensor>([[root, start]]);
  for (const node of topoOrder(root.node)) {
    const outs = node.outputs.map((r) => r.deref() ?? null);
    const gOut = outs.map((o) => (o ? grads.get(o) ?? null : null));
    if (gOut.every((g) => g === null)) continue;
    const gIn = node.backward(gOut);
    node.inputs.forEach((input, i) => {
      const g = gIn[i];
      if (!g || !(input.requiresGrad || input.node)) return;
      if (g.size !== input.size) {
        throw new Error(
          `autograd: ${node.op} returned gradient ${fmtShape(g.shape)} for input ${
            fmtShape(input.shape)
          }`,
        );
      }
      if (!input.node) {
        accumulate(input, g);
        return;
      }
      const prev = grads.get(input);
      if (prev) {
        grads.set(input, gradHooks.add(prev, g));
        prev.dispose();
      } else {
        grads.set(input, g.withShape(input.shape));
      }
    });
    for (const g of new Set(gIn)) if (g && !gOut.includes(g)) g.dispose();
    for (const o of outs) if (o) grads.delete(o);
    for (const g of gOut) g?.dispose();
  }
  for (const g of grads.values()) g.dispose();
}

function accumulate(leaf: Tensor, g: Tensor): void {
  const old = leaf.grad;
  const handle = g.withShape(leaf.shape);
  leaf.grad = keep(old ? gradHooks.add(old, handle) : handle);
  if (old) {
    old.dispose();
    handle.dispose();
  }
}

/** Ops the autograd engine needs; installed by src/ops to avoid an import cycle. */
export const gradHooks = {
  onesLike: (_t: Tensor): Tensor => {
    throw new Error("ops not loaded: import mod.ts or src/ops/mod.ts");
  },
  add: (_a: Tensor, _b: Tensor): Tensor => {
    throw new Error("ops not loaded: import mod.ts or src/ops/mod.ts");
  },
};

function nest(flat: number[], shape: Shape): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat;
  const step = flat.length / shape[0];
  return Array.from(
    { length: shape[0] },
    (_, i) => nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)),
  );
}
