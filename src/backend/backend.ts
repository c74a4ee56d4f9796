import type { DType, TypedArray } from "../tensor/dtype.ts";
import type { Shape } from "../tensor/shape.ts";

/** An input buffer of a kernel call, with its logical shape and dtype. */
export interface KernelInput {
  buf: unknown;
  shape: Shape;
  dtype: DType;
}

/** An output a kernel must fill: the buffer was allocated by the dispatcher. */
export interface KernelOutput {
  buf: unknown;
  shape: Shape;
  dtype: DType;
}

// deno-lint-ignore no-explicit-any
export type Attrs = Record<string, any>;

export type Kernel = (ins: KernelInput[], outs: KernelOutput[], attrs: Attrs) => void;

/**
 * A backend is a buffer allocator plus a table of kernels keyed by kernel name.
 * Buffers are opaque to the tensor layer.
 */
export interface Backend {
  readonly name: string;
  readonly kernels: Readonly<Record<string, Kernel>>;
  readonly dtypes: readonly DType[];
  alloc(dtype: DType, size: number): unknown;
  upload(data: TypedArray, dtype: DType): unknown;
  download(buf: unknown, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read; only backends whose memory is host memory provide it. */
  downloadSync?(buf: unknown, dtype: DType, size: number): TypedArray;
  free(buf: unknown, dtype: DType, size: number): void;
  /** Waits until all queued work finished. */
  sync(): Promise<void>;
  /** Gives cached device memory back (device backends with a buffer pool). */
  trim?(): void;
  /**
   * Measured preferences between a fused kernel and the same computation composed from
   * other ops, by op name (absent: the fused kernel). Models read it through
   * `prefersFused(backend, op)`.
   */
  readonly fusedPreference?: Readonly<Record<string, boolean>>;
}

/** Whether `backend` runs the fused kernel of `op` faster than the composed ops. */
export function prefersFused(backend: Backend, op: string): boolean {
  return backend.fusedPreference?.[op] ?? true;
}

const registry = new Map<string, Backend>();
const factories = new Map<string, () => Promise<Backend>>();
let current: Backend | undefined;

export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
}

/** Registers a backend that needs async setup (a GPU device, a native library). */
export function registerBackendFactory(name: string, make: () => Promise<Backend>): void {
  factories.set(name, make);
}

export function knownBackends(): string[] {
  return [...new Set([...registry.keys(), ...factories.keys()])];
}

/** Returns a ready backend by name, initialising it on first use. */
export async function initBackend(name: string): Promise<Backend> {
  const ready = registry.get(name);
  if (ready) return ready;
  const make = factories.get(name);
  if (!make) {
    throw new Error(`unknown backend "${name}" (known: ${knownBackends().join(", ")})`);
  }
  const backend = await make();
  registry.set(name, backend);
  return backend;
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (!current) current = registry.get("cpu");
    if (!current) throw new Error("no backend registered");
    return current;
  }
  const b = registry.get(name);
  if (!b) {
    throw new Error(
      `backend "${name}" is not initialised: call await initBackend("${name}") first`,
    );
  }
  return b;
}

/**
 * Makes `backend` the default for creation functions (module parameters included) and
 * returns the previous default, for scoped use: `const prev = useBackend(b); try {...}
 * finally { useBackend(prev) }`.
 */
export function useBackend(backend: Backend): Backend {
  const prev = getBackend();
  current = backend;
  return prev;
}

/** Makes `name` the backend that creation functions use by default. */
export async function setBackend(name: string): Promise<Backend> {
  current = await initBackend(name);
  return current;
}
