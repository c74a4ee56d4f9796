import type { Tensor } from "../../tensor/tensor.ts";
import { freeAfter, freeInput } from "../../tensor/memory.ts";
import { add, cast, ne, relu } from "../../ops/elementwise.ts";
import { interpolate } from "../../ops/resample.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";
import { Module, param } from "../../nn/module.ts";
import { Dropout, LayerNorm, Linear } from "../../nn/layers.ts";
import { MultiheadAttention } from "../../nn/attention.ts";
import { xavierUniform } from "../../nn/init.ts";

/** Map size of one level of a clip: t frames of h x w. */
export interface ClipGrid {
  t: number;
  h: number;
  w: number;
}

/** '(b t) c h w -> (t h w) b c': one token sequence per clip, frame-major, then row-major. */
export function mapsToClipSequence(x: Tensor, t: number): Tensor {
  const [bt, c, h, w] = x.shape;
  const b = bt / t;
  return reshape(permute(reshape(x, [b, t, c, h, w]), [1, 3, 4, 0, 2]), [t * h * w, b, c]);
}

/** '(t h w) b c -> (b t) c h w', the inverse of mapsToClipSequence. */
export function clipSequenceToMaps(x: Tensor, { t, h, w }: ClipGrid): Tensor {
  const [, b, c] = x.shape;
  return reshape(permute(reshape(x, [t, h, w, b, c]), [3, 0, 4, 1, 2]), [b * t, c, h, w]);
}

export interface VisionLanguageBlockOptions {
  dModel: number;
  nhead: number;
  dimFeedforward?: number;
  dropout?: number;
  /** Spatial reduction of the self-attention's queries, keys and values (1 = none). */
  srRatio?: number;
}

export interface VisionLanguageInputs {
  /** Vision tokens [t*h*w, b, C] (mapsToClipSequence order). */
  tgt: Tensor;
  /** Word features [L, b, C]. */
  memory: Tensor;
  grid: ClipGrid;
  /** Bool [b, t*h*w], true = padded pixel. */
  tgtKeyPaddingMask?: Tensor | null;
  /**
   * Text key padding mask [b, L]. The reference passes the integer tokenizer mask
   * (1 = real token); MultiheadAttention ADDS numeric masks to the logits (gotcha 16.1).
   */
  memoryKeyPaddingMask?: Tensor | null;
  /** Word position code [L, b, C]. */
  pos?: Tensor | null;
  /** Vision position code [t*h*w, b, C]. */
  queryPos?: Tensor | null;
}

const withPos = (x: Tensor, pos?: Tensor | null) => (pos ? add(x, pos) : x);

/**
 * Post-norm vision-language block of the cross-modal FPN (design doc §10): spatio-temporal
 * self-attention over the (optionally nearest-downsampled) frames of a clip, cross-attention
 * to the words, then a ReLU FFN; LayerNorm after each residual.
 */
export class VisionLanguageBlock extends Module {
  self_attn: MultiheadAttention;
  multihead_attn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  dropout3: Dropout;
  readonly srRatio: number;

  constructor(o: VisionLanguageBlockOptions) {
    super();
    const d = o.dModel;
    const ffn = o.dimFeedforward ?? 2048;
    const p = o.dropout ?? 0.1;
    this.self_attn = new MultiheadAttention(d, o.nhead, p);
    this.multihead_attn = new MultiheadAttention(d, o.nhead, p);
    this.linear1 = new Linear(d, ffn);
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(ffn, d);
    this.norm1 = new LayerNorm(d);
    this.norm2 = new LayerNorm(d);
    this.norm3 = new LayerNorm(d);
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    this.dropout3 = new Dropout(p);
    this.srRatio = o.srRatio ?? 1;
    // The reference re-initialises every multi-dimensional parameter with Xavier-uniform
    // (in_proj_weight already is).
    for (
      const layer of [
        this.self_attn.out_proj,
        this.multihead_attn.out_proj,
        this.linear1,
        this.linear2,
      ]
    ) {
      const old = layer.weight;
      layer.weight = param(xavierUniform(old.shape));
      old.dispose();
    }
  }

  forward(inp: VisionLanguageInputs): Tensor {
    // at stride 4 every [tokens, d_ffn] temporary is 590 MB for a 5-frame 360x640 clip:
    // without gradients each sub-layer frees its own (freeAfter)
    const afterSelf = freeAfter(() => {
      const selfOut = this.selfAttention(
        withPos(inp.tgt, inp.queryPos),
        inp.tgt,
        inp.grid,
        inp.tgtKeyPaddingMask,
      );
      return this.norm1.forward(add(inp.tgt, this.dropout1.forward(selfOut)));
    });
    const afterCross = freeAfter(() => {
      const [cross] = this.multihead_attn.forward(
        withPos(afterSelf, inp.queryPos),
        withPos(inp.memory, inp.pos),
        inp.memory,
        { keyPaddingMask: inp.memoryKeyPaddingMask },
      );
      return this.norm2.forward(add(afterSelf, this.dropout2.forward(cross)));
    });
    return freeAfter(() => {
      const pre = this.linear1.forward(afterCross);
      const hidden = this.dropout.forward(freeInput(pre, relu(pre)));
      return this.norm3.forward(
        add(afterCross, this.dropout3.forward(this.linear2.forward(hidden))),
      );
    });
  }

  /**
   * Self-attention over all frames of a clip. With srRatio s > 1, q/k/v maps are resized
   * per frame (nearest) to (int(h/s), int(w/s)) and the output resized back (bilinear,
   * align_corners false).
   */
  private selfAttention(
    qk: Tensor,
    v: Tensor,
    grid: ClipGrid,
    mask?: Tensor | null,
  ): Tensor {
    const s = this.srRatio;
    if (s <= 1) return this.self_attn.forward(qk, qk, v, { keyPaddingMask: mask })[0];
    const { t, h, w } = grid;
    const small: ClipGrid = { t, h: Math.trunc(h * (1 / s)), w: Math.trunc(w * (1 / s)) };
    if (small.h < 1 || small.w < 1) {
      throw new Error(`VisionLanguageBlock: a ${h}x${w} map cannot be reduced by ${s}`);
    }
    const size: [number, number] = [small.h, small.w];
    const shrink = (x: Tensor) =>
      mapsToClipSequence(interpolate(clipSequenceToMaps(x, grid), { size, mode: "nearest" }), t);
    const qkSmall = shrink(qk);
    const maskSmall = mask ? shrinkMask(mask, grid, size) : null;
    const [out] = this.self_attn.forward(qkSmall, qkSmall, shrink(v), {
      keyPaddingMask: maskSmall,
    });
    const restored = interpolate(clipSequenceToMaps(out, small), {
      size: [h, w],
      mode: "bilinear",
      alignCorners: false,
    });
    return mapsToClipSequence(restored, t);
  }
}

/** Resizes a clip's bool padding mask [b, t*h*w] per frame with nearest interpolation. */
function shrinkMask(mask: Tensor, { t, h, w }: ClipGrid, size: [number, number]): Tensor {
  const b = mask.shape[0];
  const maps = reshape(cast(mask, "f32"), [b * t, h, w]);
  const small = interpolate(reshape(maps, [1, b * t, h, w]), { size, mode: "nearest" });
  return reshape(ne(small, 0), [b, t * size[0] * size[1]]);
}
