/**
 * Window bookkeeping of the Swin backbone (design doc §4.3): the relative-position index,
 * the shifted-window mask, and window partition / reverse. The index and mask are constant
 * tables; they are computed on the host and cached per backend (never part of autograd).
 */
import type { Backend } from "../../backend/backend.ts";
import type { DType } from "../../tensor/dtype.ts";
import { keep } from "../../tensor/memory.ts";
import { noGrad } from "../../tensor/autograd.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";

/**
 * Row of the bias table for every (query i, key j) pair of a ws x ws window, row-major:
 * (yi - yj + ws - 1) * (2 ws - 1) + (xi - xj + ws - 1). The reference stores this as the
 * `relative_position_index` buffer; it is derived data, so we recompute it.
 */
export function relativePositionIndex(ws: number): Int32Array {
  const n = ws * ws;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const yi = Math.floor(i / ws);
    const xi = i % ws;
    for (let j = 0; j < n; j++) {
      const yj = Math.floor(j / ws);
      const xj = j % ws;
      out[i * n + j] = (yi - yj + ws - 1) * (2 * ws - 1) + (xi - xj + ws - 1);
    }
  }
  return out;
}

/** Region label (0..8) of every position of a padded hp x wp grid for a shift of `s`. */
function shiftRegions(hp: number, wp: number, ws: number, s: number): Int32Array {
  const band = (v: number, n: number) => (v < n - ws ? 0 : v < n - s ? 1 : 2);
  const labels = new Int32Array(hp * wp);
  for (let y = 0; y < hp; y++) {
    for (let x = 0; x < wp; x++) labels[y * wp + x] = band(y, hp) * 3 + band(x, wp);
  }
  return labels;
}

/**
 * Additive mask [nW, N, N] of shifted-window attention on a padded hp x wp map: 0 where the
 * query and key tokens (after the cyclic roll) come from the same region, -100 otherwise.
 * Windows are row-major over the window grid, tokens row-major inside a window.
 */
export function shiftMask(hp: number, wp: number, ws: number, s: number): Float32Array {
  const labels = shiftRegions(hp, wp, ws, s);
  const nwh = hp / ws;
  const nww = wp / ws;
  const n = ws * ws;
  const out = new Float32Array(nwh * nww * n * n);
  const win = new Int32Array(n);
  for (let wy = 0; wy < nwh; wy++) {
    for (let wx = 0; wx < nww; wx++) {
      for (let t = 0; t < n; t++) {
        win[t] = labels[(wy * ws + Math.floor(t / ws)) * wp + wx * ws + (t % ws)];
      }
      const base = (wy * nww + wx) * n * n;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) out[base + i * n + j] = win[i] === win[j] ? 0 : -100;
      }
    }
  }
  return out;
}

const cache = new WeakMap<Backend, Map<string, Tensor>>();

function cached(backend: Backend, key: string, make: () => Tensor): Tensor {
  let perBackend = cache.get(backend);
  if (!perBackend) cache.set(backend, perBackend = new Map());
  let t = perBackend.get(key);
  if (!t || t.isDisposed) {
    // kept out of tidy scopes: the table outlives the forward pass that created it
    t = keep(noGrad(make));
    perBackend.set(key, t);
  }
  return t;
}

/** The flat [N*N] i32 relative-position index on `backend`. */
export function relativePositionIndexTensor(backend: Backend, ws: number): Tensor {
  return cached(
    backend,
    `rpi:${ws}`,
    () => tensor(relativePositionIndex(ws), [ws * ws * ws * ws], { dtype: "i32", backend }),
  );
}

/** The shift mask [nW, 1, N, N] (broadcasts over heads) on `backend` in `dtype`. */
export function shiftMaskTensor(
  backend: Backend,
  dtype: DType,
  hp: number,
  wp: number,
  ws: number,
  s: number,
): Tensor {
  const n = ws * ws;
  return cached(
    backend,
    `mask:${dtype}:${hp}x${wp}:${ws}:${s}`,
    () => tensor(shiftMask(hp, wp, ws, s), [(hp / ws) * (wp / ws), 1, n, n], { dtype, backend }),
  );
}

/** [B, Hp, Wp, C] -> [B * nW, ws * ws, C]. */
export function windowPartition(x: Tensor, ws: number): Tensor {
  const [b, hp, wp, c] = x.shape;
  const grid = reshape(x, [b, hp / ws, ws, wp / ws, ws, c]);
  return reshape(permute(grid, [0, 1, 3, 2, 4, 5]), [-1, ws * ws, c]);
}

/** [B * nW, ws * ws, C] -> [B, Hp, Wp, C]. */
export function windowReverse(windows: Tensor, ws: number, hp: number, wp: number): Tensor {
  const c = windows.shape[2];
  const grid = reshape(windows, [-1, hp / ws, wp / ws, ws, ws, c]);
  return reshape(permute(grid, [0, 1, 3, 2, 4, 5]), [-1, hp, wp, c]);
}
