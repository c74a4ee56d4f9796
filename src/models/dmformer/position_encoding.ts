import type { Backend } from "../../backend/backend.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { cat, expand } from "../../ops/shape_ops.ts";

/**
 * Sine position codes (design doc §7.4, §7.5). They depend only on padding masks, carry no
 * gradient, and are evaluated on the host in float32 exactly like the reference (rounding
 * after every operation, MANIFEST "float32 recipe"): in fully padded rows the normalised
 * coordinate is ~ -3.1e6 and sin/cos of such arguments only match with the same rounding.
 */

const f32 = Math.fround;

/** Defaults are the model's settings (2-D: 128 per axis; both normalised with 2 pi). */
export interface SineOptions {
  /** Channels per axis (2-D: 128 gives 256 channels; 1-D: the channel count). */
  numPosFeats?: number;
  temperature?: number;
  normalize?: boolean;
  /** Default 2 pi. */
  scale?: number;
}

/** A mask on the host: values (0/1, or integers for the 1-D text masks) and shape. */
export interface HostMask {
  data: ArrayLike<number>;
  shape: readonly number[];
  /** "bool" masks are true = padding; integer masks are the tokenizer's 1 = valid. */
  dtype?: "bool" | "int";
}

/** dim_t[i] = temperature ** (2 * floor(i / 2) / F), exponent rounded to float32. */
function frequencies(F: number, temperature: number): Float64Array {
  const dimT = new Float64Array(F);
  for (let i = 0; i < F; i++) dimT[i] = f32(temperature ** f32(f32(2 * Math.floor(i / 2)) / F));
  return dimT;
}

/**
 * The interleaved (sin, cos, sin, cos, ...) codes of the distinct coordinates of a map,
 * each computed once: a map's rows (or columns) share their coordinates, and the sines
 * dominated the time of a large map.
 */
class CodeTable {
  private readonly rowOf = new Map<number | string, number>();
  private codes = new Float32Array(0);

  constructor(private readonly dimT: Float64Array) {}

  /** The table row holding the code of `coord` (computed on first use). */
  row(coord: number): number {
    const key = Object.is(coord, -0) ? "-0" : coord;
    let r = this.rowOf.get(key);
    if (r !== undefined) return r;
    r = this.rowOf.size;
    this.rowOf.set(key, r);
    const F = this.dimT.length;
    if ((r + 1) * F > this.codes.length) {
      const grown = new Float32Array(Math.max(2 * this.codes.length, (r + 1) * F, 64 * F));
      grown.set(this.codes);
      this.codes = grown;
    }
    for (let k = 0; k < F; k++) {
      const arg = f32(coord / this.dimT[k]);
      this.codes[r * F + k] = k % 2 === 0 ? Math.sin(arg) : Math.cos(arg);
    }
    return r;
  }

  /** out[at + k * stride + p] = channel k of the code of row rows[p], for every k and p. */
  write(out: Float32Array, at: number, stride: number, rows: Int32Array): void {
    const F = this.dimT.length;
    const codes = this.codes;
    for (let k = 0; k < F; k++) {
      const base = at + k * stride;
      for (let p = 0; p < rows.length; p++) out[base + p] = codes[rows[p] * F + k];
    }
  }
}

/** Whether the masks at offsets a and b agree as padding flags over n cells. */
function samePlane(data: ArrayLike<number>, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (!data[a + k] !== !data[b + k]) return false;
  return true;
}

/** (c - offset) / (last + eps) * scale, rounded like float32 tensor ops. */
function normalise(c: number, last: number, offset: number, scale: number): number {
  const shifted = offset ? f32(c - offset) : c;
  return f32(f32(shifted / f32(last + f32(1e-6))) * f32(scale));
}

/**
 * 2-D code from a padding mask [B, H, W] (true = padding): channels [y-code (F); x-code (F)],
 * output [B, 2F, H, W] as float32 values. Coordinates are the cumulative counts of valid
 * cells minus 0.5 (gotcha 12), normalised by the last row / column.
 */
export function sine2D(mask: HostMask, opts: SineOptions = {}): Float32Array {
  const [B, H, W] = mask.shape;
  const F = opts.numPosFeats ?? 128;
  const scale = opts.scale ?? 2 * Math.PI;
  const dimT = frequencies(F, opts.temperature ?? 10000);
  const plane = H * W;
  const out = new Float32Array(B * 2 * F * plane);
  const ys = new Float64Array(plane);
  const xs = new Float64Array(plane);
  const yRows = new Int32Array(plane);
  const xRows = new Int32Array(plane);
  const table = new CodeTable(dimT);
  const block = 2 * F * plane;
  for (let b = 0; b < B; b++) {
    if (b > 0 && samePlane(mask.data, (b - 1) * plane, b * plane, plane)) {
      out.copyWithin(b * block, (b - 1) * block, b * block); // frames of one clip share masks
      continue;
    }
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const valid = mask.data[(b * H + i) * W + j] ? 0 : 1;
        ys[i * W + j] = (i > 0 ? ys[(i - 1) * W + j] : 0) + valid;
        xs[i * W + j] = (j > 0 ? xs[i * W + j - 1] : 0) + valid;
      }
    }
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const p = i * W + j;
        let y = ys[p];
        let x = xs[p];
        if (opts.normalize ?? true) {
          y = normalise(y, ys[(H - 1) * W + j], 0.5, scale);
          x = normalise(x, xs[i * W + W - 1], 0.5, scale);
        }
        yRows[p] = table.row(y);
        xRows[p] = table.row(x);
      }
    }
    table.write(out, b * 2 * F * plane, plane, yRows);
    table.write(out, (b * 2 + 1) * F * plane, plane, xRows);
  }
  return out;
}

/** How a 1-D text mask is turned into per-token steps before the cumulative sum. */
export type TextMaskMode =
  /** Reference behaviour: `~mask`; bitwise on integer masks (1 -> -2, 0 -> -1), gotcha 16.1. */
  | "reference"
  /** Corrected: integer masks mean 1 = valid token (steps 1 / 0). */
  | "valid";

/**
 * 1-D code from a text mask [B, L]: E_j = C_j / (C_{L-1} + 1e-6) * scale with C the
 * cumulative sum of "not mask" (no 0.5 offset). Output [B, F, L] float32 values.
 */
export function sine1D(
  mask: HostMask,
  opts: SineOptions & { mode?: TextMaskMode } = {},
): Float32Array {
  const [B, L] = mask.shape;
  const F = opts.numPosFeats ?? 256;
  const scale = opts.scale ?? 2 * Math.PI;
  const dimT = frequencies(F, opts.temperature ?? 10000);
  const integer = mask.dtype === "int";
  const step = (m: number) => {
    if (!integer) return m ? 0 : 1;
    return opts.mode === "valid" ? (m ? 1 : 0) : ~m;
  };
  const out = new Float32Array(B * F * L);
  const cum = new Float64Array(L);
  const rows = new Int32Array(L);
  const table = new CodeTable(dimT);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < L; j++) cum[j] = (j > 0 ? cum[j - 1] : 0) + step(mask.data[b * L + j]);
    for (let j = 0; j < L; j++) {
      const e = (opts.normalize ?? true) ? normalise(cum[j], cum[L - 1], 0, scale) : cum[j];
      rows[j] = table.row(e);
    }
    table.write(out, b * F * L, L, rows);
  }
  return out;
}

function hostMask(data: ArrayLike<number>, m: Tensor): HostMask {
  return { data, shape: m.shape, dtype: m.dtype === "bool" ? "bool" : "int" };
}

/** PositionEmbeddingSine2D on a bool mask tensor [B, H, W] -> [B, 2F, H, W] (f32). */
export async function positionEmbeddingSine2D(
  mask: Tensor,
  opts: SineOptions = {},
): Promise<Tensor> {
  return positionEmbeddingSine2DHost(hostMask(await mask.data(), mask), mask.backend, opts);
}

export function positionEmbeddingSine2DHost(
  mask: HostMask,
  backend?: Backend,
  opts: SineOptions = {},
): Tensor {
  const [B, H, W] = mask.shape;
  const F = opts.numPosFeats ?? 128;
  const plane = H * W;
  let shared = true;
  for (let b = 1; shared && b < B; b++) shared = samePlane(mask.data, 0, b * plane, plane);
  if (!shared) return tensor(sine2D(mask, opts), [B, 2 * F, H, W], { dtype: "f32", backend });
  // The frames of a clip usually share one mask: one frame's code, copied on the backend (a
  // device then uploads 1/B of the bytes). Without padding the y code depends on the row only and
  // the x code on the column only, so each is the code of an H x 1 / 1 x W map, broadcast.
  let frame: Tensor;
  if (noPadding(mask.data, plane)) {
    const column = sine2D({ data: new Uint8Array(H), shape: [1, H, 1] }, opts).subarray(0, F * H);
    const row = sine2D({ data: new Uint8Array(W), shape: [1, 1, W] }, opts).subarray(F * W);
    const y = tensor(column, [1, F, H, 1], { dtype: "f32", backend });
    const x = tensor(row, [1, F, 1, W], { dtype: "f32", backend });
    const [yAll, xAll] = [expand(y, [1, F, H, W]), expand(x, [1, F, H, W])];
    frame = cat([yAll, xAll], 1);
    [y, x, yAll, xAll].forEach((t) => t.dispose());
  } else {
    const first = {
      ...mask,
      data: Array.prototype.slice.call(mask.data, 0, plane),
      shape: [1, H, W],
    };
    frame = tensor(sine2D(first, opts), [1, 2 * F, H, W], { dtype: "f32", backend });
  }
  if (B === 1) return frame;
  const all = expand(frame, [B, 2 * F, H, W]);
  frame.dispose();
  return all;
}

function noPadding(data: ArrayLike<number>, n: number): boolean {
  for (let k = 0; k < n; k++) if (data[k]) return false;
  return true;
}

/**
 * PositionEmbeddingSine1D on a text mask [B, L] -> [B, F, L] (f32). A bool mask means
 * true = padding; an integer mask gets the reference's bitwise-not unless mode "valid".
 */
export async function positionEmbeddingSine1D(
  mask: Tensor,
  opts: SineOptions & { mode?: TextMaskMode } = {},
): Promise<Tensor> {
  return positionEmbeddingSine1DHost(hostMask(await mask.data(), mask), mask.backend, opts);
}

export function positionEmbeddingSine1DHost(
  mask: HostMask,
  backend?: Backend,
  opts: SineOptions & { mode?: TextMaskMode } = {},
): Tensor {
  const [B, L] = mask.shape;
  const F = opts.numPosFeats ?? 256;
  return tensor(sine1D(mask, opts), [B, F, L], { dtype: "f32", backend });
}
