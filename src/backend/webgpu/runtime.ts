/**
 * The execution engine of the WebGPU backend: a command encoder with one open compute pass
 * that kernels record into, submitted in batches (every MAX_BATCH_* dispatches, or when a
 * download/sync/upload needs it); pipelines and bind groups cached by key; per-dispatch
 * uniforms packed into a per-batch arena buffer bound with dynamic offsets. Kernels bind
 * buffers and, on CPU adapters, pooled storage textures (./textures.ts).
 */
import type { GpuContext } from "./device.ts";
import { BufferPool, type PooledBuffer, type PoolStats } from "./pool.ts";
import {
  type GpuTexture,
  TexturePool,
  type TexturePoolStats,
  type TextureSize,
} from "./textures.ts";

export type { GpuTexture, TextureSize } from "./textures.ts";

/** A device buffer owned by a tensor (the backend's opaque `buf`). */
export interface GpuBuffer extends PooledBuffer {
  /** Serial of the last batch that bound it (uploads into it must wait for that batch). */
  lastBatch?: number;
}

/**
 * How a binding is declared: storage buffer (read-only or read-write), uniform window, or
 * rgba32float 2d-array storage texture (read-only or write-only).
 */
export type BindingKind = "read" | "rw" | "uniform" | "texture-read" | "texture-write";

/** A range of a buffer bound as a uniform block (binding kind "uniform"). */
export interface Window {
  buf: GpuBuffer;
  offset: number;
  size: number;
}

export type Binding = GpuBuffer | Window | GpuTexture;

function isWindow(b: Binding): b is Window {
  return (b as Window).size !== undefined && (b as Window).buf !== undefined;
}

function isTexture(b: Binding): b is GpuTexture {
  return (b as GpuTexture).view !== undefined;
}

function layoutEntry(kind: BindingKind, binding: number): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  if (kind === "texture-read" || kind === "texture-write") {
    const access = kind === "texture-read" ? "read-only" : "write-only";
    return {
      binding,
      visibility,
      storageTexture: { access, format: "rgba32float", viewDimension: "2d-array" },
    };
  }
  const type = kind === "rw" ? "storage" : kind === "uniform" ? "uniform" : "read-only-storage";
  return { binding, visibility, buffer: { type } };
}

function bindingResource(b: Binding): GPUBindingResource {
  if (isTexture(b)) return b.view;
  if (isWindow(b)) return { buffer: b.buf.buffer, offset: b.offset, size: b.size };
  return { buffer: b.buffer };
}

export interface Pipe {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Size of the uniform block in bytes (a multiple of 16). */
  readonly uniformBytes: number;
  readonly kinds: readonly BindingKind[];
}

/** Error codes kernels raise through the status buffer (bit flags). */
export const STATUS_CODES: Record<number, string> = {
  1: "gather: index out of range",
  2: "scatter_add: index out of range",
  4: "index_select: index out of range",
  8: "index_add: index out of range",
};

/**
 * Dispatches per submit. Submits are expensive on software adapters (the driver replays the
 * batch there), while hardware GPUs start sooner with smaller batches.
 */
const MAX_BATCH_CPU = 512;
const MAX_BATCH_GPU = 128;
const ARENA_BYTES = 1 << 20;
/** Free textures kept for reuse; the image GEMM of a large model needs a few dozen. */
const POOLED_TEXTURE_BYTES = 256 << 20;
/** Timestamp queries per query set (two per compute pass) and query sets per gpuTime. */
const QUERY_SET_SIZE = 256;
const MAX_QUERY_SETS = 16;

export interface RuntimeStats extends PoolStats, TexturePoolStats {
  pipelines: number;
  dispatches: number;
  submits: number;
  bindGroupsCached: number;
}

/** Little helper that packs kernel parameters (u32 / i32 / f32 words). */
export class Params {
  readonly words: number[] = [];
  #f = new Float32Array(1);
  #u = new Uint32Array(this.#f.buffer);
  u(...v: number[]): this {
    for (const x of v) this.words.push(x >>> 0);
    return this;
  }
  i(...v: number[]): this {
    for (const x of v) this.words.push((x | 0) >>> 0);
    return this;
  }
  f(...v: number[]): this {
    for (const x of v) {
      this.#f[0] = x;
      this.words.push(this.#u[0]);
    }
    return this;
  }
  /** Pads to `n` words (arrays indexed up to a fixed rank). */
  pad(n: number): this {
    while (this.words.length < n) this.words.push(0);
    return this;
  }
}

export class Runtime {
  readonly device: GPUDevice;
  readonly queue: GPUQueue;
  readonly limits: Record<string, number>;
  readonly pool: BufferPool;
  readonly textures: TexturePool;
  readonly #staging: BufferPool;
  /** Evicted textures that recorded (unsubmitted) work may still bind. */
  #retired: GPUTexture[] = [];
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #batch = 1;
  #batchDispatches = 0;
  #maxBatch: number;
  #align: number;
  #arena: GPUBuffer;
  #arenaCpu = new Uint32Array(ARENA_BYTES / 4);
  #arenaUsed = 0;
  #pipes = new Map<string, Pipe>();
  #bindGroups = new Map<string, GPUBindGroup>();
  #dispatches = 0;
  #submits = 0;
  /** Error flags written by indexing kernels, checked on download / sync. */
  readonly status: GpuBuffer;
  #statusDirty = false;
  #statusZero = new Uint32Array(4);
  /** Validation / out-of-memory errors reported by the device, raised on the next read. */
  #errors: string[] = [];
  // timestamp profiling
  #querySets: GPUQuerySet[] = [];
  #queryBuf: GPUBuffer | null = null;
  #profiling = false;
  #profileQueries = 0;

  /**
   * Software (CPU) adapter: workgroup barriers and shared memory are slow there while serial
   * per-thread loops vectorise across invocations, so kernels prefer thread-per-line layouts.
   */
  readonly preferThreads: boolean;
  /**
   * Kernel choices (tests force each path). matmul "auto" picks "tiled" (workgroup-memory
   * tiles) on hardware GPUs; on CPU adapters the image kernel (kernels/matmul_image.ts,
   * storage textures) from a size up, below it "ubo" (uniform-window rows, falling back to
   * "rows"). "image" forces the image kernel wherever the adapter has it (CPU adapters with
   * read-only storage textures), conv2d's GEMMs included, and falls back like "auto" where
   * it does not apply; the other choices keep matmul and conv2d off it. windowAttention
   * "auto" keeps a (window, head)'s operands in workgroup memory on hardware GPUs where they
   * fit and reads them from storage on CPU adapters (whose compiler spends seconds on large
   * zero-initialised workgroup arrays); "shared" / "storage" force one (shared: where it fits).
   */
  options: {
    matmul: "auto" | "tiled" | "rows" | "ubo" | "image";
    windowAttention: "auto" | "shared" | "storage";
  } = { matmul: "auto", windowAttention: "auto" };

  constructor(readonly ctx: GpuContext) {
    this.preferThreads = ctx.isFallback ||
      /llvmpipe|lavapipe|swiftshader|warp/i.test(ctx.description);
    this.#maxBatch = this.preferThreads ? MAX_BATCH_CPU : MAX_BATCH_GPU;
    this.device = ctx.device;
    this.queue = ctx.device.queue;
    this.limits = ctx.limits;
    this.#align = Math.max(16, ctx.limits.minUniformBufferOffsetAlignment ?? 256);
    const cap = ctx.limits.maxStorageBufferBindingSize ?? 134217728;
    this.pool = new BufferPool(
      this.device,
      GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC |
        GPUBufferUsage.COPY_DST,
      cap,
      "tensor",
    );
    this.#staging = new BufferPool(
      this.device,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      Infinity,
      "staging",
    );
    this.textures = new TexturePool(
      this.device,
      GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
      POOLED_TEXTURE_BYTES,
      (t) => this.#encoder ? this.#retired.push(t) : t.destroy(),
    );
    this.#arena = this.device.createBuffer({
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "uniform arena",
    });
    this.device.addEventListener("uncapturederror", (e) => {
      const msg = (e as GPUUncapturedErrorEvent).error?.message ?? String(e);
      if (this.#errors.length < 8) this.#errors.push(msg);
    });
    this.status = this.pool.acquire(16);
    this.queue.writeBuffer(this.status.buffer, 0, this.#statusZero);
  }

  get hasTimestamps(): boolean {
    return this.ctx.features.has("timestamp-query");
  }

  /** Returns the cached pipeline for `key`, compiling `code()` on first use. */
  pipeline(key: string, kinds: BindingKind[], paramWords: number, code: () => string): Pipe {
    const hit = this.#pipes.get(key);
    if (hit) return hit;
    const vec4s = Math.max(1, Math.ceil(paramWords / 4));
    const header = `struct Params { v: array<vec4<u32>, ${vec4s}> }
@group(0) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
`;
    const source = header + code();
    const module = this.device.createShaderModule({ code: source, label: key });
    const layout = this.device.createBindGroupLayout({
      label: key,
      entries: [
        {
          binding: 0,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: vec4s * 16 },
        },
        ...kinds.map((k, i) => layoutEntry(k, i + 1)),
      ],
    });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
    const pipe: Pipe = { key, pipeline, layout, uniformBytes: vec4s * 16, kinds };
    this.#pipes.set(key, pipe);
    return pipe;
  }

  #ensurePass(): GPUComputePassEncoder {
    if (this.#pass) return this.#pass;
    this.#encoder ??= this.device.createCommandEncoder();
    let desc: GPUComputePassDescriptor | undefined;
    const q = this.#profileQueries;
    if (this.#profiling && q + 2 <= QUERY_SET_SIZE * MAX_QUERY_SETS) {
      const set = Math.floor(q / QUERY_SET_SIZE);
      this.#querySets[set] ??= this.device.createQuerySet({
        type: "timestamp",
        count: QUERY_SET_SIZE,
      });
      desc = {
        timestampWrites: {
          querySet: this.#querySets[set],
          beginningOfPassWriteIndex: q % QUERY_SET_SIZE,
          endOfPassWriteIndex: (q % QUERY_SET_SIZE) + 1,
        },
      };
      this.#profileQueries += 2;
    }
    this.#pass = this.#encoder.beginComputePass(desc);
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    this.#pass?.end();
    this.#pass = null;
    return (this.#encoder ??= this.device.createCommandEncoder());
  }

  /**
   * Records one dispatch. `bufs` (buffers, uniform windows, textures) bind to bindings 1.. in
   * order; `params` fill the uniform block; `groups` is the workgroup grid.
   */
  dispatch(pipe: Pipe, bufs: Binding[], params: Params | number[], groups: number[]): void {
    const words = params instanceof Params ? params.words : params;
    if (words.length * 4 > pipe.uniformBytes) {
      throw new Error(`webgpu: ${pipe.key} got ${words.length} parameter words`);
    }
    const [gx, gy = 1, gz = 1] = groups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (gx > maxDim || gy > maxDim || gz > maxDim) {
      throw new Error(`webgpu: ${pipe.key} grid [${groups}] exceeds ${maxDim} workgroups per dim`);
    }
    if (this.#arenaUsed + pipe.uniformBytes > ARENA_BYTES) this.flush();
    const offset = this.#arenaUsed;
    this.#arenaCpu.set(words, offset / 4);
    this.#arenaUsed += Math.ceil(pipe.uniformBytes / this.#align) * this.#align;
    let key = pipe.key;
    for (const b of bufs) {
      key += isTexture(b)
        ? `|t${b.id}`
        : isWindow(b)
        ? `|${b.buf.id}@${b.offset}+${b.size}`
        : `|${b.id}`;
    }
    let bg = this.#bindGroups.get(key);
    if (!bg) {
      if (this.#bindGroups.size > 8192) this.#bindGroups.clear();
      bg = this.device.createBindGroup({
        layout: pipe.layout,
        entries: [
          { binding: 0, resource: { buffer: this.#arena, offset: 0, size: pipe.uniformBytes } },
          ...bufs.map((b, i) => ({ binding: i + 1, resource: bindingResource(b) })),
        ],
      });
      this.#bindGroups.set(key, bg);
    }
    for (const x of bufs) {
      if (isTexture(x)) continue;
      const b = isWindow(x) ? x.buf : x;
      b.lastBatch = this.#batch;
      if (b === this.status) this.#statusDirty = true;
    }
    const pass = this.#ensurePass();
    pass.setPipeline(pipe.pipeline);
    pass.setBindGroup(0, bg, [offset]);
    pass.dispatchWorkgroups(gx, gy, gz);
    this.#dispatches++;
    if (++this.#batchDispatches >= this.#maxBatch && !this.#profiling) this.flush();
  }

  /** Records a buffer-to-buffer copy (bytes must be a multiple of 4). */
  copy(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, bytes: number) {
    if (bytes <= 0) return;
    const enc = this.#endPass();
    enc.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
    src.lastBatch = dst.lastBatch = this.#batch;
    this.#batchDispatches++;
  }

  /**
   * Records a copy of `size` texels from `src` (rows of `bytesPerRow`, `rowsPerImage` rows per
   * layer; bytesPerRow a multiple of 256) into texture `dst`.
   */
  copyToTexture(
    src: GpuBuffer,
    layout: { offset?: number; bytesPerRow: number; rowsPerImage: number },
    dst: GpuTexture,
    size: TextureSize,
  ): void {
    const enc = this.#endPass();
    enc.copyBufferToTexture({ buffer: src.buffer, ...layout }, { texture: dst.texture }, [...size]);
    src.lastBatch = this.#batch;
    this.#batchDispatches++;
  }

  /** A pooled rgba32float texture of `size`; contents undefined. */
  acquireTexture(size: TextureSize): GpuTexture {
    return this.textures.acquire(size);
  }

  /** Returns a texture to the pool (work recorded before still reads it first). */
  releaseTexture(t: GpuTexture): void {
    this.textures.release(t);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.#encoder) return;
    const enc = this.#endPass();
    if (this.#arenaUsed > 0) {
      this.queue.writeBuffer(this.#arena, 0, this.#arenaCpu, 0, this.#arenaUsed / 4);
    }
    this.queue.submit([enc.finish()]);
    for (const t of this.#retired.splice(0)) t.destroy();
    this.#encoder = null;
    this.#arenaUsed = 0;
    this.#batchDispatches = 0;
    this.#batch++;
    this.#submits++;
  }

  allocBuffer(bytes: number): GpuBuffer {
    return this.pool.acquire(bytes);
  }

  freeBuffer(b: GpuBuffer): void {
    this.pool.release(b);
  }

  /** Writes host data into `b`, after any recorded work that still reads its old contents. */
  write(b: GpuBuffer, data: ArrayBufferView): void {
    if (b.lastBatch === this.#batch && this.#encoder) this.flush();
    if (data.byteLength > 0) {
      this.queue.writeBuffer(
        b.buffer,
        0,
        data.buffer as ArrayBuffer,
        data.byteOffset,
        data.byteLength,
      );
    }
  }

  /** Reads `bytes` (multiple of 4) from `b` back to the host. */
  async read(b: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
    const checkStatus = this.#statusDirty;
    const total = bytes + (checkStatus ? 4 : 0);
    if (total === 0) return new ArrayBuffer(0);
    const staging = this.#staging.acquire(total);
    const enc = this.#endPass();
    if (bytes > 0) enc.copyBufferToBuffer(b.buffer, 0, staging.buffer, 0, bytes);
    if (checkStatus) {
      enc.copyBufferToBuffer(this.status.buffer, 0, staging.buffer, bytes, 4);
      this.#statusDirty = false;
    }
    this.flush();
    try {
      await staging.buffer.mapAsync(GPUMapMode.READ, 0, total);
      const out = staging.buffer.getMappedRange(0, total).slice(0);
      staging.buffer.unmap();
      this.raiseDeviceErrors();
      if (checkStatus) this.#raiseStatus(new Uint32Array(out, bytes, 1)[0]);
      return bytes === total ? out : out.slice(0, bytes);
    } finally {
      this.#staging.release(staging);
    }
  }

  /** Throws the device errors collected since the last check (shader or validation bugs). */
  raiseDeviceErrors(): void {
    if (this.#errors.length === 0) return;
    const msgs = this.#errors.splice(0);
    throw new Error(`webgpu: device error: ${msgs.join("\n---\n")}`);
  }

  #raiseStatus(code: number): void {
    if (!code) return;
    this.queue.writeBuffer(this.status.buffer, 0, this.#statusZero);
    const msgs = Object.entries(STATUS_CODES).filter(([bit]) => code & Number(bit)).map(([, m]) =>
      m
    );
    throw new RangeError(`webgpu: ${msgs.join("; ")} (detected when reading back)`);
  }

  /** Waits for all submitted work; raises index errors that kernels flagged. */
  async sync(): Promise<void> {
    if (this.#statusDirty) {
      await this.read(this.status, 0);
      return;
    }
    this.flush();
    await this.queue.onSubmittedWorkDone();
    this.raiseDeviceErrors();
  }

  /**
   * Runs `fn` (which records work) and returns its GPU time in milliseconds measured with
   * timestamp queries, or null when the device lacks them: the sum over its compute passes
   * (up to QUERY_SET_SIZE * MAX_QUERY_SETS / 2 of them). Copies between passes (buffer
   * copies, operands copied into textures) are not timed.
   */
  async gpuTime(fn: () => void): Promise<number | null> {
    if (!this.hasTimestamps) return null;
    this.flush();
    this.#profiling = true;
    this.#profileQueries = 0;
    try {
      fn();
    } finally {
      this.#profiling = false;
    }
    const n = this.#profileQueries;
    if (n === 0) return 0;
    const enc = this.#endPass();
    const resolveBytes = this.#querySets.length * QUERY_SET_SIZE * 8;
    if (!this.#queryBuf || this.#queryBuf.size < resolveBytes) {
      this.#queryBuf?.destroy();
      this.#queryBuf = this.device.createBuffer({
        size: resolveBytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
    }
    for (let q = 0; q < n; q += QUERY_SET_SIZE) {
      const set = this.#querySets[q / QUERY_SET_SIZE];
      enc.resolveQuerySet(set, 0, Math.min(QUERY_SET_SIZE, n - q), this.#queryBuf, q * 8);
    }
    const staging = this.#staging.acquire(n * 8);
    enc.copyBufferToBuffer(this.#queryBuf, 0, staging.buffer, 0, n * 8);
    this.flush();
    await staging.buffer.mapAsync(GPUMapMode.READ, 0, n * 8);
    const t = new BigUint64Array(staging.buffer.getMappedRange(0, n * 8).slice(0));
    staging.buffer.unmap();
    this.#staging.release(staging);
    let ns = 0;
    for (let i = 0; i < n; i += 2) ns += Number(t[i + 1] - t[i]);
    return ns / 1e6;
  }

  /** Destroys pooled (free) buffers and textures. */
  trim(): void {
    this.flush();
    this.pool.trim();
    this.#staging.trim();
    this.textures.trim();
    this.#bindGroups.clear();
  }

  stats(): RuntimeStats {
    return {
      ...this.pool.stats(),
      ...this.textures.stats(),
      pipelines: this.#pipes.size,
      dispatches: this.#dispatches,
      submits: this.#submits,
      bindGroupsCached: this.#bindGroups.size,
    };
  }
}

/** Splits a 1-D count of workgroups into a 2-D grid within the per-dimension limit. */
export function grid(groups: number, maxDim = 65535): [number, number] {
  if (groups <= maxDim) return [Math.max(groups, 0), 1];
  const y = Math.ceil(groups / maxDim);
  return [Math.ceil(groups / y), y];
}
