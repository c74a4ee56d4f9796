/**
 * Size-bucketed GPU buffer pool. Sizes round up to one of four steps per octave
 * (2^k, 1.25·2^k, 1.5·2^k, 1.75·2^k; at most 25% waste); freed buffers go back to their
 * bucket and are handed out again, so a steady-state training step creates no buffers.
 */

/** A pooled device buffer. `bytes` is the bucket size (the buffer's real size). */
export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** Stable id (bind-group cache keys). */
  readonly id: number;
}

export interface PoolStats {
  /** Bytes held in GPU buffers this pool created and has not destroyed. */
  allocatedBytes: number;
  /** Of those, bytes sitting free in the pool. */
  pooledBytes: number;
  /** Bytes handed out and not yet freed. */
  inUseBytes: number;
  /** Buffers created since start (a steady state stops increasing this). */
  created: number;
  /** Buffers currently in the pool. */
  pooledBuffers: number;
  /** Handed out from the pool without creating a buffer. */
  reused: number;
}

const MIN_BUCKET = 256;

/** The bucket size for a request of `bytes`. */
export function bucketSize(bytes: number, cap = Infinity): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const p = 2 ** Math.floor(Math.log2(bytes));
  for (const m of [1, 1.25, 1.5, 1.75, 2]) {
    const b = p * m;
    if (b >= bytes) return Math.max(bytes, Math.min(b, cap));
  }
  return Math.max(bytes, Math.min(2 * p, cap));
}

export class BufferPool {
  #free = new Map<number, PooledBuffer[]>();
  #nextId = 1;
  #stats: PoolStats = {
    allocatedBytes: 0,
    pooledBytes: 0,
    inUseBytes: 0,
    created: 0,
    pooledBuffers: 0,
    reused: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    /** Largest size a bucket may round up to (the binding limit). */
    private readonly cap: number,
    private readonly label: string,
  ) {}

  acquire(bytes: number): PooledBuffer {
    const size = bucketSize(Math.ceil(bytes / 4) * 4, this.cap);
    const list = this.#free.get(size);
    const s = this.#stats;
    let b = list?.pop();
    if (b) {
      s.pooledBytes -= size;
      s.pooledBuffers--;
      s.reused++;
    } else {
      const buffer = this.device.createBuffer({ size, usage: this.usage, label: this.label });
      b = { buffer, bytes: size, id: this.#nextId++ };
      s.allocatedBytes += size;
      s.created++;
    }
    s.inUseBytes += size;
    return b;
  }

  release(b: PooledBuffer): void {
    let list = this.#free.get(b.bytes);
    if (!list) this.#free.set(b.bytes, list = []);
    list.push(b);
    this.#stats.pooledBytes += b.bytes;
    this.#stats.pooledBuffers++;
    this.#stats.inUseBytes -= b.bytes;
  }

  /** Destroys every pooled (free) buffer; returns their ids. Submit pending work first. */
  trim(): number[] {
    const ids: number[] = [];
    for (const list of this.#free.values()) {
      for (const b of list) {
        b.buffer.destroy();
        ids.push(b.id);
        this.#stats.allocatedBytes -= b.bytes;
      }
    }
    this.#free.clear();
    this.#stats.pooledBytes = 0;
    this.#stats.pooledBuffers = 0;
    return ids;
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }
}
