import { nearestIndex } from "../../backend/cpu/resample.ts";

/** A host-side stack of 2-D masks: data [n, h, w] row-major (0/1). */
export interface HostMasks {
  data: Uint8Array;
  n: number;
  h: number;
  w: number;
}

/**
 * F.interpolate(mask.float(), size, mode="nearest").bool() on the host: PyTorch's legacy
 * nearest rule with its float32 scale (design doc §18).
 */
export function resizeMasksNearest(m: HostMasks, h: number, w: number): HostMasks {
  const out = new Uint8Array(m.n * h * w);
  const sh = Math.fround(m.h / h);
  const sw = Math.fround(m.w / w);
  const rows = Int32Array.from({ length: h }, (_, i) => nearestIndex(i, m.h, h, sh));
  const cols = Int32Array.from({ length: w }, (_, j) => nearestIndex(j, m.w, w, sw));
  for (let k = 0; k < m.n; k++) {
    for (let i = 0; i < h; i++) {
      const src = (k * m.h + rows[i]) * m.w;
      const dst = (k * h + i) * w;
      for (let j = 0; j < w; j++) out[dst + j] = m.data[src + cols[j]];
    }
  }
  return { data: out, n: m.n, h, w };
}

/** Concatenates level masks flattened row-major: [n, Σ h_l w_l]. */
export function flattenLevels(levels: HostMasks[]): Uint8Array {
  const n = levels[0].n;
  const total = levels.reduce((s, l) => s + l.h * l.w, 0);
  const out = new Uint8Array(n * total);
  for (let k = 0; k < n; k++) {
    let o = k * total;
    for (const l of levels) {
      out.set(l.data.subarray(k * l.h * l.w, (k + 1) * l.h * l.w), o);
      o += l.h * l.w;
    }
  }
  return out;
}
