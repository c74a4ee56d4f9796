/**
 * The native backend's pool of freed buffers: same-size reuse (zero-filled), the oldest pooled
 * buffers given back to make room, a buffer larger than the cap given back at once (detached),
 * and clear() giving back what it held.
 */
import { expect, test } from "vitest";
import { createNativeBackend } from "../src/backend/native/mod.ts";
import { optionalBackend } from "./helpers/backends.ts";

const available = (await optionalBackend("native")) !== null;

test.skipIf(!available)(
  "native buffer pool: reuse, oldest out first, larger than the cap, clear",
  async () => {
    Deno.env.set("DMF_NATIVE_POOL_MB", "2");
    const backend = await createNativeBackend();
    Deno.env.delete("DMF_NATIVE_POOL_MB");
    const MiB = 1 << 18; // f32 elements in 1 MiB
    const a = backend.alloc("f32", MiB) as Float32Array;
    a.fill(7);
    backend.free(a, "f32", MiB);
    expect(backend.pool.stats.pooledBytes).toBe(4 * MiB);
    const b = backend.alloc("f32", MiB) as Float32Array;
    expect(b).toBe(a);
    expect(b[123]).toBe(0);
    expect(backend.pool.stats.hits).toBe(1);
    backend.free(b, "f32", MiB);
    const c = backend.alloc("f32", 2 * MiB) as Float32Array;
    backend.free(c, "f32", 2 * MiB); // 1 MiB pooled + 2 MiB > the 2 MiB cap: the older one goes
    expect(b.byteLength).toBe(0);
    expect(c.byteLength).toBe(8 * MiB);
    expect(backend.pool.stats.pooledBytes).toBe(8 * MiB);
    const d = backend.alloc("f32", 3 * MiB) as Float32Array;
    backend.free(d, "f32", 3 * MiB); // larger than the cap: given back, the pool kept
    expect(d.byteLength).toBe(0);
    expect(c.byteLength).toBe(8 * MiB);
    backend.pool.clear();
    expect(c.byteLength).toBe(0);
    expect(backend.pool.stats.pooledBytes).toBe(0);
  },
);
