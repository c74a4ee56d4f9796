/**
 * Pool of 2-D array textures that kernels bind as storage textures (the image GEMM of CPU
 * adapters, kernels/matmul_image.ts). Textures are keyed by exact size and format: a model
 * step asks for the same few sizes again and again, so released textures are handed out
 * again and a steady state creates none. Free textures above a byte budget are destroyed,
 * oldest released first.
 */

/** A pooled texture with its 2d-array view (what a storage-texture binding takes). */
export interface GpuTexture {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  /** Stable id (bind-group cache keys). */
  readonly id: number;
  readonly key: string;
  readonly bytes: number;
}

export interface TexturePoolStats {
  /** Bytes held in textures this pool created and has not destroyed. */
  textureBytes: number;
  /** Of those, bytes sitting free in the pool. */
  pooledTextureBytes: number;
  /** Textures created since start (a steady state stops increasing this). */
  texturesCreated: number;
  /** Handed out from the pool without creating a texture. */
  texturesReused: number;
}

export type TextureFormat = "rgba32float";

const TEXEL_BYTES: Record<TextureFormat, number> = { rgba32float: 16 };

/** Width, height and layers. */
export type TextureSize = readonly [number, number, number];

export class TexturePool {
  #free = new Map<string, GpuTexture[]>();
  /** Free textures in release order (eviction takes the first). */
  #released = new Set<GpuTexture>();
  #nextId = 1;
  #stats: TexturePoolStats = {
    textureBytes: 0,
    pooledTextureBytes: 0,
    texturesCreated: 0,
    texturesReused: 0,
  };

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    /** Most bytes kept in free textures. */
    private readonly maxPooledBytes: number,
    /** Destroys an evicted texture once no recorded work can still use it. */
    private readonly retire: (t: GPUTexture) => void,
  ) {}

  acquire(size: TextureSize, format: TextureFormat = "rgba32float"): GpuTexture {
    const [width, height, layers] = size;
    const key = `${width}x${height}x${layers}:${format}`;
    const s = this.#stats;
    const hit = this.#free.get(key)?.pop();
    if (hit) {
      this.#released.delete(hit);
      s.pooledTextureBytes -= hit.bytes;
      s.texturesReused++;
      return hit;
    }
    const texture = this.device.createTexture({
      label: `pool ${key}`,
      size: [width, height, layers],
      format,
      usage: this.usage,
    });
    const bytes = width * height * layers * TEXEL_BYTES[format];
    s.textureBytes += bytes;
    s.texturesCreated++;
    const view = texture.createView({ dimension: "2d-array" });
    return { texture, view, id: this.#nextId++, key, bytes };
  }

  /** Returns `t` to the pool; work recorded before still reads it first (queue order). */
  release(t: GpuTexture): void {
    let list = this.#free.get(t.key);
    if (!list) this.#free.set(t.key, list = []);
    list.push(t);
    this.#released.add(t);
    this.#stats.pooledTextureBytes += t.bytes;
    for (const old of this.#released) {
      if (this.#stats.pooledTextureBytes <= this.maxPooledBytes) break;
      this.#drop(old);
      this.retire(old.texture);
    }
  }

  /** Destroys every free texture. Submit pending work first. */
  trim(): void {
    for (const t of [...this.#released]) {
      this.#drop(t);
      t.texture.destroy();
    }
  }

  stats(): TexturePoolStats {
    return { ...this.#stats };
  }

  #drop(t: GpuTexture): void {
    const list = this.#free.get(t.key)!;
    list.splice(list.indexOf(t), 1);
    if (list.length === 0) this.#free.delete(t.key);
    this.#released.delete(t);
    this.#stats.pooledTextureBytes -= t.bytes;
    this.#stats.textureBytes -= t.bytes;
  }
}
