/**
 * Benchmark shapes, from the design doc's shape table (dmformer-architecture.md §3, inference
 * column with T = 5 frames of 360x640). tools/bench_torch.py repeats these numbers: change
 * both together.
 */

export interface EncoderShapes {
  /** Frames (the encoder's batch). */
  n: number;
  levels: [number, number][];
  dModel: number;
  heads: number;
  points: number;
  dFfn: number;
}

/** Deformable encoder: 4 levels 45x80 / 23x40 / 12x20 / 6x10, N_v = Lq = 4820. */
export const ENCODER: EncoderShapes = {
  n: 5,
  levels: [[45, 80], [23, 40], [12, 20], [6, 10]],
  dModel: 256,
  heads: 8,
  points: 4,
  dFfn: 2048,
};

export const ENCODER_QUICK: EncoderShapes = {
  n: 1,
  levels: [[6, 8], [3, 4], [2, 2], [1, 1]],
  dModel: 32,
  heads: 4,
  points: 2,
  dFfn: 64,
};

export const tokens = (e: EncoderShapes): number => e.levels.reduce((a, [h, w]) => a + h * w, 0);

export interface SwinStageShapes {
  frames: number;
  height: number;
  width: number;
  patch: number;
  dim: number;
  heads: number;
  window: number;
  mlpRatio: number;
}

/** Swin-T stage 1 on a 5 x 3 x 360 x 640 clip: 90 x 160 tokens of 96 channels, 3 heads. */
export const SWIN_STAGE1: SwinStageShapes = {
  frames: 5,
  height: 360,
  width: 640,
  patch: 4,
  dim: 96,
  heads: 3,
  window: 7,
  mlpRatio: 4,
};

export const SWIN_STAGE1_QUICK: SwinStageShapes = {
  frames: 1,
  height: 32,
  width: 48,
  patch: 4,
  dim: 16,
  heads: 2,
  window: 7,
  mlpRatio: 4,
};

export interface SwinBackboneShapes {
  frames: number;
  height: number;
  width: number;
  embedDim: number;
  depths: number[];
  heads: number[];
}

/** The whole Swin-T backbone (GLIP variant, window 7, patch 4) on the same clip. */
export const SWIN_BACKBONE: SwinBackboneShapes = {
  frames: 5,
  height: 360,
  width: 640,
  embedDim: 96,
  depths: [2, 2, 6, 2],
  heads: [3, 6, 12, 24],
};

export const SWIN_BACKBONE_QUICK: SwinBackboneShapes = {
  frames: 1,
  height: 64,
  width: 96,
  embedDim: 16,
  depths: [2, 2, 2, 2],
  heads: [1, 2, 2, 4],
};

/** Token grid, padded grid and window count of a Swin stage-1 input. */
export function swinGrid(s: SwinStageShapes) {
  const h = Math.ceil(s.height / s.patch);
  const w = Math.ceil(s.width / s.patch);
  const hp = Math.ceil(h / s.window) * s.window;
  const wp = Math.ceil(w / s.window) * s.window;
  const windowsPerImage = (hp / s.window) * (wp / s.window);
  return { h, w, hp, wp, windowsPerImage, windows: s.frames * windowsPerImage };
}

/**
 * Flops of windowed attention over `windows` windows of n tokens and c channels: qkv
 * (2*n*c*3c), q k^T and attn v (2*n*n*c each), proj (2*n*c*c), per window.
 */
export function windowAttentionFlops(windows: number, n: number, c: number): number {
  return windows * (2 * n * c * 3 * c + 4 * n * n * c + 2 * n * c * c);
}

/** Multiply-add flops of Swin-T stage 1 (patch embed conv, 2 blocks: attention and MLP). */
export function swinStage1Flops(s: SwinStageShapes): number {
  const g = swinGrid(s);
  const tokensPerClip = s.frames * g.h * g.w;
  const embed = 2 * tokensPerClip * s.dim * 3 * s.patch * s.patch;
  const attn = windowAttentionFlops(g.windows, s.window * s.window, s.dim);
  const mlp = 2 * 2 * tokensPerClip * s.dim * s.dim * s.mlpRatio;
  return embed + 2 * (attn + mlp);
}

/**
 * Multiply-add flops of a whole Swin backbone (4 stages, patch merging between them) on
 * `frames` images of h x w: an estimate for the whole-model row.
 */
export function swinFlops(frames: number, h: number, w: number, dim = 96, depths = [2, 2, 6, 2]) {
  let total = 2 * frames * Math.ceil(h / 4) * Math.ceil(w / 4) * dim * 3 * 16;
  let [gh, gw, c] = [Math.ceil(h / 4), Math.ceil(w / 4), dim];
  depths.forEach((depth, s) => {
    const windows = frames * Math.ceil(gh / 7) * Math.ceil(gw / 7);
    const tok = frames * gh * gw;
    total += depth * (windowAttentionFlops(windows, 49, c) + 2 * 2 * tok * c * 4 * c);
    if (s < depths.length - 1) {
      [gh, gw] = [Math.ceil(gh / 2), Math.ceil(gw / 2)];
      total += 2 * frames * gh * gw * 4 * c * 2 * c;
      c *= 2;
    }
  });
  return total;
}

/** Multiply-add flops of one deformable encoder layer (projections, MSDA core, FFN). */
export function encoderLayerFlops(e: EncoderShapes): number {
  const t = e.n * tokens(e);
  const c = e.dModel;
  const L = e.levels.length;
  const proj = 2 * t * c * (c + e.heads * L * e.points * 3 + c); // value, offsets+weights, output
  const core = msdaForwardFlops(e);
  const ffn = 2 * 2 * t * c * e.dFfn;
  return proj + core + ffn;
}

/** Sampled (point, channel) pairs of one MSDA call with Lq = N_v. */
export function msdaPointChannels(e: EncoderShapes): number {
  return e.n * tokens(e) * e.dModel * e.levels.length * e.points;
}

/** 4 bilinear corners x (multiply + add) per (point, channel). */
export const msdaForwardFlops = (e: EncoderShapes): number => 8 * msdaPointChannels(e);

/** Backward: per corner and channel a dot term (2) and a value-grad scatter (2). */
export const msdaBackwardFlops = (e: EncoderShapes): number => 16 * msdaPointChannels(e);
