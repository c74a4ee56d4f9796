/**
 * Swin building blocks (GLIP / detection variant, design doc §4.2-4.4): patch embedding,
 * the pre-norm (shifted) window block, patch merging and one stage ("BasicLayer").
 * Token tensors are [B, H*W, C], row-major over the map.
 */
import type { Generator } from "../../tensor/random.ts";
import { freeAfter } from "../../tensor/memory.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { add, gelu } from "../../ops/elementwise.ts";
import { dropPath } from "../../ops/random.ts";
import { pad, permute, reshape, roll, slice } from "../../ops/shape_ops.ts";
import { Conv2d, LayerNorm, Linear } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import { WindowAttention } from "./swin_attention.ts";
import { shiftMaskTensor, windowPartition, windowReverse } from "./swin_window.ts";

const roundUp = (v: number, m: number) => Math.ceil(v / m) * m;

/** Tokens and the map size they come from. */
export interface TokenMap {
  x: Tensor;
  h: number;
  w: number;
}

export class PatchEmbed extends Module {
  proj: Conv2d;
  norm: LayerNorm | null;

  constructor(
    readonly patchSize: number,
    inChans: number,
    readonly embedDim: number,
    patchNorm = true,
  ) {
    super();
    this.proj = new Conv2d(inChans, embedDim, patchSize, { stride: patchSize });
    this.norm = patchNorm ? new LayerNorm(embedDim) : null;
  }

  /** images [B, C, H, W] -> tokens of the ceil(H/p) x ceil(W/p) map. */
  forward(images: Tensor): TokenMap {
    const p = this.patchSize;
    const [, , h0, w0] = images.shape;
    const padded = pad(images, [0, roundUp(w0, p) - w0, 0, roundUp(h0, p) - h0]);
    const y = this.proj.forward(padded); // [B, C, h, w]
    const [b, c, h, w] = y.shape;
    const tokens = permute(reshape(y, [b, c, h * w]), [0, 2, 1]);
    return { x: this.norm ? this.norm.forward(tokens) : tokens, h, w };
  }
}

export class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;

  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = new Linear(dim, hidden);
    this.fc2 = new Linear(hidden, dim);
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

export interface BlockOptions {
  dim: number;
  numHeads: number;
  windowSize: number;
  /** 0 for regular windows, windowSize / 2 (floor) for the shifted blocks. */
  shiftSize: number;
  mlpRatio: number;
  qkvBias: boolean;
  qkScale?: number;
  dropPath: number;
  generator?: Generator;
}

export class SwinTransformerBlock extends Module {
  norm1: LayerNorm;
  attn: WindowAttention;
  norm2: LayerNorm;
  mlp: Mlp;

  constructor(readonly opts: BlockOptions) {
    super();
    const { dim, windowSize, numHeads } = opts;
    this.norm1 = new LayerNorm(dim);
    this.attn = new WindowAttention(dim, windowSize, numHeads, opts.qkvBias, opts.qkScale);
    this.norm2 = new LayerNorm(dim);
    this.mlp = new Mlp(dim, Math.floor(dim * opts.mlpRatio));
  }

  #dropPath(x: Tensor): Tensor {
    return dropPath(x, this.opts.dropPath, this.training, { generator: this.opts.generator });
  }

  forward(x: Tensor, h: number, w: number): Tensor {
    const { windowSize: ws, shiftSize: s } = this.opts;
    const [b, , c] = x.shape;
    const hp = roundUp(h, ws);
    const wp = roundUp(w, ws);
    // padding comes after the norm, so padded tokens are exact zeros that take part in
    // attention unmasked (design doc §4.3 step 1)
    let y = pad(reshape(this.norm1.forward(x), [b, h, w, c]), [0, 0, 0, wp - w, 0, hp - h]);
    if (s > 0) y = roll(y, [-s, -s], [1, 2]);
    const mask = s > 0 ? shiftMaskTensor(x.backend, x.dtype, hp, wp, ws, s) : null;
    y = windowReverse(this.attn.forward(windowPartition(y, ws), mask), ws, hp, wp);
    if (s > 0) y = roll(y, [s, s], [1, 2]);
    if (hp !== h || wp !== w) y = slice(y, [undefined, [0, h], [0, w]]);
    const x1 = add(x, this.#dropPath(reshape(y, [b, h * w, c])));
    return add(x1, this.#dropPath(this.mlp.forward(this.norm2.forward(x1))));
  }
}

/** 2x2 neighbourhood -> channels (order (even,even), (odd,even), (even,odd), (odd,odd) as (row,col); gotcha 13). */
export class PatchMerging extends Module {
  reduction: Linear;
  norm: LayerNorm;

  constructor(readonly dim: number) {
    super();
    this.reduction = new Linear(4 * dim, 2 * dim, false);
    this.norm = new LayerNorm(4 * dim);
  }

  forward({ x, h, w }: TokenMap): TokenMap {
    const [b, , c] = x.shape;
    const h2 = Math.ceil(h / 2);
    const w2 = Math.ceil(w / 2);
    const grid = pad(reshape(x, [b, h, w, c]), [0, 0, 0, w % 2, 0, h % 2]);
    // [B, h2, rowParity, w2, colParity, C] -> [B, h2, w2, colParity, rowParity, C]
    const parts = permute(reshape(grid, [b, h2, 2, w2, 2, c]), [0, 1, 3, 4, 2, 5]);
    const merged = reshape(parts, [b, h2 * w2, 4 * c]);
    return { x: this.reduction.forward(this.norm.forward(merged)), h: h2, w: w2 };
  }
}

export interface StageOptions extends Omit<BlockOptions, "shiftSize" | "dropPath"> {
  depth: number;
  /** Drop-path probability of each block. */
  dropPaths: number[];
  downsample: boolean;
}

/** One stage: `depth` blocks (odd ones shifted), then optional patch merging. */
export class BasicLayer extends Module {
  blocks: SwinTransformerBlock[];
  downsample: PatchMerging | null;

  constructor(opts: StageOptions) {
    super();
    const { depth, dropPaths, downsample, ...common } = opts;
    this.blocks = Array.from({ length: depth }, (_, i) =>
      new SwinTransformerBlock({
        ...common,
        shiftSize: i % 2 === 0 ? 0 : Math.floor(opts.windowSize / 2),
        dropPath: dropPaths[i] ?? 0,
      }));
    this.downsample = downsample ? new PatchMerging(opts.dim) : null;
  }

  /** Returns the stage output (before merging) and the merged input of the next stage. */
  forward(input: TokenMap): { out: TokenMap; next: TokenMap | null } {
    let x = input.x;
    for (const block of this.blocks) x = freeAfter(() => block.forward(x, input.h, input.w));
    const out = { x, h: input.h, w: input.w };
    return { out, next: this.downsample ? this.downsample.forward(out) : null };
  }
}
