import type { Tensor } from "../../tensor/tensor.ts";
import { freeAfter } from "../../tensor/memory.ts";
import { add, cast, cos, div, logicalNot, mul, relu, sin, sub } from "../../ops/elementwise.ts";
import { tensor } from "../../ops/creation.ts";
import { cumsum } from "../../ops/reduce.ts";
import { conv2d } from "../../ops/conv.ts";
import { interpolate } from "../../ops/resample.ts";
import { narrow, permute, reshape, stack, unsqueeze } from "../../ops/shape_ops.ts";
import { Module, param } from "../../nn/module.ts";
import { Conv2d, GroupNorm } from "../../nn/layers.ts";
import { constant, uniform } from "../../nn/init.ts";
import { clipSequenceToMaps, mapsToClipSequence, VisionLanguageBlock } from "./vl_block.ts";

/**
 * detectron2-style Conv2d with an optional norm and ReLU (state-dict keys `weight`,
 * `bias`, `norm.weight`, `norm.bias`), initialised like c2_xavier_fill (kaiming-uniform
 * a = 1, zero bias).
 */
export class ConvNormAct extends Conv2d {
  norm: GroupNorm | null;
  private readonly useRelu: boolean;

  constructor(
    inChannels: number,
    outChannels: number,
    kernel: number,
    { normGroups = 0, bias = false, relu: useRelu = false } = {},
  ) {
    super(inChannels, outChannels, kernel, { padding: (kernel - 1) / 2, bias });
    const fanIn = inChannels * kernel * kernel;
    const bound = Math.sqrt(3 / fanIn);
    const [oldWeight, oldBias] = [this.weight, this.bias];
    this.weight = param(uniform(oldWeight.shape, -bound, bound));
    this.bias = oldBias ? param(constant([outChannels], 0)) : null;
    oldWeight.dispose();
    oldBias?.dispose();
    this.norm = normGroups > 0 ? new GroupNorm(normGroups, outChannels) : null;
    this.useRelu = useRelu;
  }

  override forward(x: Tensor): Tensor {
    let y = conv2d(x, this.weight, this.bias, this.opts);
    if (this.norm) y = this.norm.forward(y);
    return this.useRelu ? relu(y) : y;
  }
}

/**
 * 1-D sine position code of the words (design doc §7.5), computed in float32 like the
 * reference: mask [B, L] -> [B, numFeats, L]. A bool mask (true = pad) gives the intended
 * code; the reference's integer valid-mask goes through a bitwise NOT (~1 = -2, ~0 = -1),
 * reproduced here (gotcha 16.1). Same values as position_encoding.ts's host sine1D, but
 * built from ops so the forward pass never reads the mask back from the device.
 */
export function textPositionCode(mask: Tensor, numFeats: number, temperature = 10000): Tensor {
  const [B, L] = mask.shape;
  const notMask = mask.dtype === "bool"
    ? cast(logicalNot(mask), "f32")
    : cast(sub(-1, cast(mask, "i32")), "f32");
  const steps = cumsum(notMask, 1);
  const last = narrow(steps, 1, L - 1, 1);
  const coord = mul(div(steps, add(last, 1e-6)), 2 * Math.PI);
  const half = numFeats / 2;
  const freqs = Float32Array.from(
    { length: half },
    (_, k) => temperature ** Math.fround(Math.fround(2 * k) / numFeats),
  );
  const phase = div(unsqueeze(coord, -1), tensor(freqs, [half], { backend: mask.backend }));
  const code = reshape(stack([sin(phase), cos(phase)], -1), [B, L, numFeats]);
  return permute(code, [0, 2, 1]);
}

export interface CrossModalFPNOptions {
  /** Input widths at strides 4, 8, 16, 32 (stage-1 Swin width, then d three times). */
  featureChannels: number[];
  convDim: number;
  maskDim: number;
  dimFeedforward?: number;
  nhead?: number;
  /** GroupNorm groups (8 in the reference). */
  groups?: number;
  /** Self-attention spatial reduction at strides 4, 8, 16, 32. */
  srRatios?: number[];
  dropout?: number;
}

export interface CrossModalFPNInputs {
  /** Swin stage-1 output [(b t), C1, H/4, W/4] (not normalised, gotcha 16). */
  stage1: Tensor;
  /** Fused memory maps [(b t), d, h, w] at strides 8, 16, 32. */
  memory: Tensor[];
  /** Bool padding masks [(b t), h, w] (true = pad) at strides 4, 8, 16, 32. */
  masks: Tensor[];
  /** 2-D position codes [(b t), d, h, w] at strides 4, 8, 16, 32. */
  poses: Tensor[];
  /** Word features [b, L, d]. */
  text: Tensor;
  /** Text mask [b, L]: the reference's integer valid-mask (1 = token), or bool (true = pad). */
  textMask: Tensor;
  /** Frames per clip. */
  t: number;
  /**
   * Word position code [b, d, L] if already computed (e.g. positionEmbeddingSine1DHost);
   * by default it is derived on the device from textMask with textPositionCode.
   */
  textPos?: Tensor;
}

/**
 * Cross-modal FPN pixel decoder (design doc §10): top-down over strides 32, 16, 8 (fused
 * memory) and 4 (Swin stage 1); every level is fused with the words by a
 * VisionLanguageBlock before its 3x3 output conv. Returns mask features at stride 4.
 */
export class CrossModalFPNDecoder extends Module {
  adapter_1: ConvNormAct;
  layer_1: ConvNormAct;
  adapter_2: ConvNormAct;
  layer_2: ConvNormAct;
  adapter_3: ConvNormAct;
  layer_3: ConvNormAct;
  adapter_4: ConvNormAct;
  layer_4: ConvNormAct;
  mask_features: ConvNormAct;
  cross_attn_1: VisionLanguageBlock;
  cross_attn_2: VisionLanguageBlock;
  cross_attn_3: VisionLanguageBlock;
  cross_attn_4: VisionLanguageBlock;
  readonly convDim: number;

  constructor(o: CrossModalFPNOptions) {
    super();
    const d = o.convDim;
    const groups = o.groups ?? 8;
    const ratios = o.srRatios ?? [8, 4, 2, 1];
    if (o.featureChannels.length !== 4 || ratios.length !== 4) {
      throw new Error("CrossModalFPNDecoder: expects 4 levels (strides 4, 8, 16, 32)");
    }
    const adapter = (i: number) =>
      new ConvNormAct(o.featureChannels[i], d, 1, { normGroups: groups });
    const layer = () => new ConvNormAct(d, d, 3, { normGroups: groups, relu: true });
    this.adapter_1 = adapter(0);
    this.layer_1 = layer();
    this.adapter_2 = adapter(1);
    this.layer_2 = layer();
    this.adapter_3 = adapter(2);
    this.layer_3 = layer();
    this.adapter_4 = adapter(3);
    this.layer_4 = layer();
    this.mask_features = new ConvNormAct(d, o.maskDim, 3, { bias: true });
    const block = (i: number) =>
      new VisionLanguageBlock({
        dModel: d,
        nhead: o.nhead ?? 8,
        dimFeedforward: o.dimFeedforward ?? 2048,
        dropout: o.dropout ?? 0.1,
        srRatio: ratios[i],
      });
    this.cross_attn_1 = block(0);
    this.cross_attn_2 = block(1);
    this.cross_attn_3 = block(2);
    this.cross_attn_4 = block(3);
    this.convDim = d;
  }

  forward(inp: CrossModalFPNInputs): Tensor {
    return this.mask_features.forward(this.forwardFeatures(inp));
  }

  /** The stride-4 map before the mask_features conv, [(b t), d, H/4, W/4]. */
  forwardFeatures(inp: CrossModalFPNInputs): Tensor {
    if (inp.memory.length !== 3 || inp.masks.length !== 4 || inp.poses.length !== 4) {
      throw new Error("CrossModalFPNDecoder: give 3 memory maps and 4 masks / position codes");
    }
    const words = permute(inp.text, [1, 0, 2]);
    const wordPos = permute(inp.textPos ?? textPositionCode(inp.textMask, this.convDim), [2, 0, 1]);
    const text = { words, wordPos, mask: inp.textMask };
    const levels = [
      { x: inp.stage1, adapter: this.adapter_1, block: this.cross_attn_1, out: this.layer_1 },
      { x: inp.memory[0], adapter: this.adapter_2, block: this.cross_attn_2, out: this.layer_2 },
      { x: inp.memory[1], adapter: this.adapter_3, block: this.cross_attn_3, out: this.layer_3 },
      { x: inp.memory[2], adapter: this.adapter_4, block: this.cross_attn_4, out: this.layer_4 },
    ];
    let y: Tensor | null = null;
    for (let i = 3; i >= 0; i--) {
      const { x, adapter, block, out } = levels[i];
      y = freeAfter(() => {
        const fused = fuseLevel(adapter, block, x, inp.masks[i], inp.poses[i], text, inp.t);
        const size = fused.shape.slice(-2) as [number, number];
        return out.forward(y ? add(fused, interpolate(y, { size, mode: "nearest" })) : fused);
      });
    }
    return y!;
  }
}

interface TextContext {
  words: Tensor;
  wordPos: Tensor;
  mask: Tensor;
}

function fuseLevel(
  adapter: ConvNormAct,
  block: VisionLanguageBlock,
  x: Tensor,
  mask: Tensor,
  pos: Tensor,
  text: TextContext,
  t: number,
): Tensor {
  const [bt, , h, w] = pos.shape;
  const fused = block.forward({
    tgt: mapsToClipSequence(adapter.forward(x), t),
    memory: text.words,
    grid: { t, h, w },
    tgtKeyPaddingMask: reshape(mask, [bt / t, t * h * w]),
    memoryKeyPaddingMask: text.mask,
    pos: text.wordPos,
    queryPos: mapsToClipSequence(pos, t),
  });
  return clipSequenceToMaps(fused, { t, h, w });
}
